"""The run ledger: every stage of every run, written to ``ops.run_events`` the moment it happens.

Each event also goes to a JSONL mirror (``logs/runs/<run_id>.jsonl``), so a crash leaves a trace even where the
warehouse is out of reach. Events tie dlt load ids and dbt invocation ids to the run id (``correlation_id``). The
ledger also holds the warehouse-wide lock that keeps two backfills from interleaving, and remembers which files
each period was loaded from, so an unchanged period is skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestion import paths
from ingestion.warehouse import Warehouse

SCHEMA = "ops"
EVENT_COLUMNS = ("event_id", "run_id", "correlation_id", "parent_event_id", "stage", "event_type", "status",
                 "source", "subject", "occurred_at", "duration_seconds", "row_count", "retry_count", "error_class",
                 "message", "details", "fingerprint")
DDL = (
    f"create schema if not exists {SCHEMA}",
    f"""create table if not exists {SCHEMA}.run_events (
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
    f"create index if not exists run_events_by_run on {SCHEMA}.run_events (run_id, occurred_at)",
    f"create index if not exists run_events_by_time on {SCHEMA}.run_events (occurred_at)",
    f"create index if not exists run_events_by_stage on {SCHEMA}.run_events (stage, status)",
    f"create index if not exists run_events_by_subject on {SCHEMA}.run_events (source, subject, event_type)",
    f"""create table if not exists {SCHEMA}.run_locks (
        lock_name varchar(64) primary key,
        run_id varchar(64) not null,
        pid integer not null,
        host varchar(200) not null,
        acquired_at timestamp with time zone not null
    )""",
)


class LockHeld(Exception):
    """Another run holds the warehouse lock."""


def log_dir() -> Path:
    return Path(os.environ.get("ANALYTICS_LOG_DIR", paths.PROJECT_ROOT / "logs" / "runs"))


@dataclass
class Stage:
    """A stage in progress; set ``rows``, ``retries``, ``details`` or ``correlation_id`` before it ends."""

    name: str
    event_id: str
    source: str | None
    subject: str | None
    started: float = field(default_factory=time.monotonic)
    rows: int | None = None
    retries: int | None = None
    correlation_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    status: str = "success"  # or no_work


class Ledger:
    def __init__(self, warehouse: Warehouse, run_id: str, command: str = "") -> None:
        self.warehouse, self.run_id, self.command = warehouse, run_id, command
        self.ph = "?" if warehouse.target == "duckdb" else "%s"
        self.mirror = log_dir() / f"{run_id}.jsonl"

    # -- schema ------------------------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        self.warehouse.ensure_database()
        self._execute_many([(statement, ()) for statement in DDL])

    def _execute_many(self, statements: list[tuple[str, tuple]]) -> list[list[tuple]]:
        connection = self.warehouse.connect()
        try:
            cursor, results = connection.cursor(), []
            for statement, parameters in statements:
                cursor.execute(statement, parameters or None)
                results.append(cursor.fetchall() if cursor.description else [])
            connection.commit()
            return results
        finally:
            connection.close()

    def query(self, statement: str, parameters: tuple = ()) -> list[tuple]:
        return self._execute_many([(statement.replace("?", self.ph), parameters)])[0]

    # -- events ------------------------------------------------------------------------------------------------
    def event(self, stage: str, event_type: str, status: str = "success", *, source: str | None = None,
              subject: str | None = None, correlation_id: str | None = None, parent: str | None = None,
              duration: float | None = None, rows: int | None = None, retries: int | None = None,
              error_class: str | None = None, message: str | None = None, details: dict | None = None,
              fingerprint: str | None = None) -> str:
        """Write one event now, to the warehouse and the JSONL mirror; returns its id."""
        event = dict(zip(EVENT_COLUMNS, (
            uuid.uuid4().hex, self.run_id, correlation_id or self.run_id, parent, stage, event_type, status, source,
            subject, dt.datetime.now(dt.UTC), None if duration is None else round(duration, 3), rows, retries,
            error_class, message, json.dumps(details, default=str) if details else None, fingerprint), strict=True))
        self.mirror.parent.mkdir(parents=True, exist_ok=True)
        with self.mirror.open("a") as handle:
            handle.write(json.dumps(event, default=str) + "\n")
        placeholders = ", ".join([self.ph] * len(EVENT_COLUMNS))
        self._execute_many([(f"insert into {SCHEMA}.run_events ({', '.join(EVENT_COLUMNS)}) "
                             f"values ({placeholders})", tuple(event.values()))])
        return event["event_id"]

    def dbt_results(self, stage: str, result: Any, parent: str | None = None) -> None:
        """One ``dbt_node`` event per node of a dbt invocation, correlated by its invocation id, in one write."""
        now, rows = dt.datetime.now(dt.UTC), []
        for node in result.nodes:
            failed = node["status"] in ("error", "fail", "runtime error")
            rows.append((uuid.uuid4().hex, self.run_id, result.invocation_id or self.run_id, parent, stage, "dbt_node",
                         "failed" if failed else "warn" if node["status"] == "warn" else "success", "dbt",
                         node["unique_id"], now, round(float(node.get("execution_time") or 0), 3),
                         (node.get("adapter_response") or {}).get("rows_affected"), None,
                         "permanent" if failed else None, (node.get("message") or None), None, None))
        if not rows:
            return
        placeholders = ", ".join([self.ph] * len(EVENT_COLUMNS))
        connection = self.warehouse.connect()
        try:
            connection.cursor().executemany(f"insert into {SCHEMA}.run_events ({', '.join(EVENT_COLUMNS)}) "
                                            f"values ({placeholders})", rows)
            connection.commit()
        finally:
            connection.close()
        with self.mirror.open("a") as handle:
            for row in rows:
                handle.write(json.dumps(dict(zip(EVENT_COLUMNS, row, strict=True)), default=str) + "\n")

    @contextmanager
    def stage(self, name: str, *, source: str | None = None, subject: str | None = None,
              parent: str | None = None) -> Iterator[Stage]:
        """``stage_started`` now; ``stage_completed`` or ``stage_failed`` (re-raising) when the block ends."""
        event_id = self.event(name, "stage_started", "running", source=source, subject=subject, parent=parent)
        stage = Stage(name, event_id, source, subject)
        try:
            yield stage
        except BaseException as error:
            self.event(name, "stage_failed", "failed", source=source, subject=subject, parent=event_id,
                       correlation_id=stage.correlation_id, duration=time.monotonic() - stage.started,
                       rows=stage.rows, retries=stage.retries, error_class=error_class(error),
                       message=str(error) or type(error).__name__, details=stage.details or None)
            raise
        self.event(name, "stage_completed", stage.status, source=source, subject=subject, parent=event_id,
                   correlation_id=stage.correlation_id, duration=time.monotonic() - stage.started, rows=stage.rows,
                   retries=stage.retries, details=stage.details or None)

    # -- what was loaded ---------------------------------------------------------------------------------------
    def loaded_fingerprint(self, source: str, subject: str) -> str | None:
        """The files fingerprint of the latest successful load of ``subject`` (e.g. a publication period)."""
        rows = self.query(f"select fingerprint from {SCHEMA}.run_events where source = ? and subject = ? and "
                          "event_type = 'load_completed' and status = 'success' order by occurred_at desc limit 1",
                          (source, subject))
        return rows[0][0] if rows else None

    def unbuilt_loads(self) -> list[tuple[str, str]]:
        """(source, subject) of the loads that brought rows after the last successful transform: bronze holds data
        that silver does not (a run stopped by validation, or a load run on its own)."""
        built = self.query(f"select max(occurred_at) from {SCHEMA}.run_events where stage = 'transform' and "
                           "event_type = 'stage_completed' and status = 'success'")[0][0]
        since = "" if built is None else " and occurred_at > ?"
        return [tuple(row) for row in self.query(
            f"select distinct source, subject from {SCHEMA}.run_events where event_type = 'load_completed' and "
            f"status = 'success' and row_count > 0{since}", () if built is None else (built,))]

    # -- the warehouse lock ------------------------------------------------------------------------------------
    def acquire_lock(self, name: str = "ingestion") -> None:
        """Take the warehouse-wide lock, or raise LockHeld naming the run that has it. A lock left by a process
        that no longer exists on this host is taken over."""
        host, pid = socket.gethostname(), os.getpid()
        held = self.query(f"select run_id, pid, host, acquired_at from {SCHEMA}.run_locks where lock_name = ?",
                          (name,))
        if held:
            run_id, holder_pid, holder_host, acquired = held[0]
            if holder_host != host or _alive(holder_pid):
                raise LockHeld(f"run {run_id} (pid {holder_pid} on {holder_host}, since {acquired}) is already "
                               f"loading into this warehouse; wait for it, or check it with: ingestion runs show "
                               f"{run_id}")
            self.query(f"delete from {SCHEMA}.run_locks where lock_name = ? and run_id = ?", (name, run_id))
        try:
            self.query(f"insert into {SCHEMA}.run_locks (lock_name, run_id, pid, host, acquired_at) "
                       "values (?, ?, ?, ?, ?)", (name, self.run_id, pid, host, dt.datetime.now(dt.UTC)))
        except Exception as error:  # a concurrent insert won the race for the primary key
            raise LockHeld(f"another run took the warehouse lock first: {error}") from error

    def release_lock(self, name: str = "ingestion") -> None:
        self.query(f"delete from {SCHEMA}.run_locks where lock_name = ? and run_id = ?", (name, self.run_id))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def error_class(error: BaseException) -> str:
    """retryable (network, rate limits, server errors, interruptions) or permanent (bad input, bad config)."""
    from ingestion.errors import ConfigError, IngestionError

    if isinstance(error, IngestionError | ConfigError | ValueError):
        return "permanent"
    if isinstance(error, KeyboardInterrupt | TimeoutError | ConnectionError | OSError):
        return "retryable"
    return "permanent"
