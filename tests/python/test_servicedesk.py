"""The service desk over real HTTP (the project's local API), real dlt, and real DuckDB and PostgreSQL.

Incremental runs upsert on natural keys, duplicates collapse, transient failures are retried, permanent ones fail
at once with nothing loaded, and a killed load started again ends where an uninterrupted one does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from ingestion.devtools.local_api import SYSTEM, ServiceDeskAPI, start_server
from ingestion.pipelines.servicedesk import ServiceDeskRun, ingest_servicedesk
from ingestion.sources.servicedesk import cursor_column, cursor_path, schema
from ingestion.sources.servicedesk.http import RequestStats

from workspace import Workspace

TOKEN = "test-token-servicedesk"
TABLES = ("users", "tickets", "comments", "timesheets")
FAST = {"timeout_seconds": 1.5, "backoff_factor": 0.1, "max_retry_delay_seconds": 2, "max_attempts": 4}


@pytest.fixture
def api() -> Iterator[ServiceDeskAPI]:
    with start_server(port=0, token=TOKEN, seed=7) as server:
        yield server


def ingest(ws: Workspace, api: ServiceDeskAPI, token: str = TOKEN, **options: object) -> ServiceDeskRun:
    return ingest_servicedesk(
        ws.warehouse,
        f"test-{uuid.uuid4().hex[:6]}",
        SYSTEM,
        base_url=api.base_url,
        secret=token,
        request_settings=FAST,
        progress=lambda _: None,
        **options,
    )


def figures(run: ServiceDeskRun) -> dict[str, dict]:
    return {f.resource: f.__dict__ for f in run.figures}


def bronze(ws: Workspace, table: str, columns: str = "*", order: str = "1") -> list[tuple]:
    return ws.query(f"select {columns} from bronze_servicedesk.{table} order by {order}")


def api_records(api: ServiceDeskAPI, resource: str) -> list[dict]:
    """Every record the API serves for a resource, following its pagination (duplicates included)."""
    import requests

    records, url = [], f"{api.base_url}/{resource}?per_page=200"
    while url:
        page = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
        records += page["data"]
        url = page["links"]["next"]
    return records


def test_first_run_loads_everything_with_figures(workspace: Workspace, api: ServiceDeskAPI) -> None:
    run = ingest(workspace, api)

    assert run.status == "success", run.error
    numbers = figures(run)
    for table in TABLES:
        served = api_records(api, table)
        assert numbers[table]["fetched"] == len(served)
        assert numbers[table]["inserted"] == workspace.scalar(f"select count(*) from bronze_servicedesk.{table}")
        assert numbers[table]["updated"] == 0 and numbers[table]["rejected"] == 0
    recorded = workspace.query(
        "select resource, status, inserted from ops.servicedesk_load_figures "
        f"where run_id = '{run.run_id}' order by resource"
    )
    assert [(r, s) for r, s, _ in recorded] == sorted((t, "success") for t in TABLES)


def test_exact_duplicate_timesheets_are_stored_once(workspace: Workspace, api: ServiceDeskAPI) -> None:
    served = api_records(api, "timesheets")
    keys = {(r["user_id"], r["work_date"], r["time_from"], r["ticket_id"]) for r in served}
    assert len(keys) < len(served), "the API is expected to emit exact duplicates"

    assert ingest(workspace, api).status == "success"
    assert workspace.scalar("select count(*) from bronze_servicedesk.timesheets") == len(keys)


def test_changed_records_are_fetched_alone_updated_in_place_and_snapshotted(
    workspace: Workspace, api: ServiceDeskAPI
) -> None:
    assert ingest(workspace, api).status == "success"
    assert workspace.dbt("build", "--select", "tag:servicedesk").ok
    tickets_before = workspace.scalar("select count(*) from bronze_servicedesk.tickets")
    boundary = workspace.scalar(
        "select count(*) from bronze_servicedesk.tickets where updated_at = "
        "(select max(updated_at) from bronze_servicedesk.tickets)"
    )
    changed = api.mutate(tickets=3, users=1, comments=2)["changed"]

    second = ingest(workspace, api)

    assert second.status == "success", second.error
    numbers = figures(second)
    # only the changed records travel, plus those sitting on the last cursor value (the inclusive boundary)
    assert numbers["tickets"]["fetched"] == len(changed["tickets"]) + boundary
    assert numbers["tickets"]["inserted"] == 0
    assert numbers["tickets"]["updated"] == len(changed["tickets"])  # boundary rows are re-read, not updated
    assert numbers["comments"]["inserted"] == len(changed["comments"])
    assert workspace.scalar("select count(*) from bronze_servicedesk.tickets") == tickets_before
    served = {r["id"]: r["status"] for r in api_records(api, "tickets")}
    stored = dict(bronze(workspace, "tickets", "id, status"))
    assert stored == served

    assert workspace.dbt("build", "--select", "tag:servicedesk").ok
    versions = dict(
        workspace.query("select ticket_key, count(*) from snapshots.snap_servicedesk__tickets group by ticket_key")
    )
    assert all(versions[f"local:{ticket}"] == 2 for ticket in changed["tickets"])
    assert sum(1 for count in versions.values() if count > 1) == len(changed["tickets"])


def test_a_change_within_the_same_second_as_the_cursor_is_not_missed(workspace: Workspace, api: ServiceDeskAPI) -> None:
    assert ingest(workspace, api).status == "success"
    changed = api.mutate(tickets=1, same_timestamp=True)["changed"]["tickets"]

    assert ingest(workspace, api).status == "success"

    served = {r["id"]: r["status"] for r in api_records(api, "tickets")}
    stored = dict(bronze(workspace, "tickets", "id, status"))
    assert stored[changed[0]] == served[changed[0]]


def test_server_errors_and_rate_limits_are_retried(duckdb_workspace: Workspace, api: ServiceDeskAPI) -> None:
    api.add_faults(
        [
            {"path": "/api/v1/tickets", "status": 500, "count": 2},
            {"path": "/api/v1/comments", "status": 429, "retry_after": 1},
            {"path": "/api/v1/users", "delay": 3},
        ]
    )

    run = ingest(duckdb_workspace, api)

    assert run.status == "success", run.error
    numbers = figures(run)
    assert (numbers["tickets"]["retries"], numbers["comments"]["retries"]) == (2, 1)
    assert numbers["users"]["retries"] == 1  # the slow response timed out once
    assert duckdb_workspace.scalar("select count(*) from bronze_servicedesk.tickets") == len(
        api_records(api, "tickets")
    )


def test_unauthorised_fails_at_once_naming_endpoint_and_loads_nothing(
    workspace: Workspace, api: ServiceDeskAPI
) -> None:
    api.add_faults([{"path": "/api/v1/comments", "status": 401}])

    run = ingest(workspace, api)

    assert run.status == "failed"
    assert "/comments" in run.error and "401" in run.error and "permanent" in run.error
    assert "SOURCES__SERVICEDESK__LOCAL__TOKEN" in run.error
    for table in TABLES:  # tickets and users were fetched fine, but nothing of the failed run is visible
        assert (
            not workspace.warehouse.table_exists("bronze_servicedesk", table)
            or workspace.scalar(f"select count(*) from bronze_servicedesk.{table}") == 0
        )
    assert workspace.query(
        f"select distinct status from ops.servicedesk_load_figures where run_id = '{run.run_id}'"
    ) == [("failed",)]
    assert api.stats()["requests"].get("/api/v1/comments") == 1  # not retried

    again = ingest(workspace, api)
    assert again.status == "success" and figures(again)["tickets"]["inserted"] > 0


def test_wrong_token_and_malformed_page_fail_with_clear_messages(
    duckdb_workspace: Workspace, api: ServiceDeskAPI
) -> None:
    wrong = ingest(duckdb_workspace, api, token="not-the-token")
    assert wrong.status == "failed" and "401" in wrong.error

    api.add_faults([{"path": "/api/v1/tickets", "malformed": True}])
    malformed = ingest(duckdb_workspace, api)
    assert malformed.status == "failed"
    assert "malformed" in malformed.error.lower() and "tickets" in malformed.error


def _table_contents(ws: Workspace) -> dict[str, list[tuple]]:
    contents = {}
    for table in TABLES:
        columns = [c for c in ws.columns("bronze_servicedesk", table) if not c.startswith("_dlt")]
        contents[table] = bronze(ws, table, ", ".join(columns), ", ".join(columns))
    return contents


def test_a_load_killed_midway_and_started_again_ends_like_an_uninterrupted_one(
    workspace: Workspace, api: ServiceDeskAPI, tmp_path_factory: pytest.TempPathFactory
) -> None:
    api.add_faults([{"path": "/api/v1/comments", "page": 2, "delay": 60}])
    env = {
        **os.environ,
        "SOURCES__SERVICEDESK__LOCAL__BASE_URL": api.base_url,
        "SOURCES__SERVICEDESK__LOCAL__TOKEN": TOKEN,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ingestion", "servicedesk", "--target", workspace.engine],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while api.stats()["requests"].get("/api/v1/comments", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    api.add_faults([])  # the slow page was the one in flight; nothing else pending
    assert api.stats()["faults_pending"] == 0

    resumed = ingest(workspace, api)

    assert resumed.status == "success", resumed.error
    with Workspace(workspace.engine, tmp_path_factory.mktemp("uninterrupted")) as clean:
        assert ingest(clean, api).status == "success"
        assert _table_contents(workspace) == _table_contents(clean)


REDMINE_LIKE = {
    "system": "redmine_like",
    "auth": {"type": "api_key", "name": "X-Redmine-API-Key"},
    "resource_defaults": {"endpoint": {"incremental": {"cursor_path": "updated_on", "start_param": "updated_on"}}},
    "resources": [
        {
            "name": "issues",
            "entity": "tickets",
            "endpoint": {"path": "issues.json"},
            "fields": {"updated_at": "updated_on", "requester_id": "author.id"},
        },
        {
            "name": "journals",
            "entity": "comments",
            "endpoint": {"path": "issues/{resources.issues.id}.json"},
            "include_from_parent": ["id"],
            "fields": {"ticket_id": "_issues_id"},
        },
        {
            "name": "users",
            "entity": "users",
            "endpoint": {"path": "users.json", "incremental": {"cursor_path": "author.updated"}},
            "fields": {"updated_at": "author.updated"},
        },
        {
            "name": "time_entries",
            "entity": "timesheets",
            "endpoint": "time_entries.json",
            "fields": {"updated_at": "updated_on"},
        },
    ],
}


def test_cursors_and_retry_counts_follow_the_declaration_not_one_systems_names() -> None:
    system = schema.validate(REDMINE_LIKE, "redmine_like.yml")
    cursors = {r.name: (cursor_path(system, r), cursor_column(system, r)) for r in system.resources}
    assert cursors == {
        "issues": ("updated_on", "updated_at"),
        "journals": (None, None),
        "users": ("author.updated", "updated_at"),
        "time_entries": ("updated_on", "updated_at"),
    }
    stats = RequestStats()
    for name, path in (
        ("issues", "issues.json"),
        ("journals", "issues/{resources.issues.id}.json"),
        ("time_entries", "time_entries.json"),
    ):
        stats.declare(name, path)
    for url in (
        "http://desk/redmine/issues.json?offset=25",
        "http://desk/redmine/issues/19.json?include=journals",
        "http://desk/redmine/issues/20.json",
        "http://desk/redmine/time_entries.json",
    ):
        stats.count_transient(url)
    assert dict(stats.transient) == {"issues": 1, "journals": 2, "time_entries": 1}  # not "19.json", "20.json"


def test_a_deleted_ticket_is_marked_after_two_scans_and_a_missed_one_is_recovered(
    workspace: Workspace, api: ServiceDeskAPI
) -> None:
    assert ingest(workspace, api).status == "success"
    gone = api.mutate(deleted_tickets=2)["changed"]["deleted_tickets"]
    # a ticket bronze lost (as if a page had shifted under a concurrent change while the list was read)
    missed = next(t for t in range(1, 121) if t not in gone)
    workspace.execute(f"delete from bronze_servicedesk.tickets where id = {missed}")

    first = ingest(workspace, api)

    assert first.status == "success", first.error
    assert figures(first)["tickets"]["deleted"] == 0  # one scan without them: not yet
    assert figures(first)["tickets"]["recovered"] == 1
    assert workspace.scalar(f"select count(*) from bronze_servicedesk.tickets where id = {missed}") == 1
    second = ingest(workspace, api)
    assert figures(second)["tickets"]["deleted"] == 2
    assert ingest(workspace, api).status == "success"  # marked already: nothing is written again
    assert workspace.scalar("select count(*) from bronze_servicedesk.deletions where is_deleted") == 2
    assert workspace.dbt("build", "--select", "tag:servicedesk").ok
    flags = dict(workspace.query("select ticket_id, is_deleted from gold.fct_tickets where is_deleted"))
    assert flags == dict.fromkeys(gone, True)
    assert workspace.scalar("select count(*) from gold.fct_tickets") == 120  # kept, never dropped


def test_a_second_run_with_nothing_new_is_no_work_and_a_missing_token_is_permanent(
    duckdb_workspace: Workspace, api: ServiceDeskAPI
) -> None:
    env = {**os.environ, "SOURCES__SERVICEDESK__LOCAL__BASE_URL": api.base_url}
    command = [sys.executable, "-m", "ingestion", "servicedesk", "--target", "duckdb"]

    missing = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    first = subprocess.run(
        command, env={**env, "SOURCES__SERVICEDESK__LOCAL__TOKEN": TOKEN}, capture_output=True, text=True, timeout=120
    )
    again = subprocess.run(
        command, env={**env, "SOURCES__SERVICEDESK__LOCAL__TOKEN": TOKEN}, capture_output=True, text=True, timeout=120
    )

    assert missing.returncode == 1
    assert "(permanent)" in missing.stdout and "retryable" not in missing.stdout + missing.stderr, missing.stdout
    assert first.returncode == 0 and "servicedesk: SUCCESS in" in first.stdout, first.stdout + first.stderr
    assert again.returncode == 0, again.stdout + again.stderr
    assert "servicedesk local: nothing new (NO_WORK)" in again.stdout and "servicedesk: NO_WORK in" in again.stdout
