"""Schema drift against the Great Expectations suites in expectations/: warned, or stopped before silver.

The committed suites describe the release as it was up to 2025-05; the 2025-06 release adds five practice-level
columns. New columns warn and the run goes on; a column removed or retyped in a release stops the run at
validation, leaves silver and gold as they were, and the ledger says why.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from ingestion import cli, runs
from ingestion.ledger import Ledger
from ingestion.quality import catalog, drift, suites

from workspace import Workspace

ADDED_DETAIL = ["is_extended_hours", "median_wait_days", "routine_count", "staff_role", "urgent_count"]


def _run(ws: Workspace) -> tuple[int, runs.RunView]:
    code = cli.main(["run", "--local-api", "--target", ws.engine])
    ledger = Ledger(ws.warehouse, "-")
    return code, runs.list_runs(ledger, limit=1)[0]


def _events(run: runs.RunView, event_type: str, subject: str | None = None) -> list[dict]:
    return [e for e in run.events if e["event_type"] == event_type and (subject is None or e["subject"] == subject)]


def _built_layers(ws: Workspace) -> dict[str, object]:
    """Row counts of every silver and gold table, and a figure from the practice fact."""
    tables = ws.query(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('silver', 'gold') and table_type = 'BASE TABLE' order by 1, 2"
    )
    state: dict[str, object] = {f"{s}.{t}": ws.scalar(f"select count(*) from {s}.{t}") for s, t in tables}
    state["submissions"] = ws.scalar("select sum(submission_count) from gold.fct_practice_submissions_monthly")
    return state


def _revise_detail(ws: Workspace, period: str, select: str) -> None:
    """Publish a revised practice-detail CSV for ``period``: ``select`` over the original file's columns."""
    path = ws.release_root / period / f"practice-detail-{period}.csv"
    original = path.with_suffix(".orig")
    if not original.exists():
        shutil.copy(path, original)
    duckdb.sql(f"copy (select {select} from read_csv('{original}')) to '{path}' (header)")


@pytest.fixture
def own_suites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the committed suites, so that accepting drift does not touch the project's files."""
    target = tmp_path / "expectations"
    shutil.copytree(suites.suites_dir(), target)
    monkeypatch.setenv("ANALYTICS_EXPECTATIONS_DIR", str(target))
    return target


def test_drift_warns_on_added_columns_and_stops_removed_or_retyped_ones_before_silver(
    workspace: Workspace,
    own_suites: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws = workspace
    ws.generate()

    # 2025-06 adds five columns: the run warns, records the drift, and completes with the columns in bronze.
    code, first = _run(ws)
    assert code == 0 and first.status == "SUCCESS"
    [added] = _events(first, "schema_drift", "practice_detail/2025-06")
    assert added["status"] == "warn"
    assert all(column in added["message"] for column in ADDED_DETAIL)
    assert json.loads(added["details"])["first_seen"]["staff_role"] == "2025-06"
    assert _events(first, "schema_drift", "practice_summary/2025-06")[0]["status"] == "warn"
    assert set(ADDED_DETAIL) <= set(ws.columns("bronze_publications", "practice_detail"))
    assert (ws.root / "target" / "gx_docs" / "index.html").exists()
    built = _built_layers(ws)

    # A revised 2025-05 without a column: loaded into bronze, stopped at validation, silver and gold untouched.
    _revise_detail(ws, "2025-05", "* exclude (mean_processing_days)")
    code, removed_run = _run(ws)
    assert code == 1 and removed_run.status == "FAILED"
    assert removed_run.failure()["stage"] == "validate"
    [removed] = _events(removed_run, "schema_drift", "practice_detail/2025-05")
    assert removed["status"] == "failed" and "removed mean_processing_days" in removed["message"]
    [result] = _events(removed_run, "validation_result", "practice_detail/2025-05")
    assert result["status"] == "failed" and json.loads(result["details"])["removed"] == ["mean_processing_days"]
    assert not _events(removed_run, "stage_started") or all(
        e["stage"] != "transform" for e in _events(removed_run, "stage_started")
    )  # nothing new elsewhere to build
    excluded = {e["source"]: e["message"] for e in _events(removed_run, "build_excluded")}
    assert "bronze failed validation" in excluded["practice_submissions"]  # left out; the other sources were not
    assert "servicedesk" not in excluded and "practice_payments" not in excluded
    assert _built_layers(ws) == built
    shown = runs.render_show(runs.view(Ledger(ws.warehouse, "-"), removed_run.run_id))
    assert "mean_processing_days" in shown and "ingestion drift" in shown

    # Dates now published as ISO weeks: the values land beside the column, and validation stops the run.
    _revise_detail(ws, "2025-05", "* replace (strftime(submission_date, '%G-W%V-%u') as submission_date)")
    code, retyped_run = _run(ws)
    assert code == 1 and retyped_run.status == "FAILED"
    [retyped] = _events(retyped_run, "schema_drift", "practice_detail/2025-05")
    assert "retyped submission_date date->text" in retyped["message"]
    assert (
        ws.scalar(
            "select count(submission_date__v_text) from bronze_publications.practice_detail where _period = '2025-05'"
        )
        > 0
    )
    assert _built_layers(ws) == built

    # `drift` lists each difference with the period it first appeared in.
    table = catalog.find_table("practice_detail")
    [found] = [t for t in drift.table_drift(ws.warehouse, [table])[0]]
    assert found.added == dict.fromkeys(ADDED_DETAIL, "2025-06")
    assert found.retyped["submission_date"][:2] == ("date", "text")
    assert "submission_date" not in found.removed

    # The publisher corrects 2025-05: reloaded without --force, validated, built. A person then accepts the new
    # columns, and validation has no drift left to report for the table.
    shutil.copy(
        ws.release_root / "2025-05" / "practice-detail-2025-05.orig",
        ws.release_root / "2025-05" / "practice-detail-2025-05.csv",
    )
    code, fixed = _run(ws)
    assert code == 0 and fixed.status == "SUCCESS"
    assert not _events(fixed, "schema_drift", "practice_detail/2025-05")
    assert any(e["stage"] == "transform" and e["event_type"] == "stage_completed" for e in fixed.events)
    assert cli.main(["drift", "--accept", "practice_detail", "--target", ws.engine]) == 0
    accepted = json.loads((own_suites / "bronze_publications" / "practice_detail.json").read_text())
    assert accepted["meta"]["columns_since"] == dict.fromkeys(ADDED_DETAIL, "2025-06")
    assert accepted["meta"]["columns_retired"] == {}
    assert cli.main(["validate", "--all-periods", "--target", ws.engine]) == 0
    validated = runs.list_runs(Ledger(ws.warehouse, "-"), limit=1)[0]
    assert validated.status == "SUCCESS"
    assert [e["subject"] for e in _events(validated, "schema_drift")] == ["practice_summary/2025-06"]

    # The policy is each suite's own: with new columns set to fail, the same 2025-06 drift fails validation.
    summary_suite = own_suites / "bronze_publications" / "practice_summary.json"
    strict = json.loads(summary_suite.read_text())
    strict["meta"]["drift_policy"]["added"] = "fail"
    summary_suite.write_text(json.dumps(strict))
    assert cli.main(["validate", "--target", ws.engine]) == 1
    refused = runs.list_runs(Ledger(ws.warehouse, "-"), limit=1)[0]
    assert refused.status == "FAILED"
    [event] = _events(refused, "schema_drift", "practice_summary/2025-06")
    assert event["status"] == "failed" and "pcn_code" in event["message"]

    # A first suite written from the tables as they are now: keys, bounds and codes, each column from the period it
    # arrived in, and nothing of columns no release brings any more (the ISO-week variant). It holds everywhere.
    fresh = tmp_path / "fresh_suites"
    monkeypatch.setenv("ANALYTICS_EXPECTATIONS_DIR", str(fresh))
    assert cli.main(["expectations", "init", "--target", ws.engine]) == 0
    written = suites.Suite.load(table)
    assert written is not None
    assert written.meta["columns_since"] == dict.fromkeys(ADDED_DETAIL, "2025-06")
    assert "submission_date__v_text" not in written.column_set and "staff_role" in written.column_set
    assert written.column_types()["submission_date"] == "date"
    kinds = {
        (e["type"], str(e["kwargs"].get("column") or e["kwargs"].get("column_list"))) for e in written.expectations
    }
    assert ("expect_column_values_to_not_be_null", "practice_code") in kinds
    assert ("expect_compound_columns_to_be_unique", "['practice_code', 'submission_date', 'channel']") in kinds
    assert ("expect_column_values_to_be_in_set", "channel") in kinds
    assert len(list(fresh.rglob("*.json"))) == 11  # per bronze table: 7 publications, 4 desk
    assert cli.main(["validate", "--all-periods", "--target", ws.engine]) == 0
    clean = runs.list_runs(Ledger(ws.warehouse, "-"), limit=1)[0]
    assert clean.status == "SUCCESS" and not _events(clean, "schema_drift")
    capsys.readouterr()
