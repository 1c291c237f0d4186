"""Test workspaces: an isolated workspace per test (data, dlt state, dbt target, warehouse) on DuckDB or PostgreSQL.

PostgreSQL tests create their own database and drop it afterwards. Without a reachable server they skip, except
under CI=true, where a missing server is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from ingestion import paths
from ingestion.devtools.sample import payments
from ingestion.devtools.sample import publications as sample
from ingestion.pipelines.publications import PublicationRun, ingest_publication
from ingestion.sources.publications.settings import load_publications
from ingestion.transform import DbtResult, run_dbt
from ingestion.warehouse import Warehouse

ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
PG_HOST, PG_PORT = os.environ.get("PGHOST", "127.0.0.1"), int(os.environ.get("PGPORT", "5432"))
PG_USER = os.environ.get("PGUSER", "postgres")


def _admin_connection():
    connection = psycopg2.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        dbname="postgres",
        connect_timeout=5,
        password=os.environ.get("PGPASSWORD") or None,
    )
    connection.autocommit = True
    return connection


def require_postgres() -> None:
    try:
        _admin_connection().close()
    except psycopg2.Error as error:
        reason = f"PostgreSQL is not reachable at {PG_USER}@{PG_HOST}:{PG_PORT}: {str(error).strip()}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true requires the PostgreSQL tests to run, but {reason}")
        pytest.skip(reason)


class Workspace:
    """Everything one test writes, in its own folders and its own warehouse, through the project's env vars."""

    def __init__(self, engine: str, root: Path) -> None:
        self.engine, self.root = engine, root
        self.data_dir = root / "data"
        self.database = f"test_analytics_{uuid.uuid4().hex[:10]}"
        self.env = {
            "ANALYTICS_DATA_DIR": str(self.data_dir),
            "ANALYTICS_STATE_DIR": str(root / "state"),
            "DBT_TARGET_PATH": str(root / "target"),
            "ANALYTICS_LOG_DIR": str(root / "logs"),
            "DBT_LOG_PATH": str(root / "logs" / "dbt"),
            "DUCKDB_PATH": str(root / "warehouse.duckdb"),
            "ANALYTICS_EXPORT_DIR": str(root / "export"),
            "PGDATABASE": self.database,
            # the spark target: its lake, its ledger file and Spark's own folders
            "ANALYTICS_LAKE_URL": str(root / "lake"),
            "SPARK_LEDGER_PATH": str(root / "spark" / "ledger.duckdb"),
            "SPARK_WAREHOUSE_DIR": str(root / "spark" / "warehouse"),
            "SPARK_METASTORE_DIR": str(root / "spark" / "metastore"),
        }
        self._saved: dict[str, str | None] = {}
        self.keep_database = False  # a baseline kept as a template for other workspaces

    def __enter__(self) -> Workspace:
        if self.engine == "postgres":
            require_postgres()
        self._saved = {key: os.environ.get(key) for key in self.env}
        os.environ.update(self.env)
        self.warehouse = Warehouse(self.engine)
        return self

    def __exit__(self, *exc: object) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self.engine == "postgres" and not self.keep_database:
            admin = _admin_connection()
            with admin.cursor() as cursor:
                cursor.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(self.database)))
            admin.close()

    # helpers a test reads like prose ---------------------------------------------------------------------------
    @property
    def release_root(self) -> Path:
        return self.data_dir / "publications" / "practice_submissions"

    def generate(self, periods: tuple[str, ...] = sample.DEFAULT_PERIODS, practices: int = 24) -> None:
        """The monthly sample release for ``periods``, and the annual one (every financial year: gold joins them)."""
        sample.generate(self.data_dir / "publications", periods, practices)
        payments.generate(self.data_dir / "publications", practice_count=practices)

    def ingest(self, first: str | None = None, last: str | None = None, force: bool = False) -> PublicationRun:
        """Load the monthly publication's periods (and, once, the annual one, which silver and gold also need)."""
        declared = load_publications()
        if (self.data_dir / "publications" / payments.PUBLICATION).is_dir():
            run = ingest_publication(
                declared[payments.PUBLICATION], self.warehouse, f"test-{uuid.uuid4().hex[:6]}", progress=lambda _: None
            )
            assert not run.failed, [period.error for period in run.failed]
        return ingest_publication(
            declared["practice_submissions"],
            self.warehouse,
            f"test-{uuid.uuid4().hex[:6]}",
            first,
            last,
            progress=lambda _: None,
            force=force,
        )

    def command(self, *args: str) -> subprocess.CompletedProcess:
        """``ingestion <args> --target <engine>`` in a process of its own, from the project root, as a user runs it."""
        return subprocess.run(
            [sys.executable, "-m", "ingestion", *args, "--target", self.engine],
            cwd=paths.PROJECT_ROOT,
            env=os.environ.copy(),
            capture_output=True,
            text=True,
        )

    def dbt(self, *args: str) -> DbtResult:
        return run_dbt(list(args), self.warehouse)

    def query(self, statement: str) -> list[tuple]:
        return self.warehouse.query(statement)

    def execute(self, statement: str) -> None:
        """A statement without results (DDL), committed."""
        connection = self.warehouse.connect()
        try:
            self.warehouse.cursor(connection).execute(statement)
            connection.commit()
        finally:
            connection.close()

    def execute_admin(self, statement: str) -> None:
        """A statement on the PostgreSQL server's maintenance database (create or drop a database)."""
        admin = _admin_connection()
        try:
            with admin.cursor() as cursor_:
                cursor_.execute(statement)
        finally:
            admin.close()

    def scalar(self, statement: str) -> object:
        return self.query(statement)[0][0]

    def counts_by_period(self, table: str) -> dict[str, int]:
        return dict(self.query(f"select _period, count(*) from bronze_publications.{table} group by _period"))

    def columns(self, schema: str, table: str) -> list[str]:
        return [
            row[0]
            for row in self.query(
                "select column_name from information_schema.columns "
                f"where table_schema = '{schema}' and table_name = '{table}' order by ordinal_position"
            )
        ]
