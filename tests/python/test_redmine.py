"""A real Redmine 5.0 (Debian's packages, installed by the test set-up when missing) declared by YAML alone
(``systems/redmine.yml``) and loaded on DuckDB and PostgreSQL beside the project's local API.

The Redmine is seeded once through its REST API (4 users, 120 issues, 250 notes, status changes, 150 time entries)
and each test starts its own server on a copy of that database (``redmine.py``).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from ingestion.devtools.local_api import SYSTEM as LOCAL
from ingestion.devtools.local_api import start_server
from ingestion.ledger import Ledger, log_dir
from ingestion.pipelines.servicedesk import ServiceDeskRun, ingest_servicedesk
from ingestion.sources.servicedesk import SYSTEMS

from redmine import (
    RedmineServer,
    Template,
    add_note,
    change_status,
    create_issue,
    create_time_entry,
    delete_issue,
    ensure_installed,
    lookup_ids,
    seeded_template,
    start_redmine,
    update_issue,
)
from workspace import Workspace

pytestmark = pytest.mark.slow
FAST = {"timeout_seconds": 5, "backoff_factor": 0.1, "max_retry_delay_seconds": 1, "max_attempts": 2}
LOCAL_TOKEN = "local-token-5b7e"


@pytest.fixture(scope="module")
def template() -> Template:
    ensure_installed()
    return seeded_template()


@pytest.fixture
def redmine(template: Template, tmp_path: Path) -> Iterator[RedmineServer]:
    with start_redmine(tmp_path / "redmine", template=template) as server:
        yield server


def load(
    ws: Workspace, server: RedmineServer, secret: str | None = None, system: object = "redmine", **options: object
) -> ServiceDeskRun:
    return ingest_servicedesk(
        ws.warehouse,
        f"test-{uuid.uuid4().hex[:6]}",
        system,
        base_url=server.base_url,
        secret=secret or server.admin_key,
        request_settings=FAST,
        progress=lambda _: None,
        **options,
    )


def figures(run: ServiceDeskRun) -> dict[str, dict]:
    return {f.resource: f.__dict__ for f in run.figures}


def listed(server: RedmineServer, path: str, **params: object) -> list[dict]:
    """Every record Redmine lists at ``path``, page by page, as the admin."""
    found, offset = [], 0
    key = path.removesuffix(".json")
    while True:
        page = server.api("GET", f"/{path}", params={**params, "offset": offset, "limit": 100})
        found += page[key]
        offset += 100
        if offset >= page["total_count"]:
            return found


def served(server: RedmineServer) -> dict[str, set]:
    """What Redmine holds, as the canonical tables would key it: issues, notes, time entries on issues, users."""
    issues = listed(server, "issues.json", status_id="*")
    notes = set()
    for issue in issues:
        journals = server.api("GET", f"/issues/{issue['id']}.json", params={"include": "journals"})["issue"]["journals"]
        notes |= {journal["id"] for journal in journals if journal["notes"]}
    return {
        "tickets": {issue["id"] for issue in issues},
        "comments": notes,
        "timesheets": {entry["id"] for entry in listed(server, "time_entries.json") if entry.get("issue")},
        "users": {user["id"] for user in listed(server, "users.json", status="")},
    }


def stored(ws: Workspace, system: str = "redmine") -> dict[str, set]:
    return {
        table: {
            row[0] for row in ws.query(f"select id from bronze_servicedesk.{table} where source_system = '{system}'")
        }
        for table in ("tickets", "comments", "timesheets", "users")
    }


def duplicates(ws: Workspace) -> int:
    return sum(
        int(
            ws.scalar(
                f"select count(*) - count(distinct source_system || ':' || cast(id as varchar)) from "
                f"bronze_servicedesk.{table} where id is not null"
            )
        )
        for table in ("tickets", "comments", "timesheets", "users")
    )


def test_first_load_holds_what_redmine_serves_and_gold_builds_over_both_systems(
    workspace: Workspace, redmine: RedmineServer, template: Template
) -> None:
    run = load(workspace, redmine)

    assert run.status == "success", run.error
    assert run.identity == "admin"
    expected = served(redmine)
    assert stored(workspace) == expected
    numbers = figures(run)
    assert numbers["issues"]["fetched"] == numbers["issues"]["inserted"] == len(template.dataset.issue_ids) == 120
    assert numbers["journals"]["inserted"] == template.dataset.note_journal_count == 250
    assert numbers["journals"]["skipped"] == numbers["journals"]["fetched"] - 250  # status changes without notes
    assert numbers["time_entries"]["inserted"] == 150 and numbers["users"]["inserted"] == 5
    # values mapped from Redmine's own fields onto the canonical columns
    issue = redmine.api("GET", f"/issues/{template.dataset.closed_issue_ids[0]}.json")["issue"]
    row = workspace.query(
        f"select status, requester_id, resolved_at is not null, priority from "
        f"bronze_servicedesk.tickets where source_system = 'redmine' and id = {issue['id']}"
    )[0]
    assert row[:3] == ("closed", issue["author"]["id"], True)
    assert row[3] == {"Immediate": "urgent"}.get(issue["priority"]["name"], issue["priority"]["name"].lower())
    minutes = workspace.scalar("select sum(minutes) from bronze_servicedesk.timesheets where source_system = 'redmine'")
    assert minutes == round(sum(e["hours"] for e in listed(redmine, "time_entries.json")) * 60)
    private = workspace.scalar(
        "select count(*) from bronze_servicedesk.comments where source_system = 'redmine' and not is_public"
    )
    assert private == 10  # every 25th of the 250 notes is private

    with start_server(port=0, token=LOCAL_TOKEN, seed=7) as api:  # the project's local API beside it
        local = ingest_servicedesk(
            workspace.warehouse, "test-local", LOCAL, base_url=api.base_url, secret=LOCAL_TOKEN, progress=lambda _: None
        )
    assert local.status == "success", local.error
    build = workspace.dbt("build", "--select", "tag:servicedesk")
    assert build.ok, build.failures
    by_system = dict(workspace.query("select source_system, count(*) from gold.fct_tickets group by source_system"))
    assert by_system == {"local": 120, "redmine": 120}
    assert workspace.scalar("select count(*) from gold.dim_users where source_system = 'redmine'") == 5
    responded = workspace.scalar(
        "select count(*) from gold.fct_tickets where source_system = 'redmine' and first_response_at is not null"
    )
    assert 0 < responded < 120


def test_changes_are_upserted_additions_inserted_deletions_marked_and_only_changes_fetched(
    workspace: Workspace, redmine: RedmineServer, template: Template
) -> None:
    assert load(workspace, redmine).status == "success"
    cursor = workspace.scalar("select max(updated_at) from bronze_servicedesk.tickets")
    data, ids = template.dataset, lookup_ids(redmine)
    time.sleep(1.1)  # Redmine's filter is to the second: the changes below come after the last cursor
    noted, renamed, gone = data.issue_ids[3], data.issue_ids[4], data.issue_ids[5]
    add_note(redmine, noted, "A late answer.", as_user="user2")
    change_status(redmine, noted, ids["statuses"]["Closed"], as_user="user2")
    update_issue(redmine, renamed, subject="Renamed at the source")
    added = create_issue(redmine, data.project_id, "A new issue", author="user1")["id"]
    entry = create_time_entry(
        redmine,
        issue_id=added,
        user_id=data.users[0].id,
        hours=1.5,
        spent_on=dt.date(2025, 6, 2),
        activity_id=min(ids["activities"].values()),
    )["id"]
    delete_issue(redmine, gone)

    second = load(workspace, redmine)

    assert second.status == "success", second.error
    numbers = figures(second)
    boundary = len(
        [
            issue
            for issue in listed(redmine, "issues.json", status_id="*")
            if issue["updated_on"] >= (cursor - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        ]
    )
    assert numbers["issues"]["fetched"] == boundary < 120  # Redmine's updated_on filter: the changes, and the
    assert numbers["issues"]["inserted"] == 1 and numbers["issues"]["updated"] == 2  # records on the boundary
    assert numbers["issues"]["deleted"] == 0  # missing from one scan: not yet (a page may have shifted)
    assert numbers["journals"]["inserted"] == 1  # the note; the status change has no notes
    # time entries have no filter in Redmine 5.0: all are read again, only the new one is written
    assert numbers["time_entries"]["fetched"] == 150 and numbers["time_entries"]["inserted"] == 1
    holds = stored(workspace)
    assert holds["tickets"] == served(redmine)["tickets"] | {gone}  # deleted at the source, kept in bronze
    assert entry in holds["timesheets"]
    assert duplicates(workspace) == 0
    row = workspace.query(
        f"select subject from bronze_servicedesk.tickets where source_system = 'redmine' and id = {renamed}"
    )
    assert row == [("Renamed at the source",)]

    third = load(workspace, redmine)
    assert third.status == "success", third.error
    assert figures(third)["issues"]["deleted"] == 1 and figures(third)["issues"]["fetched"] < boundary
    assert workspace.dbt("build", "--select", "tag:servicedesk").ok
    flags = dict(
        workspace.query(
            "select ticket_id, is_deleted from gold.fct_tickets where source_system = "
            f"'redmine' and ticket_id in ({gone}, {noted})"
        )
    )
    assert flags == {gone: True, noted: False}
    assert workspace.scalar(f"select status from gold.fct_tickets where ticket_key = 'redmine:{noted}'") == "closed"


def test_a_wrong_key_anonymous_access_and_a_server_killed_mid_run_fail_clearly_with_nothing_lost(
    workspace: Workspace, redmine: RedmineServer, template: Template, tmp_path: Path
) -> None:
    wrong = load(workspace, redmine, secret="0123456789abcdef-wrong")
    assert wrong.status == "failed"
    assert "SOURCES__SERVICEDESK__REDMINE__API_KEY" in wrong.error and "401" in wrong.error, wrong.error
    assert not workspace.warehouse.table_exists("bronze_servicedesk", "tickets")
    # Redmine answers a request without a valid key as anonymous (public issues load): whoami refuses that
    anonymous = requests.get(f"{redmine.base_url}/issues.json", timeout=10)
    assert anonymous.status_code == 200 and anonymous.json()["total_count"] > 0
    missing = ingest_servicedesk(
        workspace.warehouse, "test-nokey", "redmine", base_url=redmine.base_url, progress=lambda _: None
    )
    assert missing.status == "failed" and "api_key not configured" in missing.error, missing.error

    assert load(workspace, redmine).status == "success"
    before = _contents(workspace)
    for issue in template.dataset.issue_ids[:30]:
        add_note(redmine, issue, "Another note.", as_user="user3")
    offset = redmine.log_path.stat().st_size
    killer = threading.Thread(target=_kill_when_journals_are_read, args=(redmine, offset), daemon=True)
    killer.start()
    killed = load(workspace, redmine)
    killer.join(timeout=60)
    assert killed.status == "failed", "the server was killed while the load read journals"
    assert "ConnectionError" in killed.error and "after all retries" in killed.error, killed.error
    assert _contents(workspace) == before  # nothing of the failed run is visible, nothing lost

    redmine.restart()
    again = load(workspace, redmine)
    assert again.status == "success", again.error
    with Workspace(workspace.engine, tmp_path / "clean") as clean:
        assert load(clean, redmine).status == "success"
        assert _contents(workspace) == _contents(clean)


def _kill_when_journals_are_read(server: RedmineServer, offset: int) -> None:
    """SIGKILL the server once the load has asked for five issues' journals (its log from ``offset`` on)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with server.log_path.open("rb") as log:
            log.seek(offset)
            if log.read().count(b'GET "/issues/') >= 5:
                server.kill()
                return
        time.sleep(0.05)


def _contents(ws: Workspace) -> dict[str, list[tuple]]:
    found = {}
    for table in ("tickets", "comments", "timesheets", "users"):
        columns = [c for c in ws.columns("bronze_servicedesk", table) if not c.startswith("_dlt")]
        found[table] = sorted(
            tuple(map(str, row)) for row in ws.query(f"select {', '.join(columns)} from bronze_servicedesk.{table}")
        )
    return found


@pytest.mark.parametrize("scheme", ["api_key in a header", "api_key in the query", "http_basic"])
def test_no_secret_reaches_any_output_or_table_on_each_auth_scheme(
    duckdb_workspace: Workspace, redmine: RedmineServer, template: Template, tmp_path: Path, scheme: str
) -> None:
    """A failing run (refused, or failing on a URL that carries the key) leaves the secret in no printed line, no
    ledger row, no load figure and no log, through the CLI as a user runs it."""
    declared = yaml.safe_load((SYSTEMS / "redmine.yml").read_text())
    env = {**os.environ, "SOURCES__SERVICEDESK__REDMINE__BASE_URL": redmine.base_url}
    user = template.dataset.users[0]
    if scheme == "api_key in a header":
        secret = "f00dfeed" * 5  # a wrong key: refused at whoami
        env["SOURCES__SERVICEDESK__REDMINE__API_KEY"] = secret
    elif scheme == "api_key in the query":
        secret = redmine.admin_key  # the right key, in every URL; one endpoint that does not exist fails the run
        declared["auth"] = {"type": "api_key", "name": "key", "location": "query"}
        declared["resources"][2]["endpoint"]["path"] = "time_entries_missing.json"
        env["SOURCES__SERVICEDESK__REDMINE__API_KEY"] = secret
    else:
        secret = user.password + "-wrong"
        declared["auth"] = {"type": "http_basic"}
        env["SOURCES__SERVICEDESK__REDMINE__USERNAME"] = user.login
        env["SOURCES__SERVICEDESK__REDMINE__PASSWORD"] = secret
    config = tmp_path / "redmine.yml"
    config.write_text(yaml.safe_dump(declared))

    done = subprocess.run(
        [sys.executable, "-m", "ingestion", "servicedesk", "--config", str(config), "--target", "duckdb"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    ws = duckdb_workspace
    run_id = ws.scalar("select max(run_id) from ops.run_events")
    texts = {
        "console": done.stdout + done.stderr,
        "ledger": "\n".join(map(str, ws.query("select message, details from ops.run_events"))),
        "load figures": "\n".join(map(str, ws.query("select * from ops.servicedesk_load_figures"))),
        "jsonl mirror": (log_dir() / f"{run_id}.jsonl").read_text(),
    }
    assert "FAILED" in texts["console"] and ("refused" in texts["console"] or "404" in texts["console"])
    for where, text in texts.items():
        assert secret not in text, f"the secret is in the {where}: {text[:800]}"
    assert ws.scalar("select count(*) from ops.servicedesk_load_figures where status = 'failed'") == 4
    assert Ledger(ws.warehouse, run_id).query("select count(*) from ops.run_events where stage = 'load'")[0][0] > 0
