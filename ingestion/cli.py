"""Command line: ``ingestion <command>`` or ``python -m ingestion <command>``.

One small function per command, registered with ``set_defaults(func=...)``: it parses nothing, decides nothing,
hands off to the library and prints through :mod:`ingestion.console`. Every command except generate, inspect, report,
runs and rollback --dry-run is recorded in the run ledger (``ops.run_events``) under a run id.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ingestion import console, paths
from ingestion.errors import ConfigError, IngestionError
from ingestion.ledger import Ledger, LockHeld, reading
from ingestion.status import Outcome
from ingestion.warehouse import TARGETS, Warehouse, WarehouseUnavailable, use_target

EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 1, 2, 3


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `ingestion runs | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit stays quiet
        return 0


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    if getattr(args, "target", None):
        use_target(args.target)
    try:
        code: int = args.func(args)
        return code
    except ConfigError as error:
        console.error(f"config error: {error}")
        return EXIT_USAGE
    except LockHeld as error:
        console.error(f"{args.command}: refused: {error}")
        return EXIT_REFUSED
    except WarehouseUnavailable as error:
        console.error(f"{args.command}: FAILED: {error}")
        return EXIT_FAILED


# -- recorded runs: the ledger wraps the work ---------------------------------------------------------------------
Work = Callable[[argparse.Namespace, Warehouse, Ledger], tuple[Outcome, int, str | None]]


def recorded(args: argparse.Namespace, work: Work, run_id: str | None = None) -> int:
    """Run ``work`` as one ledger run. Exit codes: 0 success or no work, 1 failed (a period, a stage, or the
    warehouse out of reach), 3 refused because another run holds the warehouse."""
    warehouse = Warehouse(args.target)
    ledger = Ledger(warehouse, run_id or new_run_id(), command=args.command)

    def run() -> tuple[Outcome, int, str | None]:
        console.run_started(args.command, ledger.run_id, warehouse)
        return work(args, warehouse, ledger)

    record = ledger.record_run(args.argv, args.target, run)
    console.run_ended(args.command, record, ledger.mirror)
    return EXIT_FAILED if record.outcome == Outcome.FAILED else 0


def publications(args: argparse.Namespace, warehouse: Warehouse, ledger: Ledger) -> tuple[Outcome, int, str | None]:
    from ingestion.pipelines.publications import ingest_publications, outcome_of

    runs = ingest_publications(
        warehouse, ledger, args.publication, args.first, args.last, force=args.force, progress=console.info
    )
    console.publication_runs(runs)
    failures = sum(len(run.failed) for run in runs)
    rows = sum(run.rows_loaded() for run in runs)
    return outcome_of(runs), rows, f"{failures} periods failed" if failures else None


def servicedesk(args: argparse.Namespace, warehouse: Warehouse, ledger: Ledger) -> tuple[Outcome, int, str | None]:
    from ingestion.pipelines.servicedesk import ingest_servicedesks, retry_hint
    from ingestion.sources.servicedesk import select_systems

    systems = select_systems(args.system, args.config)
    runs = ingest_servicedesks(warehouse, ledger, systems, full_refresh=args.full_refresh, progress=console.info)
    for run in runs:
        console.servicedesk_run(run, retry_hint(run.system))
    errors = [run.error or f"{run.system} failed" for run in runs if run.status != "success"]
    changed = any(run.changed for run in runs)
    outcome = Outcome.FAILED if errors else Outcome.SUCCESS if changed else Outcome.NO_WORK
    return outcome, sum(run.rows_loaded for run in runs), "; ".join(errors) or None


def run(args: argparse.Namespace, warehouse: Warehouse, ledger: Ledger) -> tuple[Outcome, int, str | None]:
    from ingestion.pipelines.run import run_pipeline
    from ingestion.pipelines.servicedesk import retry_hint
    from ingestion.sources.servicedesk import select_systems

    systems = select_systems(args.system, args.config)
    if not args.local_api:
        outcome = run_pipeline(
            warehouse, ledger, force=args.force, full_refresh=args.full_refresh, systems=systems, progress=console.info
        )
    else:
        from ingestion.devtools.demo import local_api

        with local_api() as (api, settings):
            console.info(f"local service-desk API at {api.base_url}")
            outcome = run_pipeline(
                warehouse,
                ledger,
                force=args.force,
                full_refresh=args.full_refresh,
                systems=systems,
                servicedesk=settings,
                progress=console.info,
            )
    console.run_outcome(outcome, {desk.system: retry_hint(desk.system) for desk in outcome.servicedesk})
    return outcome.status, outcome.rows_loaded(), outcome.error


def validate(args: argparse.Namespace, warehouse: Warehouse, ledger: Ledger) -> tuple[Outcome, int, str | None]:
    from ingestion.quality.validate import docs_dir, validate_bronze

    with ledger.stage("validate", source="great_expectations") as stage:
        report = validate_bronze(warehouse, all_periods=args.all_periods, ledger=ledger, docs=docs_dir())
        stage.details = report.details()
    console.validation(report)
    failures = [text for check in report.failed for text in check.failures]
    return (Outcome.FAILED if failures else Outcome.SUCCESS), 0, "; ".join(failures[:5]) or None


def export(args: argparse.Namespace, warehouse: Warehouse, ledger: Ledger) -> tuple[Outcome, int, str | None]:
    from ingestion.pipelines.run import StageFailed, export_stage

    try:
        report = export_stage(ledger, warehouse, console.info)
    except StageFailed as error:  # recorded as the stage's failure; the files are as the last export left them
        console.error(f"  {error}; the export is as the last one left it")
        return Outcome.FAILED, 0, str(error)
    changed = report.written or report.removed
    return (Outcome.SUCCESS if changed else Outcome.NO_WORK), report.rows_written, None


def cmd_run(args: argparse.Namespace, run_id: str | None = None) -> int:
    """``run``, then the run report written from what it recorded (whatever its outcome)."""
    code = recorded(args, run, run_id)
    if code != EXIT_REFUSED:
        _write_report(Warehouse(args.target))
    return code


def _write_report(warehouse: Warehouse) -> Path | None:
    from ingestion.report import write_report

    try:
        with reading(warehouse, "report"):
            page = write_report(warehouse)
    except (WarehouseUnavailable, LockHeld) as error:
        console.error(f"report: not written: {error}")
        return None
    console.info(f"report: {paths.shown(page)} (open it in a browser; it needs no network)")
    return page


def rollback(args: argparse.Namespace, warehouse: Warehouse, ledger: Ledger) -> tuple[Outcome, int, str | None]:
    from ingestion.pipelines.rollback import resolve, roll_back

    plan = roll_back(warehouse, ledger, resolve(warehouse, args.publication, args.period, args.load_id))
    console.rolled_back(plan, args.target, dry_run=False)
    return (Outcome.SUCCESS if plan.total else Outcome.NO_WORK), 0, None


def cmd_rollback(args: argparse.Namespace) -> int:
    """``rollback``: recorded in the ledger; with ``--dry-run``, only read and show what would go."""
    if not args.dry_run:
        return recorded(args, rollback)
    from ingestion.pipelines.rollback import count, resolve

    warehouse = Warehouse(args.target)
    with reading(warehouse, "rollback"):
        plan = count(warehouse, resolve(warehouse, args.publication, args.period, args.load_id))
    console.rolled_back(plan, args.target, dry_run=True)
    return 0


# -- commands that are not recorded ------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    from ingestion.pipelines.init import init_warehouse

    warehouse = Warehouse(args.target)
    with reading(warehouse, "init"):  # on DuckDB, the writer's lock: not while a run writes
        report = init_warehouse(warehouse)
    for table in report.created:
        console.info(f"init: created {table} (empty)")
    for reason in report.skipped:
        console.info(f"init: skipped {reason}")
    console.info(report.summary())
    console.info(
        f"init: dbt build --target {args.target} builds on it now; ingestion run --target {args.target} loads it"
    )
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from ingestion.exports import manifest_path
    from ingestion.provenance import lines, trace

    wrong = [item for item in args.keys if "=" not in item]
    if wrong:
        raise ConfigError(f"trace: {', '.join(wrong)}: give the gold row's key columns as column=value")
    keys = dict(item.split("=", 1) for item in args.keys)
    manifest = manifest_path()
    if not manifest.exists():
        raise ConfigError(f"trace: no dbt manifest at {manifest}: build first (ingestion run, or dbt build)")
    warehouse = Warehouse(args.target)
    with reading(warehouse, "trace"):
        found = trace(warehouse, json.loads(manifest.read_text()), args.model, keys, args.limit)
    for line in lines(found, args.limit):
        console.info(line)
    return 0 if found.gold else EXIT_FAILED


def cmd_report(args: argparse.Namespace) -> int:
    return 0 if _write_report(Warehouse(args.target)) else EXIT_FAILED


def cmd_generate(args: argparse.Namespace) -> int:
    from ingestion.devtools.demo import generate

    started = time.monotonic()
    written = generate(args.root or paths.data_dir() / "publications", args.practices, args.rows, args.periods)
    for line in written:
        console.info(f"generate: wrote {line}")
    console.info(f"generate: done in {time.monotonic() - started:.1f}s")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from ingestion.sources.publications import inspect as inspection

    try:
        found = inspection.inspect_source(args.source, preview_rows=args.rows)
    except IngestionError as error:
        console.error(f"inspect: FAILED: {error}")
        return EXIT_FAILED
    console.inspection(found, inspection.render(found, args.publication))
    return 0 if found.readable else EXIT_FAILED


def cmd_drift(args: argparse.Namespace) -> int:
    from ingestion.quality import catalog, drift

    warehouse = Warehouse(args.target)
    with reading(warehouse, args.command):
        if args.accept:
            table = catalog.find_table(args.accept)
            changes = drift.accept(warehouse, table)
            console.drift_accepted(table, changes, drift.suite_path(table), drift.staging_model(table))
            return 0
        tables, skipped = drift.table_drift(warehouse)
    console.drift_listing(tables, skipped, args.target)
    return 0


def cmd_expectations(args: argparse.Namespace) -> int:
    from ingestion.quality import catalog, suites

    warehouse = Warehouse(args.target)
    with reading(warehouse, args.command):
        tables = [catalog.find_table(name) for name in args.table] if args.table else catalog.declared_tables()
        written = 0
        for done in suites.scaffold_suites(warehouse, tables, overwrite=args.overwrite):
            console.suite_scaffolded(done)
            written += done.expectations is not None
    console.suites_written(written, warehouse)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from ingestion import runs

    warehouse = Warehouse(args.target)
    with reading(warehouse, "runs"):
        ledger = Ledger(warehouse, args.run_id or "-")
        try:
            ledger.ensure_schema()
        except WarehouseUnavailable as error:
            mirrored = runs.view_from_mirror(args.run_id) if args.run_id and args.action == "show" else None
            if mirrored is None:
                raise
            console.error(f"runs: {error}; showing the run from its JSONL mirror")
            console.info(runs.render_show(mirrored, errors_only=args.errors))
            return 0
        if args.action == "list":
            listed = runs.list_runs(ledger, args.limit)
            console.info(runs.render_list(listed) if listed else "runs: no runs recorded yet")
            return 0
        if not args.run_id:
            console.error(f"runs {args.action}: give a run id (see: ingestion runs)")
            return EXIT_USAGE
        found = runs.find(ledger, args.run_id)
        if found is None:
            console.error(f"runs: no run {args.run_id} in {warehouse.describe()}")
            return EXIT_USAGE
        if args.action == "show":
            console.info(runs.render_show(found, errors_only=args.errors))
            return 0
        resume = runs.resume_argv(found)
        if resume is None:
            console.info(f"runs resume: run {found.run_id} is {found.status}: nothing to resume")
            return 0
        console.resume(resume, args.execute)
    return main(resume) if args.execute else 0  # the reader's lock is released before the run takes its own


def cmd_demo(args: argparse.Namespace) -> int:
    """Sample data, then `run --local-api`, then `runs show` for it and a summary of the warehouse."""
    from ingestion.devtools.demo import ensure_samples
    from ingestion.exports.parquet import export_dir
    from ingestion.pipelines.run import bronze_counts

    started = time.monotonic()
    for line in ensure_samples(paths.data_dir() / "publications"):
        console.info(f"demo: {line}")
    run_id = new_run_id()
    argv = ["run", "--target", args.target, "--local-api"]
    run_args = build_parser().parse_args(argv)
    run_args.argv = argv
    code = cmd_run(run_args, run_id)
    if code == EXIT_REFUSED:  # another run holds the warehouse: the summary would have to open it
        return code
    warehouse = Warehouse(args.target)
    target = paths.PROJECT_ROOT / "target"
    pages = [
        f"{name}: {page}"
        for name, page in (
            ("dbt docs (lineage)", target / "static_index.html"),
            ("GX Data Docs (bronze validation)", target / "gx_docs" / "index.html"),
            ("gold as Parquet (catalog)", export_dir() / "datapackage.json"),
        )
        if page.exists()
    ]
    with reading(warehouse, "demo"):
        console.demo_summary(warehouse, bronze_counts(warehouse), pages)
    main(["runs", "show", run_id, "--target", args.target])
    report = target / "report" / "index.html"
    console.info(f"demo: {'ok' if code == 0 else 'FAILED'} in {time.monotonic() - started:.0f}s")
    if report.exists():
        console.info(f"demo: the run report: {report}")
    return code


# -- the parser ------------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ingestion",
        description="Release files and service desks into bronze (dlt), silver and gold (dbt), checked by Great "
        "Expectations, every run in one ledger.",
        epilog="Every command except init, trace, generate, inspect, report, runs and rollback --dry-run is recorded "
        "in the run ledger (ops.run_events) under a run id. `ingestion <command> --help` for its options.",
    )
    commands = parser.add_subparsers(dest="command", required=True, title="commands", metavar="<command>")

    def command(name: str, text: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(func=func)
        return sub

    def target(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--target", choices=TARGETS, default="duckdb", help="warehouse (default duckdb)")

    def systems(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--system",
            action="append",
            default=None,
            metavar="NAME",
            help="a service desk declared in ingestion/sources/servicedesk/systems/ (repeatable; default: every "
            "enabled one)",
        )
        sub.add_argument(
            "--config",
            action="append",
            default=None,
            type=Path,
            metavar="FILE",
            help="a service-desk system's YAML anywhere (repeatable)",
        )

    def force(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--force", action="store_true", help="reload periods even if their files are unchanged")

    sub = command(
        "export",
        "write the gold models declared for export (dbt meta.export) as Parquet by period under export/, with "
        "export/datapackage.json; only what changed since the last export is written",
        lambda args: recorded(args, export),
    )
    target(sub)

    sub = command(
        "trace",
        "where a gold row comes from: its silver rows, their bronze rows, and the release file's cells as published",
        cmd_trace,
    )
    target(sub)
    sub.add_argument("model", help="a gold model that declares meta.trace (fct_practice_submissions_monthly)")
    sub.add_argument("keys", nargs="+", metavar="COLUMN=VALUE", help="the gold row: practice_code=A81001 ...")
    sub.add_argument("--limit", type=int, default=3, help="silver rows traced to the file per step (default 3)")

    sub = command(
        "init",
        "create the warehouse (the PostgreSQL database), the run ledger and every bronze table, empty, so that dbt "
        "build works before any load; what exists is left as it is",
        cmd_init,
    )
    target(sub)

    sub = command("generate", "write the sample publications (deterministic) under data/publications", cmd_generate)
    sub.add_argument("--root", type=Path, default=None, help="folder to write to (default: data/publications)")
    sub.add_argument("--practices", type=int, default=40, help="practices per period (default 40)")
    sub.add_argument(
        "--rows",
        type=int,
        default=None,
        help="about this many detail CSV rows per period instead (1400000 for benchmarks)",
    )
    sub.add_argument("--periods", nargs="+", default=None, help="periods to write (default 2025-02..2025-06)")

    sub = command(
        "inspect",
        "look at a release file (XLSX, CSV, ZIP; a path or URL) as a load would; print its config entry",
        cmd_inspect,
    )
    sub.add_argument("source", help="an .xlsx, .csv or .zip file: a path or an http(s) URL")
    sub.add_argument("--publication", default=None, help="the publication name in the entry (default: from the file)")
    sub.add_argument("--rows", type=int, default=5, help="rows of each table to show (default 5)")

    sub = command(
        "publications",
        "load publication periods into bronze (unchanged periods are skipped; --force reloads)",
        lambda args: recorded(args, publications),
    )
    target(sub)
    sub.add_argument("--publication", default=None, help="one declared publication (default all)")
    sub.add_argument(
        "--from",
        dest="first",
        default=None,
        help="first period, in the publication's notation: 2025-03, 2025-Q1, 2025, 2016-17",
    )
    sub.add_argument("--to", dest="last", default=None, help="last period, in the same notation")
    force(sub)

    sub = command(
        "servicedesk",
        "load the declared service desks into bronze (incremental)",
        lambda args: recorded(args, servicedesk),
    )
    target(sub)
    sub.add_argument(
        "--full-refresh",
        action="store_true",
        help="reset the cursors and read every record again (merged: nothing duplicated)",
    )
    systems(sub)

    sub = command(
        "run",
        "the whole pipeline as one run: ingest both, validate, dbt build, docs; then the run report",
        cmd_run,
    )
    target(sub)
    force(sub)
    systems(sub)
    sub.add_argument(
        "--full-refresh",
        action="store_true",
        help="start incremental work over: read the service desks in full again (merged) and rebuild the "
        "incremental dbt models from all of bronze (dbt build --full-refresh)",
    )
    sub.add_argument(
        "--local-api", action="store_true", help="start the project's local service-desk API and load from it"
    )

    sub = command(
        "validate",
        "check bronze against the Great Expectations suites in expectations/ (and build GX Data Docs)",
        lambda args: recorded(args, validate),
    )
    target(sub)
    sub.add_argument(
        "--all-periods", action="store_true", help="every period of every table (default: each table's latest period)"
    )

    sub = command(
        "drift", "each bronze table's differences from its suite; --accept TABLE updates the suite", cmd_drift
    )
    target(sub)
    sub.add_argument(
        "--accept", metavar="TABLE", default=None, help="write TABLE's drift into its suite (after a person decided)"
    )

    sub = command(
        "expectations", "expectations init: write first suites from the tables as they are now", cmd_expectations
    )
    target(sub)
    sub.add_argument("action", choices=["init"])
    sub.add_argument(
        "--table",
        action="append",
        default=None,
        help="dataset.table or table (repeatable; default: every declared table)",
    )
    sub.add_argument("--overwrite", action="store_true", help="replace suites that exist")

    sub = command("runs", "recent runs; runs show RUN_ID [--errors]; runs resume RUN_ID [--execute]", cmd_runs)
    target(sub)
    sub.add_argument("action", nargs="?", choices=["list", "show", "resume"], default="list")
    sub.add_argument("run_id", nargs="?", default=None)
    sub.add_argument("--errors", action="store_true", help="show: only errors and warnings")
    sub.add_argument("--execute", action="store_true", help="resume: run the command, not just print it")
    sub.add_argument("--limit", type=int, default=20)

    sub = command(
        "rollback",
        "take one loaded period out of bronze (every table, the manifest, its fingerprint) in one transaction; the "
        "next run loads it again",
        cmd_rollback,
    )
    target(sub)
    sub.add_argument("--publication", default=None, help="a declared publication")
    sub.add_argument("--period", default=None, help="the period, in the publication's notation (2025-03, 2016-17)")
    sub.add_argument("--load-id", default=None, help="or the dlt load id that published the period")
    sub.add_argument("--dry-run", action="store_true", help="show the rows per table that would go; change nothing")

    sub = command(
        "report",
        "write the run report (target/report/index.html): runs, volumes, drift, validation, quarantine, freshness",
        cmd_report,
    )
    target(sub)

    sub = command("demo", "sample data and the local API, then `run`, then `runs show` for it", cmd_demo)
    target(sub)
    return parser
