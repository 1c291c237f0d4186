"""``make bench``: one full-size period (about 1.4 million detail rows) loaded through the project's source, beside
DuckDB's own ``read_csv`` on the same CSV in the same run. Each measurement runs in a child process of its own, so
its peak memory (max RSS) is its own. Then the Great Expectations suites validating that period, and the run
ledger: ``runs show`` with 100,000 events in the table, on DuckDB and (when reachable) PostgreSQL. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ingestion import paths

PERIOD = "2025-03"
PUBLICATION = "practice_submissions"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _child_source(root: Path, only_csv: bool) -> dict:
    """Load the period through plan_period + the dlt source into a fresh DuckDB file."""
    name = "source-csv" if only_csv else "source-period"
    os.environ.update(
        {
            "ANALYTICS_DATA_DIR": str(root / "data"),
            "ANALYTICS_STATE_DIR": str(root / f"state-{name}"),
            "DUCKDB_PATH": str(root / f"{name}.duckdb"),
        }
    )
    shutil.rmtree(root / f"state-{name}", ignore_errors=True)
    Path(root / f"{name}.duckdb").unlink(missing_ok=True)

    from ingestion.pipelines.publications import pipeline_for
    from ingestion.sources.publications import plan_period, publication_source
    from ingestion.sources.publications.settings import load_publications
    from ingestion.warehouse import Warehouse

    publication = load_publications()[PUBLICATION]
    warehouse = Warehouse("duckdb")
    pipeline = pipeline_for(publication, warehouse)
    if not only_csv:  # the whole period as `ingestion publications` loads it: ledger, dlt, one-transaction publish
        from ingestion.ledger import Ledger
        from ingestion.pipelines.publications import load_period

        ledger = Ledger(warehouse, "bench")
        ledger.ensure_schema()
        started = time.perf_counter()
        result = load_period(pipeline, publication, PERIOD, ledger, force=True)
        seconds = time.perf_counter() - started
        if result.status != "loaded":
            raise SystemExit(f"bench: the period did not load: {result.error}")
        return {"seconds": seconds, "rows": sum(result.rows.values()), "peak_mb": _peak_mb()}
    started = time.perf_counter()
    plan = plan_period(publication, PERIOD, root / "cache")
    source = publication_source(plan).with_resources("practice_detail")
    pipeline.run(source, loader_file_format="parquet")  # into the incoming dataset: the source and dlt alone
    seconds = time.perf_counter() - started
    trace = pipeline.last_trace
    normalized = trace.last_normalize_info if trace is not None else None
    assert normalized is not None  # the run above normalized the source
    counts = normalized.row_counts
    rows = sum(count for table, count in counts.items() if not table.startswith("_dlt"))
    return {"seconds": seconds, "rows": rows, "peak_mb": _peak_mb()}


def _child_validate(root: Path) -> dict:
    """Validate the period the whole-period child loaded against the committed suites (no Data Docs)."""
    os.environ.update({"DUCKDB_PATH": str(root / "source-period.duckdb")})
    from ingestion.quality.validate import validate_bronze
    from ingestion.warehouse import Warehouse

    started = time.perf_counter()
    report = validate_bronze(Warehouse("duckdb"), loaded={"bronze_publications": {PERIOD}}, progress=lambda _: None)
    seconds = time.perf_counter() - started
    rows = Warehouse("duckdb").query("select count(*) from bronze_publications.practice_detail")[0][0]
    return {"seconds": seconds, "rows": rows, "peak_mb": _peak_mb(), "checks": len(report.checks)}


def _child_read_csv(root: Path) -> dict:
    import duckdb

    target = root / "read_csv.duckdb"
    target.unlink(missing_ok=True)
    csv = root / "data" / "publications" / PUBLICATION / PERIOD / f"practice-detail-{PERIOD}.csv"
    connection = duckdb.connect(str(target))
    started = time.perf_counter()
    connection.execute(f"create table practice_detail as select * from read_csv('{csv}')")
    seconds = time.perf_counter() - started
    counted = connection.execute("select count(*) from practice_detail").fetchone()
    assert counted is not None  # a count(*) has one row
    rows = counted[0]
    connection.close()
    return {"seconds": seconds, "rows": rows, "peak_mb": _peak_mb()}


LEDGER_EVENTS = 100_000
_BULK_EVENTS = """
insert into ops.run_events (event_id, run_id, stage, event_type, status, source, subject, occurred_at,
                            duration_seconds, row_count)
select
    md5(cast(n as varchar)),
    'bench-' || cast(cast(floor(n / 100) as integer) as varchar),
    case n % 3 when 0 then 'discover' when 1 then 'extract' else 'load' end,
    case n % 100 when 0 then 'run_started' when 99 then 'run_completed' else 'stage_completed' end,
    'success', 'bench', 'bench/' || cast(n % 100 as varchar),
    timestamptz '2025-01-01 00:00:00+00' + n * interval '1 second', 0.1, 10
from generate_series(0, {last}) as series(n)
"""


def _bench_ledger(root: Path) -> None:
    """Time ``runs show`` and ``runs`` with LEDGER_EVENTS events in the ledger, on each engine."""
    import uuid

    from ingestion import runs
    from ingestion.ledger import Ledger
    from ingestion.warehouse import Warehouse

    targets = [("duckdb", {"DUCKDB_PATH": str(root / "ledger.duckdb")})]
    targets.append(("postgres", {"PGDATABASE": f"bench_ledger_{uuid.uuid4().hex[:8]}"}))
    print(f"\nbench: run ledger with {LEDGER_EVENTS:,} events (1,000 runs of 100 events)")
    for target, env in targets:
        os.environ.update(env)
        Path(root / "ledger.duckdb").unlink(missing_ok=True)
        warehouse = Warehouse(target)
        try:
            ledger = Ledger(warehouse, "bench-500")
            ledger.ensure_schema()
        except Exception as error:  # no PostgreSQL server here: say so and go on
            print(f"  {target:<9} skipped: {str(error).strip().splitlines()[0]}")
            continue
        try:
            ledger.query(_BULK_EVENTS.format(last=LEDGER_EVENTS - 1))
            timings = []
            for _ in range(5):
                started = time.perf_counter()
                run = runs.view(ledger, "bench-500")
                assert run is not None  # inserted above
                shown = runs.render_show(run)
                timings.append(time.perf_counter() - started)
            started = time.perf_counter()
            runs.list_runs(ledger, 20)
            listed = time.perf_counter() - started
            print(
                f"  {target:<9} runs show: best {min(timings) * 1000:.0f} ms, worst {max(timings) * 1000:.0f} ms "
                f"({len(shown.splitlines())} lines); runs (20 latest): {listed * 1000:.0f} ms"
            )
        finally:
            warehouse.drop_database()


def _run_child(kind: str, root: Path) -> dict:
    output = subprocess.run(
        [sys.executable, "-m", "ingestion.devtools.bench", "--child", kind, "--root", str(root)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_400_000, help="detail CSV rows to generate (about)")
    parser.add_argument("--root", type=Path, default=paths.PROJECT_ROOT / ".bench")
    parser.add_argument(
        "--child", choices=["source-period", "source-csv", "read_csv", "validate"], help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)

    if args.child:
        children = {
            "read_csv": lambda: _child_read_csv(args.root),
            "validate": lambda: _child_validate(args.root),
            "source-csv": lambda: _child_source(args.root, True),
            "source-period": lambda: _child_source(args.root, False),
        }
        figures = children[args.child]()
        print(json.dumps(figures))
        return 0

    from ingestion.devtools.sample import publications as sample

    practices = sample.practices_for_rows(args.rows)
    marker = args.root / "data" / f".generated-{practices}"
    if not marker.exists():
        print(
            f"bench: generating {PERIOD} with {practices:,} practices (about {args.rows:,} detail rows) ...", flush=True
        )
        shutil.rmtree(args.root / "data", ignore_errors=True)
        started = time.perf_counter()
        sample.generate(args.root / "data" / "publications", (PERIOD,), practices)
        marker.touch()
        print(f"bench: generated in {time.perf_counter() - started:.1f}s")
    csv = args.root / "data" / "publications" / PUBLICATION / PERIOD / f"practice-detail-{PERIOD}.csv"

    results = {}
    for kind, label in (
        ("read_csv", "DuckDB read_csv, CSV only"),
        ("source-csv", "project source, CSV table only"),
        ("source-period", "load_period: whole period, published"),
        ("validate", "GX suites on the loaded period"),
    ):
        print(f"bench: {label} ...", flush=True)
        results[kind] = _run_child(kind, args.root)

    print(
        f"\nbench: period {PERIOD}, detail CSV {csv.stat().st_size / 1e6:,.0f} MB, "
        f"{results['read_csv']['rows']:,} rows; machine: {os.cpu_count()} cores"
    )
    print(f"  {'measurement':<48}{'seconds':>9}{'rows':>12}{'rows/s':>12}{'peak MB':>10}")
    for kind, label in (
        ("read_csv", "DuckDB read_csv (CSV into a table)"),
        ("source-csv", "project source, CSV table (dlt, into incoming)"),
        ("source-period", "load_period: whole period, published"),
        ("validate", "validate: GX suites, loaded period"),
    ):
        figure = results[kind]
        print(
            f"  {label:<48}{figure['seconds']:>9.2f}{figure['rows']:>12,}"
            f"{figure['rows'] / figure['seconds']:>12,.0f}{figure['peak_mb']:>10,.0f}"
        )
    ratio = results["source-csv"]["seconds"] / results["read_csv"]["seconds"]
    print(
        f"bench: the project's source takes {ratio:.1f}x DuckDB read_csv's time on the same CSV "
        f"(whole period incl. XLSX and ZIP: {results['source-period']['seconds']:.1f}s)"
    )
    print(
        f"bench: validation ran {results['validate']['checks']} table checks on the loaded period (schema from the "
        "catalog, row checks on its key and code columns), GX's import included"
    )
    _bench_ledger(args.root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
