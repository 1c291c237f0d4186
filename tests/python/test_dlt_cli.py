"""dlt's own command line on the project's pipelines, run for real from the project root: it lists them, shows
them, and its ``drop`` acts on the project's warehouse (never on a stray ``<pipeline>.duckdb``); the next ingestion
notices what a drop took and loads it again instead of calling the period unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ingestion import paths

from workspace import Workspace

PERIODS = ("2025-02", "2025-03")


def dlt(*args: str) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).with_name("dlt")
    return subprocess.run(
        [str(executable), *args], cwd=paths.PROJECT_ROOT, env=os.environ.copy(), capture_output=True, text=True
    )


def ingest(ws: Workspace) -> subprocess.CompletedProcess:
    return ws.command(
        "publications", "--publication", "practice_submissions", "--from", PERIODS[0], "--to", PERIODS[-1]
    )


def practice_summary(ws: Workspace) -> list[tuple]:
    return ws.query(
        "select _period, _part, _source_row, practice_code, submissions from bronze_publications.practice_summary "
        "order by _period, practice_code"
    )


def test_dlt_lists_shows_and_drops_the_projects_pipelines_and_a_run_restores_what_it_dropped(
    workspace: Workspace,
) -> None:
    workspace.generate(periods=PERIODS, practices=8)
    first = ingest(workspace)
    assert first.returncode == 0, first.stdout + first.stderr
    before = practice_summary(workspace)
    name = f"publications_practice_submissions_{workspace.engine}"
    stray = set(paths.PROJECT_ROOT.glob("*.duckdb"))

    listed = dlt("pipeline", "--list-pipelines")
    info = dlt("pipeline", name, "info")
    dropped = dlt("--yes", "pipeline", name, "drop", "practice_summary")

    assert name in listed.stdout and str(workspace.root / "state" / "dlt" / "pipelines") in listed.stdout, listed
    assert "dataset_name: bronze_publications" in info.stdout and "default_schema_name: practice_submissions" in (
        info.stdout
    ), info.stdout + info.stderr
    assert dropped.returncode == 0, dropped.stdout + dropped.stderr
    assert not workspace.warehouse.table_exists("bronze_publications", "practice_summary"), dropped.stdout
    assert workspace.warehouse.table_exists("bronze_publications", "practice_detail")
    assert set(paths.PROJECT_ROOT.glob("*.duckdb")) == stray, "dlt wrote a DuckDB file of its own"

    again = ingest(workspace)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "publications: SUCCESS" in again.stdout and f"{len(PERIODS)} loaded" in again.stdout, again.stdout
    assert practice_summary(workspace) == before
    reasons = workspace.query(
        "select subject, message from ops.run_events where event_type = 'bronze_missing' order by subject"
    )
    assert [subject for subject, _ in reasons] == [f"practice_submissions/{period}" for period in PERIODS]
    assert all("practice_summary" in message for _, message in reasons), reasons
