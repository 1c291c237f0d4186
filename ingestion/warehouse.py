"""The warehouse a run writes to: embedded DuckDB (default) or a shared PostgreSQL, configured from the environment.

The same environment variables drive dlt (here) and dbt (``profiles.yml``), so both always see one warehouse:
``DUCKDB_PATH`` for DuckDB; ``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE`` for PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

from ingestion import paths

TARGETS = ("duckdb", "postgres")
CONNECT_TIMEOUT_SECONDS = 10


class WarehouseUnavailable(Exception):
    """The warehouse cannot be reached, opened or written: one line naming the target and where it is."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# SQLSTATEs that mean the server or the database is gone or full, not that a statement failed (a lock timeout,
# a deadlock or a cancelled statement are errors of the run, reported as such)
_GONE = ("57P01", "57P02", "57P03", "3D000", "53100")


def _connection_lost(error: BaseException) -> bool:
    code = getattr(error, "pgcode", None)
    return code is None or code.startswith("08") or code in _GONE


def find_unavailable(error: BaseException) -> WarehouseUnavailable | None:
    """A WarehouseUnavailable in ``error``'s chain, or one made from a driver error that means the same (dlt and dbt
    wrap the driver's connection errors)."""
    import duckdb
    import psycopg2

    from ingestion.errors import IngestionError

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, WarehouseUnavailable):
            return current
        if isinstance(current, IngestionError):  # a reader's error (a DuckDB IOException on a release file)
            return None
        if isinstance(current, psycopg2.InterfaceError) or (
            isinstance(current, psycopg2.OperationalError) and _connection_lost(current)
        ):
            return WarehouseUnavailable(f"the PostgreSQL warehouse went away: {_first_line(current)}")
        if isinstance(current, duckdb.IOException):
            return WarehouseUnavailable(f"the DuckDB warehouse cannot be written: {_first_line(current)}")
        seen.add(id(current))
        current = getattr(current, "exception", None) or current.__cause__ or current.__context__
    return None


@dataclass(frozen=True)
class Warehouse:
    target: str
    duckdb_path: Path = field(
        default_factory=lambda: paths.resolve(os.environ.get("DUCKDB_PATH", "data/warehouse.duckdb"))
    )
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
            f"postgresql://{url_quote(self.user, safe='')}@{self.host}:{self.port}/{url_quote(self.database, safe='')}"
        )
        credentials.password = self.password  # may be empty: trust or peer authentication needs none
        credentials.resolve()
        return dlt.destinations.postgres(credentials=credentials)

    def dbt_env(self) -> dict[str, str]:
        """The variables ``profiles.yml`` reads."""
        return {
            "DUCKDB_PATH": str(self.duckdb_path),
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": self.database,
        }

    @property
    def placeholder(self) -> str:
        """The DB-API parameter marker of this engine's driver."""
        return "?" if self.target == "duckdb" else "%s"

    def connect(self) -> Any:
        """A DB-API connection for queries; close it before dlt or dbt write (DuckDB allows one writer). Raises
        WarehouseUnavailable, naming the path or host and port, when the warehouse cannot be opened."""
        if self.target == "duckdb":
            import duckdb

            try:
                self.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
                return duckdb.connect(str(self.duckdb_path))
            except (duckdb.Error, OSError) as error:
                raise WarehouseUnavailable(
                    f"cannot open the DuckDB warehouse {paths.shown(self.duckdb_path)}: {_first_line(error)}"
                ) from error
        return self._pg_connect(self.database)

    def _pg_connect(self, database: str) -> Any:
        import psycopg2

        try:
            return psycopg2.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password or None,
                dbname=database,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
            )
        except psycopg2.OperationalError as error:
            raise WarehouseUnavailable(
                f"cannot reach the PostgreSQL warehouse at {self.host}:{self.port} "
                f"(user {self.user}, database {database}): {_first_line(error)}"
            ) from error

    def ensure_database(self) -> bool:
        """Create the PostgreSQL database if it is missing (a DuckDB file is created on first write)."""
        if self.target != "postgres":
            return False
        from psycopg2 import errors, sql

        admin = self._pg_connect("postgres")
        admin.autocommit = True
        try:
            with admin.cursor() as cursor:
                cursor.execute("select 1 from pg_database where datname = %s", (self.database,))
                if cursor.fetchone():
                    return False
                try:
                    cursor.execute(sql.SQL("create database {}").format(sql.Identifier(self.database)))
                except errors.DuplicateDatabase:  # another run created it a moment ago
                    return False
                return True
        finally:
            admin.close()

    def query(self, statement: str, parameters: tuple = ()) -> list[tuple]:
        connection = self.connect()
        try:
            run = cursor(connection)
            run.execute(statement, parameters or None)
            return run.fetchall()
        finally:
            connection.close()

    def table_exists(self, schema: str, table: str) -> bool:
        connection = self.connect()
        try:
            return table_exists(connection, self, schema, table)
        finally:
            connection.close()


# -- statements that differ between the engines, on a connection the caller holds (and commits) --------------------


def cursor(connection: Any) -> Any:
    """What to execute statements on: a DuckDB connection itself (its ``cursor()`` is a second connection with a
    transaction of its own), a psycopg2 cursor otherwise."""
    import duckdb

    return connection if isinstance(connection, duckdb.DuckDBPyConnection) else connection.cursor()


def quote(name: str) -> str:
    """An identifier quoted the same way on DuckDB and PostgreSQL."""
    return '"' + name.replace('"', '""') + '"'


def table_exists(connection: Any, warehouse: Warehouse, schema: str, table: str) -> bool:
    ph, run = warehouse.placeholder, cursor(connection)
    run.execute(
        f"select count(*) from information_schema.tables where table_schema = {ph} and table_name = {ph}",
        (schema, table),
    )
    return bool(run.fetchall()[0][0])


def column_types(connection: Any, warehouse: Warehouse, schema: str, table: str) -> dict[str, str]:
    """Column -> its full SQL type (precision included), in table order; empty if the table does not exist."""
    run = cursor(connection)
    if warehouse.target == "duckdb":
        run.execute(
            "select column_name, data_type from information_schema.columns where table_schema = ? and "
            "table_name = ? order by ordinal_position",
            (schema, table),
        )
    else:
        run.execute(
            "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
            "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped "
            "order by a.attnum",
            (schema, table),
        )
    return dict(run.fetchall())


def insert_rows(
    connection: Any, warehouse: Warehouse, schema: str, table: str, columns: list[str], rows: list[tuple]
) -> None:
    """Insert many rows in bulk (an Arrow scan on DuckDB, multi-row VALUES pages on PostgreSQL)."""
    if not rows:
        return
    target = f"{quote(schema)}.{quote(table)} ({', '.join(quote(c) for c in columns)})"
    if warehouse.target == "duckdb":
        import pyarrow as pa

        batch = pa.Table.from_pylist([dict(zip(columns, row, strict=True)) for row in rows])
        connection.register("_rows_to_insert", batch)
        try:
            connection.execute(
                f"insert into {target} select {', '.join(quote(c) for c in columns)} from _rows_to_insert"
            )
        finally:
            with contextlib.suppress(Exception):  # in an aborted transaction: the insert's error is the one to see
                connection.unregister("_rows_to_insert")
        return
    from psycopg2.extras import execute_values

    execute_values(connection.cursor(), f"insert into {target} values %s", rows, page_size=1000)
