"""The run ledger: every stage of every run, written to ``ops.run_events`` the moment it happens.

Each event also goes to a JSONL mirror (``logs/runs/<run_id>.jsonl``), so a crash leaves a trace even where the
warehouse is out of reach. Events tie dlt load ids and dbt invocation ids to the run id (``correlation_id``). The
ledger also holds the warehouse-wide lock that keeps two backfills from interleaving, and remembers which files
each period was loaded from (``ops.period_loads``, written in the same transaction that publishes the period), so
an unchanged period is skipped and a period whose publication did not commit never is.

When the warehouse is out of reach (PostgreSQL down, the database dropped, the DuckDB file not writable), events
still go to the JSONL mirror, so the run, its failure and its message are recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestion import locks, paths
from ingestion.errors import ConfigError, IngestionError, describe
from ingestion.locks import FileWarehouseLock, LockHeld
from ingestion.redact import redact
from ingestion.status import Outcome
from ingestion.transform import DbtResult
from ingestion.warehouse import Warehouse, WarehouseUnavailable


def ops_schema() -> str:
    """The ledger's schema: ``ops``, or ``<dev schema>_ops`` on a dev target."""
    return paths.schema("ops")


EVENT_COLUMNS = (
    "event_id",
    "run_id",
    "correlation_id",
    "parent_event_id",
    "stage",
    "event_type",
    "status",
    "source",
    "subject",
    "occurred_at",
    "duration_seconds",
    "row_count",
    "retry_count",
    "error_class",
    "message",
    "details",
    "fingerprint",
)


def ddl() -> tuple[str, ...]:
    """The ledger's tables, in the current target's ops schema."""
    schema = ops_schema()
    return (
        f"create schema if not exists {schema}",
        f"""create table if not exists {schema}.run_events (
            event_id varchar(32) primary key,
            run_id varchar(64) not null,
            correlation_id varchar(64),
            parent_event_id varchar(32),
            stage varchar(32) not null,
            event_type varchar(32) not null,
            status varchar(16) not null,
            source varchar(64),
            subject varchar(300),
            occurred_at timestamp with time zone not null,
            duration_seconds numeric(14, 3),
            row_count bigint,
            retry_count integer,
            error_class varchar(16),
            message text,
            details text,
            fingerprint varchar(64)
        )""",
        f"create index if not exists run_events_by_run on {schema}.run_events (run_id, occurred_at)",
        f"create index if not exists run_events_by_time on {schema}.run_events (occurred_at)",
        f"create index if not exists run_events_by_stage on {schema}.run_events (stage, status)",
        f"create index if not exists run_events_by_subject on {schema}.run_events (source, subject, event_type)",
        f"""create table if not exists {schema}.run_locks (
            lock_name varchar(64) primary key,
            run_id varchar(64) not null,
            pid integer not null,
            host varchar(200) not null,
            acquired_at timestamp with time zone not null
        )""",
        # One row per published period: written in the transaction that makes the period visible in bronze, so the
        # fingerprint that lets a later run skip the period exists exactly when the period's rows do.
        f"""create table if not exists {schema}.period_loads (
            source varchar(64) not null,
            subject varchar(300) not null,
            fingerprint varchar(64) not null,
            load_id varchar(64) not null,
            run_id varchar(64) not null,
            row_count bigint not null,
            quarantined_count bigint not null,
            published_at timestamp with time zone not null,
            primary key (source, subject
    )
    )""",
    )


__all__ = ["Ledger", "LockHeld", "RunRecord", "Stage", "error_class", "ops_schema", "reading"]


def log_dir() -> Path:
    return Path(os.environ.get("ANALYTICS_LOG_DIR", paths.PROJECT_ROOT / "logs" / "runs"))


@dataclass
class Stage:
    """A stage in progress; set ``rows``, ``retries``, ``details`` or ``correlation_id`` before it ends, or call
    :meth:`fail` for a stage that ends failed without an exception (its work recorded, the run going on)."""

    name: str
    event_id: str
    source: str | None
    subject: str | None
    started: float = field(default_factory=time.monotonic)
    rows: int | None = None
    retries: int | None = None
    correlation_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    status: str = "success"  # or no_work, or failed (see fail)
    message: str | None = None
    error_class: str | None = None

    def fail(self, message: str | None, error_class: str = "permanent") -> None:
        """End the stage as ``stage_failed`` with ``message`` when its block ends."""
        self.status, self.message, self.error_class = "failed", message, error_class


@dataclass
class RunRecord:
    """What a recorded run did: its outcome, the rows it loaded and, if it failed, why."""

    run_id: str
    outcome: Outcome = Outcome.FAILED
    rows: int = 0
    message: str | None = None
    seconds: float = 0.0
    unavailable: WarehouseUnavailable | None = None  # the warehouse went out of reach: the mirror holds the run


Work = Callable[[], tuple[Outcome, int, str | None]]


class Ledger:
    def __init__(self, warehouse: Warehouse, run_id: str, command: str = "") -> None:
        self.warehouse, self.run_id, self.command = warehouse, run_id, command
        self.mirror = log_dir() / f"{run_id}.jsonl"
        self.unavailable: WarehouseUnavailable | None = None  # set once the warehouse is out of reach
        self._file_lock: FileWarehouseLock | None = None

    # -- schema ------------------------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        self.warehouse.ensure_database()
        # two runs starting at once on PostgreSQL would race on "create ... if not exists": one at a time
        self._execute_many([(statement, ()) for statement in [*self.warehouse.serialise_ddl(), *ddl()]])

    def _execute_many(self, statements: list[tuple[str, tuple]]) -> list[list[tuple]]:
        connection = self.warehouse.connect()
        try:
            run, results = self.warehouse.cursor(connection), []
            for statement, parameters in statements:
                run.execute(self.warehouse.sql(statement), parameters or None)
                results.append(run.fetchall() if run.description else [])
            connection.commit()
            return results
        finally:
            connection.close()

    def query(self, statement: str, parameters: tuple = ()) -> list[tuple]:
        """Run one statement (``?`` markers) and commit."""
        return self._execute_many([(statement, parameters)])[0]

    # -- events ------------------------------------------------------------------------------------------------
    def event(
        self,
        stage: str,
        event_type: str,
        status: str = "success",
        *,
        source: str | None = None,
        subject: str | None = None,
        correlation_id: str | None = None,
        parent: str | None = None,
        duration: float | None = None,
        rows: int | None = None,
        retries: int | None = None,
        error_class: str | None = None,
        message: str | None = None,
        details: dict | None = None,
        fingerprint: str | None = None,
    ) -> str:
        """Write one event now, to the warehouse and the JSONL mirror; returns its id."""
        event = dict(
            zip(
                EVENT_COLUMNS,
                (
                    uuid.uuid4().hex,
                    self.run_id,
                    correlation_id or self.run_id,
                    parent,
                    stage,
                    event_type,
                    status,
                    source,
                    subject,
                    dt.datetime.now(dt.UTC),
                    None if duration is None else round(duration, 3),
                    rows,
                    retries,
                    error_class,
                    redact(message),
                    redact(json.dumps(details, default=str)) if details else None,
                    fingerprint,
                ),
                strict=True,
            )
        )
        self._mirror([event])
        if self.unavailable is None:
            placeholders = ", ".join(["?"] * len(EVENT_COLUMNS))
            try:
                self._execute_many(
                    [
                        (
                            f"insert into {ops_schema()}.run_events ({', '.join(EVENT_COLUMNS)}) "
                            f"values ({placeholders})",
                            tuple(event.values()),
                        )
                    ]
                )
            except WarehouseUnavailable as error:
                self.went_away(error)
        return str(event["event_id"])

    def _mirror(self, events: list[dict]) -> None:
        self.mirror.parent.mkdir(parents=True, exist_ok=True)
        with self.mirror.open("a") as handle:
            for event in events:
                handle.write(json.dumps(event, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def went_away(self, error: WarehouseUnavailable) -> None:
        """The warehouse is out of reach: from now on events go to the JSONL mirror only (and it says so)."""
        if self.unavailable is None:
            self.unavailable = error
            self._mirror(
                [
                    {
                        "run_id": self.run_id,
                        "event_type": "ledger_unavailable",
                        "status": "warn",
                        "occurred_at": dt.datetime.now(dt.UTC),
                        "message": f"{error}; events from here on are in this file only",
                    }
                ]
            )

    def dbt_results(self, stage: str, result: DbtResult, parent: str | None = None) -> None:
        """One ``dbt_node`` event per node of a dbt invocation, correlated by its invocation id, in one write."""
        now, rows = dt.datetime.now(dt.UTC), []
        for node in result.nodes:
            failed = node["status"] in ("error", "fail", "runtime error")
            rows.append(
                (
                    uuid.uuid4().hex,
                    self.run_id,
                    result.invocation_id or self.run_id,
                    parent,
                    stage,
                    "dbt_node",
                    "failed" if failed else "warn" if node["status"] == "warn" else "success",
                    "dbt",
                    node["unique_id"],
                    now,
                    round(float(node.get("execution_time") or 0), 3),
                    (node.get("adapter_response") or {}).get("rows_affected"),
                    None,
                    "permanent" if failed else None,
                    (node.get("message") or None),
                    None,
                    None,
                )
            )
        if not rows:
            return
        self._mirror([dict(zip(EVENT_COLUMNS, row, strict=True)) for row in rows])
        if self.unavailable is not None:
            return
        try:
            connection = self.warehouse.connect()
        except WarehouseUnavailable as error:
            self.went_away(error)
            return
        try:
            self.warehouse.insert_rows(connection, ops_schema(), "run_events", list(EVENT_COLUMNS), rows)
            connection.commit()
        finally:
            connection.close()

    @contextmanager
    def stage(
        self,
        name: str,
        *,
        source: str | None = None,
        subject: str | None = None,
        parent: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Iterator[Stage]:
        """``stage_started`` now; ``stage_completed``, or ``stage_failed`` (re-raising an exception, or after
        :meth:`Stage.fail`), when the block ends. The one way a stage reaches the ledger."""
        event_id = self.event(
            name, "stage_started", "running", source=source, subject=subject, parent=parent, details=details
        )
        stage = Stage(name, event_id, source, subject)
        try:
            yield stage
        except BaseException as error:
            message, full = describe(error), str(error).strip()
            details = {**stage.details, **({"detail": full} if full and full != message else {})}
            self.event(
                name,
                "stage_failed",
                "failed",
                source=source,
                subject=subject,
                parent=event_id,
                correlation_id=stage.correlation_id,
                duration=time.monotonic() - stage.started,
                rows=stage.rows,
                retries=stage.retries,
                error_class=error_class(error),
                message=message,
                details=details or None,
            )
            raise
        self.event(
            name,
            "stage_failed" if stage.status == "failed" else "stage_completed",
            stage.status,
            source=source,
            subject=subject,
            parent=event_id,
            correlation_id=stage.correlation_id,
            duration=time.monotonic() - stage.started,
            rows=stage.rows,
            retries=stage.retries,
            error_class=stage.error_class,
            message=stage.message,
            details=stage.details or None,
        )

    def record_run(self, argv: list[str], target: str, work: Work) -> RunRecord:
        """Run ``work`` as one ledger run: lock, ``run_started``, the work (its outcome, rows loaded and message),
        ``run_completed`` or ``run_failed``, unlock. Raises LockHeld when another run holds the warehouse. A run
        whose warehouse is out of reach, at the start or part way, is still recorded in the JSONL mirror."""
        record, started = RunRecord(self.run_id), time.monotonic()
        try:
            self.acquire_lock()
        except WarehouseUnavailable as error:
            self.went_away(error)
            self.event("run", "run_started", "running", details={"argv": argv, "target": target})
            record.message = str(error)
            self.event(
                "run",
                "run_failed",
                "failed",
                error_class="retryable",
                message=record.message,
                duration=time.monotonic() - started,
            )
            record.unavailable, record.seconds = error, time.monotonic() - started
            return record
        try:
            self.event("run", "run_started", "running", details={"argv": argv, "target": target})
            record.outcome, record.rows, record.message = work()
        except WarehouseUnavailable as error:
            self.went_away(error)
            record.message = str(error)
        except BaseException as error:
            record.message = f"{type(error).__name__}: {error}"
            raise
        finally:
            record.seconds = time.monotonic() - started
            try:
                self.event(
                    "run",
                    "run_completed" if record.outcome != Outcome.FAILED else "run_failed",
                    record.outcome,
                    duration=record.seconds,
                    rows=record.rows,
                    message=record.message,
                )
            finally:
                self.release_lock()
        if self.unavailable is not None:
            record.outcome, record.unavailable = Outcome.FAILED, self.unavailable
        return record

    # -- what was loaded ---------------------------------------------------------------------------------------
    def loaded_fingerprint(self, source: str, subject: str) -> str | None:
        """The files fingerprint of ``subject`` (a publication period) as published now, or None if it never was.
        Read from ``ops.period_loads``, which changes in the transaction that publishes the period's rows."""
        rows = self.query(
            f"select fingerprint from {ops_schema()}.period_loads where source = ? and subject = ?", (source, subject)
        )
        return rows[0][0] if rows else None

    def unbuilt_loads(self) -> list[tuple[str, str]]:
        """(source, subject) of the loads that brought rows after the last successful transform that built their
        source: bronze holds data that silver does not (a run stopped by validation or killed after publishing, a
        load run on its own, or a load of a source a transform left out). A run records each source its transform
        leaves out (a ``build_excluded`` event, written before the transform starts), so the loads of a source
        that failed stay unbuilt until a transform includes that source."""
        transforms = (
            f"from {ops_schema()}.run_events t where t.stage = 'transform' and t.event_type = "
            "'stage_completed' and t.status = 'success'"
        )
        left_out = f"{ops_schema()}.run_events x where x.run_id = t.run_id and x.event_type = 'build_excluded'"
        built = self.query(f"select max(t.occurred_at) {transforms} and not exists (select 1 from {left_out})")[0][0]
        since_event = "" if built is None else " and occurred_at > ?"
        since_period = "" if built is None else " where published_at > ?"
        since_build = "" if built is None else " and t.occurred_at > ?"
        parameters = () if built is None else (built,)
        events = self.query(
            f"select source, subject, max(occurred_at) from {ops_schema()}.run_events where event_type = "
            f"'load_completed' and status = 'success' and row_count > 0{since_event} "
            "group by source, subject",
            parameters,
        )
        periods = self.query(
            f"select source, subject, published_at from {ops_schema()}.period_loads{since_period}", parameters
        )
        partial: dict[Any, set[str]] = {}  # each transform since the last full one -> the sources it left out
        for done, source in self.query(
            f"select t.occurred_at, x.source from {ops_schema()}.run_events t join "
            f"{ops_schema()}.run_events x on x.run_id = t.run_id and x.event_type = "
            "'build_excluded' where t.stage = 'transform' and t.event_type = "
            f"'stage_completed' and t.status = 'success'{since_build}",
            parameters,
        ):
            partial.setdefault(done, set()).add(source)
        return sorted(
            {
                (source, subject)
                for source, subject, at in [*events, *periods]
                if not any(done > at and source not in out for done, out in partial.items())
            }
        )

    def published_loads(self, load_ids: list[str]) -> list[str]:
        """Those of ``load_ids`` whose period was published (``period_loads`` holds them)."""
        if not load_ids or self.unavailable is not None:
            return []
        marks = ", ".join(["?"] * len(load_ids))
        rows = self.query(
            f"select load_id from {ops_schema()}.period_loads where load_id in ({marks})", tuple(load_ids)
        )
        return [load_id for (load_id,) in rows]

    def owners(self, load_ids: list[str]) -> dict[str, tuple[str, str | None]]:
        """load id -> (run id, subject) of the stages that recorded those dlt load packages: from the ledger, else
        from the newest JSONL mirrors (a run killed between writing the mirror and the warehouse)."""
        if not load_ids:
            return {}
        found: dict[str, tuple[str, str | None]] = {}
        if self.unavailable is None:
            marks = ", ".join(["?"] * len(load_ids))
            rows = self.query(
                f"select distinct correlation_id, run_id, subject from {ops_schema()}.run_events where "
                f"correlation_id in ({marks})",
                tuple(load_ids),
            )
            found = {load_id: (run_id, subject) for load_id, run_id, subject in rows}
        missing = set(load_ids) - set(found)
        mirrors = sorted(log_dir().glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)[:50]
        for mirror in mirrors if missing else []:
            for line in mirror.read_text().splitlines():
                if not any(load_id in line for load_id in missing):
                    continue
                try:
                    event = json.loads(line)
                except ValueError:  # a line cut short by a kill
                    continue
                if event.get("correlation_id") in missing:
                    found[event["correlation_id"]] = (event["run_id"], event.get("subject"))
                    missing.discard(event["correlation_id"])
        return found

    # -- the warehouse lock ------------------------------------------------------------------------------------
    def acquire_lock(self, name: str = "ingestion") -> None:
        """Take the warehouse-wide lock, then make sure the ledger tables exist; or raise LockHeld naming the run
        that has it. On DuckDB the lock is a file lock taken before the database is opened (see
        :mod:`ingestion.locks`); on PostgreSQL it is a row of ``ops.run_locks``, and a row left by a process that
        no longer exists on this host is taken over."""
        if self.warehouse.single_writer:
            lock = FileWarehouseLock(self.warehouse, self.run_id, self.command)
            try:
                lock.acquire()
            except OSError as error:  # the folder cannot be made or written: the warehouse is out of reach
                raise WarehouseUnavailable(
                    f"cannot open the DuckDB warehouse {paths.shown(self.warehouse.duckdb_path)}: {error}"
                ) from error
            self._file_lock = lock
            try:
                self.ensure_schema()
            except BaseException:
                self.release_lock(name)
                raise
            return
        self.ensure_schema()
        host, pid = socket.gethostname(), os.getpid()
        held = self.query(
            f"select run_id, pid, host, acquired_at from {ops_schema()}.run_locks where lock_name = ?", (name,)
        )
        if held:
            run_id, holder_pid, holder_host, acquired = held[0]
            if holder_host != host or process_alive(holder_pid):
                raise LockHeld(
                    f"run {run_id} (pid {holder_pid} on {holder_host}, since {acquired}) is already "
                    f"loading into this warehouse; wait for it, or check it with: ingestion runs show "
                    f"{run_id}"
                )
            self.query(f"delete from {ops_schema()}.run_locks where lock_name = ? and run_id = ?", (name, run_id))
        try:
            self.query(
                f"insert into {ops_schema()}.run_locks (lock_name, run_id, pid, host, acquired_at) "
                "values (?, ?, ?, ?, ?)",
                (name, self.run_id, pid, host, dt.datetime.now(dt.UTC)),
            )
        except WarehouseUnavailable:
            raise
        except Exception as error:  # a concurrent insert won the race for the primary key
            winner = self.query(f"select run_id, pid, host from {ops_schema()}.run_locks where lock_name = ?", (name,))
            holder = f"run {winner[0][0]} (pid {winner[0][1]} on {winner[0][2]})" if winner else "another run"
            raise LockHeld(
                f"{holder} took the warehouse lock first and is loading into this warehouse; wait for "
                "it to end, then run again"
            ) from error

    def release_lock(self, name: str = "ingestion") -> None:
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None
            return
        if not self.warehouse.single_writer:  # tried even after the warehouse went away: it may be back
            try:
                self.query(
                    f"delete from {ops_schema()}.run_locks where lock_name = ? and run_id = ?", (name, self.run_id)
                )
            except WarehouseUnavailable as error:
                self.went_away(error)

    def lock_holder_alive(self, run_id: str) -> bool:
        """True while the process of run ``run_id`` holds the warehouse lock: the run is still going."""
        if self.warehouse.single_writer:
            holder = locks.holder(self.warehouse) or {}
            return holder.get("run_id") == run_id and locks.is_busy(self.warehouse)
        held = self.query(f"select pid, host from {ops_schema()}.run_locks where run_id = ?", (run_id,))
        if not held:
            return False
        pid, host = held[0]
        return host != socket.gethostname() or process_alive(int(pid))


def process_alive(pid: int) -> bool:
    """Whether a process of this host with ``pid`` exists (one we may not signal exists too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def error_class(error: BaseException) -> str:
    """retryable (network, rate limits, server errors, interruptions) or permanent (bad input, bad config)."""
    if isinstance(error, IngestionError | ConfigError | ValueError):
        return "permanent"
    if isinstance(error, KeyboardInterrupt | TimeoutError | ConnectionError | OSError):
        return "retryable"
    return "permanent"


@contextmanager
def reading(warehouse: Warehouse, command: str) -> Iterator[None]:
    """Commands that only read a single-writer (DuckDB) warehouse hold its writer lock while they read: refused
    with LockHeld while a run writes, and a run starting meanwhile is refused instead of failing to open the file.
    A warehouse with many writers (PostgreSQL) needs no lock to read."""
    if not warehouse.single_writer:
        yield
        return
    lock = FileWarehouseLock(warehouse, f"reader-{os.getpid()}", command)
    try:
        lock.acquire()
    except LockHeld:
        held = locks.holder(warehouse) or {}
        log = f"; its progress: {paths.shown(log_dir() / (held['run_id'] + '.jsonl'))}" if held.get("run_id") else ""
        raise LockHeld(
            f"{locks.describe_holder(warehouse)} is writing to {warehouse.describe()}, which DuckDB lets "
            f"one process open at a time; try again when it ends{log}"
        ) from None
    except OSError:  # no folder for the lock: there is no warehouse there to read either
        yield
        return
    try:
        yield
    finally:
        lock.release()
