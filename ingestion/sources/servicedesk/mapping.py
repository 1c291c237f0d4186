"""A system's records mapped onto the canonical model: pure functions, compiled once per resource.

``compile_mapping`` turns a resource's ``fields`` into one function from a record as the API sent it to a row of
the canonical entity: every canonical column (null where the system has nothing for it), ``source_system``, and
values converted as declared (translated, multiplied, negated) and to the column's type where a conversion is
implied (a whole number of minutes from hours).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ingestion.sources.servicedesk.schema import FieldRule, Resource, canonical

Record = dict[str, Any]
Getter = Callable[[Record], Any]
SOURCE_SYSTEM = "source_system"


def path_getter(path: str) -> Getter:
    """A function reading a dotted path (``author.id``) from a record; None where any step is missing."""
    steps = path.split(".")
    if len(steps) == 1:
        return lambda record: record.get(path)

    def get(record: Record) -> Any:
        node: Any = record
        for step in steps:
            if not isinstance(node, dict):
                return None
            node = node.get(step)
        return node

    return get


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _rule_getter(rule: str | FieldRule, column_type: str) -> Getter:
    if isinstance(rule, str):
        return path_getter(rule)
    read: Getter
    if rule.join is not None:
        parts = [path_getter(path) for path in rule.join]
        separator = rule.separator

        def joined(record: Record) -> Any:
            texts = [str(value).strip() for value in (part(record) for part in parts) if not _empty(value)]
            return separator.join(texts) if texts else None

        read = joined
    elif rule.path is not None:
        read = path_getter(rule.path)
    else:
        constant = rule.const

        def const(record: Record) -> Any:
            return constant

        read = const

    steps: list[Callable[[Any], Any]] = []
    if rule.values is not None:
        table = {str(key): value for key, value in rule.values.items()}
        steps.append(lambda value: table.get(_key(value), value) if value is not None else None)
    if rule.multiply is not None:
        factor = rule.multiply
        whole = column_type == "bigint"
        steps.append(lambda value: _times(value, factor, whole))
    if rule.negate:
        steps.append(lambda value: None if value is None else not _truth(value))
    if not steps:
        return read

    def converted(record: Record) -> Any:
        value = read(record)
        for step in steps:
            value = step(value)
        return value

    return converted


def _key(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _truth(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "y", "t")
    return bool(value)


def _times(value: Any, factor: float, whole: bool) -> Any:
    if value is None or value == "":
        return None
    product = float(value) * factor
    return round(product) if whole else product


def compile_mapping(system: str, resource: Resource) -> Callable[[Record], Record]:
    """The function from a record of ``resource`` to a canonical row of its entity, tagged with ``system``."""
    columns = canonical().entities[resource.entity].columns
    getters: list[tuple[str, Getter]] = []
    for name, column in columns.items():
        rule = resource.fields.get(name)
        getters.append((name, _rule_getter(rule, column.type) if rule is not None else path_getter(name)))

    def to_canonical(record: Record) -> Record:
        row = {name: get(record) for name, get in getters}
        row[SOURCE_SYSTEM] = system
        return row

    return to_canonical


def compile_filter(resource: Resource) -> Callable[[Record], bool] | None:
    """The records to take (``skip_if_empty``: a journal without notes is not a comment), or None for all."""
    if not resource.skip_if_empty:
        return None
    getters = [path_getter(path) for path in resource.skip_if_empty]
    return lambda record: not any(_empty(get(record)) for get in getters)


def source_field(resource: Resource, column: str) -> str | None:
    """The record's path a canonical column is read from (the column itself when not mapped), if it is one path."""
    rule = resource.fields.get(column)
    if rule is None:
        return column
    if isinstance(rule, str):
        return rule
    return rule.path


def column_of(resource: Resource, path: str) -> str | None:
    """The canonical column filled from the record's ``path`` (the cursor ``updated_on`` -> ``updated_at``)."""
    for name in canonical().entities[resource.entity].columns:
        if source_field(resource, name) == path:
            return name
    return None


__all__ = ["SOURCE_SYSTEM", "column_of", "compile_filter", "compile_mapping", "path_getter", "source_field"]
