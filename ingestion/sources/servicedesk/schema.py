"""The schema of a service-desk system's YAML (``systems/<system>.yml``) and of the canonical model it maps to.

A system declares its API for dlt's ``rest_api`` (``client``, ``resource_defaults``, each resource's ``endpoint``:
passed to dlt as written), how it authenticates (``auth``: the scheme only, never the secret), who it must answer
as (``whoami``), and for each resource the canonical entity it fills (``entity``) and how its fields map onto the
entity's columns (``fields``). Everything is checked here, with the YAML path and "did you mean" in every error.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import Field, StrictFloat, StrictInt, field_validator, model_validator

from ingestion import config_schema
from ingestion.config_schema import Strict

HERE = Path(__file__).parent
CANONICAL = HERE / "canonical.yml"
SCHEMA_FILE = HERE / "servicedesk.schema.json"
SNAKE = r"^[a-z][a-z0-9_]*$"
SECRET_SETTINGS = ("token", "api_key", "password", "key", "secret")
SECRET_MOVED = (
    "a secret is never written in a config file: it comes from the environment "
    "(SOURCES__SERVICEDESK__<SYSTEM>__<NAME>) or .dlt/secrets.toml ([sources.servicedesk.<system>])"
)


_SECRET_NAME = re.compile(r"(?i)(authorization|key|token|password|passwd|secret)$")


def _no_secret_names(settings: Any, where: str) -> None:
    """A header or query parameter that carries a credential is the auth setting's job, never written here."""
    for name in settings or {}:
        if _SECRET_NAME.search(str(name)):
            raise ValueError(
                f"{where}.{name}: a credential is never written in a config file; declare it as auth "
                "(type: api_key, name: ..., location: header or query) and set the secret in the "
                "environment or .dlt/secrets.toml"
            )


EntityName = Literal["users", "tickets", "comments", "timesheets"]  # the canonical tables


class CanonicalColumn(Strict):
    type: Literal["bigint", "double", "decimal", "text", "bool", "timestamp", "date"]
    description: str


class Entity(Strict):
    description: str
    columns: dict[Annotated[str, Field(pattern=SNAKE)], CanonicalColumn]


class CanonicalModel(Strict):
    dataset: str = Field(pattern=SNAKE)
    entities: dict[EntityName, Entity]


@functools.cache
def canonical() -> CanonicalModel:
    """The canonical service-desk model (``canonical.yml``)."""
    return config_schema.validate(CanonicalModel, yaml.safe_load(CANONICAL.read_text()), CANONICAL.name)


# -- a system's declaration ---------------------------------------------------------------------------------------
class Bearer(Strict):
    """``Authorization: Bearer <token>``; the token: ``sources.servicedesk.<system>.token``."""

    type: Literal["bearer"] = "bearer"


class ApiKey(Strict):
    """An API key in a named header or query parameter; the key: ``sources.servicedesk.<system>.api_key``."""

    type: Literal["api_key"] = "api_key"
    name: str = Field(description="the header or query parameter that carries the key (X-Redmine-API-Key, key)")
    location: Literal["header", "query"] = "header"


class HttpBasic(Strict):
    """HTTP basic auth; ``sources.servicedesk.<system>.username`` (config) and ``.password`` (secret)."""

    type: Literal["http_basic"] = "http_basic"


Auth = Annotated[Union[Bearer, ApiKey, HttpBasic], Field(discriminator="type")]  # noqa: UP007


class Whoami(Strict):
    """An endpoint answering with the identity the credentials belong to, called before anything is loaded."""

    path: str = Field(description="relative to the base URL: users/current.json")
    identity: str = Field(description="where the identity is in the answer, a dotted path: user.login")
    expect: str | None = Field(
        None,
        description="the identity the credentials must belong to (${VAR} allowed); "
        "any non-empty identity when not given",
    )


class Requests(Strict):
    """Timeouts and retries of every request (5xx, 429 with Retry-After, timeouts and lost connections retry)."""

    timeout_seconds: StrictInt | StrictFloat = Field(15, gt=0)
    max_attempts: StrictInt = Field(6, ge=1)
    backoff_factor: StrictInt | StrictFloat = Field(0.5, ge=0)
    max_retry_delay_seconds: StrictInt | StrictFloat = Field(20, ge=0)


class FieldRule(Strict):
    """How one canonical column is filled from a record: a path, or joined paths, or a constant, then converted."""

    path: str | None = Field(None, description="dotted path into the record: author.id")
    join: list[str] | None = Field(None, description="paths whose non-empty values are joined: [firstname, lastname]")
    separator: str = " "
    const: str | int | float | bool | None = Field(None, description="a fixed value for every record")
    values: dict[str, str | int | float | bool | None] | None = Field(
        None, description="value translations (Immediate: urgent); a value not listed is kept as it is"
    )
    multiply: StrictInt | StrictFloat | None = Field(None, description="a factor: hours to minutes is 60")
    negate: bool = Field(False, description="a boolean turned around: private_notes -> is_public")

    @model_validator(mode="after")
    def _one_source(self) -> FieldRule:
        given = [name for name in ("path", "join", "const") if name in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("give exactly one of path, join or const")
        return self


Rule = Annotated[str | FieldRule, Field(description="a dotted path into the record, or a rule")]


class Resource(Strict):
    """One endpoint, loaded into the canonical entity it holds."""

    name: str = Field(pattern=SNAKE, description="the resource's name (dlt's), e.g. the API's word for it")
    entity: EntityName
    primary_key: str | list[str] = Field("id", description="canonical columns that identify a record in its system")
    endpoint: str | dict[str, Any] | None = Field(
        None, description="dlt rest_api endpoint: path, params, data_selector, paginator, incremental ..."
    )
    include_from_parent: list[str] | None = None
    fields: dict[str, Rule] = Field(
        default_factory=dict,
        description=(
            "canonical column -> where its value comes from; a column not listed takes the record's field of the same "
            "name, if there is one"
        ),
    )
    skip_if_empty: list[str] = Field(
        default_factory=list,
        description=("paths that must hold a value for a record to be taken: journals without notes are not comments"),
    )
    deletions: Literal["full_scan"] | None = Field(
        None,
        description=(
            "full_scan: every run also lists every key (the endpoint without its incremental filter) and marks records "
            "no longer listed as deleted"
        ),
    )
    full_reread: bool = Field(
        False,
        description="the API has no filter for changed records: every run reads all "
        "of them (merged on the key, so nothing is duplicated)",
    )

    @model_validator(mode="after")
    def _canonical_columns(self) -> Resource:
        columns = canonical().entities[self.entity].columns
        for name in [*self.fields, *self.key()]:
            if name not in columns:
                close = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"{name!r} is not a column of the canonical {self.entity}{hint} (columns: {', '.join(columns)})"
                )
        if self.deletions and len(self.key()) != 1:
            raise ValueError("deletions: full_scan needs a one-column primary_key (a record's id)")
        if self.deletions and self.include_from_parent:
            raise ValueError(
                "deletions: full_scan lists a resource on its own; a child resource (include_from_parent)"
                " cannot be listed without its parent"
            )
        if isinstance(self.endpoint, dict):
            _no_secret_names(self.endpoint.get("headers"), "endpoint.headers")
            _no_secret_names(self.endpoint.get("params"), "endpoint.params")
        return self

    def key(self) -> list[str]:
        return [self.primary_key] if isinstance(self.primary_key, str) else list(self.primary_key)


class SystemConfig(Strict):
    """``systems/<system>.yml``: one service desk, declared for dlt's rest_api and mapped to the canonical model."""

    model_config = config_schema.Strict.model_config | {
        "title": "service-desk system",
        "json_schema_extra": {"$schema": "https://json-schema.org/draft/2020-12/schema"},
    }

    system: str = Field(
        pattern=SNAKE,
        max_length=24,
        description=(
            "its name: source_system in bronze, silver and gold, and its secrets' section sources.servicedesk.<system>"
        ),
    )
    title: str | None = None
    enabled: bool = Field(True, description="loaded by `ingestion run` and `ingestion servicedesk` without --system")
    base_url: str | None = Field(None, description="the API's root; sources.servicedesk.<system>.base_url overrides it")
    auth: Auth
    whoami: Whoami | None = None
    requests: Requests = Requests()
    client: dict[str, Any] = Field(
        default_factory=dict, description="dlt rest_api client settings (paginator, headers); not auth, not base_url"
    )
    resource_defaults: dict[str, Any] = Field(default_factory=dict, description="dlt rest_api resource_defaults")
    resources: list[Resource] = Field(min_length=1)

    @field_validator("client")
    @classmethod
    def _no_credentials(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in ("auth", "base_url", "session"):
            if key in value:
                raise ValueError(
                    f"client.{key}: set {'auth: at the top level' if key == 'auth' else key} here, "
                    "not under client (the project adds it, with the secret from the environment)"
                )
        _no_secret_names(value.get("headers"), "client.headers")
        return value

    @field_validator("resource_defaults")
    @classmethod
    def _merged_only(cls, value: dict[str, Any]) -> dict[str, Any]:
        extra = sorted(set(value) - {"endpoint", "write_disposition"})
        if extra:
            raise ValueError(
                f"resource_defaults takes endpoint (and write_disposition: merge) only, not "
                f"{', '.join(extra)}: every canonical table is merged on source_system and the key"
            )
        if value.get("write_disposition", "merge") != "merge":
            raise ValueError(
                "resource_defaults.write_disposition: the canonical tables are shared by every system "
                "and merged on source_system and the key; only merge is possible"
            )
        endpoint = value.get("endpoint") or {}
        _no_secret_names(endpoint.get("headers"), "resource_defaults.endpoint.headers")
        _no_secret_names(endpoint.get("params"), "resource_defaults.endpoint.params")
        return value

    @model_validator(mode="after")
    def _unique(self) -> SystemConfig:
        names = [r.name for r in self.resources]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"resource names must be unique: {', '.join(twice)}")
        entities = [r.entity for r in self.resources]
        twice = sorted({e for e in entities if entities.count(e) > 1})
        if twice:
            raise ValueError(f"one resource per canonical entity: {', '.join(twice)} is filled by more than one")
        from ingestion.sources.servicedesk import cursor_path, mapping  # the rules live with the source

        for resource in self.resources:
            path = cursor_path(self, resource)
            if path and mapping.column_of(resource, path) is None:
                raise ValueError(
                    f"resources.{resource.name}: the cursor {path!r} must fill a canonical column (for "
                    f"example fields: {{updated_at: {path}}}): dlt reads the cursor from the mapped row"
                )
        return self


def validate(raw: Any, source: str) -> SystemConfig:
    """``raw`` (parsed YAML) as a checked system; ConfigError naming ``source`` and the YAML path otherwise."""
    return config_schema.validate(SystemConfig, raw, source, moved=dict.fromkeys(SECRET_SETTINGS, SECRET_MOVED))


def json_schema() -> str:
    return json.dumps(SystemConfig.model_json_schema(), indent=2) + "\n"


def write_schema(path: Path = SCHEMA_FILE) -> Path:
    path.write_text(json_schema())
    return path


__all__ = ["ApiKey", "Bearer", "FieldRule", "HttpBasic", "Resource", "SystemConfig", "Whoami", "canonical", "validate"]
