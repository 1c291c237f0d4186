"""Command line: ``ingestion <command>`` or ``python -m ingestion <command>``.

  generate       write the sample publications (deterministic) under data/publications
  publications   load publication periods into bronze (unchanged periods are skipped; --force reloads)
  servicedesk    load the declared service desks into bronze (incremental; --system NAME, --config FILE)
  run            the whole pipeline as one run: ingest both, validate, dbt build, docs
  validate       check bronze against the Great Expectations suites in expectations/ (and build GX Data Docs)
  drift          each bronze table's differences from its suite; `drift --accept TABLE` updates the suite
  expectations   `expectations init [--table T]`: write a first suite from a table as it is now, for review
  runs           recent runs; `runs show RUN_ID [--errors]`; `runs resume RUN_ID [--execute]`
  demo           sample data and the local API, then `run`, then `runs show` for it
  inspect        look at a release file (XLSX, CSV, ZIP; a path or URL) as a load would; print a config entry

Every command except generate and runs is recorded in the run ledger (ops.run_events) under a run id.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shlex
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from ingestion import paths
from ingestion.errors import ConfigError
from ingestion.locks import LockHeld
from ingestion.warehouse import TARGETS, Warehouse, WarehouseUnavailable


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ingestion", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write the sample publication files")
    generate.add_argument("--root", type=Path, default=None, help="folder to write to (default: data/publications)")
    generate.add_argument("--practices", type=int, default=40, help="practices per period (default 40)")
    generate.add_argument(
        "--rows",
        type=int,
        default=None,
        help="about this many detail CSV rows per period instead (1400000 for benchmarks)",
    )
    generate.add_argument("--periods", nargs="+", default=None, help="periods to write (default 2025-02..2025-06)")

    inspect = commands.add_parser("inspect", help="look at a release file as a load would; print its config entry")
    inspect.add_argument("source", help="an .xlsx, .csv or .zip file: a path or an http(s) URL")
    inspect.add_argument(
        "--publication", default=None, help="the publication name in the entry (default: from the file name)"
    )
    inspect.add_argument("--rows", type=int, default=5, help="rows of each table to show (default 5)")

    for name, text in (
        ("publications", "load publication periods into bronze"),
        ("servicedesk", "load the service-desk API into bronze"),
        ("run", "the whole pipeline as one run"),
        ("validate", "check bronze against the suites in expectations/"),
        ("drift", "bronze tables' differences from their suites; --accept TABLE updates a suite"),
        ("expectations", "expectations init: write first suites from the tables as they are"),
        ("demo", "run the whole job end to end on sample data and print a summary"),
        ("runs", "recent runs; runs show RUN_ID; runs resume RUN_ID"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--target", choices=TARGETS, default="duckdb", help="warehouse (default duckdb)")
        if name == "publications":
            command.add_argument("--publication", default=None, help="one declared publication (default all)")
            command.add_argument(
                "--from",
                dest="first",
                default=None,
                help="first period, in the publication's notation: 2025-03, 2025-Q1, 2025, 2016-17",
            )
            command.add_argument("--to", dest="last", default=None, help="last period, in the same notation")
        if name in ("publications", "run"):
            command.add_argument(
                "--force", action="store_true", help="reload periods even if their files are unchanged"
            )
        if name == "servicedesk":
            command.add_argument(
                "--full-refresh",
                action="store_true",
                help="reset the cursors and read every record again (merged: nothing duplicated)",
            )
        if name in ("servicedesk", "run"):
            command.add_argument(
                "--system",
                action="append",
                default=None,
                metavar="NAME",
                help="a service desk declared in ingestion/sources/servicedesk/systems/ (repeatable;"
                " default: every enabled one)",
            )
            command.add_argument(
                "--config",
                action="append",
                default=None,
                type=Path,
                metavar="FILE",
                help="a service-desk system's YAML anywhere (repeatable)",
            )
        if name == "run":
            command.add_argument(
                "--local-api", action="store_true", help="start the project's local service-desk API and load from it"
            )
        if name == "validate":
            command.add_argument(
                "--all-periods",
                action="store_true",
                help="every period of every table (default: each table's latest period)",
            )
        if name == "drift":
            command.add_argument(
                "--accept",
                metavar="TABLE",
                default=None,
                help="write TABLE's drift into its suite (after a person has decided)",
            )
        if name == "expectations":
            command.add_argument("action", choices=["init"])
            command.add_argument(
                "--table",
                action="append",
                default=None,
                help="dataset.table or table (repeatable; default: every declared table)",
            )
            command.add_argument("--overwrite", action="store_true", help="replace suites that exist")
        if name == "runs":
            command.add_argument("action", nargs="?", choices=["list", "show", "resume"], default="list")
            command.add_argument("run_id", nargs="?", default=None)
            command.add_argument("--errors", action="store_true", help="show: only errors and warnings")
            command.add_argument("--execute", action="store_true", help="resume: run the command, not just print it")
            command.add_argument("--limit", type=int, default=20)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        if args.command == "generate":
            return cmd_generate(args)
        if args.command == "runs":
            return cmd_runs(args)
        if args.command == "inspect":
            return cmd_inspect(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command in ("drift", "expectations"):
            with _reading(Warehouse(args.target), args.command):
                return cmd_drift(args) if args.command == "drift" else cmd_expectations(args)
        return recorded_run(args, argv)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
    except LockHeld as error:
        print(f"{args.command}: refused: {error}", file=sys.stderr)
        return 3
    except WarehouseUnavailable as error:
        print(f"{args.command}: FAILED: {error}", file=sys.stderr)
        return 1


def recorded_run(args: argparse.Namespace, argv: list[str], run_id: str | None = None) -> int:
    """Run a command as one ledger run: lock, run_started, the work, run_completed or run_failed, unlock.

    Exit codes: 0 success or no work, 1 failed (a period, a stage, or the warehouse out of reach), 3 refused because
    another run holds the warehouse. A run whose warehouse is out of reach is still recorded in the JSONL mirror.
    """
    from ingestion.ledger import Ledger

    warehouse = Warehouse(args.target)
    ledger = Ledger(warehouse, run_id or new_run_id(), command=args.command)
    started = time.monotonic()
    try:
        ledger.acquire_lock()
    except LockHeld as error:
        print(f"{args.command}: refused: {error}", file=sys.stderr)
        return 3
    except WarehouseUnavailable as error:
        ledger.went_away(error)
        ledger.event("run", "run_started", "running", details={"argv": argv, "target": args.target})
        ledger.event(
            "run",
            "run_failed",
            "failed",
            error_class="retryable",
            message=str(error),
            duration=time.monotonic() - started,
        )
        print(
            f"{args.command}: FAILED: {error} (run {ledger.run_id}, recorded in {paths.shown(ledger.mirror)})",
            file=sys.stderr,
        )
        return 1
    status, rows, message = "failed", 0, None
    try:
        ledger.event("run", "run_started", "running", details={"argv": argv, "target": args.target})
        print(f"{args.command}: run {ledger.run_id} into {warehouse.describe()}")
        status, rows, message = {
            "publications": _publications,
            "servicedesk": _servicedesk,
            "run": _run,
            "validate": _validate,
        }[args.command](args, warehouse, ledger)
    except WarehouseUnavailable as error:
        ledger.went_away(error)
        message = str(error)
    except BaseException as error:
        message = f"{type(error).__name__}: {error}"
        raise
    finally:
        try:
            ledger.event(
                "run",
                "run_completed" if status != "failed" else "run_failed",
                status,
                duration=time.monotonic() - started,
                rows=rows,
                message=message,
            )
        finally:
            ledger.release_lock()
    if ledger.unavailable is not None:
        print(
            f"{args.command}: FAILED: {ledger.unavailable} (run {ledger.run_id}; what it did is recorded in "
            f"{paths.shown(ledger.mirror)}; nothing half-loaded is visible: run it again once the warehouse is "
            "back)",
            file=sys.stderr,
        )
        return 1
    label = {"success": "SUCCESS", "no_work": "NO_WORK", "failed": "FAILED"}[status]
    print(
        f"{args.command}: {label} in {time.monotonic() - started:.1f}s, {rows:,} rows loaded (run {ledger.run_id});"
        f" details: ingestion runs show {ledger.run_id}"
    )
    return 0 if status != "failed" else 1


@contextlib.contextmanager
def _reading(warehouse: Warehouse, command: str) -> Iterator[None]:
    """Commands that only read a DuckDB warehouse hold its writer lock while they read (DuckDB lets one process open
    the file at a time): refused with exit 3 while a run writes, and a run starting meanwhile is refused instead of
    failing to open the file. PostgreSQL needs no lock to read."""
    from ingestion import locks
    from ingestion.ledger import log_dir

    if warehouse.target != "duckdb":
        yield
        return
    lock = locks.FileWarehouseLock(warehouse, f"reader-{os.getpid()}", command)
    try:
        lock.acquire()
    except locks.LockHeld:
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


def cmd_generate(args: argparse.Namespace) -> int:
    from ingestion.devtools.sample import payments
    from ingestion.devtools.sample import publications as sample

    root = args.root or paths.data_dir() / "publications"
    practices = sample.practices_for_rows(args.rows) if args.rows else args.practices
    started = time.monotonic()
    folders = sample.generate(root, tuple(args.periods or sample.DEFAULT_PERIODS), practices)
    print(
        f"generate: wrote {len(folders)} periods x 3 files of practice_submissions for {practices:,} practices "
        f"under {root} in {time.monotonic() - started:.1f}s"
    )
    if not args.periods:  # the annual publication has its own calendar (financial years)
        years = payments.generate(root, practice_count=args.practices)
        print(f"generate: wrote {len(years)} financial years x 2 files of practice_payments under {root}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from ingestion.errors import IngestionError
    from ingestion.sources.publications import files
    from ingestion.sources.publications import inspect as inspection

    source: str = args.source
    try:
        folder = None
        if files.is_url(source):
            folder, _, name = source.rstrip("/").rpartition("/")
            path = files.fetch(
                folder, name, paths.data_dir() / "cache" / "inspect", publication="inspect", period="-"
            ).path
        else:
            path = Path(source)
            if not path.is_file():
                print(f"inspect: FAILED: no such file: {path}", file=sys.stderr)
                return 1
        found = inspection.inspect_file(path, preview_rows=args.rows, folder=folder)
    except IngestionError as error:
        print(f"inspect: FAILED: {error}", file=sys.stderr)
        return 1
    print(inspection.render(found, args.publication))
    tables = [part for part in found.parts if part.classification == "table"]
    unreadable = [part for part in tables if part.error]
    print(
        f"\ninspect: {len(found.parts)} part(s), {len(tables) - len(unreadable)} table(s) readable"
        + (f", {len(unreadable)} not: {', '.join(part.name for part in unreadable)}" if unreadable else "")
    )
    return 1 if unreadable or not tables else 0


def _ingest(
    warehouse: Warehouse,
    run_id: str,
    publication: str | None = None,
    first: str | None = None,
    last: str | None = None,
    *,
    ledger=None,
    force: bool = False,
) -> list:
    from ingestion.pipelines.publications import ingest_publication
    from ingestion.sources.publications.settings import load_publications

    declared = load_publications()
    if publication and publication not in declared:
        raise ConfigError(f"no publication {publication!r}; declared: {', '.join(declared)}")
    chosen = [declared[publication]] if publication else list(declared.values())
    return [ingest_publication(p, warehouse, run_id, first, last, ledger=ledger, force=force) for p in chosen]


def _status(loaded_rows: int, failures: int) -> str:
    return "failed" if failures else "success" if loaded_rows else "no_work"


def _print_runs(runs: list) -> int:
    failures = 0
    for run in runs:
        loaded = [p for p in run.periods if p.status == "loaded"]
        skipped = sum(p.status == "skipped" for p in run.periods)
        waiting = f", {len(run.not_published)} not published yet" if run.not_published else ""
        held = f", {run.rows_quarantined():,} rows quarantined" if run.rows_quarantined() else ""
        print(
            f"publications: {run.publication}: {len(run.periods)} periods: {len(loaded)} loaded "
            f"({sum(p.files for p in loaded)} files, {run.rows_loaded():,} rows{held}), {skipped} unchanged "
            f"(NO_WORK){waiting}, {len(run.failed)} failed (run {run.run_id})"
        )
        for period in run.failed:
            failures += 1
            print(f"  FAILED {period.period}: {period.error}")
            print(
                f"  retry:  ingestion publications --publication {run.publication} "
                f"--from {period.period} --to {period.period}"
            )
    return failures


def _publications(args: argparse.Namespace, warehouse: Warehouse, ledger) -> tuple[str, int, str | None]:
    runs = _ingest(warehouse, ledger.run_id, args.publication, args.first, args.last, ledger=ledger, force=args.force)
    failures = _print_runs(runs)
    rows = sum(run.rows_loaded() for run in runs)
    loaded = sum(p.status == "loaded" for run in runs for p in run.periods)
    return _status(loaded, failures), rows, f"{failures} periods failed" if failures else None


def _print_servicedesk(run) -> None:
    print(f"servicedesk {run.system}: {run.status} in {run.seconds:.1f}s (run {run.run_id}, load {run.load_id or '-'})")
    print(run.table())
    for rejection in run.rejections[:10]:
        print(f"  rejected: {rejection}")
    if run.error:
        print(f"  FAILED: {run.error}")
        from ingestion.sources.servicedesk import declared_systems

        how = f"--system {run.system}" if run.system in declared_systems() else "--config <its file>"
        print(f"  retry:  ingestion servicedesk {how}  (incremental: it resumes from the last committed cursor)")
    recovered = sum(f.recovered for f in run.figures)
    if recovered:
        print(
            f"  recovered: {recovered} records the system lists were missing from bronze; the deletion check "
            "loaded them"
        )


def _servicedesk(args: argparse.Namespace, warehouse: Warehouse, ledger) -> tuple[str, int, str | None]:
    from ingestion.pipelines.servicedesk import ingest_servicedesk
    from ingestion.sources.servicedesk import select_systems

    systems = select_systems(args.system, args.config)
    if not systems:
        raise ConfigError("no service-desk system is enabled: give --system NAME or --config FILE")
    runs = [
        ingest_servicedesk(warehouse, ledger.run_id, system, full_refresh=args.full_refresh, ledger=ledger)
        for system in systems
    ]
    for run in runs:
        _print_servicedesk(run)
    rows = sum(f.inserted + f.updated for run in runs for f in run.figures)
    errors = [run.error or f"{run.system} failed" for run in runs if run.status != "success"]
    return ("failed" if errors else "success"), rows, "; ".join(errors) or None


def _run(args: argparse.Namespace, warehouse: Warehouse, ledger) -> tuple[str, int, str | None]:
    from ingestion.devtools.local_api import SYSTEM as LOCAL_API_SYSTEM
    from ingestion.pipelines.run import run_pipeline
    from ingestion.sources.servicedesk import select_systems

    systems = select_systems(args.system, args.config)
    if not args.local_api:
        outcome = run_pipeline(warehouse, ledger, force=args.force, systems=systems)
    else:
        with _local_api() as (api, token):
            outcome = run_pipeline(
                warehouse,
                ledger,
                force=args.force,
                systems=systems,
                servicedesk={LOCAL_API_SYSTEM: {"base_url": api.base_url, "secret": token}},
            )
    _print_runs(outcome.publications)
    for desk in outcome.servicedesk:
        _print_servicedesk(desk)
    if outcome.validation and outcome.validation.docs:
        print(f"  GX Data Docs: {outcome.validation.docs}")
    for result in outcome.dbt:
        print(f"  {result.summary()}")
        for failure in result.failures[:10]:
            print(f"    {failure}")
    if outcome.status == "no_work":
        print("run: nothing new was loaded, so silver and gold were left as they are (NO_WORK; --force rebuilds)")
    return outcome.status, outcome.rows_loaded(), outcome.error


def _validate(args: argparse.Namespace, warehouse: Warehouse, ledger) -> tuple[str, int, str | None]:
    from ingestion.quality.validate import docs_dir, validate_bronze

    with ledger.stage("validate", source="great_expectations") as stage:
        report = validate_bronze(warehouse, all_periods=args.all_periods, ledger=ledger, docs=docs_dir())
        stage.details = report.details()
    for skipped in report.skipped:
        print(f"  skipped {skipped}")
    print(report.summary())
    if report.docs:
        print(f"GX Data Docs: {report.docs}")
    failures = [text for check in report.failed for text in check.failures]
    return ("failed" if failures else "success"), 0, "; ".join(failures[:5]) or None


def cmd_drift(args: argparse.Namespace) -> int:
    from ingestion.quality import catalog, drift

    warehouse = Warehouse(args.target)
    if args.accept:
        table = catalog.find_table(args.accept)
        changes = drift.accept(warehouse, table)
        if not changes:
            print(f"drift: {table.name} matches its suite; nothing to accept")
            return 0
        suite = paths.shown(drift.suite_path(table))
        print(f"drift: accepted into {suite}:")
        for change in changes:
            print(f"  {change}")
        print(
            f"drift: review and commit the suite (git diff {suite}); then select the new columns in the one "
            f"staging model that reads {table.name}, {paths.shown(drift.staging_model(table))} "
            "(see expectations/README.md)"
        )
        return 0
    tables, skipped = drift.table_drift(warehouse)
    drifted = [t for t in tables if t]
    for table in drifted:
        print(f"{table.table.name}:")
        print("\n".join(table.lines()))
    for text in skipped:
        print(f"  not checked: {text}")
    print(
        f"drift: {len(drifted)} of {len(tables)} tables differ from their suites"
        + (f"; accept with: ingestion drift --accept TABLE --target {args.target}" if drifted else "")
    )
    return 0


def cmd_expectations(args: argparse.Namespace) -> int:
    from ingestion.quality import catalog, suites

    warehouse = Warehouse(args.target)
    tables = [catalog.find_table(name) for name in args.table] if args.table else catalog.declared_tables()
    written = 0
    for table in tables:
        path = suites.suite_path(table)
        if path.exists() and not args.overwrite:
            print(f"  kept    {path} (exists; --overwrite replaces it)")
            continue
        try:
            suite = suites.scaffold(warehouse, table)
        except LookupError as error:
            print(f"  skipped {table.name}: {error}")
            continue
        suite.save()
        written += 1
        print(f"  wrote   {path} ({len(suite.expectations)} expectations)")
    print(f"expectations: wrote {written} suites from {warehouse.describe()}; review them before committing")
    return 0


def bronze_counts(warehouse: Warehouse) -> list[tuple[str, str, int, int | None]]:
    """(dataset, table, rows, periods or None) for every declared bronze table that exists."""
    from ingestion.sources.publications.settings import load_publications
    from ingestion.sources.servicedesk import dataset as desk_dataset
    from ingestion.sources.servicedesk import declared_systems

    declared = [(p.dataset, spec.table, True) for p in load_publications().values() for spec in p.tables()]
    entities = {r.entity for system in declared_systems().values() for r in system.resources}
    declared += [(desk_dataset(), entity, False) for entity in sorted(entities)]
    counts = []
    for dataset, table, by_period in declared:
        if warehouse.table_exists(dataset, table):
            periods = "count(distinct _period)" if by_period else "null"
            rows, period_count = warehouse.query(f"select count(*), {periods} from {dataset}.{table}")[0]
            counts.append((dataset, table, rows, period_count))
    return counts


@contextlib.contextmanager
def _local_api():
    """The project's local service-desk API with a throwaway token, its clock at now so its data is fresh."""
    import secrets

    from ingestion.devtools.local_api import start_server

    token = secrets.token_urlsafe(16)
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    with start_server(port=0, token=token, clock_start=now) as api:
        print(f"local service-desk API at {api.base_url}")
        yield api, token


def cmd_runs(args: argparse.Namespace) -> int:
    warehouse = Warehouse(args.target)
    with _reading(warehouse, "runs"):
        outcome = _runs(args, warehouse)
    return main(outcome) if isinstance(outcome, list) else outcome  # runs resume --execute: the lock is released


def _runs(args: argparse.Namespace, warehouse: Warehouse) -> int | list[str]:
    from ingestion import runs
    from ingestion.ledger import Ledger

    ledger = Ledger(warehouse, args.run_id or "-")
    try:
        ledger.ensure_schema()
    except WarehouseUnavailable as error:
        mirrored = runs.view_from_mirror(args.run_id) if args.run_id and args.action == "show" else None
        if mirrored is None:
            raise
        print(f"runs: {error}; showing the run from its JSONL mirror", file=sys.stderr)
        print(runs.render_show(mirrored, errors_only=args.errors))
        return 0
    if args.action == "list":
        listed = runs.list_runs(ledger, args.limit)
        print(runs.render_list(listed) if listed else "runs: no runs recorded yet")
        return 0
    if not args.run_id:
        print(f"runs {args.action}: give a run id (see: ingestion runs)", file=sys.stderr)
        return 2
    found = runs.view(ledger, args.run_id) or runs.view_from_mirror(args.run_id)
    if found is None:
        print(f"runs: no run {args.run_id} in {warehouse.describe()}", file=sys.stderr)
        return 2
    if args.action == "show":
        print(runs.render_show(found, errors_only=args.errors))
        return 0
    resume = runs.resume_argv(found)
    if resume is None:
        print(f"runs resume: run {found.run_id} is {found.status}: nothing to resume")
        return 0
    print(f"resume: ingestion {shlex.join(resume)}")
    if not args.execute:
        print("runs resume: add --execute to run it")
        return 0
    return resume


def cmd_demo(args: argparse.Namespace) -> int:
    """Sample data, then `run --local-api`, then `runs show` for it and a summary of the warehouse."""
    from ingestion.devtools.sample import payments
    from ingestion.devtools.sample import publications as sample

    started = time.monotonic()
    root = paths.data_dir() / "publications"
    if not (root / "practice_submissions" / sample.DEFAULT_PERIODS[-1]).is_dir():
        sample.generate(root)
        print(f"demo: generated the sample monthly publication under {root}")
    if not (root / payments.PUBLICATION / payments.DEFAULT_PERIODS[-1]).is_dir():
        payments.generate(root)
        print(f"demo: generated the sample annual publication under {root}")
    run_id = new_run_id()
    argv = ["run", "--target", args.target, "--local-api"]
    code = recorded_run(_parser().parse_args(argv), argv, run_id)
    if code == 3:  # another run holds the warehouse: the summary would have to open it
        return code
    warehouse = Warehouse(args.target)
    print("\n" + "=" * 100 + f"\nSummary of the demo ({warehouse.describe()})")
    print("  bronze tables:")
    for dataset, table, rows, periods in bronze_counts(warehouse):
        print(f"    {dataset + '.' + table:<48} {rows:>10,} rows" + (f"  {periods} periods" if periods else ""))
    docs = paths.PROJECT_ROOT / "target" / "static_index.html"
    if docs.exists():
        print(f"  dbt docs (lineage): {docs}")
    gx_docs = paths.PROJECT_ROOT / "target" / "gx_docs" / "index.html"
    if gx_docs.exists():
        print(f"  GX Data Docs (bronze validation): {gx_docs}")
    print()
    main(["runs", "show", run_id, "--target", args.target])
    print(f"demo: {'ok' if code == 0 else 'FAILED'} in {time.monotonic() - started:.0f}s")
    return code
