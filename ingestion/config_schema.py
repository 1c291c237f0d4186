"""Checking a declared YAML config against its pydantic models, with errors in the config's own terms.

Each config (``publications.yml``, a service-desk system's YAML) states its shape once, as pydantic models.
:func:`validate` reads a parsed YAML document into them and turns pydantic's errors into one message that names the
file and the YAML path (``publications.x.files[0].sheets[1]``) and, for a setting that does not exist, the nearest
one that does ("did you mean 'encoding'?"). A union of entry kinds is told apart by a literal field (``format``,
``type``); ``discriminators`` says how to read that field from an entry that does not spell it out.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, ValidationError

from ingestion.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)
Discriminators = Mapping[str, Callable[[dict], Any]]
SCALARS = ("list[str]", "str", "int", "bool", "float", "dict[str,str]")


class Strict(BaseModel):
    """A config entry: unknown settings are errors, values are immutable once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def validate(
    model: type[Model],
    raw: Any,
    source: str,
    *,
    moved: Mapping[str, str] | None = None,
    discriminators: Discriminators | None = None,
) -> Model:
    """``raw`` (parsed YAML) as ``model``; ConfigError naming ``source`` and the YAML path otherwise. ``moved``:
    settings that used to be here, with where they went."""
    try:
        return model.model_validate(raw if raw is not None else {})
    except ValidationError as error:
        reader = _Reader(model, raw, moved or {}, discriminators or {})
        messages: list[str] = []
        by_path: dict[str, int] = {}
        for item in error.errors(include_url=False):  # a union's alternatives: one message, "should be a or b"
            message = reader.message(item)
            path, _, text = message.partition(": ")
            if path in by_path and text.startswith("Input should be"):
                index = by_path[path]
                head, _, got = messages[index].partition(" (got ")
                messages[index] = f"{head} or {text.removeprefix('Input should be ').split(' (got ')[0]}" + (
                    f" (got {got}" if got else ""
                )
                continue
            by_path[path] = len(messages)
            messages.append(message)
        more = f" (and {len(messages) - 1} more: {'; '.join(messages[1:4])})" if len(messages) > 1 else ""
        raise ConfigError(f"{source}: {messages[0]}{more}") from None


_MISSING = object()


class _Reader:
    """Reads one validation error back onto the YAML document."""

    def __init__(
        self, model: type[BaseModel], raw: Any, moved: Mapping[str, str], discriminators: Discriminators
    ) -> None:
        self.model, self.raw, self.moved, self.discriminators = model, raw, moved, discriminators
        self.tags = {value for model in _models(model) for value in _literals(model).values()}

    def message(self, item: Any) -> str:
        loc, kind = tuple(item["loc"]), item["type"]
        path, node = self.yaml_path(loc)
        text = str(item["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if kind == "extra_forbidden":
            key = str(loc[-1])
            if key in self.moved:
                return f"{path}: {self.moved[key]}; remove it here"
            allowed = self.allowed_keys(loc[:-1])
            close = (
                difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                or [name for name in allowed if key.startswith(f"{name}_") or key.endswith(f"_{name}")][:1]
            )
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return f"{path}: unknown setting {key!r}{hint} (allowed: {', '.join(allowed)})"
        if kind == "missing":
            return f"{path}: missing setting"
        if kind == "string_pattern_mismatch":
            description = self.field_description(loc)
            return (
                f"{path}: {node!r} is not {description}"
                if description
                else f"{path}: {node!r} must be a lower_snake_case name"
            )
        return f"{path}: {text}" + (
            ""
            if kind.startswith("value_error") or kind in self.discriminator_errors() or node is _MISSING
            else f" (got {node!r})"
        )

    def discriminator_errors(self) -> set[str]:
        return {f"{name}_kind" for name in self.discriminators}

    def yaml_path(self, loc: tuple) -> tuple[str, Any]:
        """pydantic's error location as the YAML path (union tags and validator names dropped), and the value."""
        path, node = "", self.raw
        for part in loc:
            if isinstance(node, dict) and part in node:
                path, node = f"{path}.{part}" if path else str(part), node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                path, node = f"{path}[{part}]", node[part]
            elif (
                isinstance(node, dict)
                and isinstance(part, str)
                and part not in self.tags
                and part not in SCALARS
                and not part.startswith(("function-", "literal[", "constrained-"))
            ):
                path, node = f"{path}.{part}" if path else part, _MISSING  # a missing setting
        return path or "(top level)", node

    def _model_at(self, loc: tuple) -> Any:
        model: Any = self.model
        node = self.raw
        for part in loc:
            if (isinstance(node, dict) and part in node) or (
                isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            ):
                node = node[part]
            model = self._step(model, part, node)
            if model is None:
                return None
        return model

    def allowed_keys(self, loc: tuple) -> list[str]:
        """The settings the model at ``loc`` (a parent location) takes."""
        model = self._model_at(loc)
        return list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []

    def field_description(self, loc: tuple) -> str | None:
        """The description of the field at ``loc`` (``a cell range like A5:F40``), for a value of the wrong form."""
        parent = self._model_at(loc[:-1])
        field = str(loc[-1])
        if isinstance(parent, type) and issubclass(parent, BaseModel) and field in parent.model_fields:
            extra = parent.model_fields[field].json_schema_extra
            form = extra.get("form") if isinstance(extra, dict) else None
            return form if isinstance(form, str) else None
        return None

    def _step(self, model: Any, part: Any, node: Any) -> Any:
        """Follow one location step through the models' annotations."""
        if isinstance(model, type) and issubclass(model, BaseModel):
            if isinstance(part, str) and part in model.model_fields:
                return self._unwrap(model.model_fields[part].annotation, node)
            return model  # a union tag or validator step: stay
        return self._unwrap(model, node)

    def _unwrap(self, annotation: Any, node: Any) -> Any:
        """The model an annotation holds for ``node``: through Optional, list, dict, Annotated and tagged unions."""
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            return self._unwrap(typing.get_args(annotation)[0], node)
        if origin in (Union, types.UnionType):
            members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            models = [self._unwrap(member, node) for member in members]
            models = [m for m in models if isinstance(m, type) and issubclass(m, BaseModel)]
            if len(models) > 1 and isinstance(node, dict):
                for candidate in models:
                    if any(self._tag(node, name) == value for name, value in _literals(candidate).items()):
                        return candidate
            return models[0] if models else members[0]
        if origin in (list, dict):
            return typing.get_args(annotation)[-1] if node is not None else annotation
        return annotation

    def _tag(self, node: dict, name: str) -> Any:
        return self.discriminators[name](node) if name in self.discriminators else node.get(name)


def _literals(model: type[BaseModel]) -> dict[str, Any]:
    """A model's single-valued literal fields (``format: Literal["csv"]``): what tells it apart in a union."""
    found = {}
    for name, field in model.model_fields.items():
        if typing.get_origin(field.annotation) is Literal and len(typing.get_args(field.annotation)) == 1:
            found[name] = typing.get_args(field.annotation)[0]
    return found


def _models(model: type[BaseModel], seen: set[type] | None = None) -> set[type[BaseModel]]:
    """Every model reachable from ``model``'s fields."""
    seen = seen if seen is not None else set()
    if model in seen:
        return seen
    seen.add(model)
    for field in model.model_fields.values():
        for inner in _inner_types(field.annotation):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                _models(inner, seen)
    return seen


def _inner_types(annotation: Any) -> list[Any]:
    args = typing.get_args(annotation)
    if not args:
        return [annotation]
    return [inner for arg in args for inner in _inner_types(arg)]


__all__ = ["Strict", "validate"]
