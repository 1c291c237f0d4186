"""dlt source for the service-desk REST API, declared in ``servicedesk.yml`` and built by dlt's ``rest_api``.

The YAML holds the API's shape; this module adds what YAML cannot: the injected base URL and token, the retrying
session that counts attempts, and two processing steps per resource (count what was fetched, reject records that
lack their key or cursor, naming them).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import dlt
import yaml
from dlt.common.normalizers.naming.snake_case import NamingConvention as SnakeCaseNaming
from dlt.sources.rest_api import rest_api_resources

from ingestion import redact
from ingestion.sources.servicedesk.http import RequestStats, retrying_session

CONFIG = Path(__file__).with_name("servicedesk.yml")
NAMING = SnakeCaseNaming()  # dlt's own column naming, so a declared field name becomes the bronze column it lands in


def load_config(path: Path | None = None) -> dict:
    return yaml.safe_load((path or CONFIG).read_text())


def cursor_columns(config: dict) -> dict[str, str | None]:
    """Each resource's incremental cursor as its bronze column (as declared, by the resource or its defaults);
    None for a resource without one, or whose cursor is inside a nested object (kept as JSON in bronze)."""
    default = (config.get("resource_defaults", {}).get("endpoint", {}).get("incremental") or {}).get("cursor_path")
    columns: dict[str, str | None] = {}
    for resource in config["resources"]:
        endpoint = resource.get("endpoint")
        incremental = endpoint.get("incremental") if isinstance(endpoint, dict) else None
        path = (incremental or {}).get("cursor_path", default) if incremental is not False else None
        columns[resource["name"]] = NAMING.normalize_identifier(path) if path and "." not in path else None
    return columns


def _key_fields(resource: dict, defaults: dict) -> list[str]:
    key = resource.get("primary_key", defaults.get("primary_key", []))
    return [key] if isinstance(key, str) else list(key)


def _steps(name: str, required: list[str], stats: RequestStats) -> list[dict]:
    def count(record: dict) -> dict:
        stats.fetched[name] += 1
        return record

    def complete(record: dict) -> bool:
        missing = [f for f in required if record.get(f) in (None, "")]
        if missing:
            stats.rejected[name] += 1
            stats.rejections.append(f"{name}: record {({f: record.get(f) for f in required})} lacks {missing}")
        return not missing

    return [{"map": count}, {"filter": complete}]


def rest_api_config(config: dict, base_url: str, token: str, stats: RequestStats,
                    request_settings: dict | None = None) -> dict[str, Any]:
    """The YAML turned into dlt's RESTAPIConfig, with credentials, session and processing steps added;
    ``request_settings`` overrides the YAML's ``requests`` (timeouts, attempts, backoff)."""
    rest = {"client": copy.deepcopy(config.get("client", {})),
            "resource_defaults": copy.deepcopy(config.get("resource_defaults", {})), "resources": []}
    rest["client"].update(base_url=base_url.rstrip("/") + "/", auth={"type": "bearer", "token": token},
                          session=retrying_session(stats, config.get("requests", {}) | (request_settings or {})))
    cursor = rest["resource_defaults"].get("endpoint", {}).get("incremental", {}).get("cursor_path")
    for resource in config["resources"]:
        resource = copy.deepcopy(resource)
        endpoint = resource.get("endpoint") or resource["name"]
        stats.declare(resource["name"], endpoint if isinstance(endpoint, str) else endpoint.get("path",
                                                                                               resource["name"]))
        required = _key_fields(resource, rest["resource_defaults"]) + ([cursor] if cursor else [])
        resource["processing_steps"] = _steps(resource["name"], required, stats)
        rest["resources"].append(resource)
    return rest


@dlt.source(name="servicedesk", max_table_nesting=0)
def servicedesk_source(base_url: str = dlt.config.value, token: str = dlt.secrets.value,
                       stats: RequestStats | None = None, request_settings: dict | None = None,
                       config_path: Path | None = None) -> Any:
    """Users, tickets, comments and timesheets, incremental on ``updated_at`` and merged on their keys."""
    config = load_config(config_path)
    redact.register(token)  # masked in every message from here on
    return rest_api_resources(rest_api_config(config, base_url, token, stats or RequestStats(), request_settings))
