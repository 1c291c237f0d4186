"""A failed source does not freeze the others: `ingestion run` builds silver and gold for every source that loaded,
leaves the failed one's silver and gold as they were, ends FAILED naming what failed, and the next clean run builds
what was left out (real dlt, GX, dbt, DuckDB and PostgreSQL; the local service-desk API over HTTP)."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestion import cli, runs
from ingestion.devtools.local_api import ServiceDeskAPI, start_server
from ingestion.devtools.sample import publications as sample
from ingestion.ledger import Ledger
from ingestion.pipelines.publications import PeriodResult, PublicationRun
from ingestion.pipelines.run import BuildScope, build_scope, excluded_selectors, source_tables
from ingestion.pipelines.servicedesk import ServiceDeskRun

from faultkit import gold_contents
from workspace import Workspace

TOKEN = "partial-build-token"
PUBLICATION = "practice_submissions"
PUBLICATION_GOLD = ("fct_practice_submissions_monthly", "fct_region_submissions_monthly", "dim_practices")
DESK_GOLD = ("fct_tickets", "fct_timesheets", "dim_users")
FIRST_PERIODS = ("2025-02", "2025-03", "2025-04", "2025-05")


# -- the rule, without a warehouse -------------------------------------------------------------------------------
def test_a_source_with_a_failed_load_is_left_out_and_the_others_are_built() -> None:
    publication = PublicationRun(
        PUBLICATION, "r", [PeriodResult("2025-05", "loaded"), PeriodResult("2025-06", "failed", error="corrupt")]
    )
    assert build_scope([publication], [ServiceDeskRun("r", "local")]) == BuildScope(
        {PUBLICATION: "period 2025-06 failed"}, ("servicedesk",)
    )
    desk_down = build_scope(
        [PublicationRun(PUBLICATION, "r", [PeriodResult("2025-06", "skipped")])],
        [ServiceDeskRun("r", "local"), ServiceDeskRun("r", "redmine", status="failed")],
    )
    # the systems share the canonical tables: one failed system keeps the service desk's silver and gold as they were
    assert desk_down == BuildScope({"servicedesk": "the service-desk load of redmine failed"}, (PUBLICATION,))
    assert desk_down.built() == f"silver and gold were built for {PUBLICATION}; servicedesk kept as it was"
    assert build_scope([publication], [ServiceDeskRun("r", "local", status="failed")]).healthy == ()


def test_the_selectors_name_the_dbt_sources_of_the_failed_source_tables() -> None:
    tables = source_tables(PUBLICATION)
    assert {t.table for t in tables} == {"national_summary", "practice_summary", "practice_detail", "regional_extracts"}
    assert {t.table for t in source_tables("servicedesk")} == {"users", "tickets", "comments", "timesheets"}
    sources = {
        ("bronze_publications", "practice_detail"): "publications.practice_detail",
        ("bronze_publications", "quarantine"): "publications.quarantine",
    }
    assert excluded_selectors([(t.dataset, t.table) for t in tables], sources) == [
        "source:publications.practice_detail+"
    ]
    assert excluded_selectors([("bronze_x", "not_in_dbt")], sources) == []


def test_loads_of_a_source_a_transform_left_out_stay_unbuilt_until_one_builds_it(workspace: Workspace) -> None:
    def run(*, loads: list[tuple[str, str]], excluded: tuple[str, ...] = (), build: bool = True) -> None:
        ledger = Ledger(workspace.warehouse, f"run-{uuid.uuid4().hex[:8]}")
        for source, subject in loads:
            ledger.event("load", "load_completed", source=source, subject=subject, rows=10)
        for source in excluded:
            ledger.event("transform", "build_excluded", "warn", source=source)
        if build:
            with ledger.stage("transform", source="dbt"):
                pass

    Ledger(workspace.warehouse, "-").ensure_schema()
    unbuilt = Ledger(workspace.warehouse, "-").unbuilt_loads
    run(loads=[(PUBLICATION, f"{PUBLICATION}/2025-03"), ("servicedesk", "tickets")])
    assert unbuilt() == []

    # the publication failed a period but loaded 2025-04 in the same run: the transform left it out
    run(loads=[(PUBLICATION, f"{PUBLICATION}/2025-04"), ("servicedesk", "tickets")], excluded=(PUBLICATION,))
    assert unbuilt() == [(PUBLICATION, f"{PUBLICATION}/2025-04")]
    # a later run where the service desk failed builds the publication, and leaves the desk's new load unbuilt
    run(loads=[("servicedesk", "comments")], excluded=("servicedesk",))
    assert unbuilt() == [("servicedesk", "comments")]
    # a run killed before its transform completed builds nothing
    run(loads=[(PUBLICATION, f"{PUBLICATION}/2025-05")], build=False)
    assert unbuilt() == [(PUBLICATION, f"{PUBLICATION}/2025-05"), ("servicedesk", "comments")]
    run(loads=[])
    assert unbuilt() == []


# -- the whole pipeline ------------------------------------------------------------------------------------------
@pytest.fixture
def api() -> Iterator[ServiceDeskAPI]:
    """The local service-desk API, its clock at now (so the sources are fresh), reached through the dlt config."""
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    with start_server(port=0, token=TOKEN, seed=5, clock_start=now) as server:
        yield server


def _point_at(monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    monkeypatch.setenv("SOURCES__SERVICEDESK__LOCAL__BASE_URL", base_url)
    monkeypatch.setenv("SOURCES__SERVICEDESK__LOCAL__TOKEN", TOKEN)


def _run(ws: Workspace) -> tuple[int, runs.RunView]:
    code = cli.main(["run", "--target", ws.engine])
    return code, runs.list_runs(Ledger(ws.warehouse, "-"), limit=1)[0]


def _gold(ws: Workspace, tables: tuple[str, ...]) -> dict[str, list[tuple]]:
    return gold_contents(ws, tables)


def _show(ws: Workspace, run_id: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert cli.main(["runs", "show", run_id, "--target", ws.engine]) == 0
    return capsys.readouterr().out


def _final_message(run: runs.RunView) -> str:
    return next(e["message"] for e in run.events if e["event_type"] == "run_failed")


def _built_and_kept(message: str) -> tuple[set[str], str]:
    """What the run's error says was built, and what was kept as it was."""
    found = re.search(r"silver and gold were built for (.+?); (.+?) kept as (it was|they were)", message)
    assert found, message
    return set(found.group(1).split(", ")), found.group(2)


@pytest.mark.slow
def test_a_failed_period_keeps_its_publication_as_it_was_while_the_service_desk_is_built(
    workspace: Workspace,
    api: ServiceDeskAPI,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws = workspace
    _point_at(monkeypatch, api.base_url)
    ws.generate(FIRST_PERIODS, practices=6)
    code, first = _run(ws)
    assert code == 0 and first.status == "SUCCESS"
    # `runs show` lists every stage of the run under its own name (dbt's source tests apart from GX validation)
    table = _show(ws, first.run_id, capsys)
    listed = [line.split()[0] for line in table.splitlines() if line.startswith("  ") and len(line.split()) == 7]
    assert listed == [*dict.fromkeys(listed)]
    assert {"discover", "extract", "load", "validate", "source_tests", "transform", "docs", "freshness"} <= set(listed)
    publication_gold, desk_gold = _gold(ws, PUBLICATION_GOLD), _gold(ws, DESK_GOLD)

    # 2025-06 is released with a corrupt workbook, 2025-03 is revised, and the service desk moves on
    ws.generate(("2025-06",), practices=6)
    workbook = ws.release_root / "2025-06" / "practice-submissions-2025-06.xlsx"
    good = workbook.read_bytes()
    workbook.write_bytes(good[: len(good) // 3])
    revised = ws.release_root / "2025-03" / "practice-detail-2025-03.csv"
    lines = revised.read_text().splitlines()
    revised.write_text("\n".join(lines[:-10]) + "\n")
    changed = api.mutate(tickets=6, comments=4)
    assert changed["changed"]["tickets"]

    code, second = _run(ws)

    assert code == 1 and second.status == "FAILED"
    message = _final_message(second)
    assert "2025-06" in message and "practice-submissions-2025-06.xlsx" in message, message
    built_for, kept = _built_and_kept(message)
    assert "servicedesk" in built_for and PUBLICATION not in built_for and kept == PUBLICATION
    assert ws.counts_by_period("practice_detail")["2025-03"] == len(lines) - 1 - 10  # bronze took the revision
    assert _gold(ws, PUBLICATION_GOLD) == publication_gold  # gold did not
    new_desk_gold = _gold(ws, DESK_GOLD)
    assert new_desk_gold != desk_gold
    statuses = dict(ws.query("select id, status from bronze_servicedesk.tickets"))
    assert dict(ws.query("select ticket_id, status from gold.fct_tickets")) == statuses
    assert int(ws.scalar("select count(*) from gold.fct_tickets")) == len(statuses)
    [left_out] = [e for e in second.events if e["event_type"] == "build_excluded"]
    assert left_out["source"] == PUBLICATION and "period 2025-06 failed" in left_out["message"]
    [transform] = [e for e in second.events if e["stage"] == "transform" and e["event_type"] == "stage_completed"]
    assert transform["status"] == "success" and "source:publications.practice_summary+" in transform["details"]
    built = {
        e["subject"].split(".")[-1]
        for e in second.events
        if e["event_type"] == "dbt_node" and e["subject"].startswith("model.")
    }
    assert {"fct_tickets", "fct_runs"} <= built and not built & {*PUBLICATION_GOLD, "stg_publications__practice_detail"}
    assert Ledger(ws.warehouse, "-").unbuilt_loads() == [(PUBLICATION, f"{PUBLICATION}/2025-03")]

    shown = _show(ws, second.run_id, capsys)
    assert f"run {second.run_id}: FAILED" in shown
    assert f"source {PUBLICATION}, {PUBLICATION}/2025-06 (stage_failed)" in shown, shown
    assert "practice-submissions-2025-06.xlsx: cannot read the workbook" in shown
    assert "transform/build_excluded" in shown and f"{PUBLICATION} kept as it was" in shown
    assert "resume with: ingestion run" in shown

    # the workbook is put right: the next run loads 2025-06 and builds the publication, the revision included
    workbook.write_bytes(good)
    code, third = _run(ws)
    assert code == 0 and third.status == "SUCCESS"
    assert Ledger(ws.warehouse, "-").unbuilt_loads() == []
    after = _gold(ws, PUBLICATION_GOLD + DESK_GOLD)
    assert after != {**publication_gold, **new_desk_gold}

    with Workspace(ws.engine, tmp_path_factory.mktemp("clean")) as clean:
        os.environ["ANALYTICS_DATA_DIR"] = str(ws.data_dir)  # the same release files, the same API
        code, clean_run = _run(clean)
        assert code == 0 and clean_run.status == "SUCCESS"
        assert _gold(clean, PUBLICATION_GOLD + DESK_GOLD) == after


@pytest.mark.slow
def test_a_publication_whose_first_load_fails_does_not_stop_the_service_desk(
    workspace: Workspace, api: ServiceDeskAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace
    _point_at(monkeypatch, api.base_url)
    sample.generate(ws.data_dir / "publications", ("2025-02",), 6)  # this publication's files only
    workbook = ws.release_root / "2025-02" / "practice-submissions-2025-02.xlsx"
    workbook.write_bytes(workbook.read_bytes()[:500])

    code, run = _run(ws)

    assert code == 1 and run.status == "FAILED"
    built_for, kept = _built_and_kept(_final_message(run))
    assert "servicedesk" in built_for and kept == PUBLICATION
    assert (
        int(ws.scalar("select count(*) from gold.fct_tickets"))
        == int(ws.scalar("select count(*) from bronze_servicedesk.tickets"))
        > 0
    )
    assert not ws.warehouse.table_exists("gold", "fct_practice_submissions_monthly")
    # bronze has no quarantine table yet (no period was ever published): it is left out too, nothing reads it
    assert not ws.warehouse.table_exists("bronze_publications", "quarantine")
    [transform] = [e for e in run.events if e["stage"] == "transform" and e["event_type"] == "stage_completed"]
    assert "source:publications.quarantine+" in transform["details"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_an_unreachable_service_desk_does_not_stop_the_publications(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = workspace
    _point_at(monkeypatch, f"http://127.0.0.1:{_closed_port()}/api/v1")
    ws.generate(practices=6)

    code, run = _run(ws)

    assert code == 1 and run.status == "FAILED"
    message = _final_message(run)
    assert "servicedesk" in message and "ConnectionError" in message, message
    built_for, kept = _built_and_kept(message)
    assert PUBLICATION in built_for and kept == "servicedesk"
    months = {
        str(month)[:7]
        for (month,) in ws.query("select distinct period_month from gold.fct_practice_submissions_monthly")
    }
    assert months == {"2025-02", "2025-03", "2025-04", "2025-05", "2025-06"}
    assert int(ws.scalar("select count(*) from gold.fct_practice_submissions_monthly")) == int(
        ws.scalar("select count(distinct practice_code || _period) from bronze_publications.practice_summary")
    )
    assert not ws.warehouse.table_exists("gold", "fct_tickets")
    [validated] = [
        e
        for e in run.events
        if e["stage"] == "validate" and e["source"] == "great_expectations" and e["event_type"] == "stage_completed"
    ]
    assert "bronze_servicedesk.tickets: not validated, the load of servicedesk failed" in validated["details"]

    shown = _show(ws, run.run_id, capsys)
    assert "failure point: stage load, source servicedesk" in shown and "servicedesk kept as it was" in shown
    assert "resume with: ingestion run" in shown
    assert Path(ws.env["DBT_TARGET_PATH"], "static_index.html").exists()  # the export stage ran
