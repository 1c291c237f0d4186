"""Backfills over period ranges: recorded in the run ledger, idempotent, resumable, and never interleaved."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestion import cli, runs
from ingestion.ledger import Ledger

from faultkit import ReleaseServer, wait_for
from workspace import Workspace

TABLES = ("national_summary", "practice_summary", "practice_detail", "regional_extracts")


@pytest.fixture
def releases(workspace: Workspace) -> Iterator[ReleaseServer]:
    """Releases generated into the workspace and served over http, the config pointing at them; while ``hold`` is
    set, 2025-04's files are stuck downloading."""
    workspace.generate(practices=10)
    with ReleaseServer(workspace, held_period="2025-04") as server:
        yield server


@pytest.fixture
def served(releases: ReleaseServer) -> Workspace:
    return releases.ws


def _bronze(ws: Workspace) -> dict[str, list[tuple]]:
    """Every bronze row, without the column that differs between loads (the load id)."""
    contents = {}
    for table in TABLES:
        columns = [c for c in ws.columns("bronze_publications", table) if c != "_dlt_load_id"]
        contents[table] = ws.query(
            f"select {', '.join(columns)} from bronze_publications.{table} order by {', '.join(columns)}"
        )
    return contents


def _cli(ws: Workspace, *args: str) -> int:
    return cli.main([*args, "--target", ws.engine])


def _latest_run(ws: Workspace) -> runs.RunView:
    ledger = Ledger(ws.warehouse, "-")
    return runs.list_runs(ledger, limit=1)[0]


def test_a_killed_backfill_shows_incomplete_and_resumes_to_the_same_state(
    releases: ReleaseServer, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = releases.ws
    releases.hold.set()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ingestion",
            "publications",
            "--from",
            "2025-02",
            "--to",
            "2025-06",
            "--target",
            ws.engine,
        ],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(releases.held, timeout=90, what="the 2025-04 download")
    process.send_signal(signal.SIGKILL)  # killed after its second period, fetching the third
    process.wait(timeout=10)
    releases.hold.clear()
    [mirror] = list(Path(ws.env["ANALYTICS_LOG_DIR"]).glob("*.jsonl"))
    killed_run = mirror.stem
    assert sum(json.loads(line)["event_type"] == "load_completed" for line in mirror.read_text().splitlines()) == 2

    capsys.readouterr()
    assert _cli(ws, "runs", "show", killed_run) == 0
    shown = capsys.readouterr().out
    assert f"run {killed_run}: INCOMPLETE" in shown
    assert "failure point: stage discover, source practice_submissions, practice_submissions/2025-04" in shown
    assert "resume with: ingestion publications --from 2025-04 --to 2025-06" in shown

    assert _cli(ws, "runs", "resume", killed_run, "--execute") == 0
    resumed = _latest_run(ws)
    assert resumed.run_id != killed_run and resumed.status == "SUCCESS"
    assert sorted(e["subject"] for e in resumed.events if e["event_type"] == "load_completed") == [
        "practice_submissions/2025-04",
        "practice_submissions/2025-05",
        "practice_submissions/2025-06",
    ]

    with Workspace(ws.engine, tmp_path_factory.mktemp("clean")) as clean:
        os.environ["ANALYTICS_DATA_DIR"] = ws.env["ANALYTICS_DATA_DIR"]  # the same release files
        assert _cli(clean, "publications") == 0
        assert _bronze(ws) == _bronze(clean)


def test_a_rerun_with_nothing_new_is_no_work_and_changes_nothing(served: Workspace) -> None:
    ws = served
    assert _cli(ws, "publications") == 0
    before = _bronze(ws)
    loads = ws.query("select distinct _dlt_load_id from bronze_publications.practice_detail order by 1")

    assert _cli(ws, "publications") == 0

    run = _latest_run(ws)
    assert run.status == "NO_WORK" and run.rows == 0
    assert sum(e["event_type"] == "load_skipped" for e in run.events) == 9  # every period of both publications
    assert _bronze(ws) == before
    assert ws.query("select distinct _dlt_load_id from bronze_publications.practice_detail order by 1") == loads


def test_a_revised_release_is_reloaded_without_force(served: Workspace) -> None:
    ws = served
    assert _cli(ws, "publications") == 0
    revised = ws.release_root / "2025-03" / "practice-detail-2025-03.csv"
    lines = revised.read_text().splitlines()
    revised.write_text("\n".join(lines[:-10]) + "\n")  # the revision withdraws ten rows

    assert _cli(ws, "publications") == 0

    run = _latest_run(ws)
    assert run.status == "SUCCESS"
    assert [e["subject"] for e in run.events if e["event_type"] == "load_completed"] == ["practice_submissions/2025-03"]
    assert ws.counts_by_period("practice_detail")["2025-03"] == len(lines) - 1 - 10

    assert _cli(ws, "publications", "--from", "2025-05", "--to", "2025-05", "--force") == 0
    assert _latest_run(ws).status == "SUCCESS"


def test_a_second_backfill_is_refused_while_one_is_running(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.generate(("2025-02",), practices=8)
    running = Ledger(workspace.warehouse, "run-in-progress")
    running.ensure_schema()
    running.acquire_lock()  # held by this (live) process, as a running backfill would

    assert _cli(workspace, "publications", "--from", "2025-02", "--to", "2025-02") == 3
    assert "refused: run run-in-progress" in capsys.readouterr().err
    assert not workspace.warehouse.table_exists("bronze_publications", "practice_detail")

    running.release_lock()
    assert _cli(workspace, "publications", "--from", "2025-02", "--to", "2025-02") == 0


def test_the_health_check_warns_when_a_release_shrinks(served: Workspace) -> None:
    ws = served
    assert _cli(ws, "publications") == 0
    revised = ws.release_root / "2025-06" / "practice-detail-2025-06.csv"
    lines = revised.read_text().splitlines()
    revised.write_text("\n".join(lines[: len(lines) // 5]) + "\n")  # a fifth of the rows arrived
    assert _cli(ws, "publications") == 0

    result = ws.dbt("build", "--select", "tag:ops")

    assert result.ok  # a warning, not an error
    assert any("loads_bring_plausible_row_counts" in node for node in result.failed_nodes)
    flagged = ws.query("select table_name, period from gold.fct_table_loads where is_suspicious_volume")
    assert ("practice_detail", "2025-06") in flagged
    runs_table = dict(ws.query("select run_status, count(*) from gold.fct_runs group by run_status"))
    assert runs_table == {"SUCCESS": 2}
