"""The warehouse a run writes to: embedded DuckDB (default) or a shared PostgreSQL, configured from the environment.

The same environment variables drive dlt (here) and dbt (``profiles.yml``), so both always see one warehouse:
``DUCKDB_PATH`` for DuckDB; ``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE`` for PostgreSQL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ingestion import paths

TARGETS = ("duckdb", "postgres")


@dataclass(frozen=True)
class Warehouse:
    target: str
    duckdb_path: Path = field(default_factory=lambda: paths.resolve(os.environ.get("DUCKDB_PATH",
                                                                                   "data/warehouse.duckdb")))
    host: str = field(default_factory=lambda: os.environ.get("PGHOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(os.environ.get("PGPORT", "5432")))
    user: str = field(default_factory=lambda: os.environ.get("PGUSER", "postgres"))
    database: str = field(default_factory=lambda: os.environ.get("PGDATABASE", "analytics"))

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}: choose one of {', '.join(TARGETS)}")

    @property
    def password(self) -> str:
        """Read when needed, never stored on the object, so it cannot end up in a repr or a log line."""
        return os.environ.get("PGPASSWORD", "")

    def describe(self) -> str:
        if self.target == "duckdb":
            return f"duckdb {self.duckdb_path}"
        return f"postgres {self.user}@{self.host}:{self.port}/{self.database}"

    def dlt_destination(self) -> Any:
        import dlt

        if self.target == "duckdb":
            self.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
            return dlt.destinations.duckdb(str(self.duckdb_path))
        from dlt.destinations.impl.postgres.configuration import PostgresCredentials

        credentials = PostgresCredentials()
        credentials.parse_native_representation(
            f"postgresql://{quote(self.user, safe='')}@{self.host}:{self.port}/{quote(self.database, safe='')}")
        credentials.password = self.password  # may be empty: trust or peer authentication needs none
        credentials.resolve()
        return dlt.destinations.postgres(credentials=credentials)

    def dbt_env(self) -> dict[str, str]:
        """The variables ``profiles.yml`` reads."""
        return {"DUCKDB_PATH": str(self.duckdb_path), "PGHOST": self.host, "PGPORT": str(self.port),
                "PGUSER": self.user, "PGDATABASE": self.database}

    def connect(self) -> Any:
        """A DB-API connection for queries; close it before dlt or dbt write (DuckDB allows one writer)."""
        if self.target == "duckdb":
            import duckdb

            return duckdb.connect(str(self.duckdb_path))
        import psycopg2

        return psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password or None,
                                dbname=self.database)

    def ensure_database(self) -> bool:
        """Create the PostgreSQL database if it is missing (a DuckDB file is created on first write)."""
        if self.target != "postgres":
            return False
        import psycopg2
        from psycopg2 import sql

        admin = psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password or None,
                                 dbname="postgres")
        admin.autocommit = True
        try:
            with admin.cursor() as cursor:
                cursor.execute("select 1 from pg_database where datname = %s", (self.database,))
                if cursor.fetchone():
                    return False
                cursor.execute(sql.SQL("create database {}").format(sql.Identifier(self.database)))
                return True
        finally:
            admin.close()

    def query(self, statement: str, parameters: tuple = ()) -> list[tuple]:
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(statement, parameters or None)
            return cursor.fetchall()
        finally:
            connection.close()

    def table_exists(self, schema: str, table: str) -> bool:
        placeholder = "?" if self.target == "duckdb" else "%s"
        rows = self.query("select count(*) from information_schema.tables where table_schema = "
                          f"{placeholder} and table_name = {placeholder}", (schema, table))
        return bool(rows[0][0])
