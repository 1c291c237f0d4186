"""A service desk declared by YAML: the schema (paths, suggestions, no secrets), and the mapping onto the canonical
model, as pure functions without a server or a warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from ingestion import cli
from ingestion.errors import ConfigError
from ingestion.sources.servicedesk import (
    SYSTEMS,
    _expand,
    cursor_path,
    declared_systems,
    resolve_credentials,
    schema,
    select_systems,
)
from ingestion.sources.servicedesk.mapping import compile_filter, compile_mapping
from ingestion.sources.servicedesk.schema import SCHEMA_FILE, json_schema

from workspace import Workspace

REDMINE = yaml.safe_load((SYSTEMS / "redmine.yml").read_text())


def _with(change: dict, base: dict | None = None) -> dict:
    """The Redmine declaration with ``change`` applied to its top level."""
    return {**(base or REDMINE), **change}


def test_the_committed_json_schema_is_in_step_and_every_shipped_system_is_valid_against_it() -> None:
    assert SCHEMA_FILE.read_text() == json_schema(), "run `make schema` and commit servicedesk.schema.json"
    validator = json.loads(SCHEMA_FILE.read_text())
    for path in SYSTEMS.glob("*.yml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=../servicedesk.schema.json")
        jsonschema.validate(yaml.safe_load(path.read_text()), validator)
    assert set(declared_systems()) == {"local", "redmine"}
    assert [system.system for system in select_systems()] == ["local"]  # redmine is declared, not enabled


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"auth": {"type": "api_key", "name": "X-Redmine-API-Key", "api_key": "abc123"}},
            r"auth\.api_key: a secret is never written in a config file.*SOURCES__SERVICEDESK__<SYSTEM>__<NAME>",
        ),
        ({"auth": {"type": "bearer", "token": "abc"}}, r"auth\.token: a secret is never written"),
        ({"auth": {"type": "oauth"}}, r"auth: .*'bearer', 'api_key', 'http_basic'"),
        (
            {"whoami": {"path": "users/current.json", "identiy": "user.login"}},
            r"whoami\.identiy: unknown setting 'identiy'; did you mean 'identity'\?",
        ),
        ({"enabeld": True}, r"enabeld: unknown setting 'enabeld'; did you mean 'enabled'\?"),
        ({"client": {"auth": {"type": "bearer"}}}, r"client: .*set auth: at the top level"),
        ({"system": "Red Mine"}, r"system: 'Red Mine' must be a lower_snake_case name"),
        (
            {"resource_defaults": {"write_disposition": "replace"}},
            r"resource_defaults: .*shared by every system and merged on source_system and the key; only merge",
        ),
        ({"resource_defaults": {"primary_key": "id"}}, r"resource_defaults takes endpoint \(and write_disposition"),
        (
            {"client": {"headers": {"X-Redmine-API-Key": "abc"}}},
            r"client\.headers\.X-Redmine-API-Key: a credential is never written in a config file",
        ),
    ],
)
def test_a_mistake_in_a_system_names_its_yaml_path(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        schema.validate(_with(change), "redmine.yml")


@pytest.mark.parametrize(
    ("resource_change", "message"),
    [
        (
            {"fields": {"requestor_id": "author.id"}},
            r"'requestor_id' is not a column of the canonical tickets; did you mean 'requester_id'\?",
        ),
        (
            {"entity": "issues"},
            r"resources\[0\]\.entity: Input should be 'users', 'tickets', 'comments' or 'timesheets'",
        ),
        ({"fields": {"status": {"path": "status.name", "const": "new"}}}, r"give exactly one of path, join or const"),
        (
            {"fields": {"updated_at": "updated_on", "created_at": "created_on"}, "primary_key": ["id", "subject"]},
            r"deletions: full_scan needs a one-column primary_key",
        ),
        (
            {"fields": {"resolved_at": "closed_on"}},
            r"resources\.issues: the cursor 'updated_on' must fill a canonical column",
        ),
        (
            {"endpoint": {"path": "issues.json", "params": {"key": "abc123"}}},
            r"endpoint\.params\.key: a credential is never written in a config file",
        ),
    ],
)
def test_a_mistake_in_a_resource_names_the_canonical_model(resource_change: dict, message: str) -> None:
    resources = [{**REDMINE["resources"][0], **resource_change}, *REDMINE["resources"][1:]]
    with pytest.raises(ConfigError, match=message):
        schema.validate(_with({"resources": resources}), "redmine.yml")


def test_a_redmine_issue_maps_onto_a_canonical_ticket() -> None:
    system = schema.validate(REDMINE, "redmine.yml")
    issues = next(r for r in system.resources if r.name == "issues")
    issue = {
        "id": 116,
        "status": {"id": 6, "name": "Rejected", "is_closed": True},
        "priority": {"name": "Immediate"},
        "author": {"id": 6, "name": "Brian Ivanov"},
        "subject": "Search permissions #116",
        "created_on": "2026-12-04T16:32:32Z",
        "updated_on": "2026-12-04T16:32:40Z",
        "closed_on": "2026-12-04T16:32:40Z",
        "project": {"id": 1},
    }  # unassigned: no assigned_to at all
    assert compile_mapping("redmine", issues)(issue) == {
        "id": 116,
        "subject": "Search permissions #116",
        "status": "closed",
        "priority": "urgent",
        "requester_id": 6,
        "assignee_id": None,
        "created_at": "2026-12-04T16:32:32Z",
        "updated_at": "2026-12-04T16:32:40Z",
        "resolved_at": "2026-12-04T16:32:40Z",
        "source_system": "redmine",
    }


def test_journals_without_notes_are_not_comments_and_private_notes_are_not_public() -> None:
    system = schema.validate(REDMINE, "redmine.yml")
    journals = next(r for r in system.resources if r.name == "journals")
    keep, to_row = compile_filter(journals), compile_mapping("redmine", journals)
    note = {
        "id": 250,
        "user": {"id": 7},
        "notes": "Checked the upload.",
        "created_on": "2026-12-04T16:32:39Z",
        "private_notes": True,
        "details": [],
        "_issues_id": 19,
    }
    change = {
        "id": 274,
        "user": {"id": 8},
        "notes": "",
        "created_on": "2026-12-04T16:32:40Z",
        "private_notes": False,
        "details": [{"name": "status_id"}],
        "_issues_id": 19,
    }
    assert keep is not None and keep(note) and not keep(change) and not keep({**change, "notes": "  "})
    row = to_row(note)
    assert (row["ticket_id"], row["author_id"], row["is_public"], row["body"]) == (19, 7, False, "Checked the upload.")


def test_hours_become_whole_minutes_and_names_are_joined() -> None:
    system = schema.validate(REDMINE, "redmine.yml")
    entries = next(r for r in system.resources if r.name == "time_entries")
    users = next(r for r in system.resources if r.name == "users")
    assert (
        compile_mapping("redmine", entries)(
            {"id": 3, "hours": 1.25, "spent_on": "2025-04-10", "user": {"id": 8}, "issue": {"id": 84}}
        )["minutes"]
        == 75
    )
    assert compile_mapping("redmine", entries)({"id": 4, "hours": None})["minutes"] is None
    row = compile_mapping("redmine", users)(
        {"id": 5, "login": "user1", "firstname": "Ada", "lastname": " Lovelace", "mail": "user1@example.org"}
    )
    assert (row["name"], row["email"], row["role"], row["is_active"]) == (
        "Ada Lovelace",
        "user1@example.org",
        "agent",
        None,
    )


def test_a_child_resource_takes_no_deletion_check_and_no_default_cursor() -> None:
    journals = {**REDMINE["resources"][1], "deletions": "full_scan"}
    with pytest.raises(ConfigError, match=r"a child resource \(include_from_parent\) cannot be listed"):
        schema.validate(_with({"resources": [REDMINE["resources"][0], journals]}), "redmine.yml")
    # a cursor in the defaults is not given to a child, and a resource may opt out of it
    defaults = {"endpoint": {"incremental": {"cursor_path": "updated_on", "initial_value": "1970-01-01T00:00:00Z"}}}
    issues = {**REDMINE["resources"][0], "endpoint": {"path": "issues.json"}}
    users = {**REDMINE["resources"][3], "endpoint": {"path": "users.json", "incremental": None}}
    system = schema.validate(
        _with({"resource_defaults": defaults, "resources": [issues, REDMINE["resources"][1], users]}), "redmine.yml"
    )
    assert {r.name: cursor_path(system, r) for r in system.resources} == {
        "issues": "updated_on",
        "journals": None,
        "users": None,
    }


def test_credentials_come_from_the_environment_and_are_named_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    system = declared_systems()["redmine"]
    for name in ("BASE_URL", "API_KEY"):
        monkeypatch.delenv(f"SOURCES__SERVICEDESK__REDMINE__{name}", raising=False)
        monkeypatch.delenv(f"SOURCES__SERVICEDESK__{name}", raising=False)
    with pytest.raises(
        ConfigError,
        match=r"base_url and api_key not configured: set "
        r"SOURCES__SERVICEDESK__REDMINE__BASE_URL, "
        r"SOURCES__SERVICEDESK__REDMINE__API_KEY",
    ):
        resolve_credentials(system)
    monkeypatch.setenv("SOURCES__SERVICEDESK__REDMINE__BASE_URL", "http://redmine.test")
    monkeypatch.setenv("SOURCES__SERVICEDESK__REDMINE__API_KEY", "k3y-from-env")
    credentials = resolve_credentials(system)
    assert (credentials.base_url, credentials.secret) == ("http://redmine.test/", "k3y-from-env")
    assert "k3y-from-env" not in repr(credentials)
    # another system's settings are never borrowed: its secret must not travel to this system's host
    monkeypatch.delenv("SOURCES__SERVICEDESK__REDMINE__API_KEY")
    monkeypatch.setenv("SOURCES__SERVICEDESK__API_KEY", "someone-elses-key")
    with pytest.raises(ConfigError, match="api_key not configured"):
        resolve_credentials(system)


def test_an_expected_identity_from_an_unset_variable_is_an_error_not_anyone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDMINE_EXPECTED_USER", raising=False)
    assert _expand("${REDMINE_EXPECTED_USER:-admin}") == "admin"
    with pytest.raises(ConfigError, match="REDMINE_EXPECTED_USER is not set"):
        _expand("${REDMINE_EXPECTED_USER}")


def test_the_cli_names_an_unknown_system_and_reads_a_declaration_from_a_file(
    duckdb_workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["servicedesk", "--system", "zendesk"]) == 2
    assert "no service-desk system 'zendesk'" in capsys.readouterr().err
    other = tmp_path / "helpdesk.yml"
    other.write_text(yaml.safe_dump(_with({"system": "helpdesk", "enabeld": True})))
    assert cli.main(["servicedesk", "--config", str(other)]) == 2
    assert "helpdesk.yml: enabeld: unknown setting" in capsys.readouterr().err
