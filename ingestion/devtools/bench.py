"""``make bench``: the project beside each engine's own limit, on full-size periods, measured honestly.

Full-size sample periods (about 1.4 million detail rows each; ``--rows``) are generated once and cached under
``.bench/``. Each contender then runs in a child process of its own (so its peak memory, max RSS, is its own), the
contenders interleaved, ``--rounds`` times (3), and the table shows median, min and max seconds, peak RSS and the
ratio of each median to its engine's limit:

- DuckDB ``read_csv`` of the period's detail CSV into a table, against the project loading the whole period into a
  fresh DuckDB warehouse (first load), then loading it again with ``--force`` (re-run); and, as the like-for-like
  limit of a whole period, the engines' own readers on every file of it (DuckDB ``read_csv`` for the CSV files,
  calamine for the workbook's table sheets), unchecked;
- PostgreSQL ``COPY`` of the same CSV into a typed table, against the project on PostgreSQL (first load, re-run);
- calamine reading the workbook's table sheet to Python values, against the project's XLSX reader on that sheet;
- ``dbt build --full-refresh`` over six full-size periods, against ``dbt build`` after a seventh was loaded (both
  engines; the periods are the scale pass's, generated once too);
- the validate stage on the loaded period, as a share of the period's run (load + validate + transform);
- peak RSS of a first load at ``--memory-factor`` (4) times the period size, beside its RSS at 1x.

The same table is written as JSON to ``.bench/results-<time>.json`` and ``.bench/latest.json`` so that runs can
be compared. Then the run ledger: ``runs show`` with 100,000 events. Asserts nothing: figures go here, not into
timed tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingestion import paths

PUBLICATION = "practice_submissions"
PERIOD, NEXT_PERIOD = "2025-03", "2025-04"  # the period measured, and the one added for the incremental build
SHEET = "Table 2"  # the workbook's table sheet (practice_summary)


# -- what is measured ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measure:
    name: str
    label: str
    engine: str
    limit: str | None = None  # the measure this one is a ratio to
    child: str = ""  # the child process that takes it (one child may take several measures)


MEASURES = [
    Measure("duckdb.read_csv", "DuckDB read_csv (detail CSV into a table)", "duckdb", child="duckdb.read_csv"),
    Measure("duckdb.native", "DuckDB + calamine, every file of the period", "duckdb", child="duckdb.native"),
    Measure("duckdb.load", "project, one period, first load", "duckdb", "duckdb.read_csv", "duckdb.load"),
    Measure("duckdb.reload", "project, same period again (--force)", "duckdb", "duckdb.load", "duckdb.load"),
    Measure("duckdb.validate", "validate stage, the loaded period", "duckdb", None, "duckdb.load"),
    Measure("postgres.copy", "PostgreSQL COPY (detail CSV, typed table)", "postgres", child="postgres.copy"),
    Measure("postgres.load", "project, one period, first load", "postgres", "postgres.copy", "postgres.load"),
    Measure("postgres.reload", "project, same period again (--force)", "postgres", "postgres.load", "postgres.load"),
    Measure("postgres.validate", "validate stage, the loaded period", "postgres", None, "postgres.load"),
    Measure("xlsx.calamine", f"calamine, sheet '{SHEET}' to values", "xlsx", child="xlsx.calamine"),
    Measure("xlsx.project", f"project XLSX reader, sheet '{SHEET}'", "xlsx", "xlsx.calamine", "xlsx.project"),
    Measure("duckdb.dbt_full", "dbt build --full-refresh, 6 periods", "duckdb", None, "duckdb.dbt"),
    Measure("duckdb.dbt_next", "dbt build after a 7th period", "duckdb", "duckdb.dbt_full", "duckdb.dbt"),
    Measure("postgres.dbt_full", "dbt build --full-refresh, 6 periods", "postgres", None, "postgres.dbt"),
    Measure("postgres.dbt_next", "dbt build after a 7th period", "postgres", "postgres.dbt_full", "postgres.dbt"),
]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _timed(work: Callable[[], int]) -> dict[str, float]:
    started = time.perf_counter()
    rows = work()
    return {"seconds": time.perf_counter() - started, "rows": rows}


# -- the children: each runs in a process of its own and prints its figures as JSON ------------------------------
def _use(root: Path, name: str, target: str) -> Any:
    """Point the project at ``root``'s data and a fresh warehouse and state of its own; the Warehouse."""
    os.environ.update(
        {
            "ANALYTICS_DATA_DIR": str(root / "data"),
            "ANALYTICS_STATE_DIR": str(root / "work" / f"state-{name}"),
            "DUCKDB_PATH": str(root / "work" / f"{name}.duckdb"),
            "PGDATABASE": f"bench_{name.replace('.', '_')}_{uuid.uuid4().hex[:6]}",
            "DBT_TARGET_PATH": str(root / "work" / f"dbt-{name}"),
        }
    )
    shutil.rmtree(root / "work" / f"state-{name}", ignore_errors=True)
    from ingestion.warehouse import Warehouse

    warehouse = Warehouse(target)
    warehouse.drop_database()
    warehouse.ensure_database()
    return warehouse


def _detail_csv(root: Path, period: str = PERIOD) -> Path:
    return root / "data" / "publications" / PUBLICATION / period / f"practice-detail-{period}.csv"


def _load(
    warehouse: Any,
    period: str,
    force: bool = False,
    publication_name: str = PUBLICATION,
    on_extract: Callable[[], object] | None = None,
) -> int:
    """One period through ``load_period``, as a run loads it (``on_extract``: what the run starts beside it)."""
    from ingestion.ledger import Ledger
    from ingestion.pipelines.publications import load_period, pipeline_for
    from ingestion.sources.publications.settings import load_publications

    publication = load_publications()[publication_name]
    ledger = Ledger(warehouse, f"bench-{uuid.uuid4().hex[:8]}")
    ledger.ensure_schema()
    pipeline = pipeline_for(publication, warehouse)
    result = load_period(pipeline, publication, period, ledger, force=force, on_extract=on_extract)
    if result.status != "loaded":
        raise SystemExit(f"bench: {period} did not load: {result.error}")
    return sum(result.rows.values())


def _validate(warehouse: Any, period: str) -> int:
    from ingestion.quality.validate import validate_bronze

    report = validate_bronze(warehouse, loaded={"bronze_publications": {period}}, progress=lambda _: None)
    return len(report.checks)


def child_duckdb_read_csv(root: Path) -> dict[str, dict]:
    import duckdb

    target = root / "work" / "read_csv.duckdb"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    connection = duckdb.connect(str(target))

    def read() -> int:
        connection.execute(f"create table practice_detail as select * from read_csv('{_detail_csv(root)}')")
        return int(connection.execute("select count(*) from practice_detail").fetchall()[0][0])

    figures = {"duckdb.read_csv": _timed(read)}
    connection.close()
    return figures


def child_duckdb_native(root: Path) -> dict[str, dict]:
    """Every file of the period into DuckDB tables by the engines' own readers, nothing checked: ``read_csv`` for
    the detail CSV and the zip's CSV members (extracted first, as any reader must), calamine for the workbook's
    table sheets (cells to Arrow columns, each column as text). The limit a whole period's load is measured against;
    ``duckdb.read_csv`` is the detail CSV alone."""
    import tempfile
    import zipfile

    import duckdb
    import pyarrow as pa
    from python_calamine import CalamineWorkbook

    folder = _detail_csv(root).parent
    target = root / "work" / "native.duckdb"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    connection = duckdb.connect(str(target))

    def read() -> int:
        rows = 0
        with tempfile.TemporaryDirectory() as scratch:
            csvs = [_detail_csv(root)]
            for archive in folder.glob("*.zip"):
                with zipfile.ZipFile(archive) as opened:
                    for member in opened.namelist():
                        if member.lower().endswith(".csv"):
                            csvs.append(Path(opened.extract(member, scratch)))
            for number, csv in enumerate(csvs):
                connection.execute(f"create table csv_{number} as select * from read_csv('{csv}')")
                rows += connection.execute(f"select count(*) from csv_{number}").fetchall()[0][0]
        for book in folder.glob("*.xlsx"):
            workbook = CalamineWorkbook.from_path(str(book))
            for number, sheet in enumerate(name for name in workbook.sheet_names if name.startswith("Table")):
                cells = workbook.get_sheet_by_name(sheet).to_python()
                header = max(range(len(cells)), key=lambda i: sum(v not in (None, "") for v in cells[i][:50]))
                names = [str(v) or f"column_{i}" for i, v in enumerate(cells[header])]
                body = cells[header + 1 :]
                text = {n: [None if r[i] in (None, "") else str(r[i]) for r in body] for i, n in enumerate(names)}
                connection.register("sheet", pa.table(text))
                connection.execute(f"create table sheet_{number} as select * from sheet")
                connection.unregister("sheet")
                rows += len(body)
        return int(rows)

    figures = {"duckdb.native": _timed(read)}
    connection.close()
    return figures


def child_postgres_copy(root: Path) -> dict[str, dict]:
    """COPY into a table typed as DuckDB's sniffer types the CSV (the types the project's reader gives it too)."""
    import duckdb

    warehouse = _use(root, "copy", "postgres")
    csv = _detail_csv(root)
    sniffed = duckdb.connect().execute(f"describe select * from read_csv('{csv}')").fetchall()
    types = {"BIGINT": "bigint", "INTEGER": "integer", "DOUBLE": "double precision", "DATE": "date"}
    columns = ", ".join(f'"{name}" {types.get(kind, "text")}' for name, kind, *_ in sniffed)
    connection = warehouse.connect()
    try:
        run = connection.cursor()
        run.execute(f"create table practice_detail ({columns})")
        connection.commit()

        def copy() -> int:
            with csv.open("rb") as handle:
                run.copy_expert("copy practice_detail from stdin with (format csv, header true)", handle)
            connection.commit()
            run.execute("select count(*) from practice_detail")
            return int(run.fetchall()[0][0])

        return {"postgres.copy": _timed(copy)}
    finally:
        connection.close()
        warehouse.drop_database()


def _child_load(root: Path, target: str) -> dict[str, dict]:
    """The first load, the re-run and the validate stage, as ``ingestion run`` does them: GX's worker starts
    beside the first load. The project's modules (dlt among them) are imported before the clock starts, as
    ``duckdb`` is for ``read_csv``: the ratios compare the work, not a process's start."""
    import ingestion.pipelines.publications  # noqa: F401
    from ingestion.quality.validate import warm_up

    warehouse = _use(root, f"{target}-load", target)
    try:
        return {
            f"{target}.load": _timed(lambda: _load(warehouse, PERIOD, on_extract=warm_up)),
            f"{target}.reload": _timed(lambda: _load(warehouse, PERIOD, force=True)),
            f"{target}.validate": _timed(lambda: _validate(warehouse, PERIOD)),
        }
    finally:
        warehouse.drop_database()


DBT_HISTORY = 6  # full-size periods built by the full refresh; the incremental build adds one more


def _child_dbt(root: Path, target: str) -> dict[str, dict]:
    """``dbt build --full-refresh`` over six full-size periods (the scale pass's first six), then a seventh period
    loaded and ``dbt build`` again: what adding a period costs the transform beside rebuilding everything."""
    from ingestion.ledger import Ledger
    from ingestion.transform import run_dbt

    data = root / "scale"
    os.environ["PUBLICATIONS_CONFIG"] = str(_scale_config(data, SCALE_PERIODS[DBT_HISTORY]))
    warehouse = _use(data, f"{target}-dbt", target)

    def build(*flags: str) -> int:
        # in the ledger as a run's transform stage: the next build's tests read the loads published since then
        with Ledger(warehouse, f"bench-{uuid.uuid4().hex[:8]}").stage("transform", source="dbt"):
            result = run_dbt(["build", "--select", "tag:publications", *flags], warehouse)
            if not result.ok:
                raise SystemExit(f"bench: dbt build failed on {target}: {'; '.join(result.failures[:3])}")
        return len(result.nodes)

    try:
        from ingestion.devtools.sample import payments

        for year in payments.DEFAULT_PERIODS:  # the annual publication's models need its bronze (demo size)
            _load(warehouse, year, publication_name=payments.PUBLICATION)
        for period in SCALE_PERIODS[:DBT_HISTORY]:
            _load(warehouse, period)
        figures = {f"{target}.dbt_full": _timed(lambda: build("--full-refresh"))}
        _load(warehouse, SCALE_PERIODS[DBT_HISTORY])
        figures[f"{target}.dbt_next"] = _timed(build)
        return figures
    finally:
        warehouse.drop_database()


def _workbook(root: Path) -> Path:
    return root / "data" / "publications" / PUBLICATION / PERIOD / f"practice-submissions-{PERIOD}.xlsx"


def child_xlsx_calamine(root: Path) -> dict[str, dict]:
    from python_calamine import CalamineWorkbook

    def read() -> int:
        return len(CalamineWorkbook.from_path(str(_workbook(root))).get_sheet_by_name(SHEET).to_python())

    return {"xlsx.calamine": _timed(read)}


def child_xlsx_project(root: Path) -> dict[str, dict]:
    from ingestion.sources.publications import readers
    from ingestion.sources.publications.settings import load_publications

    publication = load_publications()[PUBLICATION]
    [spec] = [part.spec for f in publication.files for part in f.parts if part.match == SHEET and part.spec]

    def read() -> int:
        path = _workbook(root)
        workbook = readers.open_workbook(path, {"file": path.name})
        chunks = readers.read_xlsx_table(workbook, SHEET, spec.layout, {"file": path.name}, path=path)
        return sum(table.num_rows for table, _ in chunks)

    return {"xlsx.project": _timed(read)}


def child_memory(root: Path) -> dict[str, dict]:
    """A first load alone, so that its peak RSS is the load's."""
    warehouse = _use(root, "memory-load", "duckdb")
    try:
        return {"memory": _timed(lambda: _load(warehouse, PERIOD))}
    finally:
        warehouse.drop_database()


# -- scale: the cost of one more period with 1, 6 and 12 already loaded -------------------------------------------
SCALE_PERIODS = tuple(
    f"{year}-{month:02d}" for year, month in [(2024, m) for m in range(5, 13)] + [(2025, m) for m in range(1, 5)]
)
SCALE_POINTS = (1, 6, 12)
ADDING = ("discover", "extract", "load", "validate", "source_tests", "transform")  # a period's load, validate, build


def _scale_config(root: Path, last: str) -> Path:
    """The committed publications config with the monthly publication's calendar running to ``last``."""
    import yaml

    from ingestion.sources.publications.settings import DEFAULT_CONFIG

    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["publications"][PUBLICATION]["periods"] = {"first": SCALE_PERIODS[0], "last": last}
    path = root / "work" / "scale-publications.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _child_scale(root: Path, target: str) -> dict[str, dict]:
    """Monthly ``ingestion run``s, one more period each, as an operator's schedule would run them; the stages that
    add a period (discover to transform) timed from the run ledger at 1, 6 and 12 periods; then a run with nothing
    new (NO_WORK), and what the warehouse keeps on disk beside its data."""
    from ingestion import cli, runs
    from ingestion.ledger import Ledger, ops_schema

    warehouse = _use(root, f"{target}-scale", target)
    figures: dict[str, dict] = {}
    try:
        for count, period in enumerate(SCALE_PERIODS, start=1):
            os.environ["PUBLICATIONS_CONFIG"] = str(_scale_config(root, period))
            started = time.perf_counter()
            if cli.main(["run", "--local-api", "--target", target]) != 0:
                raise SystemExit(f"bench: the run that added {period} failed on {target}")
            wall = time.perf_counter() - started
            if count not in SCALE_POINTS:
                continue
            ledger = Ledger(warehouse, "-")
            run_id = runs.list_runs(ledger, limit=1)[0].run_id
            stages = dict(
                ledger.query(
                    f"select stage, sum(duration_seconds) from {ops_schema()}.run_events where run_id = ? and "
                    "event_type = 'stage_completed' group by stage",
                    (run_id,),
                )
            )
            rows = warehouse.query("select count(*) from bronze_publications.practice_detail")[0][0]
            figures[f"{target}.add_at_{count}"] = {
                "seconds": sum(float(stages.get(stage) or 0) for stage in ADDING),
                "rows": int(rows),
                "run_seconds": wall,
                "stages": {stage: float(stages.get(stage) or 0) for stage in ADDING},
            }
        started = time.perf_counter()
        if cli.main(["run", "--local-api", "--target", target]) != 0:
            raise SystemExit(f"bench: the run with nothing new failed on {target}")
        figures[f"{target}.no_work"] = {"seconds": time.perf_counter() - started, "rows": 0}
        figures[f"{target}.on_disk"] = {"seconds": 0.0, "rows": 0, **_on_disk(warehouse, root)}
        return figures
    finally:
        warehouse.drop_database()


def _on_disk(warehouse: Any, root: Path) -> dict[str, float]:
    """DuckDB: the file's size beside a fresh copy of its data (what free blocks it keeps); PostgreSQL: what any
    staging schema still holds."""
    if warehouse.target == "duckdb":
        import duckdb

        copy = root / "work" / "compacted.duckdb"
        copy.unlink(missing_ok=True)
        connection = duckdb.connect()
        try:
            connection.execute(f"attach '{warehouse.duckdb_path}' as held (read_only)")
            connection.execute(f"attach '{copy}' as compacted")
            connection.execute("copy from database held to compacted")
        finally:
            connection.close()
        held, data = warehouse.duckdb_path.stat().st_size, copy.stat().st_size
        copy.unlink()
        return {"file_mb": held / 1e6, "data_mb": data / 1e6, "file_to_data": held / data}
    tables = warehouse.query(
        "select n.nspname, c.relname, pg_relation_size(c.oid) from pg_class c join pg_namespace n "
        "on n.oid = c.relnamespace where n.nspname like '%\\_staging' and c.relkind = 'r'"
    )
    rows = sum(  # data rows: dlt keeps its schema's version row (_dlt_version) in the staging dataset too
        int(warehouse.query(f'select count(*) from "{schema}"."{table}"')[0][0])
        for schema, table, _ in tables
        if not table.startswith("_dlt_")
    )
    return {"staging_rows": rows, "staging_mb": sum(int(size) for *_, size in tables) / 1e6}


CHILDREN: dict[str, Callable[[Path], dict[str, dict]]] = {
    "duckdb.read_csv": child_duckdb_read_csv,
    "duckdb.native": child_duckdb_native,
    "duckdb.load": lambda root: _child_load(root, "duckdb"),
    "postgres.copy": child_postgres_copy,
    "postgres.load": lambda root: _child_load(root, "postgres"),
    "xlsx.calamine": child_xlsx_calamine,
    "xlsx.project": child_xlsx_project,
    "duckdb.dbt": lambda root: _child_dbt(root, "duckdb"),
    "postgres.dbt": lambda root: _child_dbt(root, "postgres"),
    "memory": child_memory,
    "duckdb.scale": lambda root: _child_scale(root / "scale", "duckdb"),
    "postgres.scale": lambda root: _child_scale(root / "scale", "postgres"),
}
SCALE = ("duckdb.scale", "postgres.scale")  # one pass each, after the rounds: a schedule of runs, not one contender


def _run_child(kind: str, root: Path) -> dict[str, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "ingestion.devtools.bench", "--child", kind, "--root", str(root)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise SystemExit(f"bench: {kind} failed:\n  " + "\n  ".join(tail))
    figures: dict[str, dict] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# -- the parent: generate once, run the children interleaved, summarise -------------------------------------------
def _generate(root: Path, rows: int, periods: tuple[str, ...] = (PERIOD, NEXT_PERIOD)) -> None:
    from ingestion.devtools.sample import payments
    from ingestion.devtools.sample import publications as sample

    practices = sample.practices_for_rows(rows)
    marker = root / "data" / f".generated-{practices}-{len(periods)}"
    if marker.exists():
        return
    print(
        f"bench: generating {', '.join(periods)}, {practices:,} practices (~{rows:,} detail rows each) ...", flush=True
    )
    shutil.rmtree(root / "data", ignore_errors=True)
    started = time.perf_counter()
    sample.generate(root / "data" / "publications", periods, practices)
    payments.generate(root / "data" / "publications")  # demo size: the dbt build needs it, nothing times it
    marker.touch()
    print(f"bench: generated in {time.perf_counter() - started:.1f}s", flush=True)


def _summary(samples: dict[str, list[dict]]) -> dict[str, dict]:
    table: dict[str, dict] = {}
    for name, runs in samples.items():
        seconds = [run["seconds"] for run in runs]
        table[name] = {
            "median": statistics.median(seconds),
            "min": min(seconds),
            "max": max(seconds),
            "rounds": len(seconds),
            "rows": runs[-1]["rows"],
            "peak_mb": max(run["peak_mb"] for run in runs),
        }
    for measure in MEASURES:
        if measure.limit and measure.name in table and measure.limit in table:
            table[measure.name]["ratio"] = table[measure.name]["median"] / table[measure.limit]["median"]
    return table


def _print_table(table: dict[str, dict], factor: int) -> None:
    print(f"\n  {'measure':<50}{'median s':>9}{'min':>8}{'max':>8}{'rows':>12}{'peak MB':>9}  ratio")
    memory = [
        Measure("duckdb.load_1x", "a first load alone, 1x the period", "duckdb"),
        Measure("duckdb.load_nx", f"a first load alone, {factor}x the period", "duckdb"),
    ]
    for measure in [*MEASURES, *memory]:
        if measure.name not in table:
            continue
        row = table[measure.name]
        ratio = f"{row['ratio']:.2f}x {measure.limit}" if "ratio" in row else ""
        print(
            f"  {measure.engine + ': ' + measure.label:<50}{row['median']:>9.2f}{row['min']:>8.2f}{row['max']:>8.2f}"
            f"{row['rows']:>12,}{row['peak_mb']:>9,.0f}  {ratio}"
        )


def _verdicts(table: dict[str, dict]) -> list[str]:
    """The issue's targets, each with the figure that meets it or not."""
    lines = []

    def ratio(name: str, limit: float, what: str) -> None:
        if name in table and "ratio" in table[name]:
            value = table[name]["ratio"]
            lines.append(f"  {'ok ' if value <= limit else 'NOT'} {what}: {value:.2f}x (target <= {limit:.2f}x)")

    ratio("duckdb.load", 2.0, "DuckDB first load / read_csv")
    if "duckdb.load" in table and "duckdb.native" in table:
        whole = table["duckdb.load"]["median"] / table["duckdb.native"]["median"]
        lines.append(
            f"  {'ok ' if whole <= 2.0 else 'NOT'} DuckDB first load / the engines' own readers on every file of the "
            f"period: {whole:.2f}x (target <= 2.00x)"
        )
    ratio("postgres.load", 2.0, "PostgreSQL first load / COPY")
    ratio("duckdb.reload", 1.0, "DuckDB re-run / first load")
    ratio("postgres.reload", 1.0, "PostgreSQL re-run / first load")
    ratio("duckdb.dbt_next", 0.2, "DuckDB dbt after one more period / full build")
    ratio("postgres.dbt_next", 0.2, "PostgreSQL dbt after one more period / full build")
    for engine in ("duckdb", "postgres"):
        parts = [f"{engine}.load", f"{engine}.validate", f"{engine}.dbt_next"]
        if all(part in table for part in parts):
            share = table[parts[1]]["median"] / sum(table[part]["median"] for part in parts)
            lines.append(
                f"  {'ok ' if share <= 0.1 else 'NOT'} {engine} validate / (load + validate + dbt): {share:.0%} "
                "(target <= 10%)"
            )
    if "duckdb.load_nx" in table and "duckdb.load_1x" in table:
        one, many = table["duckdb.load_1x"], table["duckdb.load_nx"]
        flat = many["peak_mb"] <= 700 and many["peak_mb"] <= one["peak_mb"] * 1.5
        lines.append(
            f"  {'ok ' if flat else 'NOT'} peak RSS of a load at {many['rows']:,} rows: {many['peak_mb']:,.0f} MB "
            f"(at {one['rows']:,} rows: {one['peak_mb']:,.0f} MB; target: under 700 MB, flat in size)"
        )
    return lines


def _print_scale(scale: dict[str, dict]) -> None:
    print(
        f"\n  {'adding one period, run by run (ledger stages)':<50}{'load':>8}{'validate':>9}{'dbt':>8}{'total':>8}"
        f"{'run':>8}{'bronze rows':>13}  ratio"
    )
    for engine in ("duckdb", "postgres"):
        first = scale.get(f"{engine}.add_at_1")
        for count in SCALE_POINTS:
            row = scale.get(f"{engine}.add_at_{count}")
            if row is None or first is None:
                continue
            stages = row["stages"]
            load = sum(stages[s] for s in ("discover", "extract", "load"))
            dbt = stages["source_tests"] + stages["transform"]
            print(
                f"  {f'{engine}: with {count} period(s) loaded':<50}{load:>8.2f}{stages['validate']:>9.2f}{dbt:>8.2f}"
                f"{row['seconds']:>8.2f}{row['run_seconds']:>8.2f}{row['rows']:>13,}  "
                f"{row['seconds'] / first['seconds']:.2f}x period 1"
            )
        if f"{engine}.no_work" in scale:
            idle = scale[f"{engine}.no_work"]["seconds"]
            print(f"  {f'{engine}: a run with nothing new (NO_WORK)':<50}{'':>33}{idle:>8.2f}")
        disk = scale.get(f"{engine}.on_disk", {})
        if "file_mb" in disk:
            print(
                f"  {engine}: file {disk['file_mb']:,.0f} MB, its data copied afresh {disk['data_mb']:,.0f} MB "
                f"({disk['file_to_data']:.2f}x)"
            )
        if "staging_mb" in disk:
            held = disk.get("staging_rows", 0)
            print(f"  {engine}: staging schemas hold {held:,} rows ({disk['staging_mb']:,.1f} MB of table data)")


def _scale_verdicts(scale: dict[str, dict]) -> list[str]:
    lines = []
    for engine in ("duckdb", "postgres"):
        first = scale.get(f"{engine}.add_at_1")
        if first is None:
            continue
        worst = max(scale[f"{engine}.add_at_{n}"]["seconds"] for n in SCALE_POINTS) / first["seconds"]
        lines.append(
            f"  {'ok ' if worst <= 1.3 else 'NOT'} {engine} one more period at {', '.join(map(str, SCALE_POINTS))} "
            f"periods: at most {worst:.2f}x its time at 1 (target <= 1.30x)"
        )
        idle = scale[f"{engine}.no_work"]["seconds"]
        lines.append(f"  {'ok ' if idle < 5 else 'NOT'} {engine} NO_WORK run: {idle:.1f}s (target < 5s)")
        disk = scale[f"{engine}.on_disk"]
        if "file_to_data" in disk:
            ratio = disk["file_to_data"]
            lines.append(f"  {'ok ' if ratio <= 1.3 else 'NOT'} {engine} file / data: {ratio:.2f}x (target <= 1.30x)")
        if "staging_mb" in disk:
            staged = disk.get("staging_rows", 0)
            lines.append(
                f"  {'ok ' if staged == 0 else 'NOT'} {engine} left in staging: {staged:,} rows, "
                f"{disk['staging_mb']:,.1f} MB of table data (target: none)"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_400_000, help="detail CSV rows per period (about)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--memory-factor", type=int, default=4, help="period size for the memory run (0: none)")
    parser.add_argument("--only", nargs="*", choices=list(CHILDREN), help="run only these children")
    parser.add_argument("--root", type=Path, default=paths.PROJECT_ROOT / ".bench")
    parser.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--no-ledger", action="store_true", help="leave out the run-ledger figures")
    args = parser.parse_args(argv)

    if args.child:
        figures = CHILDREN[args.child](args.root)
        peak = _peak_mb()
        print(json.dumps({name: {**figure, "peak_mb": peak} for name, figure in figures.items()}))
        return 0

    started = time.perf_counter()
    _generate(args.root, args.rows)
    if not args.only or {"duckdb.dbt", "postgres.dbt", *SCALE} & set(args.only):
        _generate(args.root / "scale", args.rows, SCALE_PERIODS)  # the dbt children build on the first seven
    kinds = [kind for kind in CHILDREN if kind not in ("memory", *SCALE) and (not args.only or kind in args.only)]
    samples: dict[str, list[dict]] = {}
    for round_ in range(1, args.rounds + 1):
        for kind in kinds:
            print(f"bench: round {round_}/{args.rounds}: {kind} ...", flush=True)
            for name, figure in _run_child(kind, args.root).items():
                samples.setdefault(name, []).append(figure)
    if args.memory_factor and (not args.only or "memory" in args.only):
        _generate(args.root / "memory", args.rows * args.memory_factor)
        for name, root in (("duckdb.load_1x", args.root), ("duckdb.load_nx", args.root / "memory")):
            print(f"bench: memory: a first load alone, {name} ...", flush=True)
            samples[name] = [_run_child("memory", root)["memory"]]

    scale: dict[str, dict] = {}
    for kind in SCALE:
        if not args.only or kind in args.only:
            print(f"bench: scale: {len(SCALE_PERIODS)} monthly runs, one more period each, {kind} ...", flush=True)
            scale.update(_run_child(kind, args.root))

    table = _summary(samples)
    csv = _detail_csv(args.root)
    print(
        f"\nbench: {PUBLICATION} {PERIOD}, detail CSV {csv.stat().st_size / 1e6:,.0f} MB; {args.rounds} rounds, "
        f"contenders interleaved, each in its own process; {os.cpu_count()} cores"
    )
    _print_table(table, args.memory_factor)
    if scale:
        _print_scale(scale)
    verdicts = _verdicts(table) + _scale_verdicts(scale)
    if verdicts:
        print("\nbench: targets")
        print("\n".join(verdicts))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    record = {
        "at": stamp,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "rows_per_period": args.rows,
        "rounds": args.rounds,
        "measures": table,
        "scale": scale,
    }
    for name in (f"results-{stamp}.json", "latest.json"):
        (args.root / name).write_text(json.dumps(record, indent=2) + "\n")
    if not args.no_ledger:
        _bench_ledger(args.root)
    print(
        f"\nbench: done in {time.perf_counter() - started:.0f}s; figures in "
        f"{paths.shown(args.root / f'results-{stamp}.json')}"
    )
    return 0


# -- the run ledger ------------------------------------------------------------------------------------------------
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
    from ingestion import runs
    from ingestion.ledger import Ledger
    from ingestion.warehouse import Warehouse

    print(f"\nbench: run ledger with {LEDGER_EVENTS:,} events (1,000 runs of 100 events)")
    for target in ("duckdb", "postgres"):
        os.environ.update(
            {"DUCKDB_PATH": str(root / "work" / "ledger.duckdb"), "PGDATABASE": f"bench_ledger_{uuid.uuid4().hex[:8]}"}
        )
        warehouse = Warehouse(target)
        warehouse.drop_database()
        ledger = Ledger(warehouse, "bench-500")
        ledger.ensure_schema()
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
                f"  {target:<9} runs show: median {statistics.median(timings) * 1000:.0f} ms, worst "
                f"{max(timings) * 1000:.0f} ms ({len(shown.splitlines())} lines); runs (20 latest): "
                f"{listed * 1000:.0f} ms"
            )
        finally:
            warehouse.drop_database()


if __name__ == "__main__":
    raise SystemExit(main())
