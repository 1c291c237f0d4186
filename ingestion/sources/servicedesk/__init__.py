"""dlt source for any service desk declared in ``systems/<system>.yml``, built by dlt's ``rest_api``.

A system's YAML holds its API's shape, its auth scheme and how its records map onto the canonical model
(``canonical.yml``). This module adds what YAML cannot: credentials from the environment or ``.dlt/secrets.toml``
(never from a config file), the identity check, the retrying session that counts attempts per declared resource,
and per resource the processing steps: count what was fetched, skip what is not the entity (a journal without
notes), reject records lacking their cursor or key (naming them), and map each record onto its canonical entity.
A resource declaring ``deletions: full_scan`` gets a companion resource that lists every key and records what
vanished in ``deletions``.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import dlt
import requests
import yaml
from dlt.common.schema import Schema
from dlt.common.schema.typing import TColumnSchema
from dlt.extract.resource import DltResource
from dlt.extract.source import DltSource
from dlt.sources.helpers.rest_client.auth import APIKeyAuth, AuthConfigBase, BearerTokenAuth, HttpBasicAuth
from dlt.sources.rest_api import RESTAPIConfig, rest_api_resources

from ingestion import paths, redact
from ingestion.errors import ConfigError
from ingestion.sources.servicedesk import mapping, schema
from ingestion.sources.servicedesk.http import RequestStats, retrying_session
from ingestion.sources.servicedesk.schema import ApiKey, Bearer, EntityName, Resource, SystemConfig, canonical

HERE = Path(__file__).parent
SYSTEMS = HERE / "systems"
DELETIONS = "deletions"  # the table a deletion check writes: source_system, entity, record_key, is_deleted
DELETION_COLUMNS: dict[str, TColumnSchema] = {
    "source_system": {"data_type": "text", "nullable": False},
    "entity": {"data_type": "text", "nullable": False},
    "record_key": {"data_type": "text", "nullable": False},
    "is_deleted": {"data_type": "bool"},
    "missed_scans": {"data_type": "bigint"},
    "checked_at": {"data_type": "timestamp"},
}
# (entity, key column) -> (keys in bronze, keys earlier scans missed -> in how many scans in a row)
KnownKeys = Callable[[str, str], tuple[set[str], dict[str, int]]]


class ServiceDeskAuthError(Exception):
    """The credentials were refused, or belong to no one (anonymous) or to someone else."""


def dataset() -> str:
    """The bronze schema every system loads into (with the dev target's prefix, :func:`ingestion.paths.schema`)."""
    return paths.schema(canonical().dataset)


def load_system(path: Path) -> SystemConfig:
    """One system's YAML, checked (ConfigError naming the file and YAML path otherwise)."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read service-desk system {path}: {error}") from error
    system = schema.validate(raw, Path(path).name)
    if Path(path).parent == SYSTEMS and Path(path).stem != system.system:
        raise ConfigError(
            f"{Path(path).name}: system: {system.system!r} must match the file name ({Path(path).stem}.yml)"
        )
    return system


def declared_systems() -> dict[str, SystemConfig]:
    """Every system declared in ``systems/`` (enabled or not), by name."""
    return {system.system: system for system in (load_system(path) for path in sorted(SYSTEMS.glob("*.yml")))}


def select_systems(names: list[str] | None = None, paths: list[Path] | None = None) -> list[SystemConfig]:
    """The systems a command loads: those named (``--system``) and those in the files given (``--config``), or
    else every enabled declared system."""
    if not names and not paths:
        return [system for system in declared_systems().values() if system.enabled]
    chosen = [load_system(path) for path in paths or []]
    if names:
        declared = declared_systems()
        for name in names:
            if name not in declared:
                raise ConfigError(
                    f"no service-desk system {name!r} in {SYSTEMS.relative_to(HERE.parents[2])}; "
                    f"declared: {', '.join(declared) or 'none'}"
                )
            chosen.append(declared[name])
    seen: set[str] = set()
    for system in chosen:
        if system.system in seen:
            raise ConfigError(f"service-desk system {system.system!r} is given twice")
        seen.add(system.system)
    return chosen


# -- credentials ----------------------------------------------------------------------------------------------------
SECRET_NAME = {"bearer": "token", "api_key": "api_key", "http_basic": "password"}


@dataclass(frozen=True)
class Credentials:
    """Where a system is and what it is told; ``secret`` is the token, API key or password of its auth scheme."""

    base_url: str
    secret: str
    username: str | None = None

    def __repr__(self) -> str:  # never in a traceback or log
        return f"Credentials(base_url={self.base_url!r}, secret='***', username={self.username!r})"


def setting_names(system: SystemConfig, name: str) -> tuple[str, str]:
    """The dlt config key of a system's setting and its environment variable."""
    key = f"sources.servicedesk.{system.system}.{name}"
    return key, key.upper().replace(".", "__")


def _lookup(system: SystemConfig, name: str, secret: bool) -> str | None:
    """``sources.servicedesk.<system>.<name>`` from the environment or ``.dlt/secrets.toml`` / ``config.toml``. Only
    the system's own section: one system's secret is never sent to another system's host."""
    # typed as a plain lookup: dlt's get() is generic in an optional expected type, and without one mypy takes it
    # for a call that never returns
    get: Callable[[str], object] = (dlt.secrets if secret else dlt.config).get
    value = get(setting_names(system, name)[0])
    return None if value in (None, "") else str(value)


def resolve_credentials(
    system: SystemConfig, base_url: str | None = None, secret: str | None = None, username: str | None = None
) -> Credentials:
    """The system's base URL and secret: as given, else from dlt config and secrets; ConfigError naming the
    environment variable to set when one is missing. The secret is registered for masking before it is used."""
    base_url = base_url or _lookup(system, "base_url", secret=False) or system.base_url
    secret_name = SECRET_NAME[system.auth.type]
    secret = secret or _lookup(system, secret_name, secret=True)
    if system.auth.type == "http_basic":
        username = username or _lookup(system, "username", secret=False)
    missing = [name for name, value in (("base_url", base_url), (secret_name, secret)) if not value]
    if system.auth.type == "http_basic" and not username:
        missing.append("username")
    if missing:
        wanted = ", ".join(setting_names(system, name)[1] for name in missing)
        raise ConfigError(
            f"servicedesk {system.system}: {' and '.join(missing)} not configured: set {wanted}, or "
            f"{', '.join(missing)} under [sources.servicedesk.{system.system}] in .dlt/secrets.toml "
            "(see .dlt/secrets.toml.example)"
        )
    assert base_url is not None and secret is not None
    redact.register(secret)  # masked in every message from here on, as written and as a URL or header carries it
    if isinstance(system.auth, ApiKey):
        redact.register_parameter(system.auth.name, header=system.auth.location == "header")
    if username:
        redact.register(base64.b64encode(f"{username}:{secret}".encode()).decode())
    return Credentials(base_url.rstrip("/") + "/", secret, username)


def auth_for(system: SystemConfig, credentials: Credentials) -> AuthConfigBase:
    """dlt's auth object for the system's scheme, holding the secret."""
    auth = system.auth
    if isinstance(auth, Bearer):
        return BearerTokenAuth(token=credentials.secret)
    if isinstance(auth, ApiKey):
        return APIKeyAuth(name=auth.name, api_key=credentials.secret, location=auth.location)
    assert credentials.username is not None  # resolve_credentials requires one for http_basic
    return HttpBasicAuth(username=credentials.username, password=credentials.secret)


def describe_secret(system: SystemConfig) -> str:
    """What to check when the credentials are refused: ``the API key (SOURCES__SERVICEDESK__REDMINE__API_KEY)``."""
    name = SECRET_NAME[system.auth.type]
    what = {"token": "the token", "api_key": "the API key", "password": "the username and password"}[name]
    return f"{what} ({setting_names(system, name)[1]})"


def check_identity(system: SystemConfig, credentials: Credentials, session: requests.Session) -> str | None:
    """Call the declared ``whoami`` endpoint: the identity the credentials belong to. Refused, anonymous or another
    identity than ``whoami.expect`` raises ServiceDeskAuthError naming the setting to check."""
    if system.whoami is None:
        return None
    url = credentials.base_url + system.whoami.path.lstrip("/")
    path = "/" + system.whoami.path.lstrip("/")
    response = session.get(url, auth=auth_for(system, credentials), timeout=system.requests.timeout_seconds)
    if response.status_code in (401, 403):
        raise ServiceDeskAuthError(
            f"servicedesk {system.system}: {describe_secret(system)} was refused: GET {path} "
            f"answered {response.status_code} {response.reason}"
        )
    response.raise_for_status()  # anything else: described like any failed request
    try:
        identity = mapping.path_getter(system.whoami.identity)(response.json())
    except ValueError as error:
        raise ServiceDeskAuthError(f"servicedesk {system.system}: GET {path} did not answer JSON ({error})") from error
    if identity in (None, "", "anonymous"):
        raise ServiceDeskAuthError(
            f"servicedesk {system.system}: GET {path} answered as anonymous (no "
            f"{system.whoami.identity}): {describe_secret(system)} is not recognised"
        )
    expected = _expand(system.whoami.expect)
    if expected and str(identity) != expected:
        raise ServiceDeskAuthError(
            f"servicedesk {system.system}: {describe_secret(system)} belongs to "
            f"{identity!r}, not {expected!r} (whoami.expect)"
        )
    return str(identity)


def _expand(text: str | None) -> str | None:
    """``${VAR}`` and ``${VAR:-default}`` from the environment; an unset variable without a default is an error
    (an expected identity that expands to nothing would accept anyone)."""
    if text is None:
        return None

    def value(match: re.Match[str]) -> str:
        found = os.environ.get(match.group(1))
        if found is None and match.group(2) is None:
            raise ConfigError(f"whoami.expect: the environment variable {match.group(1)} is not set")
        return found if found is not None else match.group(2)

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}", value, text)


# -- the rest_api config ----------------------------------------------------------------------------------------------
def cursor_path(system: SystemConfig, resource: Resource) -> str | None:
    """The record field a resource's incremental cursor reads: its own, else the defaults' (a child resource reads
    what its parent's cursor selected and has none unless it declares one; ``incremental: null`` opts out)."""
    endpoint = resource.endpoint if isinstance(resource.endpoint, dict) else {}
    if "incremental" in endpoint:
        own = endpoint["incremental"]
        return own.get("cursor_path") if isinstance(own, dict) else None
    if resource.include_from_parent:
        return None
    return ((system.resource_defaults.get("endpoint") or {}).get("incremental") or {}).get("cursor_path")


def cursor_column(system: SystemConfig, resource: Resource) -> str | None:
    """The canonical column a resource's cursor lands in (``updated_on`` -> ``updated_at``), if it lands in one."""
    path = cursor_path(system, resource)
    return mapping.column_of(resource, path) if path else None


def table_columns(resource: Resource) -> dict[str, TColumnSchema]:
    """dlt column hints of a resource's canonical table: every column typed and nullable from the first load (a
    column the system never fills is there, null, rather than appearing later as drift)."""
    return entity_columns(resource.entity)


def entity_columns(entity: EntityName) -> dict[str, TColumnSchema]:
    """dlt column hints of the canonical table ``entity`` (what every system's resource of it loads)."""
    columns: dict[str, TColumnSchema] = {mapping.SOURCE_SYSTEM: {"data_type": "text", "nullable": False}}
    for name, column in canonical().entities[entity].columns.items():
        columns[name] = {"data_type": column.type, "nullable": True}
        if column.type == "decimal":
            columns[name]["precision"], columns[name]["scale"] = 18, 4
    return columns


def _steps(system: SystemConfig, resource: Resource, stats: RequestStats) -> list[dict]:
    name, cursor = resource.name, cursor_path(system, resource)
    to_canonical = mapping.compile_mapping(system.system, resource)
    keep = mapping.compile_filter(resource)
    read_cursor = mapping.path_getter(cursor) if cursor else None
    key = resource.key()

    def count(record: dict) -> dict:
        stats.fetched[name] += 1
        return record

    def wanted(record: dict) -> bool:
        if keep is not None and not keep(record):
            stats.skipped[name] += 1
            return False
        if read_cursor is not None and read_cursor(record) in (None, ""):
            stats.reject(name, f"{name}: record {_identify(record)} lacks its cursor {cursor}")
            return False
        return True

    def complete(row: dict) -> bool:
        missing = [column for column in key if row.get(column) in (None, "")]
        if missing:
            stats.reject(name, f"{name}: record { ({c: row.get(c) for c in key}) } lacks {missing}")
            return False
        if resource.deletions:
            stats.seen[name].add(str(row[key[0]]))
        return True

    return [{"map": count}, {"filter": wanted}, {"map": to_canonical}, {"filter": complete}]


def _identify(record: dict) -> str:
    return str({k: record[k] for k in list(record)[:3]}) if isinstance(record, dict) else repr(record)[:80]


def _endpoint(resource: Resource) -> dict[str, Any] | str:
    return copy.deepcopy(resource.endpoint) if resource.endpoint is not None else resource.name


def _without_incremental(endpoint: dict[str, Any] | str) -> dict[str, Any] | str:
    """An endpoint (a resource's, or the defaults') with its incremental filter taken out: every record is listed."""
    if not isinstance(endpoint, dict):
        return endpoint
    params = {
        key: value
        for key, value in (endpoint.get("params") or {}).items()
        if not (isinstance(value, str) and "{incremental." in value)
        and not (isinstance(value, dict) and value.get("type") == "incremental")
    }
    return {**endpoint, "incremental": None, "params": params}


def _incremental(system: SystemConfig, resource: Resource) -> dict[str, Any] | None:
    """The resource's incremental settings (its own, else the defaults') with the cursor read from the canonical
    column it maps to: dlt applies the cursor after the processing steps, to the mapped rows. The value is the
    record's own (``updated_on`` copied into ``updated_at``), so ``{incremental.start_value}`` is what the API sent.
    None for a resource without a cursor (dlt must not give it the defaults' one)."""
    raw = cursor_path(system, resource)
    if raw is None:
        return None
    endpoint = resource.endpoint if isinstance(resource.endpoint, dict) else {}
    settings = copy.deepcopy(
        endpoint.get("incremental") or (system.resource_defaults.get("endpoint") or {}).get("incremental") or {}
    )
    settings["cursor_path"] = mapping.column_of(resource, raw)
    return settings


def _resource_spec(system: SystemConfig, resource: Resource, stats: RequestStats) -> dict[str, Any]:
    endpoint = _endpoint(resource)
    endpoint = {"path": endpoint} if isinstance(endpoint, str) else endpoint
    endpoint["incremental"] = _incremental(system, resource)  # None overrides a default the resource does not use
    spec: dict[str, Any] = {
        "name": resource.name,
        "table_name": resource.entity,
        "endpoint": endpoint,
        "write_disposition": "merge",
        "primary_key": [mapping.SOURCE_SYSTEM, *resource.key()],
        "columns": table_columns(resource),
        "processing_steps": _steps(system, resource, stats),
    }
    if resource.include_from_parent:
        spec["include_from_parent"] = list(resource.include_from_parent)
    return spec


def rest_api_config(
    system: SystemConfig, credentials: Credentials, stats: RequestStats, request_settings: dict | None = None
) -> dict[str, Any]:
    """The system's YAML turned into dlt's RESTAPIConfig: credentials, session and processing steps added."""
    settings = system.requests.model_dump() | (request_settings or {})
    client = copy.deepcopy(system.client) | {
        "base_url": credentials.base_url,
        "auth": auth_for(system, credentials),
        "session": retrying_session(stats, settings),
    }
    rest: dict[str, Any] = {
        "client": client,
        "resource_defaults": copy.deepcopy(system.resource_defaults),
        "resources": [],
    }
    for resource in system.resources:
        endpoint = resource.endpoint
        stats.declare(
            resource.name, endpoint if isinstance(endpoint, str) else (endpoint or {}).get("path", resource.name)
        )
        rest["resources"].append(_resource_spec(system, resource, stats))
    return rest


def _scan_config(system: SystemConfig, resource: Resource, rest: dict[str, Any]) -> dict[str, Any]:
    """A rest_api config listing every record of ``resource`` (no incremental filter), taken and mapped as the
    resource's own records are."""
    defaults = copy.deepcopy(rest["resource_defaults"])
    defaults["endpoint"] = _without_incremental(defaults.get("endpoint") or {})
    keep, to_canonical, [key] = (
        mapping.compile_filter(resource),
        mapping.compile_mapping(system.system, resource),
        resource.key(),
    )
    steps: list[dict] = [{"filter": keep}] if keep is not None else []
    steps += [{"map": to_canonical}, {"filter": lambda row: row.get(key) not in (None, "")}]
    return {
        "client": rest["client"],
        "resource_defaults": defaults,
        "resources": [
            {
                "name": f"{resource.name}{SCAN}",
                "endpoint": _without_incremental(_endpoint(resource)),
                "processing_steps": steps,
            }
        ],
    }


SCAN = "__deletion_check"  # the suffix of a deletion check's resources (named in errors as the check)
MISSED_TO_DELETE = 2  # consecutive scans a record must be missing from: one miss can be a page shifting under a
# deletion made while the list was read, which skips one live record


class _KeyScan:
    """Every record a system lists for one resource, read once (by whichever of the check's two resources asks
    first), against what bronze holds."""

    def __init__(
        self, system: SystemConfig, resource: Resource, scan: Any, known_keys: KnownKeys, stats: RequestStats
    ) -> None:
        self.system, self.resource, self.scan, self.known_keys, self.stats = system, resource, scan, known_keys, stats
        self._result: tuple[dict[str, dict], set[str], dict[str, int]] | None = None

    def result(self) -> tuple[dict[str, dict], set[str], dict[str, int]]:
        """(listed rows by key, keys in bronze, keys missed by earlier scans -> how many in a row)."""
        if self._result is None:
            [key] = self.resource.key()
            listed = {str(row[key]): row for page in self.scan for row in (page if isinstance(page, list) else [page])}
            in_bronze, missed = self.known_keys(self.resource.entity, key)
            self._result = listed, in_bronze, missed
        return self._result


def deletion_check(
    system: SystemConfig, resource: Resource, scan: Any, known_keys: KnownKeys, stats: RequestStats
) -> list[Any]:
    """Two dlt resources over one listing of every key of ``resource``:

    * ``deletions``: a record bronze holds that the system no longer lists is marked ``is_deleted`` once it is
      missing from ``MISSED_TO_DELETE`` consecutive scans; one listed again is unmarked;
    * the resource's own table: a record the system lists that bronze lacks and this run's incremental read did not
      bring (a page that shifted under a concurrent deletion while it was read) is loaded, so nothing stays missed.
    """
    listing = _KeyScan(system, resource, scan, known_keys, stats)
    name = resource.name

    @dlt.resource(
        name=f"{name}{SCAN}",
        table_name=DELETIONS,
        write_disposition="merge",
        primary_key=[mapping.SOURCE_SYSTEM, "entity", "record_key"],
        columns=DELETION_COLUMNS,
    )
    def deletions() -> Iterator[dict[str, Any]]:
        listed, in_bronze, missed = listing.result()
        marker = {"source_system": system.system, "entity": resource.entity, "checked_at": dt.datetime.now(dt.UTC)}
        for record_key in sorted(in_bronze - listed.keys()):
            before = missed.get(record_key, 0)
            if before >= MISSED_TO_DELETE:
                continue  # marked already
            stats.deleted[name] += before + 1 == MISSED_TO_DELETE
            yield marker | {
                "record_key": record_key,
                "missed_scans": before + 1,
                "is_deleted": before + 1 >= MISSED_TO_DELETE,
            }
        for record_key in sorted(missed.keys() & listed.keys()):
            yield marker | {"record_key": record_key, "missed_scans": 0, "is_deleted": False}

    @dlt.resource(
        name=f"{name}{SCAN}_recovered",
        table_name=resource.entity,
        write_disposition="merge",
        primary_key=[mapping.SOURCE_SYSTEM, *resource.key()],
        columns=table_columns(resource),
    )
    def recovered() -> Iterator[dict[str, Any]]:
        listed, in_bronze, _ = listing.result()
        for record_key in sorted(listed.keys() - in_bronze - stats.seen[name]):
            stats.recovered[name] += 1
            yield listed[record_key]

    return [deletions, recovered]


def _rest_api_resources(config: dict[str, Any]) -> list[DltResource]:
    """dlt's resources for a rest_api config built from a system's YAML; dlt validates it against RESTAPIConfig."""
    return rest_api_resources(cast(RESTAPIConfig, config))


def servicedesk_source(
    system: SystemConfig,
    credentials: Credentials,
    stats: RequestStats | None = None,
    request_settings: dict | None = None,
    known_keys: KnownKeys | None = None,
) -> Any:
    """The system's resources as one dlt source (schema ``servicedesk_<system>``), each loading its canonical
    table, merged on ``source_system`` and the declared key; plus the declared deletion checks."""
    stats = stats or RequestStats()
    rest = rest_api_config(system, credentials, stats, request_settings)
    resources = list(_rest_api_resources(rest))
    for resource in system.resources:
        if resource.deletions == "full_scan" and known_keys is not None:
            [scan] = _rest_api_resources(_scan_config(system, resource, rest))
            resources += deletion_check(system, resource, scan, known_keys, stats)

    source = DltSource(Schema(f"servicedesk_{system.system}"), "servicedesk", resources)
    source.max_table_nesting = 0  # canonical rows are flat
    return source


__all__ = [
    "DELETIONS",
    "SCAN",
    "SYSTEMS",
    "Credentials",
    "ServiceDeskAuthError",
    "auth_for",
    "check_identity",
    "cursor_column",
    "cursor_path",
    "dataset",
    "declared_systems",
    "load_system",
    "resolve_credentials",
    "rest_api_config",
    "select_systems",
    "servicedesk_source",
    "setting_names",
    "table_columns",
]
