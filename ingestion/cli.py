"""Command line: ``ingestion <command>`` or ``python -m ingestion <command>``.

  generate       write the sample publication (deterministic) under data/publications
  publications   load publication periods into bronze
  servicedesk    load the service-desk API into bronze (incremental; --full-refresh reloads everything)
  demo           the whole job: sample data, local API, bronze, dbt build, freshness, docs, and a summary
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import uuid
from pathlib import Path

from ingestion import paths
from ingestion.errors import ConfigError
from ingestion.warehouse import TARGETS, Warehouse


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ingestion", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write the sample publication files")
    generate.add_argument("--root", type=Path, default=None, help="folder to write to (default: data/publications)")
    generate.add_argument("--practices", type=int, default=40, help="practices per period (default 40)")
    generate.add_argument("--rows", type=int, default=None,
                          help="about this many detail CSV rows per period instead (1400000 for benchmarks)")
    generate.add_argument("--periods", nargs="+", default=None, help="periods to write (default 2025-02..2025-06)")

    for name, text in (("publications", "load publication periods into bronze"),
                       ("servicedesk", "load the service-desk API into bronze"),
                       ("demo", "run the whole job end to end and print a summary")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--target", choices=TARGETS, default="duckdb", help="warehouse (default duckdb)")
        if name == "publications":
            command.add_argument("--publication", default=None, help="one declared publication (default all)")
            command.add_argument("--from", dest="first", default=None, help="first period, YYYY-MM")
            command.add_argument("--to", dest="last", default=None, help="last period, YYYY-MM")
        if name == "servicedesk":
            command.add_argument("--full-refresh", action="store_true",
                                 help="drop the service-desk tables and cursors, and load everything again")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "generate":
            return cmd_generate(args)
        if args.command == "publications":
            return cmd_publications(args)
        if args.command == "servicedesk":
            return cmd_servicedesk(args)
        return cmd_demo(args)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2


def cmd_generate(args: argparse.Namespace) -> int:
    from ingestion.sample import publications as sample

    root = args.root or paths.data_dir() / "publications"
    practices = sample.practices_for_rows(args.rows) if args.rows else args.practices
    started = time.monotonic()
    folders = sample.generate(root, tuple(args.periods or sample.DEFAULT_PERIODS), practices)
    print(f"generate: wrote {len(folders)} periods x 3 files for {practices:,} practices under {root} "
          f"in {time.monotonic() - started:.1f}s")
    return 0


def _ingest(warehouse: Warehouse, run_id: str, publication: str | None = None, first: str | None = None,
            last: str | None = None) -> list:
    from ingestion.pipelines.publications import ingest_publication
    from ingestion.sources.publications.settings import load_publications

    declared = load_publications()
    if publication and publication not in declared:
        raise ConfigError(f"no publication {publication!r}; declared: {', '.join(declared)}")
    chosen = [declared[publication]] if publication else list(declared.values())
    return [ingest_publication(p, warehouse, run_id, first, last) for p in chosen]


def _print_runs(runs: list) -> int:
    failures = 0
    for run in runs:
        loaded = [p for p in run.periods if p.status == "loaded"]
        print(f"publications: {run.publication}: {len(loaded)}/{len(run.periods)} periods loaded, "
              f"{sum(p.files for p in loaded)} files, {run.rows_loaded():,} rows (run {run.run_id})")
        for period in run.failed:
            failures += 1
            print(f"  FAILED {period.period}: {period.error}")
            print(f"  retry:  ingestion publications --publication {run.publication} "
                  f"--from {period.period} --to {period.period}")
    return failures


def cmd_publications(args: argparse.Namespace) -> int:
    warehouse = Warehouse(args.target)
    print(f"publications: loading into {warehouse.describe()}")
    runs = _ingest(warehouse, new_run_id(), args.publication, args.first, args.last)
    return 1 if _print_runs(runs) else 0


def _print_servicedesk(run) -> None:
    print(f"servicedesk: {run.status} in {run.seconds:.1f}s (run {run.run_id}, load {run.load_id or '-'})")
    print(run.table())
    for rejection in run.rejections[:10]:
        print(f"  rejected: {rejection}")
    if run.error:
        print(f"  FAILED: {run.error}")
        print("  retry:  ingestion servicedesk  (incremental: it resumes from the last committed cursor)")


def cmd_servicedesk(args: argparse.Namespace) -> int:
    from ingestion.pipelines.servicedesk import ingest_servicedesk

    run = ingest_servicedesk(Warehouse(args.target), new_run_id(), full_refresh=args.full_refresh)
    _print_servicedesk(run)
    return 0 if run.status == "success" else 1


def bronze_counts(warehouse: Warehouse) -> list[tuple[str, str, int, int | None]]:
    """(dataset, table, rows, periods or None) for every declared bronze table that exists."""
    from ingestion.sources.publications.settings import load_publications
    from ingestion.sources.servicedesk import load_config

    declared = [(p.dataset, spec.table, True) for p in load_publications().values() for spec in p.tables()]
    desk = load_config()
    declared += [(desk["dataset"], resource["name"], False) for resource in desk["resources"]]
    counts = []
    for dataset, table, by_period in declared:
        if warehouse.table_exists(dataset, table):
            periods = "count(distinct _period)" if by_period else "null"
            rows, period_count = warehouse.query(f"select count(*), {periods} from {dataset}.{table}")[0]
            counts.append((dataset, table, rows, period_count))
    return counts


def _demo_servicedesk(warehouse: Warehouse, run_id: str):
    """Start the project's local service-desk API with a throwaway token, load it, and stop it."""
    import secrets

    from ingestion.local_api import start_server
    from ingestion.pipelines.servicedesk import ingest_servicedesk

    token = secrets.token_urlsafe(16)
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)  # so its data is fresh, not from 2025
    with start_server(port=0, token=token, clock_start=now) as api:
        print(f"demo: local service-desk API at {api.base_url}")
        run = ingest_servicedesk(warehouse, run_id, base_url=api.base_url, token=token)
    _print_servicedesk(run)
    return run


def cmd_demo(args: argparse.Namespace) -> int:
    from ingestion.sample import publications as sample
    from ingestion.transform import run_dbt

    started = time.monotonic()
    warehouse = Warehouse(args.target)
    run_id = new_run_id()
    root = paths.data_dir() / "publications"
    print(f"demo: run {run_id} into {warehouse.describe()}")
    if not (root / "practice_submissions" / sample.DEFAULT_PERIODS[-1]).is_dir():
        sample.generate(root)
        print(f"demo: generated the sample publication under {root}")
    runs = _ingest(warehouse, run_id)
    failures = _print_runs(runs)
    desk = _demo_servicedesk(warehouse, run_id)
    failures += desk.status != "success"
    dbt_results = []
    for command in (["build"], ["source", "freshness"], ["docs", "generate", "--static"]):
        result = run_dbt(command, warehouse)
        dbt_results.append(result)
        if not result.ok and command == ["build"]:
            break

    print("\n" + "=" * 100 + f"\nSummary of run {run_id} ({warehouse.describe()})")
    for run in runs:
        periods = [p.period for p in run.periods if p.status == "loaded"]
        print(f"  publication {run.publication}: periods {', '.join(periods) or 'none'}; "
              f"files {sum(p.files for p in run.periods)}; failed periods {len(run.failed)}")
    print("  service desk (local API):")
    print(desk.table())
    print("  bronze tables:")
    for dataset, table, rows, periods in bronze_counts(warehouse):
        print(f"    {dataset + '.' + table:<48} {rows:>10,} rows" + (f"  {periods} periods" if periods else ""))
    for result in dbt_results:
        print(f"  {result.summary()}")
        for failure in result.failures[:10]:
            print(f"    {failure}")
    docs = Path(paths.PROJECT_ROOT / "target" / "static_index.html")
    if docs.exists():
        print(f"  dbt docs (lineage): {docs}")
    ok = not failures and all(r.ok for r in dbt_results)
    print(f"demo: {'ok' if ok else 'FAILED'} in {time.monotonic() - started:.0f}s")
    return 0 if ok else 1
