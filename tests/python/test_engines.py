"""One door to each engine: ``Warehouse(target)`` is the engine's adapter, statements are written once with ``?``
markers, and every stage reaches the ledger through ``Ledger.stage``; on a real DuckDB and PostgreSQL."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion.ledger import Ledger
from ingestion.warehouse import ENGINES, TARGETS, DuckDBWarehouse, PostgresWarehouse, SparkWarehouse, Warehouse

from workspace import Workspace


def test_a_target_names_its_engine_adapter() -> None:
    assert TARGETS == ("duckdb", "postgres", "duckdb_dev", "postgres_dev", "spark")
    assert type(Warehouse("duckdb")) is DuckDBWarehouse and type(Warehouse("postgres")) is PostgresWarehouse
    assert type(Warehouse("duckdb_dev")) is DuckDBWarehouse and Warehouse("postgres_dev").engine == "postgres"
    assert Warehouse("duckdb").single_writer and not Warehouse("postgres").single_writer
    assert type(Warehouse("spark")) is SparkWarehouse and Warehouse("spark").single_writer  # its ledger file
    with pytest.raises(ValueError, match="unknown target 'oracle': choose one of duckdb, postgres, duckdb_dev"):
        Warehouse("oracle")
    with pytest.raises(ValueError, match="PostgresWarehouse cannot be target 'duckdb'"):
        PostgresWarehouse("duckdb")
    assert set(ENGINES) == set(TARGETS)


def test_statements_are_written_once_and_take_the_drivers_markers() -> None:
    statement = "select * from t where a = ? and b = ?"
    assert Warehouse("duckdb").sql(statement) == statement
    assert Warehouse("postgres").sql(statement) == "select * from t where a = %s and b = %s"
    assert Warehouse("postgres").quote('odd "name"') == '"odd ""name"""'


def test_an_adapter_survives_a_pickle_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "s3cret-value")
    warehouse = Warehouse("postgres")
    assert pickle.loads(pickle.dumps(warehouse)) == warehouse
    assert "s3cret-value" not in repr(warehouse) and b"s3cret-value" not in pickle.dumps(warehouse)


def test_the_same_statements_run_on_both_engines(workspace: Workspace) -> None:
    warehouse = workspace.warehouse
    warehouse.ensure_database()
    connection = warehouse.connect()
    try:
        run = warehouse.cursor(connection)
        run.execute("create schema if not exists probe")
        run.execute("create table probe.items (item_id integer, label varchar(20))")
        warehouse.insert_rows(connection, "probe", "items", ["item_id", "label"], [(1, "one"), (2, "two")])
        assert list(warehouse.column_types(connection, "probe", "items")) == ["item_id", "label"]
        assert warehouse.table_exists("probe", "items", connection)
        connection.commit()
    finally:
        connection.close()
    assert warehouse.query("select label from probe.items where item_id = ?", (2,)) == [("two",)]
    assert warehouse.table_exists("probe", "items") and not warehouse.table_exists("probe", "missing")


def test_a_stage_that_fails_without_an_exception_is_recorded_as_failed(workspace: Workspace) -> None:
    ledger = Ledger(workspace.warehouse, "run-under-test")
    ledger.ensure_schema()
    with ledger.stage("load", source="servicedesk", subject="local", details={"system": "local"}) as stage:
        stage.rows = 3
        stage.fail("GET /api/v1/tickets answered 401 (permanent)")
    with ledger.stage("transform", source="dbt") as stage:
        stage.rows = 5
    events = ledger.query(
        "select stage, event_type, status, error_class, message, row_count from ops.run_events where run_id = ? "
        "order by occurred_at, event_type desc",
        ("run-under-test",),
    )
    assert [row[:3] for row in events] == [
        ("load", "stage_started", "running"),
        ("load", "stage_failed", "failed"),
        ("transform", "stage_started", "running"),
        ("transform", "stage_completed", "success"),
    ]
    assert events[1][3:] == ("permanent", "GET /api/v1/tickets answered 401 (permanent)", 3)
    assert events[3][3:] == (None, None, 5)


@pytest.mark.postgres
def test_postgres_without_the_adbc_driver_is_refused_instead_of_loading_slowly(tmp_path: Path) -> None:
    """dlt would load parquet files as gzip CSV with a log warning; the project stops and says what to install."""
    hidden = "import sys; sys.modules['adbc_driver_postgresql'] = sys.modules['adbc_driver_manager'] = None; "
    with Workspace("postgres", tmp_path) as ws:
        ws.generate(("2025-02",), practices=4)
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                hidden + "from ingestion.cli import main; raise SystemExit(main(['publications', '--target', "
                "'postgres', '--publication', 'practice_submissions']))",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert "needs the ADBC driver" in done.stderr and "adbc-driver-postgresql" in done.stderr, done.stderr
        assert not ws.warehouse.table_exists("bronze_publications", "practice_detail")
