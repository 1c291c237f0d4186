"""The warehouse a run writes to: embedded DuckDB (default) or a shared PostgreSQL, configured from the environment.

The same environment variables drive dlt (here) and dbt (``profiles.yml``), so both always see one warehouse:
``DUCKDB_PATH`` for DuckDB (and ``DUCKDB_MEMORY_LIMIT``, the loads' buffer limit); ``PGHOST``, ``PGPORT``,
``PGUSER``, ``PGPASSWORD``, ``PGDATABASE`` for PostgreSQL.

This module is the one door to each engine: ``Warehouse(target)`` gives the engine's own subclass
(:class:`DuckDBWarehouse`, :class:`PostgresWarehouse`), and everything that differs between engines (connecting,
parameter markers, transactions, catalog queries, bulk inserts, locking) is a method there. Statements elsewhere
are written once, with ``?`` markers, and pass through :meth:`Warehouse.sql`. A third engine is one more subclass
registered in :data:`ENGINES`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote as url_quote

from ingestion import paths
from ingestion.errors import ConfigError, IngestionError

if TYPE_CHECKING:
    import pyarrow as pa

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
    """Where a run writes, and how to talk to its engine. ``Warehouse("duckdb")`` is a :class:`DuckDBWarehouse`."""

    target: str
    duckdb_path: Path = field(
        default_factory=lambda: paths.resolve(os.environ.get("DUCKDB_PATH", "data/warehouse.duckdb"))
    )
    duckdb_memory_limit: str = field(default_factory=lambda: os.environ.get("DUCKDB_MEMORY_LIMIT", "256MB"))
    host: str = field(default_factory=lambda: os.environ.get("PGHOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(os.environ.get("PGPORT", "5432")))
    user: str = field(default_factory=lambda: os.environ.get("PGUSER", "postgres"))
    database: str = field(default_factory=lambda: os.environ.get("PGDATABASE", "analytics"))

    placeholder: ClassVar[str] = "?"  # the DB-API parameter marker of the engine's driver
    single_writer: ClassVar[bool] = False  # one process at a time may open it (a file lock guards it)

    def __new__(cls, target: str = "", *args: Any, **kwargs: Any) -> Warehouse:
        if cls is Warehouse:
            if target not in ENGINES:
                raise ValueError(f"unknown target {target!r}: choose one of {', '.join(ENGINES)}")
            cls = ENGINES[target]
        return super().__new__(cls)

    def __post_init__(self) -> None:
        if ENGINES.get(self.target) is not type(self):
            raise ValueError(f"{type(self).__name__} cannot be target {self.target!r}")

    @property
    def engine(self) -> str:
        """``duckdb`` or ``postgres``, whichever target (prod or dev) it is."""
        return self.target.removesuffix("_dev")

    @property
    def password(self) -> str:
        """Read when needed, never stored on the object, so it cannot end up in a repr or a log line."""
        return os.environ.get("PGPASSWORD", "")

    # -- what each engine says its own way ---------------------------------------------------------------------
    def describe(self) -> str:
        raise NotImplementedError

    def dlt_destination(self) -> Any:
        raise NotImplementedError

    def ledger_destination(self) -> Any:
        """Where dlt writes the ledger's own tables (``ops``): the warehouse itself."""
        return self.dlt_destination()

    def connect(self) -> Any:
        """A DB-API connection for queries; close it before dlt or dbt write (DuckDB allows one writer). Raises
        WarehouseUnavailable, naming the path or host and port, when the warehouse cannot be opened."""
        raise NotImplementedError

    @contextlib.contextmanager
    def kept_open(self) -> Iterator[None]:
        """Keep the warehouse open for a stretch of work with many short connections (a period's load and its
        ledger events, a validation): opening it is paid once. Close it before dbt or another process writes."""
        yield

    def ensure_database(self) -> bool:
        """Create the database if it is missing; True if it was created."""
        return False

    def drop_database(self) -> None:
        """Remove the whole warehouse (for throw-away ones: benchmarks, tests)."""
        raise NotImplementedError

    def read_arrow(self, query: str) -> pa.Table:
        """The rows of ``query`` as an Arrow table, through the engine's own columnar export (no Python object per
        row or value). Raises WarehouseUnavailable when the warehouse cannot be reached."""
        raise NotImplementedError

    def row_hash(self, alias: str) -> str:
        """A 64-bit hash of each whole row of the table aliased ``alias``, as SQL (summed, it fingerprints rows)."""
        raise NotImplementedError

    def write_parquet(self, query: str, folder: Path, partition: str | None) -> None:
        """The rows of ``query`` as Parquet files under ``folder`` (zstd, row groups of :data:`ROW_GROUP_ROWS`):
        Hive partitions by its column ``partition`` (``folder/<partition>=<value>/part-0.parquet``, the column in
        the folder's name, not in the file), or one file ``folder/part-0.parquet``. Streamed: a table is never held
        in memory whole. The caller orders the query; ``folder`` is new and the caller moves the files into place."""
        raise NotImplementedError

    def cursor(self, connection: Any) -> Any:
        """What to execute statements on."""
        return connection.cursor()

    def before_dbt(self) -> None:
        """What dbt needs before it runs against this warehouse (nothing: it reads the tables the loads wrote)."""

    def after_dbt(self) -> None:
        """What follows a dbt command (nothing: the ingestion reads silver and gold where dbt wrote them)."""

    def begin(self, connection: Any) -> None:
        """Open a transaction explicitly where the driver does not open one with the first statement."""

    def serialise_ddl(self) -> list[str]:
        """Statements that make concurrent ``create ... if not exists`` of two runs take turns (in a transaction)."""
        return []

    def index_statements(self, schema: str, table: str, column: str) -> list[str]:
        """What makes reading one value of ``column`` (a period) cost that value's rows, not the table's. None on
        DuckDB: its zone maps (min and max per row group) already skip the row groups of other periods, which are
        written together."""
        return []

    def summary_statements(self, schema: str, table: str, column: str) -> list[str]:
        """What brings that index up to date with rows just inserted, in the inserting transaction. None on DuckDB."""
        return []

    def column_types(self, connection: Any, schema: str, table: str) -> dict[str, str]:
        """Column -> its full SQL type (precision included), in table order; empty if the table does not exist."""
        raise NotImplementedError

    def insert_rows(self, connection: Any, schema: str, table: str, columns: list[str], rows: list[tuple]) -> None:
        """Insert many rows in bulk, on a connection the caller holds (and commits)."""
        raise NotImplementedError

    def insert_parquet(self, connection: Any, schema: str, table: str, columns: list[str], files: list[Path]) -> None:
        """Bulk-insert the rows of parquet ``files`` (dlt's load files) into ``columns`` of ``schema.table``, on a
        connection the caller holds (and commits). A file may lack some of the columns (null there)."""
        raise NotImplementedError

    # -- the same on every engine ----------------------------------------------------------------------------
    @staticmethod
    def parquet_rows(files: list[Path]) -> int:
        """How many rows parquet ``files`` hold, from their footers."""
        import pyarrow.parquet as pq

        return sum(pq.read_metadata(path).num_rows for path in files)

    def repeated_keys(self, files: list[Path], keys: Sequence[str]) -> int:
        """How many rows of parquet ``files`` repeat a ``keys`` value an earlier row has (a row with a null key part
        repeats nothing), counted by an in-memory DuckDB over the files: on any engine, a check that costs a scan
        of the load files, not a grouping of the period's rows in the warehouse."""
        import duckdb

        columns = ", ".join(self.quote(k) for k in keys)
        incomplete = " or ".join(f"{self.quote(k)} is null" for k in keys)
        with duckdb.connect() as counter:
            counter.execute("set memory_limit = ?", (self.duckdb_memory_limit,))
            counter.execute(
                f"select coalesce(sum(n - 1), 0) from (select count(*) as n from read_parquet(?, union_by_name = "
                f"true) where not ({incomplete}) group by {columns} having count(*) > 1) as repeats",
                ([str(path) for path in files],),
            )
            return int(counter.fetchall()[0][0])

    def sql(self, statement: str) -> str:
        """``statement`` written with ``?`` parameter markers, in the engine driver's own markers."""
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)

    @staticmethod
    def quote(name: str) -> str:
        """An identifier, quoted."""
        return '"' + name.replace('"', '""') + '"'

    def dbt_env(self) -> dict[str, str]:
        """The variables ``profiles.yml`` reads."""
        return {
            "DUCKDB_PATH": str(self.duckdb_path),
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": self.database,
        }

    def query(self, statement: str, parameters: tuple = ()) -> list[tuple]:
        """Run one statement (``?`` markers) on a connection of its own and return its rows."""
        connection = self.connect()
        try:
            run = self.cursor(connection)
            run.execute(self.sql(statement), parameters or None)
            return run.fetchall() if run.description else []
        finally:
            connection.close()

    def table_exists(self, schema: str, table: str, connection: Any = None) -> bool:
        """On ``connection`` (inside the caller's transaction) or on a connection of its own."""
        statement = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
        if connection is None:
            return bool(self.query(statement, (schema, table))[0][0])
        run = self.cursor(connection)
        run.execute(self.sql(statement), (schema, table))
        return bool(run.fetchall()[0][0])


class DuckDBWarehouse(Warehouse):
    single_writer = True

    def describe(self) -> str:
        return f"duckdb {self.duckdb_path}"

    def dlt_destination(self) -> Any:
        import dlt
        from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

        self.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        credentials = DuckDbCredentials()  # a path given as text is parsed as a URL, importing SQLAlchemy (~0.2 s)
        credentials.database = str(self.duckdb_path)
        return dlt.destinations.duckdb(credentials=credentials)

    def connect(self) -> Any:
        import duckdb

        try:
            self.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
            connection = duckdb.connect(str(self.duckdb_path))
            # the instance's buffer limit: a period's insert and its key check spill to disk beyond it, so a load's
            # memory stays flat in the period's size (DuckDB's own default is 80% of the machine's memory)
            connection.execute("set memory_limit = ?", (self.duckdb_memory_limit,))
            return connection
        except (duckdb.Error, OSError) as error:
            raise WarehouseUnavailable(
                f"cannot open the DuckDB warehouse {paths.shown(self.duckdb_path)}: {_first_line(error)}"
            ) from error

    @contextlib.contextmanager
    def kept_open(self) -> Iterator[None]:
        """One connection held open: every ``connect()`` meanwhile joins the database it opened (DuckDB's instance
        cache) instead of opening the file and checkpointing it on close (about 20 ms each); one checkpoint at the
        end. Other processes are kept out by the run's file lock anyway (:mod:`ingestion.locks`)."""
        keeper = self.connect()
        try:
            yield
        finally:
            keeper.close()

    def cursor(self, connection: Any) -> Any:
        """The connection itself: its ``cursor()`` is a second connection with a transaction of its own."""
        return connection

    def read_arrow(self, query: str) -> pa.Table:
        connection = self.connect()
        try:
            return connection.sql(query).to_arrow_table()
        finally:
            connection.close()

    def row_hash(self, alias: str) -> str:
        return f"hash({alias})"

    def write_parquet(self, query: str, folder: Path, partition: str | None) -> None:
        """DuckDB's own Parquet writer (``COPY ... PARTITION_BY``)."""
        folder.mkdir(parents=True, exist_ok=True)
        options = f"format parquet, compression zstd, row_group_size {ROW_GROUP_ROWS}"
        target = folder / "part-0.parquet"
        if partition is not None:
            options += f", partition_by ({self.quote(partition)}), filename_pattern 'part-{{i}}', overwrite_or_ignore"
            target = folder
        connection = self.connect()
        try:
            connection.execute(f"copy ({query}) to '{_literal(str(target))}' ({options})")
        finally:
            connection.close()

    def drop_database(self) -> None:
        for path in (self.duckdb_path, self.duckdb_path.with_name(self.duckdb_path.name + ".wal")):
            path.unlink(missing_ok=True)

    def begin(self, connection: Any) -> None:
        connection.execute("begin transaction")

    def column_types(self, connection: Any, schema: str, table: str) -> dict[str, str]:
        connection.execute(
            "select column_name, data_type from information_schema.columns where table_schema = ? and "
            "table_name = ? order by ordinal_position",
            (schema, table),
        )
        return dict(connection.fetchall())

    def insert_rows(self, connection: Any, schema: str, table: str, columns: list[str], rows: list[tuple]) -> None:
        """An Arrow scan of the rows."""
        if not rows:
            return
        import pyarrow as pa

        names = ", ".join(self.quote(c) for c in columns)
        batch = pa.Table.from_pylist([dict(zip(columns, row, strict=True)) for row in rows])
        connection.register("_rows_to_insert", batch)
        try:
            connection.execute(
                f"insert into {self.quote(schema)}.{self.quote(table)} ({names}) select {names} from _rows_to_insert"
            )
        finally:
            with contextlib.suppress(Exception):  # in an aborted transaction: the insert's error is the one to see
                connection.unregister("_rows_to_insert")

    def insert_parquet(self, connection: Any, schema: str, table: str, columns: list[str], files: list[Path]) -> None:
        """DuckDB's own parquet reader, in the caller's transaction."""
        names = ", ".join(self.quote(c) for c in columns)
        connection.execute(
            f"insert into {self.quote(schema)}.{self.quote(table)} ({names}) select {names} from "
            "read_parquet(?, union_by_name = true)",
            ([str(path) for path in files],),
        )


class _CsvStream:
    """A file-like object ``COPY ... FROM STDIN`` reads: Arrow record batches written as CSV by Arrow's own writer
    (quoted text, unquoted empty for null, as PostgreSQL's CSV format reads them), one batch at a time."""

    def __init__(self, batches: Any) -> None:
        self._batches = iter(batches)
        self._chunk = memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        while not self._chunk:
            batch = next(self._batches, None)
            if batch is None:
                return b""
            sink = pa.BufferOutputStream()
            decoded = [  # dlt's load id arrives dictionary-encoded; Arrow writes it as CSV 10x faster decoded
                column.dictionary_decode() if pa.types.is_dictionary(column.type) else column
                for column in batch.columns
            ]
            pacsv.write_csv(
                pa.Table.from_arrays(decoded, names=batch.schema.names), sink, pacsv.WriteOptions(include_header=False)
            )
            self._chunk = memoryview(sink.getvalue().to_pybytes())
        size = len(self._chunk) if size is None or size < 0 else size
        piece, self._chunk = self._chunk[:size], self._chunk[size:]
        return bytes(piece)

    readline = read


def _require_adbc_driver() -> None:
    """The loads write parquet load files; dlt copies them into PostgreSQL through the ADBC driver and, without it,
    falls back to gzip CSV with only a log warning (about 3x slower). Refuse instead, saying how to fix it."""
    from dlt.destinations._adbc_jobs import has_adbc_driver  # dlt's own test of the driver, the one it applies
    from dlt.destinations.impl.postgres.factory import get_adbc_driver_location

    found, reason = has_adbc_driver(get_adbc_driver_location())
    if not found:
        raise ConfigError(
            "loading into PostgreSQL needs the ADBC driver for parquet load files (package adbc-driver-postgresql, "
            f"installed by `make venv`), which is not usable here: {reason}. Without it dlt would fall back to gzip "
            "CSV, about 3x slower"
        )


class PostgresWarehouse(Warehouse):
    placeholder = "%s"

    def describe(self) -> str:
        return f"postgres {self.user}@{self.host}:{self.port}/{self.database}"

    def dlt_destination(self) -> Any:
        import dlt
        from dlt.destinations.impl.postgres.configuration import PostgresCredentials

        credentials = PostgresCredentials()
        credentials.parse_native_representation(
            f"postgresql://{url_quote(self.user, safe='')}@{self.host}:{self.port}/{url_quote(self.database, safe='')}"
        )
        credentials.password = self.password  # may be empty: trust or peer authentication needs none
        credentials.resolve()
        _require_adbc_driver()
        return dlt.destinations.postgres(credentials=credentials)

    def connect(self) -> Any:
        return self._connect(self.database)

    def _connect(self, database: str) -> Any:
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
        from psycopg2 import errors, sql

        admin = self._connect("postgres")
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

    def drop_database(self) -> None:
        from psycopg2 import sql

        admin = self._connect("postgres")
        admin.autocommit = True
        try:
            with admin.cursor() as cursor:
                cursor.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(self.database)))
        finally:
            admin.close()

    def read_arrow(self, query: str) -> pa.Table:
        """Through the ADBC driver (PostgreSQL's binary COPY into Arrow)."""
        with self._adbc() as connection, connection.cursor() as cursor:
            cursor.execute(query)
            table: pa.Table = cursor.fetch_arrow_table()
            return table

    def _adbc(self) -> Any:
        """An ADBC connection (a context manager). Its URI holds the password only in this call; a connection
        error is reported without it."""
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi as adbc

        secret = f":{url_quote(self.password, safe='')}" if self.password else ""
        uri = (
            f"postgresql://{url_quote(self.user, safe='')}{secret}@{self.host}:{self.port}/"
            f"{url_quote(self.database, safe='')}?connect_timeout={CONNECT_TIMEOUT_SECONDS}"
        )
        try:
            return adbc.connect(uri)
        except adbc_driver_manager.Error as error:
            said = _first_line(error).replace(uri, "<uri>")
            said = said.replace(self.password, "***") if self.password else said
            raise WarehouseUnavailable(
                f"cannot reach the PostgreSQL warehouse at {self.host}:{self.port} (user {self.user}, database "
                f"{self.database}): {said}"
            ) from None

    def row_hash(self, alias: str) -> str:
        return f"hashtextextended(cast({alias} as text), 0)"

    def write_parquet(self, query: str, folder: Path, partition: str | None) -> None:
        """PostgreSQL's binary COPY through the ADBC driver, batch by batch into pyarrow's Parquet writer: the query
        is ordered by ``partition``, so each partition's file is open while its rows arrive, then closed for good;
        rows are held until a row group is full, no longer."""
        import pyarrow as pa
        import pyarrow.compute as pc

        folder.mkdir(parents=True, exist_ok=True)
        with self._adbc() as connection, connection.cursor() as cursor:
            cursor.execute(query)
            reader = cursor.fetch_record_batch()
            schema = reader.schema.remove(reader.schema.get_field_index(partition)) if partition else reader.schema
            files = _PartitionFiles(folder, partition, schema)
            try:
                for batch in reader:
                    if partition is None:
                        files.add(None, batch)
                        continue
                    for value in pc.unique(batch.column(partition)).to_pylist():  # a few: rows come ordered by it
                        rows = batch.filter(pc.equal(batch.column(partition), value))
                        files.add(value, rows.drop_columns([partition]))
                if partition is None and files.writer is None:  # an empty table: its file, without rows
                    files.add(None, pa.RecordBatch.from_pylist([], schema=schema))
            finally:
                files.close()

    def serialise_ddl(self) -> list[str]:
        return ["select pg_advisory_xact_lock(7272001)"]

    def index_statements(self, schema: str, table: str, column: str) -> list[str]:
        """A BRIN index (the smallest and largest period of each range of 128 table pages): a period is written in
        one insert, so its rows fill pages of their own and the index finds them as a btree would, yet keeping it
        costs the insert almost nothing (a btree on the column made COPY of a full-size period 1.7x slower).
        Ranges are summarized as they fill (``autosummarize``), and at the end of each load (``summary_statements``).
        A btree from earlier versions is dropped."""
        target, column_ = f"{self.quote(schema)}.{self.quote(table)}", self.quote(column)
        return [
            f"drop index if exists {self.quote(schema)}.{self.quote(f'{table}__{column}_idx')}",
            f"create index if not exists {self.quote(f'{table}__{column}_brin')} on {target} using brin "
            f"({column_}) with (autosummarize = on)",
        ]

    def summary_statements(self, schema: str, table: str, column: str) -> list[str]:
        return [f"select brin_summarize_new_values('{self.quote(schema)}.{self.quote(f'{table}__{column}_brin')}')"]

    def column_types(self, connection: Any, schema: str, table: str) -> dict[str, str]:
        run = connection.cursor()
        run.execute(
            "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
            "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped "
            "order by a.attnum",
            (schema, table),
        )
        return dict(run.fetchall())

    def insert_rows(self, connection: Any, schema: str, table: str, columns: list[str], rows: list[tuple]) -> None:
        """Multi-row VALUES pages."""
        if not rows:
            return
        from psycopg2.extras import execute_values

        target = f"{self.quote(schema)}.{self.quote(table)} ({', '.join(self.quote(c) for c in columns)})"
        execute_values(connection.cursor(), f"insert into {target} values %s", rows, page_size=1000)

    def insert_parquet(self, connection: Any, schema: str, table: str, columns: list[str], files: list[Path]) -> None:
        """``COPY ... FROM STDIN`` in CSV, streamed from the parquet files a batch at a time (memory stays flat)."""
        import pyarrow.parquet as pq

        run = connection.cursor()
        for path in files:
            parquet = pq.ParquetFile(path)
            held = [c for c in columns if c in parquet.schema_arrow.names]
            listed = ", ".join(self.quote(c) for c in held)
            run.copy_expert(
                f"copy {self.quote(schema)}.{self.quote(table)} ({listed}) from stdin with (format csv)",
                _CsvStream(parquet.iter_batches(batch_size=COPY_BATCH_ROWS, columns=held)),
                size=COPY_READ_BYTES,
            )


@dataclass(frozen=True)
class SparkWarehouse(DuckDBWarehouse):
    """The ``spark`` target: bronze is a Parquet lake written by dlt's filesystem destination
    (:mod:`ingestion.lake`), silver and gold are built by dbt on Spark; the ledger, and views over the lake and the
    Spark warehouse's tables for the ingestion's own reads, are in a small DuckDB file (``SPARK_LEDGER_PATH``)."""

    duckdb_path: Path = field(
        default_factory=lambda: paths.resolve(os.environ.get("SPARK_LEDGER_PATH", "data/spark/ledger.duckdb"))
    )
    spark_warehouse_dir: Path = field(
        default_factory=lambda: paths.resolve(os.environ.get("SPARK_WAREHOUSE_DIR", "data/spark/warehouse"))
    )
    spark_metastore_dir: Path = field(
        default_factory=lambda: paths.resolve(os.environ.get("SPARK_METASTORE_DIR", "data/spark/metastore"))
    )

    @property
    def lake(self) -> Any:
        from ingestion.lake import Lake, lake_url

        return Lake(lake_url())

    def describe(self) -> str:
        return f"spark, lake {self.lake.url} (ledger {paths.shown(self.duckdb_path)})"

    def dlt_destination(self) -> Any:
        import dlt

        return dlt.destinations.filesystem(bucket_url=self.lake.url)

    def ledger_destination(self) -> Any:
        """The ledger's DuckDB file."""
        return DuckDBWarehouse.dlt_destination(self)

    def dbt_env(self) -> dict[str, str]:
        return {
            **super().dbt_env(),
            "ANALYTICS_LAKE_URL": self.lake.url,
            "SPARK_WAREHOUSE_DIR": str(self.spark_warehouse_dir),
            "SPARK_METASTORE_DIR": str(self.spark_metastore_dir),
        }

    def ensure_database(self) -> bool:
        """Every declared table has files in the lake (an empty one until its first load: ``init``), and the
        ledger's views over them are made again."""
        from ingestion.pipelines.init import ensure_lake_tables

        created = bool(ensure_lake_tables(self).created)
        self.refresh_views()
        return created

    def refresh_views(self) -> None:
        """The ledger file's views over bronze in the lake and silver and gold in Spark's warehouse, made again (a
        table that appeared, a column a load added)."""
        from ingestion.lake import refresh_views
        from ingestion.sources.publications.settings import load_publications
        from ingestion.sources.servicedesk import dataset as servicedesk_dataset

        datasets = {p.dataset: "publications" for p in load_publications().values()}
        datasets[servicedesk_dataset()] = "servicedesk"
        connection = self.connect()
        try:
            refresh_views(connection, self.lake, datasets, gold=self.spark_schemas())
        finally:
            connection.close()

    def before_dbt(self) -> None:
        """Every source has files (``init`` on the lake: an empty file for a table not loaded yet) and the ledger's
        tables are copied to ``<lake>/ops/`` (dbt's ``ops`` sources): dbt on Spark reads files only."""
        from ingestion.lake import mirror_ledger
        from ingestion.pipelines.init import ensure_lake_tables

        ensure_lake_tables(self)
        connection = self.connect()
        try:
            mirror_ledger(connection, self.lake)
        finally:
            connection.close()

    def after_dbt(self) -> None:
        """The views over silver and gold (Spark's table folders) are made again, for exports, trace and the report."""
        self.refresh_views()

    def spark_schemas(self) -> dict[str, Path]:
        """Schema -> its folder in the Spark warehouse (``<schema>.db``), for the schemas dbt builds."""
        from ingestion import paths as paths_

        return {
            name: self.spark_warehouse_dir / f"{paths_.schema(name)}.db" for name in ("silver", "gold", "reference")
        }

    def drop_database(self) -> None:
        import shutil

        super().drop_database()
        self.lake.drop()
        for folder in (self.spark_warehouse_dir, self.spark_metastore_dir):
            shutil.rmtree(folder, ignore_errors=True)


COPY_BATCH_ROWS = 65_536
COPY_READ_BYTES = 1 << 20

# The dbt targets of profiles.yml: the prod ones write the canonical schemas (bronze_publications, silver, gold,
# ops); each dev one writes the same schemas prefixed with its developer's schema (ANALYTICS_DEV_SCHEMA, default
# "dev"): dev_bronze_publications, dev_silver, ... so that two people can build side by side on one PostgreSQL.
ENGINES: dict[str, type[Warehouse]] = {
    "duckdb": DuckDBWarehouse,
    "postgres": PostgresWarehouse,
    "duckdb_dev": DuckDBWarehouse,
    "postgres_dev": PostgresWarehouse,
    "spark": SparkWarehouse,
}
TARGETS = tuple(ENGINES)
PROD_TARGETS = ("duckdb", "postgres", "spark")


def dev_schema() -> str:
    """A dev target's schema: ``ANALYTICS_DEV_SCHEMA`` (the same variable profiles.yml reads), default ``dev``."""
    return os.environ.get("ANALYTICS_DEV_SCHEMA") or "dev"


def use_target(target: str) -> None:
    """Make every schema this process (and the dbt and dlt processes it starts) writes follow ``target``: the
    canonical names on a prod target, ``<dev schema>_<name>`` on a dev one (:func:`ingestion.paths.schema`)."""
    os.environ["ANALYTICS_SCHEMA_PREFIX"] = "" if target in PROD_TARGETS else f"{dev_schema()}_"


ROW_GROUP_ROWS = 122_880  # rows per Parquet row group: DuckDB's default, a size readers skip and scan well


def _literal(text: str) -> str:
    """``text`` inside a single-quoted SQL literal."""
    return text.replace("'", "''")


class _PartitionFiles:
    """Parquet files written one partition after another (rows arrive ordered by partition): the open partition's
    rows are held until a row group is full."""

    def __init__(self, folder: Path, partition: str | None, schema: pa.Schema) -> None:
        self.folder, self.partition, self.schema = folder, partition, schema
        self.value: object = None
        self.writer: Any = None
        self.held: list[pa.RecordBatch] = []
        self.rows = 0

    def add(self, value: object, batch: pa.RecordBatch) -> None:
        if self.writer is None or value != self.value:
            self.close()
            import pyarrow.parquet as pq

            folder = self.folder / f"{self.partition}={value}" if self.partition else self.folder
            folder.mkdir(parents=True, exist_ok=True)
            self.writer, self.value = (
                pq.ParquetWriter(folder / "part-0.parquet", self.schema, compression="zstd"),
                value,
            )
        self.held.append(batch)
        self.rows += batch.num_rows
        if self.rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self.held:
            self.writer.write_table(pa.Table.from_batches(self.held, self.schema), row_group_size=ROW_GROUP_ROWS)
        self.held, self.rows = [], 0

    def close(self) -> None:
        if self.writer is not None:
            self._flush()
            self.writer.close()
            self.writer = None
