"""One writer per warehouse, held without touching the warehouse.

DuckDB allows one process to open its file for writing: a second run that opened the file only to look at a lock
table would break the run that holds it. So on DuckDB the lock is an OS lock on a file beside the database
(``<warehouse>.duckdb.lock``, through ``filelock``), taken before the database is opened and released by the
operating system when the holder dies, ``kill -9`` included. Who holds it is written beside it
(``<warehouse>.duckdb.lock.json``) for the refusal message. On PostgreSQL, where many clients may connect, the lock
is the ``ops.run_locks`` row (see :meth:`ingestion.ledger.Ledger.acquire_lock`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from ingestion.warehouse import Warehouse


class LockHeld(Exception):
    """Another run holds the warehouse lock; the message names it."""


def lock_path(warehouse: Warehouse) -> Path:
    return warehouse.duckdb_path.with_name(warehouse.duckdb_path.name + ".lock")


def holder(warehouse: Warehouse) -> dict | None:
    """What the holder of a DuckDB warehouse's lock wrote about itself, if anything."""
    try:
        return json.loads(lock_path(warehouse).with_suffix(".lock.json").read_text())
    except (OSError, ValueError):
        return None


def describe_holder(warehouse: Warehouse) -> str:
    held = holder(warehouse)
    if not held:
        return "another process"
    return (
        f"run {held.get('run_id')} (pid {held.get('pid')} on {held.get('host')}, since {held.get('since')}, "
        f"command: ingestion {held.get('command')})"
    )


class FileWarehouseLock:
    """The DuckDB writer lock: acquired without waiting, or LockHeld naming the holder."""

    def __init__(self, warehouse: Warehouse, run_id: str, command: str = "") -> None:
        self.warehouse, self.run_id, self.command = warehouse, run_id, command
        self.path = lock_path(warehouse)
        self.info = self.path.with_suffix(".lock.json")
        self._lock: FileLock | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.path, timeout=0, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            raise LockHeld(
                f"{describe_holder(self.warehouse)} is writing to {self.warehouse.describe()}; DuckDB "
                "allows one writer at a time: wait for it to end, then run again"
            ) from None
        self._lock = lock
        self.info.write_text(
            json.dumps(
                {
                    "run_id": self.run_id,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "command": self.command,
                }
            )
        )

    def release(self) -> None:
        if self._lock is None:
            return
        self.info.unlink(missing_ok=True)
        self._lock.release()
        self._lock = None

    def __enter__(self) -> FileWarehouseLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()


def is_busy(warehouse: Warehouse) -> bool:
    """True while another process holds a single-writer warehouse's lock (DuckDB; PostgreSQL is never busy)."""
    if not warehouse.single_writer:
        return False
    probe = FileLock(lock_path(warehouse), timeout=0, thread_local=False)
    try:
        probe.acquire()
    except Timeout:
        return True
    except OSError:  # no folder for the lock file: no warehouse there, and nobody writing to it
        return False
    probe.release()
    return False
