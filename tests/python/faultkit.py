"""The fault matrix's kit: a loaded baseline per engine copied for each case, the checks every case makes, and a
record per case that ``make faults`` prints as a table.

Every case asserts what a user would check after a bad input or a fault:
* a clear error (or a correct load);
* rows of the periods the case must not change are all still there (``rows_lost``);
* no row is in bronze twice (``rows_duplicated``);
* the ledger (or, with the warehouse out of reach, the JSONL mirror) recorded the run;
* once the fault is removed, one rerun ends in exactly the state of a clean run (table contents compared).

Run as a script (``python tests/python/faultkit.py``) it prints the records of the last run of the matrix.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ingestion import cli
from ingestion.sources.publications import settings

from workspace import Workspace, _admin_connection

TABLES = ("national_summary", "practice_summary", "practice_detail", "regional_extracts")
BASELINE_PERIODS = ("2025-02", "2025-03", "2025-04")
VOLATILE = ("_dlt_load_id",)  # differs between two loads of the same files
GOLD_VOLATILE = ("load_id",)  # the load a gold row was built from: differs between two loads of the same files
REPORT_DIR = Path(os.environ.get("FAULTS_REPORT_DIR", Path(__file__).resolve().parents[2] / "target" / "faults"))


def bronze_contents(ws: Workspace, *, volatile: tuple[str, ...] = VOLATILE) -> dict[str, list[tuple]]:
    """Every bronze row of every publication table (and the quarantine), without the columns that differ between
    two loads of the same files."""
    contents: dict[str, list[tuple]] = {}
    for table in TABLES:
        if not ws.warehouse.table_exists("bronze_publications", table):
            contents[table] = []
            continue
        columns = [c for c in ws.columns("bronze_publications", table) if c not in volatile]
        listed = ", ".join(f'"{c}"' for c in columns)
        contents[table] = sorted(
            tuple(map(str, row)) for row in ws.query(f"select {listed} from bronze_publications.{table}")
        )
    if ws.warehouse.table_exists("bronze_publications", "quarantine"):
        contents["quarantine"] = sorted(
            tuple(map(str, row))
            for row in ws.query(
                "select period, bronze_table, file_name, part_name, source_row, column_name, raw_value, reason, "
                "disposition from bronze_publications.quarantine"
            )
        )
    return contents


def gold_contents(ws: Workspace, tables: tuple[str, ...]) -> dict[str, list[tuple]]:
    """Every row of the gold ``tables``, without the columns that differ between two loads of the same files."""
    contents = {}
    for table in tables:
        listed = ", ".join(f'"{c}"' for c in ws.columns("gold", table) if c not in GOLD_VOLATILE)
        contents[table] = sorted(tuple(map(str, row)) for row in ws.query(f"select {listed} from gold.{table}"))
    return contents


def counts(ws: Workspace) -> dict[tuple[str, str], int]:
    """(table, period) -> rows."""
    found: dict[tuple[str, str], int] = {}
    for table in TABLES:
        if ws.warehouse.table_exists("bronze_publications", table):
            for period, n in ws.query(f"select _period, count(*) from bronze_publications.{table} group by _period"):
                found[(table, period)] = int(n)
    return found


def rows_lost(
    before: dict[tuple[str, str], int], after: dict[tuple[str, str], int], changed: tuple[str, ...] = ()
) -> int:
    """Rows that were there and are gone, in every period but ``changed`` (the periods the case may change)."""
    return sum(max(0, n - after.get(key, 0)) for key, n in before.items() if key[1] not in changed)


def rows_duplicated(ws: Workspace) -> int:
    """Rows that are in bronze more than once: the same period, part (file, sheet or member) and source row."""
    total = 0
    for table in TABLES:
        if ws.warehouse.table_exists("bronze_publications", table):
            total += int(
                ws.scalar(
                    "select coalesce(sum(n - 1), 0) from (select count(*) as n from bronze_publications."
                    f"{table} group by _period, _part, _source_row "
                    "having count(*) > 1) as repeats"
                )
            )
    return total


def ledger_events(ws: Workspace, run_id: str | None = None) -> list[dict]:
    """The events of ``run_id`` (default: the latest run) from ops.run_events, else from the JSONL mirror."""
    mirrors = sorted(Path(ws.env["ANALYTICS_LOG_DIR"]).glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    if run_id is None and mirrors:
        run_id = mirrors[-1].stem
    if run_id is None:
        return []
    try:
        rows = ws.query(
            f"select event_type, status, subject, message from ops.run_events where run_id = '{run_id}' "
            "order by occurred_at"
        )
        if rows:
            return [dict(zip(("event_type", "status", "subject", "message"), row, strict=True)) for row in rows]
    except Exception:  # the warehouse may be what the case broke: the mirror is the fallback
        pass
    mirror = Path(ws.env["ANALYTICS_LOG_DIR"]) / f"{run_id}.jsonl"
    if not mirror.exists():
        return []
    return [json.loads(line) for line in mirror.read_text().splitlines()]


def latest_run_id(ws: Workspace) -> str | None:
    mirrors = sorted(Path(ws.env["ANALYTICS_LOG_DIR"]).glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    return mirrors[-1].stem if mirrors else None


@dataclass
class Record:
    """One row of the fault matrix."""

    case: str
    engine: str
    kind: str  # bad input | fault
    outcome: str  # e.g. "clear error", "loaded", "loaded, 3 quarantined", "refused (exit 3)"
    rows_lost: int
    rows_duplicated: int
    ledger_recorded: bool
    rerun_matches_clean: bool
    detail: str = ""

    def save(self) -> None:
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{self.case}-{self.engine}")
        (REPORT_DIR / f"{name}.json").write_text(json.dumps(asdict(self)))

    def check(self) -> None:
        """What every case must hold (assert after saving, so a failing case is still in the table)."""
        assert self.rows_lost == 0, f"{self.case}: {self.rows_lost} rows lost"
        assert self.rows_duplicated == 0, f"{self.case}: {self.rows_duplicated} rows duplicated"
        assert self.ledger_recorded, f"{self.case}: the ledger did not record the run"
        assert self.rerun_matches_clean, f"{self.case}: the rerun did not end in the state of a clean run"


@dataclass
class Baseline:
    """A workspace with BASELINE_PERIODS loaded, kept to be copied for each case."""

    engine: str
    root: Path
    database: str
    contents: dict[str, list[tuple]] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)


def build_baseline(engine: str, root: Path, practices: int = 8) -> Baseline:
    with Workspace(engine, root) as ws:
        ws.generate(BASELINE_PERIODS, practices=practices)
        assert cli.main(["publications", "--to", BASELINE_PERIODS[-1], "--target", engine]) == 0
        baseline = Baseline(engine, root, ws.database, bronze_contents(ws, volatile=()), counts(ws))
        if engine == "postgres":
            ws.keep_database = True  # a template for the cases; dropped by drop_baseline
    return baseline


def drop_baseline(baseline: Baseline) -> None:
    if baseline.engine == "postgres":
        admin = _admin_connection()
        with admin.cursor() as cursor:
            cursor.execute(f'drop database if exists "{baseline.database}" with (force)')
        admin.close()


@contextmanager
def case_workspace(baseline: Baseline, root: Path) -> Iterator[Workspace]:
    """A workspace holding exactly the baseline: its release files, dlt state, logs and warehouse, copied."""
    for name in ("data", "state"):
        if (baseline.root / name).exists():
            shutil.copytree(baseline.root / name, root / name, symlinks=True)
    if baseline.engine == "duckdb":
        shutil.copy(baseline.root / "warehouse.duckdb", root / "warehouse.duckdb")
    with Workspace(baseline.engine, root) as ws:
        if baseline.engine == "postgres":
            admin = _admin_connection()
            with admin.cursor() as cursor:
                cursor.execute(f'create database "{ws.database}" template "{baseline.database}"')
            admin.close()
        yield ws


def run_cli(ws: Workspace, *args: str) -> int:
    return cli.main([*args, "--target", ws.engine])


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def print_report(folder: Path = REPORT_DIR) -> int:
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    if not records:
        print(f"faults: no records under {folder}; run `make faults` (or the tests marked faults) first")
        return 1
    header = f"{'case':<48}{'engine':<10}{'kind':<11}{'outcome':<34}{'lost':>6}{'dup':>6}  {'ledger':<7}{'rerun':<6}"
    print(header)
    print("-" * len(header))
    for r in sorted(records, key=lambda r: (r["kind"], r["case"], r["engine"])):
        print(
            f"{r['case'][:47]:<48}{r['engine']:<10}{r['kind']:<11}{r['outcome'][:33]:<34}{r['rows_lost']:>6}"
            f"{r['rows_duplicated']:>6}  {'yes' if r['ledger_recorded'] else 'NO':<7}"
            f"{'same' if r['rerun_matches_clean'] else 'DIFF':<6}"
        )
    bad = [
        r
        for r in records
        if r["rows_lost"] or r["rows_duplicated"] or not r["ledger_recorded"] or not r["rerun_matches_clean"]
    ]
    kinds = {kind: sum(r["kind"] == kind for r in records) for kind in ("bad input", "fault")}
    print(
        f"\nfaults: {len(records)} cases ({kinds['bad input']} bad inputs, {kinds['fault']} faults) on "
        f"{len({r['engine'] for r in records})} engines: {sum(r['rows_lost'] for r in records)} rows lost, "
        f"{sum(r['rows_duplicated'] for r in records)} duplicated, {len(bad)} cases breaking a rule"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(print_report(Path(sys.argv[1]) if len(sys.argv) > 1 else REPORT_DIR))


# -- real processes and a release server that can hold a download ------------------------------------------------


class _HoldingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves release files; while the server's ``hold`` is set, files under ``/<held period>/`` wait (a stuck
    download), at most a minute."""

    def do_GET(self) -> None:
        server: ReleaseServer = self.server.owner  # type: ignore[attr-defined]
        server.requested.append(self.path)
        deadline = time.monotonic() + 60
        while f"/{server.held_period}/" in self.path and server.hold.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


class ReleaseServer:
    """The workspace's release files over http, the publications config pointing at them (PUBLICATIONS_CONFIG and
    RELEASES_BASE_URL in os.environ, so subprocesses started after it see them too)."""

    def __init__(self, ws: Workspace, held_period: str = "2025-03") -> None:
        self.ws, self.held_period = ws, held_period
        self.hold = threading.Event()
        self.requested: list[str] = []

    def __enter__(self) -> ReleaseServer:
        handler = functools.partial(_HoldingHandler, directory=str(self.ws.data_dir))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        config = self.ws.root / "publications-http.yml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(
            settings.DEFAULT_CONFIG.read_text().replace(  # the monthly publication (the first) only:
                'location: "{data_dir}/publications/{publication}/{period}"',  # the annual one's names are globs,
                'location: "${RELEASES_BASE_URL}/publications/{publication}/{period}"',
                1,
            )
        )  # which need a folder
        self._saved = {key: os.environ.get(key) for key in ("PUBLICATIONS_CONFIG", "RELEASES_BASE_URL")}
        os.environ["PUBLICATIONS_CONFIG"] = str(config)
        os.environ["RELEASES_BASE_URL"] = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        return self

    def held(self) -> bool:
        return any(f"/{self.held_period}/" in path for path in self.requested)

    def __exit__(self, *exc: object) -> None:
        self.hold.clear()
        self.httpd.shutdown()
        self.httpd.server_close()
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start_cli(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m ingestion <args> --target <engine>`` as a real process, output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "ingestion", *args, "--target", ws.engine],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def mirror_events(ws: Workspace) -> list[dict]:
    """Every event in every JSONL mirror of the workspace, in file order (a run being written included)."""
    events = []
    for mirror in sorted(Path(ws.env["ANALYTICS_LOG_DIR"]).glob("*.jsonl")):
        for line in mirror.read_text().splitlines():
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except ValueError:  # the line the run is writing right now (or a kill cut short): not an event yet
                continue
    return events


def wait_for(condition: Callable[[], bool], timeout: float = 120, what: str = "a condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.01)


def wait_for_event(
    ws: Workspace, stage: str, event_type: str, timeout: float = 120, process: subprocess.Popen | None = None
) -> None:
    """Until a run of the workspace records ``stage``/``event_type`` (read from the JSONL mirror as it is written)."""

    def seen() -> bool:
        if process is not None and process.poll() is not None:
            raise AssertionError(
                f"the process ended ({process.returncode}) before {stage}/{event_type}: "
                f"{process.stderr.read() if process.stderr else ''}"
            )
        return any(e.get("stage") == stage and e.get("event_type") == event_type for e in mirror_events(ws))

    wait_for(seen, timeout, f"{stage}/{event_type}")


def kill9(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
