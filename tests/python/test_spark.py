"""The spark target: bronze as a Parquet lake written by dlt, silver and gold built by dbt on Spark.

* A period is switched in one step: a ``kill -9`` while its new files are being written leaves the lake showing
  the old period whole, the killed load's files are never shown and go with the next run, and that run ends in
  the state of a clean run (no Spark needed: the lake and the ingestion's views over it).
* The whole job on a real standalone cluster (a master and two workers on 127.0.0.1, from pyspark's own
  launcher): tasks ran on both workers (the history server's REST API), and gold equals the DuckDB build of the
  same sample, row for row.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from ingestion.devtools.sample import publications as sample
from ingestion.devtools.spark_cluster import SparkCluster

from faultkit import kill9, start_cli
from workspace import Workspace

pytestmark = [pytest.mark.spark, pytest.mark.slow]

TABLES = ("national_summary", "practice_summary", "practice_detail", "regional_extracts")
# what differs between two runs: ids and clocks
VOLATILE = re.compile(r"(load_id|run_id|_at$|_date_loaded|dbt_)")


def _bronze(ws: Workspace) -> dict[str, list[tuple]]:
    """Every row the lake shows of the monthly publication's tables, without the load id."""
    contents = {}
    for table in TABLES:
        columns = [c for c in ws.columns("bronze_publications", table) if c != "_dlt_load_id"]
        listed = ", ".join(f'cast("{c}" as varchar)' for c in columns)
        contents[table] = sorted(ws.query(f"select {listed} from bronze_publications.{table}"), key=repr)
    return contents


def _loads_of(ws: Workspace, period: str) -> set[str]:
    """The load ids the lake shows rows of for ``period``, over every table of the monthly publication."""
    return {
        load_id
        for table in TABLES
        for (load_id,) in ws.query(
            f"select distinct _dlt_load_id from bronze_publications.{table} where _period = '{period}'"
        )
    }


def _files_of(ws: Workspace, load_id: str) -> list[Path]:
    return sorted(p for p in (ws.root / "lake").rglob("*") if p.name.startswith(f"{load_id}."))


def test_a_killed_load_leaves_the_lake_as_it_was_and_the_rerun_ends_as_a_clean_run(tmp_path: Path) -> None:
    periods = ("2025-02", "2025-03")
    with Workspace("spark", tmp_path / "case") as ws:
        ws.generate(periods, practices=12)
        assert (first := ws.command("publications")).returncode == 0, first.stdout + first.stderr
        before, (old_load,) = _bronze(ws), _loads_of(ws, "2025-03")
        sample.generate(ws.data_dir / "publications", ("2025-03",), 2500)  # a revised release, big enough to catch
        detail = ws.root / "lake" / "bronze_publications" / "practice_detail"
        held = set(detail.glob("*.parquet"))
        process = start_cli(ws, "publications", "--from", "2025-03", "--to", "2025-03")

        def new_files() -> list[Path]:
            return [p for p in detail.glob("*.parquet") if p not in held]

        deadline = time.monotonic() + 120
        while not new_files():  # dlt's loader is writing the new load's files: the period is not switched yet
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the new load's files never appeared"
            time.sleep(0.005)
        kill9(process)
        killed_load = new_files()[0].name.split(".parquet")[0].rsplit(".", 1)[0]

        ws.warehouse.refresh_views()
        assert _loads_of(ws, "2025-03") == {old_load}  # the old period, whole: the switch never happened
        assert _bronze(ws) == before
        assert _files_of(ws, killed_load)  # its files are there, shown by no reader

        rerun = ws.command("publications")
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        (new_load,) = _loads_of(ws, "2025-03")
        assert new_load not in (old_load, killed_load)
        assert not _files_of(ws, killed_load) and not _files_of(ws, old_load)  # vacuumed
        after = _bronze(ws)

    with Workspace("spark", tmp_path / "clean") as clean:
        clean.generate(periods, practices=12)
        sample.generate(clean.data_dir / "publications", ("2025-03",), 2500)
        assert (ran := clean.command("publications")).returncode == 0, ran.stdout + ran.stderr
        assert after == _bronze(clean)


def _gold(ws: Workspace) -> dict[str, list[tuple]]:
    """Each business gold table's rows (the ledger's marts left out: they describe the runs), sorted, without
    the columns that name a run, a load or a time; read through the ingestion's DuckDB (Spark's files, on spark)."""
    tables = [
        name
        for (name,) in ws.query(
            "select distinct table_name from information_schema.columns where table_schema = 'gold' order by 1"
        )
        if name not in ("fct_runs", "fct_table_loads")
    ]
    rows = {}
    for table in tables:
        kept = sorted(c for c in ws.columns("gold", table) if not VOLATILE.search(c))  # Spark puts partitions last
        listed = ", ".join(f'cast("{c}" as varchar)' for c in kept)
        rows[table] = sorted(ws.query(f"select {listed} from gold.{table}"), key=repr)
    return rows


def test_the_whole_job_on_a_two_worker_cluster_builds_the_gold_duckdb_builds(tmp_path: Path) -> None:
    with Workspace("duckdb", tmp_path / "duckdb") as duck:
        duck.generate(practices=8)
        assert (ran := duck.command("run", "--local-api")).returncode == 0, ran.stdout + ran.stderr
        expected = _gold(duck)

    with SparkCluster(tmp_path / "cluster") as cluster, Workspace("spark", tmp_path / "spark") as ws:
        ws.env.update(cluster.env())
        ws.generate(practices=8)
        with pytest.MonkeyPatch.context() as env:
            for key, value in cluster.env().items():
                env.setenv(key, value)
            ran = ws.command("run", "--local-api")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "run: SUCCESS" in ran.stdout
        built = _gold(ws)
        tasks = cluster.tasks_by_worker()
        apps = cluster.master_state()["completedapps"]

    assert set(tasks) == {"worker-1", "worker-2"} and all(count > 0 for count in tasks.values()), tasks
    assert apps and all(app["name"] == "dbt declarative_analytics" for app in apps)
    assert sorted(built) == sorted(expected)
    for table, rows in expected.items():
        assert built[table] == rows, table
    assert all(expected.values()), [table for table, rows in expected.items() if not rows]  # every table has rows


def test_a_rollback_on_the_lake_takes_the_period_out_in_one_step_and_the_next_run_loads_it_again(
    tmp_path: Path,
) -> None:
    with Workspace("spark", tmp_path) as ws:
        ws.generate(("2025-02", "2025-03"), practices=8)
        assert (first := ws.command("publications")).returncode == 0, first.stdout + first.stderr
        loaded = _bronze(ws)
        (load_id,) = _loads_of(ws, "2025-02")

        dry = ws.command("rollback", "--publication", "practice_submissions", "--period", "2025-02", "--dry-run")
        assert dry.returncode == 0 and _loads_of(ws, "2025-02") == {load_id}, dry.stdout + dry.stderr
        done = ws.command("rollback", "--publication", "practice_submissions", "--period", "2025-02")
        assert done.returncode == 0, done.stdout + done.stderr
        assert not _loads_of(ws, "2025-02") and _loads_of(ws, "2025-03")  # the other period stays
        assert not _files_of(ws, load_id)

        again = ws.command("publications")
        assert again.returncode == 0 and "2025-02: loaded" in again.stdout, again.stdout + again.stderr
        assert _bronze(ws) == loaded


def test_a_repeated_key_is_taken_out_of_the_lake_files_into_quarantine_naming_the_file_and_row(
    tmp_path: Path,
) -> None:
    with Workspace("spark", tmp_path) as ws:
        ws.generate(("2025-02", "2025-03"), practices=8)
        assert (first := ws.command("publications")).returncode == 0, first.stdout + first.stderr
        held = ws.counts_by_period("practice_detail")["2025-03"]
        detail = ws.release_root / "2025-03" / "practice-detail-2025-03.csv"
        lines = detail.read_text().splitlines(keepends=True)
        detail.write_text("".join(lines) + lines[5])  # the 5th data row again, as the file's last row

        again = ws.command("publications")
        assert again.returncode == 0, again.stdout + again.stderr
        assert ws.counts_by_period("practice_detail")["2025-03"] == held  # kept once
        quarantined = ws.query(
            "select file_name, source_row, disposition, reason from bronze_publications.quarantine "
            "where period = '2025-03' and bronze_table = 'practice_detail'"
        )
        assert quarantined == [
            ("practice-detail-2025-03.csv", len(lines) + 1, "rejected", "repeated key: the first row with it is row 6")
        ], quarantined
