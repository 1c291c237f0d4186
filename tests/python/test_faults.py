"""Real faults on both engines: a write that fails part way, kill -9 in each stage, concurrent runs, a warehouse out
of reach. Each case checks the fault matrix's rules (faultkit): a clear error or a correct load, no row lost, none
duplicated, the run recorded, and after the fault is removed one rerun ends in exactly the state of a clean run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ingestion.devtools.sample import publications as sample
from ingestion.pipelines import publications
from ingestion.pipelines.publications import pipeline_for
from ingestion.sources.publications import plan_period, publication_source, settings
from ingestion.sources.publications.settings import load_publications

from faultkit import (
    BASELINE_PERIODS,
    Baseline,
    Record,
    ReleaseServer,
    bronze_contents,
    case_workspace,
    counts,
    gold_contents,
    kill9,
    ledger_events,
    mirror_events,
    rows_duplicated,
    rows_lost,
    run_cli,
    start_cli,
    wait_for,
    wait_for_event,
)
from workspace import Workspace

pytestmark = pytest.mark.faults
TABLES = ("national_summary", "practice_summary", "practice_detail", "regional_extracts")
THE_BASELINE = ("--to", BASELINE_PERIODS[-1])  # the periods a baseline has release files for


def _load_ids(ws: Workspace, period: str) -> set[str]:
    """The dlt load ids of a period across its four tables: one, if the period was published as a whole."""
    union = " union ".join(
        f"select distinct _dlt_load_id from bronze_publications.{t} where _period = '{period}'" for t in TABLES
    )
    return {row[0] for row in ws.query(union)}


def _revise_detail(ws: Workspace, period: str, drop_last: int = 10) -> str:
    """Withdraw the last rows of a period's detail CSV; returns the original text."""
    csv = ws.release_root / period / f"practice-detail-{period}.csv"
    original = csv.read_text()
    lines = original.splitlines()
    csv.write_text("\n".join(lines[:-drop_last]) + "\n")
    return original


def _clean(engine: str, data_dir: Path, root: Path, *args: str) -> dict[str, list[tuple]]:
    """The bronze a clean run of the same release files gives."""
    with Workspace(engine, root) as clean:
        os.environ["ANALYTICS_DATA_DIR"] = str(data_dir)
        assert run_cli(clean, "publications", *THE_BASELINE, *args) == 0
        return bronze_contents(clean)


def test_a_write_that_fails_part_way_leaves_every_table_of_the_period_as_it_was(
    baseline: Baseline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with case_workspace(baseline, tmp_path) as ws:
        before = bronze_contents(ws, volatile=())
        # a bronze column narrowed so a revised value no longer fits: the write of practice_detail fails after
        # national_summary and practice_summary were written in the same transaction
        ws.execute("alter table bronze_publications.practice_detail alter column submission_count type smallint")
        csv = ws.release_root / "2025-03" / "practice-detail-2025-03.csv"
        original = csv.read_text()
        header, first, *rest = original.splitlines()
        cells = first.split(",")
        cells[[name.strip('"') for name in header.split(",")].index("submission_count")] = "99999"
        csv.write_text("\n".join([header, ",".join(cells), *rest]) + "\n")

        code = run_cli(ws, "publications", "--from", "2025-03", "--to", "2025-03")

        err = capsys.readouterr().out
        assert code == 1
        assert "practice_submissions, 2025-03: publishing the period failed, nothing of it was changed" in err
        assert bronze_contents(ws, volatile=()) == before  # all four tables, load ids included
        events = ledger_events(ws)
        [failed] = [e for e in events if e["event_type"] == "stage_failed"]
        assert "publishing the period failed" in failed["message"]

        csv.write_text(original)  # the fault removed: the period was never changed, so it is unchanged
        assert run_cli(ws, "publications", "--from", "2025-03", "--to", "2025-03") == 0
        assert bronze_contents(ws, volatile=()) == before
        record = Record(
            "write fails part way (value does not fit)",
            ws.engine,
            "fault",
            "clear error, rolled back",
            rows_lost(baseline.counts, counts(ws)),
            rows_duplicated(ws),
            bool(failed),
            True,
        )
        record.save()
        record.check()


def test_a_package_left_between_extract_and_load_is_discarded_not_loaded_by_another_run(
    baseline: Baseline, tmp_path: Path
) -> None:
    """Repro of a killed run's leftover: its package is extracted (and normalized), never loaded; the file is then
    reverted. The next runs discard the package, saying whose it was, and never load it into another period."""
    with case_workspace(baseline, tmp_path) as ws:
        before = bronze_contents(ws)
        original = _revise_detail(ws, "2025-03")
        publication = load_publications()["practice_submissions"]
        pipeline = pipeline_for(publication, ws.warehouse)
        pipeline.extract(
            publication_source(plan_period(publication, "2025-03", ws.data_dir / "cache")), loader_file_format="parquet"
        )
        pipeline.normalize()  # the process dies here: a normalized package waits to be loaded
        assert pipeline.list_normalized_load_packages()
        (ws.release_root / "2025-03" / "practice-detail-2025-03.csv").write_text(original)

        assert run_cli(ws, "publications", "--from", "2025-04", "--to", "2025-04", "--force") == 0

        events = ledger_events(ws)
        [discarded] = [e for e in events if e["event_type"] == "leftover_discarded"]
        assert "never published" in discarded["message"]
        assert not pipeline_for(publication, ws.warehouse).list_normalized_load_packages()
        assert bronze_contents(ws) == before  # 2025-03 as it was; 2025-04 reloaded from the same files
        assert run_cli(ws, "publications", *THE_BASELINE) == 0
        assert bronze_contents(ws) == before
        record = Record(
            "leftover load package (extracted, normalized)",
            ws.engine,
            "fault",
            "discarded with a ledger event",
            rows_lost(baseline.counts, counts(ws)),
            rows_duplicated(ws),
            True,
            bronze_contents(ws) == before,
        )
        record.save()
        record.check()


def test_a_package_published_but_not_marked_loaded_is_completed_not_discarded(
    baseline: Baseline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that dies after the period's transaction committed but before dlt's package was marked loaded leaves a
    normalized package whose rows are in bronze: the next run marks it loaded (it was published) instead of
    discarding it as never published, and bronze is exactly what that load published."""
    with case_workspace(baseline, tmp_path) as ws:
        _revise_detail(ws, "2025-03")
        monkeypatch.setattr(publications, "complete_package", lambda pipeline, load_id: None)  # the run dies here
        assert run_cli(ws, "publications", "--from", "2025-03", "--to", "2025-03") == 0
        monkeypatch.undo()
        published = bronze_contents(ws)
        pipeline = pipeline_for(load_publications()["practice_submissions"], ws.warehouse)
        [waiting] = pipeline.list_normalized_load_packages()

        assert run_cli(ws, "publications", "--from", "2025-03", "--to", "2025-04") == 0  # NO_WORK for both

        assert not pipeline.list_normalized_load_packages()
        assert pipeline.get_load_package_info(waiting).state == "loaded"
        events = ledger_events(ws)
        [completed] = [e for e in events if e["event_type"] == "leftover_completed"]
        assert waiting in completed["message"]
        assert not [e for e in events if e["event_type"] == "leftover_discarded"]
        assert bronze_contents(ws) == published


def _bigger_period(ws: Workspace, period: str = "2025-03", practices: int = 2500) -> None:
    """Replace a period's release with a much bigger one, so that each stage of its load takes a while."""
    sample.generate(ws.data_dir / "publications", (period,), practices)


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["discover", "extract", "load"])
def test_kill_9_in_a_load_stage_then_one_rerun_gives_the_state_of_a_clean_run(
    baseline: Baseline, tmp_path: Path, stage: str
) -> None:
    with case_workspace(baseline, tmp_path / "case") as ws:
        _bigger_period(ws)
        server = ReleaseServer(ws) if stage == "discover" else None
        with server or _nothing():
            if server:
                server.hold.set()
            process = start_cli(ws, "publications", "--from", "2025-03", "--to", "2025-04")
            if server:
                wait_for(server.held, what="the 2025-03 download to start")
            else:
                wait_for_event(ws, stage, "stage_started", process=process)
            kill9(process)
            if server:
                server.hold.clear()  # the fault was the kill: the rerun's downloads go through
            run_id = mirror_events(ws)[0]["run_id"]
            assert len(_load_ids(ws, "2025-03")) == 1  # all of the period's tables from one load: old or new
            assert rows_lost(baseline.counts, counts(ws), changed=("2025-03",)) == 0
            shown = subprocess.run(
                [sys.executable, "-m", "ingestion", "runs", "show", run_id, "--target", ws.engine],
                capture_output=True,
                text=True,
                env=dict(os.environ),
                check=True,
            ).stdout
            assert f"run {run_id}: INCOMPLETE" in shown
            recorded = "INCOMPLETE" in shown and "failure point: stage" in shown

            assert run_cli(ws, "publications", *THE_BASELINE) == 0  # the rerun (the fault was the kill itself)
            after = bronze_contents(ws)
        clean = _clean(ws.engine, ws.data_dir, tmp_path / "clean")
        record = Record(
            f"kill -9 during {stage}",
            ws.engine,
            "fault",
            "INCOMPLETE, rerun completes",
            rows_lost(baseline.counts, counts(ws), changed=("2025-03",)),
            rows_duplicated(ws),
            recorded,
            after == clean,
        )
        record.save()
        record.check()


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.slow
def test_kill_9_between_extract_and_load_then_a_run_of_another_period_never_loads_the_leftover(
    baseline: Baseline, tmp_path: Path
) -> None:
    """The issue's repro with a real process and a real signal."""
    with case_workspace(baseline, tmp_path) as ws:
        before = bronze_contents(ws)
        _bigger_period(ws, practices=1500)
        process = start_cli(ws, "publications", "--from", "2025-03", "--to", "2025-03")
        wait_for_event(ws, "extract", "stage_completed", process=process)
        kill9(process)
        sample.generate(ws.data_dir / "publications", ("2025-03",), 8)  # reverted to the release as loaded

        assert run_cli(ws, "publications", *THE_BASELINE) == 0  # unchanged files: NO_WORK, and any leftover discarded
        assert run_cli(ws, "publications", "--from", "2025-04", "--to", "2025-04", "--force") == 0

        after = bronze_contents(ws)
        assert after == before
        discarded = [e for e in mirror_events(ws) if e.get("event_type") == "leftover_discarded"]
        killed_run = mirror_events(ws)[0]["run_id"]
        for event in discarded:  # it says whose package it was
            assert killed_run in event["message"] and "practice_submissions/2025-03" in event["message"]
        record = Record(
            "kill -9 between extract and load",
            ws.engine,
            "fault",
            f"leftover {'discarded' if discarded else 'already loaded, not published'}",
            rows_lost(baseline.counts, counts(ws)),
            rows_duplicated(ws),
            True,
            after == before,
        )
        record.save()
        record.check()


@pytest.mark.parametrize("offset", ["same instant", "0.5 s later", "while the first loads"])
def test_a_second_run_is_refused_with_exit_3_and_never_hurts_the_first(
    baseline: Baseline, tmp_path: Path, offset: str
) -> None:
    with case_workspace(baseline, tmp_path) as ws, ReleaseServer(ws) as server:
        server.hold.set()  # the run that gets the lock stays in its 2025-03 download until released
        first = start_cli(ws, "publications", "--force", *THE_BASELINE)
        if offset == "0.5 s later":
            time.sleep(0.5)
        elif offset == "while the first loads":
            wait_for(server.held, what="the first run to hold the lock")
        second = start_cli(ws, "publications", "--force", *THE_BASELINE)
        refused = None
        deadline = time.monotonic() + 90
        while refused is None and time.monotonic() < deadline:
            refused = next((p for p in (first, second) if p.poll() is not None), None)
            time.sleep(0.05)
        assert refused is not None, "neither run was refused"
        winner = second if refused is first else first
        server.hold.clear()
        _, winner_err = winner.communicate(timeout=120)
        refused_err = refused.stderr.read() if refused.stderr else ""

        assert refused.returncode == 3, refused_err
        assert "refused: run " in refused_err and "Traceback" not in refused_err
        assert winner.returncode == 0, winner_err
        events = mirror_events(ws)
        winner_run = events[0]["run_id"]
        assert winner_run in refused_err  # the refusal names the holder
        in_ledger = ws.scalar(f"select count(*) from ops.run_events where run_id = '{winner_run}'")
        assert in_ledger == len([e for e in events if e.get("run_id") == winner_run])  # nothing only in the mirror
        assert not [e for e in events if e.get("status") == "failed"]
        after = bronze_contents(ws)
        record = Record(
            f"concurrent run ({offset})",
            ws.engine,
            "fault",
            "refused (exit 3), first completes",
            rows_lost(baseline.counts, counts(ws)),
            rows_duplicated(ws),
            in_ledger > 0,
            after == bronze_contents_of(baseline, ws),
        )
        record.save()
        record.check()


def bronze_contents_of(baseline: Baseline, ws: Workspace) -> dict[str, list[tuple]]:
    """The baseline's contents without the columns a reload of the same files changes."""
    volatile = {"_dlt_load_id"}
    trimmed = {}
    for table, rows in baseline.contents.items():
        if table == "quarantine":
            trimmed[table] = rows
            continue
        columns = [c for c in ws.columns("bronze_publications", table)]
        keep = [i for i, c in enumerate(columns) if c not in volatile]
        trimmed[table] = sorted(tuple(row[i] for i in keep) for row in rows)
    return trimmed


def _one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_warehouse_out_of_reach_gives_one_clear_line_exit_1_and_a_recorded_run(engine: str, tmp_path: Path) -> None:
    with Workspace(engine, tmp_path) as ws:
        ws.generate(("2025-02",), practices=4)
        if engine == "postgres":
            env, where = {"PGPORT": "1"}, "127.0.0.1:1"  # nothing listens there: connection refused
        else:
            (tmp_path / "not-a-folder").write_text("a file where the warehouse's folder should be")
            env, where = {"DUCKDB_PATH": str(tmp_path / "not-a-folder" / "warehouse.duckdb")}, "not-a-folder"
        process = start_cli(ws, "publications", "--to", "2025-02", env=env)
        _, stderr = process.communicate(timeout=120)

        assert process.returncode == 1
        line = _one_line_error(stderr)
        assert where in line and "FAILED" in line
        events = mirror_events(ws)
        assert [e["event_type"] for e in events if "stage" in e] == ["run_started", "run_failed"]
        assert where in events[-1]["message"]
        shown = subprocess.run(
            [sys.executable, "-m", "ingestion", "runs", "show", events[-1]["run_id"], "--target", engine],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        ).stdout
        assert "FAILED" in shown and where in shown  # read from the JSONL mirror

        assert run_cli(ws, "publications", "--to", "2025-02") == 0  # the warehouse back: a normal run
        record = Record(
            "warehouse unreachable at start",
            engine,
            "fault",
            "one-line error, exit 1",
            0,
            rows_duplicated(ws),
            True,
            ws.counts_by_period("practice_detail").get("2025-02", 0) > 0,
        )
        record.save()
        record.check()


@pytest.mark.postgres
def test_the_database_dropped_mid_run_fails_clearly_and_a_rerun_loads_everything(tmp_path: Path) -> None:
    with Workspace("postgres", tmp_path / "case") as ws, ReleaseServer(ws) as server:
        ws.generate(BASELINE_PERIODS, practices=6)
        server.hold.set()
        process = start_cli(ws, "publications", *THE_BASELINE)
        wait_for(server.held, what="the 2025-03 download")
        ws.execute_admin(f'drop database "{ws.database}" with (force)')
        server.hold.clear()
        _, stderr = process.communicate(timeout=120)

        assert process.returncode == 1
        line = _one_line_error(stderr)
        assert "PostgreSQL" in line and (ws.database in line or "went away" in line), line
        run_id = mirror_events(ws)[0]["run_id"]
        assert any(e.get("event_type") == "run_failed" for e in mirror_events(ws) if e.get("run_id") == run_id)

        assert run_cli(ws, "publications", *THE_BASELINE) == 0  # creates the database again and loads it all
        after = bronze_contents(ws)
    clean = _clean("postgres", ws.data_dir, tmp_path / "clean")
    record = Record(
        "database dropped mid-run", "postgres", "fault", "one-line error, exit 1", 0, 0, True, after == clean
    )
    record.save()
    record.check()


def _gold(ws: Workspace) -> dict[str, list[tuple]]:
    """The publications marts (the service desk's depend on the local API's clock, so they are left out)."""
    return gold_contents(ws, ("fct_practice_submissions_monthly", "fct_region_submissions_monthly"))


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kill_9_in_validate_and_in_transform_then_a_rerun_builds_what_a_clean_run_builds(
    engine: str, tmp_path: Path
) -> None:
    with Workspace(engine, tmp_path / "case") as ws:
        ws.generate(practices=6)
        killed = {}
        for stage in ("validate", "transform"):
            process = start_cli(ws, "run", "--local-api")
            wait_for_event(ws, stage, "stage_started", process=process, timeout=240)
            kill9(process)
            killed[stage] = [e for e in mirror_events(ws) if e.get("event_type") == "run_started"][-1]["run_id"]
            assert rows_duplicated(ws) == 0
        for stage, run_id in killed.items():
            shown = subprocess.run(
                [sys.executable, "-m", "ingestion", "runs", "show", run_id, "--target", engine],
                capture_output=True,
                text=True,
                env=dict(os.environ),
                check=True,
            ).stdout
            assert f"run {run_id}: INCOMPLETE" in shown and f"failure point: stage {stage}" in shown, shown

        assert run_cli(ws, "run", "--local-api") == 0
        after, gold = bronze_contents(ws), _gold(ws)
    with Workspace(engine, tmp_path / "clean") as clean:
        os.environ["ANALYTICS_DATA_DIR"] = str(ws.data_dir)
        assert run_cli(clean, "run", "--local-api") == 0
        clean_bronze, clean_gold = bronze_contents(clean), _gold(clean)
    for stage in killed:
        record = Record(
            f"kill -9 during {stage}",
            engine,
            "fault",
            "INCOMPLETE, rerun builds",
            0,
            0,
            True,
            after == clean_bronze and gold == clean_gold,
        )
        record.save()
        record.check()


SERVICE_DESK = ("users", "tickets", "comments", "timesheets")
FAST_RETRIES = {"timeout_seconds": 1.5, "backoff_factor": 0.1, "max_retry_delay_seconds": 2, "max_attempts": 4}
API_FAULTS = {  # name -> (faults for the local API's /_control, the load's expected status, words its error holds)
    "API 500 twice (retried)": ([{"path": "/api/v1/tickets", "status": 500, "count": 2}], "success", ()),
    "API 500 every time": (
        [{"path": "/api/v1/tickets", "status": 500, "count": FAST_RETRIES["max_attempts"]}],
        "failed",
        ("/api/v1/tickets", "500", "retries exhausted"),
    ),
    "API 429 with Retry-After (retried)": (
        [{"path": "/api/v1/comments", "status": 429, "retry_after": 1}],
        "success",
        (),
    ),
    "API timeout (retried)": ([{"path": "/api/v1/users", "delay": 3}], "success", ()),
    "API malformed page": ([{"path": "/api/v1/tickets", "malformed": True}], "failed", ("malformed", "tickets")),
    "API 401": ([{"path": "/api/v1/comments", "status": 401}], "failed", ("/comments", "401", "token")),
}


def _desk(ws: Workspace) -> dict[str, list[tuple]]:
    contents = {}
    for table in SERVICE_DESK:
        if ws.warehouse.table_exists("bronze_servicedesk", table):
            columns = [c for c in ws.columns("bronze_servicedesk", table) if not c.startswith("_dlt")]
            contents[table] = sorted(
                tuple(map(str, row)) for row in ws.query(f"select {', '.join(columns)} from bronze_servicedesk.{table}")
            )
    return contents


def _desk_duplicates(ws: Workspace) -> int:
    keys = {"users": "id", "tickets": "id", "comments": "id", "timesheets": "user_id, work_date, time_from, ticket_id"}
    return sum(
        int(ws.scalar(f"select count(*) - count(distinct ({keys[table]})) from bronze_servicedesk.{table}"))
        for table in SERVICE_DESK
        if ws.warehouse.table_exists("bronze_servicedesk", table)
    )


@pytest.mark.parametrize("fault", list(API_FAULTS))
@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_service_desk_api_faults_are_retried_or_fail_clearly_and_a_rerun_matches_a_clean_load(
    engine: str, fault: str, tmp_path: Path
) -> None:
    from ingestion.devtools.local_api import start_server
    from ingestion.pipelines.servicedesk import ingest_servicedesk

    faults, expected, words = API_FAULTS[fault]
    with start_server(port=0, token="fault-token", seed=11) as api:

        def load(ws: Workspace) -> object:
            return ingest_servicedesk(
                ws.warehouse,
                f"fault-{uuid.uuid4().hex[:6]}",
                "local",
                base_url=api.base_url,
                secret="fault-token",
                request_settings=FAST_RETRIES,
                progress=lambda _: None,
            )

        with Workspace(engine, tmp_path / "case") as ws:
            first = load(ws)
            assert first.status == "success", first.error
            before = {table: len(rows) for table, rows in _desk(ws).items()}
            api.add_faults(faults)
            faulted = load(ws)
            assert faulted.status == expected, faulted.error
            assert all(word in (faulted.error or "") for word in words), faulted.error
            lost = sum(max(0, n - len(_desk(ws).get(table, []))) for table, n in before.items())
            recorded = bool(
                ws.scalar(f"select count(*) from ops.run_events where run_id = '{faulted.run_id}' and stage = 'load'")
            )
            api.add_faults([])
            rerun = load(ws)
            assert rerun.status == "success", rerun.error
            after, duplicated = _desk(ws), _desk_duplicates(ws)
        with Workspace(engine, tmp_path / "clean") as clean:
            assert load(clean).status == "success"
            same = after == _desk(clean)
    outcome = "retried, loaded" if expected == "success" else "clear error, nothing loaded"
    record = Record(fault, engine, "fault", outcome, lost, duplicated, recorded, same)
    record.save()
    record.check()


def test_a_manifest_written_by_the_previous_version_keeps_taking_rows(baseline: Baseline, tmp_path: Path) -> None:
    """Before periods were published in one transaction, dlt wrote the manifest, with a not-null _dlt_id."""
    with case_workspace(baseline, tmp_path) as ws:
        ws.execute("drop table bronze_publications.publication_manifest")
        ws.execute(
            "create table bronze_publications.publication_manifest (run_id varchar, publication varchar, "
            "period varchar, file_name varchar, part_kind varchar, part_name varchar, classification varchar, "
            "status varchar, recorded_at timestamp with time zone, _dlt_load_id varchar not null, "
            "_dlt_id varchar not null)"
        )
        assert run_cli(ws, "publications", "--from", "2025-03", "--to", "2025-03", "--force") == 0
        assert (
            ws.scalar(
                "select count(*) from bronze_publications.publication_manifest where _dlt_id is not null "
                "and period = '2025-03'"
            )
            > 0
        )


def test_a_changed_declaration_reloads_the_periods_it_reads_differently(
    baseline: Baseline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with case_workspace(baseline, tmp_path) as ws:
        assert run_cli(ws, "publications", *THE_BASELINE) == 0
        assert all(e["event_type"] != "load_completed" for e in ledger_events(ws))  # unchanged: NO_WORK
        config = tmp_path / "publications.yml"
        config.write_text(
            settings.DEFAULT_CONFIG.read_text().replace("max_member_bytes: 2147483648", "max_member_bytes: 1073741824")
        )
        monkeypatch.setenv("PUBLICATIONS_CONFIG", str(config))
        assert run_cli(ws, "publications", *THE_BASELINE) == 0
        loaded = sorted(e["subject"] for e in ledger_events(ws) if e["event_type"] == "load_completed")
        assert loaded == [f"practice_submissions/{period}" for period in BASELINE_PERIODS]


def test_periods_not_published_yet_are_skipped_and_a_gap_fails(
    baseline: Baseline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with case_workspace(baseline, tmp_path) as ws:
        before = bronze_contents(ws)
        assert run_cli(ws, "publications") == 0  # 2025-05 and 2025-06 are declared but have no files yet
        out = capsys.readouterr().out
        assert "2025-05: not published yet" in out and "2 not published yet, 0 failed" in out
        warned = [e for e in ledger_events(ws) if e["event_type"] == "not_published"]
        assert sorted(e["subject"] for e in warned) == ["practice_submissions/2025-05", "practice_submissions/2025-06"]

        for path in (ws.release_root / "2025-03").iterdir():  # a period between loaded ones loses all its files
            path.unlink()
        assert run_cli(ws, "publications", "--force") == 1
        out = capsys.readouterr().out
        assert "FAILED 2025-03" in out and "gap in the release's periods" in out and "2025-04" in out
        assert bronze_contents(ws) == before  # 2025-03 kept what it had; 2025-02 and 2025-04 reloaded the same
