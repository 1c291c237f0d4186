"""Publish one period into the Parquet lake (the ``spark`` target): the same checks and outcome as
:func:`ingestion.pipelines.publish.publish_period`, made visible by one file instead of a transaction.

1. Each table's load files are checked as for a warehouse (declared keys present, every row the readers took is
   in them); rows whose declared key repeats within the period are moved out of the files (the first in file order
   stays) into quarantine, and the period fails when too many rows are quarantined.
2. The period's manifest and quarantine rows are written as files named by its load id.
3. dlt's loader writes the package into the lake (``pipeline.load()``): the tables' files, ``_dlt_loads``.
4. The period's ``publication_periods`` file, naming the new load, replaces the old one: the switch.
5. ``ops.period_loads`` records the fingerprint (in the ledger's DuckDB); the files of the replaced load go.

Until step 4 no reader shows anything of the new load; a failure before it leaves the period as it was (the new
files are deleted by the next run's vacuum), and after it the period is the new one whatever else fails.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestion.errors import IngestionError, describe
from ingestion.lake import POINTER_TABLE, pointer_name, refresh_views
from ingestion.pipelines.publish import (
    MANIFEST_COLUMNS,
    PERIODS_COLUMNS,
    QUARANTINE_COLUMNS,
    QUARANTINE_TABLE,
    PeriodPublication,
    TableOutcome,
    _example,
    _record_period,
    checked_columns,
    over_the_limit,
)
from ingestion.warehouse import WarehouseUnavailable

if TYPE_CHECKING:
    import dlt
    import pyarrow as pa

    from ingestion.sources.publications.settings import TableSpec
    from ingestion.warehouse import SparkWarehouse

MANIFEST_TABLE = "publication_manifest"


def publish_to_lake(
    warehouse: SparkWarehouse, pipeline: dlt.Pipeline, period: PeriodPublication
) -> dict[str, TableOutcome]:
    """Publish ``period`` into the lake (see the module docs). Raises IngestionError naming the table when the
    period cannot be published; nothing of the period changed then."""
    lake = warehouse.lake
    now = dt.datetime.now(dt.UTC)
    quarantine = period.quarantine_rows(now)
    try:
        outcomes: dict[str, TableOutcome] = {}
        for spec in period.tables:
            outcomes[spec.table] = _take_table(period, spec, quarantine, now)
        # dlt's loader first: it makes the dataset's folder (and its init file) on a first load
        info = pipeline.load()
        info.raise_on_failed_jobs()
        manifest = period.manifest_rows(now)
        lake.write(
            period.dataset, MANIFEST_TABLE, f"{period.load_id}.manifest.parquet", _rows(manifest, MANIFEST_COLUMNS)
        )
        lake.write(
            period.dataset,
            QUARANTINE_TABLE,
            f"{period.load_id}.quarantine.parquet",
            _rows(quarantine, QUARANTINE_COLUMNS),
        )
        lake.write(
            period.dataset,
            POINTER_TABLE,
            pointer_name(period.publication, period.period),
            _rows([period.period_row(now)], PERIODS_COLUMNS),
        )
    except (IngestionError, WarehouseUnavailable):
        raise
    except Exception as error:
        raise IngestionError(
            f"publishing the period into the lake failed, nothing of it was changed: {describe(error)}",
            publication=period.publication,
            period=period.period,
        ) from error
    connection = warehouse.connect()
    try:
        _record_period(connection, warehouse, period, outcomes)
        connection.commit()
        lake.vacuum(period.dataset)
        refresh_views(connection, lake, {period.dataset: "publications"})
    finally:
        connection.close()
    return outcomes


def _take_table(
    period: PeriodPublication, spec: TableSpec, quarantine: list[dict[str, Any]], now: dt.datetime
) -> TableOutcome:
    outcome = TableOutcome(spec.table)
    files = period.load_files.get(spec.table, [])
    _columns, landed = checked_columns(period, spec)
    repeats = _drop_repeats(period, spec, files, now) if spec.keys else []
    quarantine.extend(repeats)
    outcome.rows = landed - len(repeats)
    rejections = [q for q in quarantine if q["bronze_table"] == spec.table]
    outcome.rejected = sum(q["disposition"] == "rejected" for q in rejections)
    outcome.flagged = sum(q["disposition"] == "flagged" for q in rejections)
    total = landed + outcome.rejected - len(repeats)
    limit = spec.max_quarantined
    if outcome.rejected and limit.exceeded(outcome.rejected, total):
        raise over_the_limit(period, spec, outcome.rejected, total, "; ".join(_example(q) for q in rejections[:3]))
    return outcome


def _drop_repeats(
    period: PeriodPublication, spec: TableSpec, files: list[Path], now: dt.datetime
) -> list[dict[str, Any]]:
    """Rows of the load files whose declared key an earlier row has (by part, then row): each file is rewritten
    without them (in the package, before dlt loads it), and they come back as quarantine rows naming the row that
    kept the key. A row with a null key part repeats nothing. DuckDB reads and writes the files."""
    import duckdb

    quoted = [f'"{k}"' for k in spec.keys]
    keys = ", ".join(quoted)
    incomplete = " or ".join(f"{k} is null" for k in quoted)
    order = "order by _part, _source_row"
    with duckdb.connect() as counter:
        counter.execute(
            "create temp table ranked as select _part, _source_row, "
            + " || ', ' || ".join(f"coalesce(cast({k} as varchar), 'null')" for k in quoted)
            + f" as key_text, case when {incomplete} then 1 else row_number() over (partition by {keys} {order}) end "
            f"as repeat, first_value(_source_row) over (partition by {keys} {order}) as first_row "
            "from read_parquet(?, union_by_name = true)",
            ([str(path) for path in files],),
        )
        repeated = counter.execute(
            "select _part, _source_row, key_text, first_row from ranked where repeat > 1 order by _part, _source_row"
        ).fetchall()
        if not repeated:
            return []
        for path in files:
            rewritten = path.with_name(path.name + ".dedup")
            counter.execute(
                f"copy (select * from read_parquet('{_literal(str(path))}') as loaded where not exists (select 1 "
                "from ranked where ranked.repeat > 1 and ranked._part = loaded._part and ranked._source_row = "
                f"loaded._source_row)) to '{_literal(str(rewritten))}' (format parquet, compression zstd)"
            )
            rewritten.replace(path)
    parts = {row["part_id"]: row for row in period.manifest}
    return [
        {
            "publication": period.publication,
            "period": period.period,
            "bronze_table": spec.table,
            "file_name": parts.get(part, {}).get("file_name"),
            "part_name": parts.get(part, {}).get("part_name"),
            "source_row": source_row,
            "column_name": ", ".join(spec.keys),
            "raw_value": key_text,
            "reason": f"repeated key: the first row with it is row {first_row}",
            "disposition": "rejected",
            "run_id": period.run_id,
            "load_id": period.load_id,
            "recorded_at": now,
        }
        for part, source_row, key_text, first_row in repeated
    ]


_ARROW_TYPES = {"varchar": "string", "bigint": "int64", "date": "date32", "timestamp with time zone": "timestamp"}


def side_schema(columns: dict[str, str]) -> pa.Schema:
    """The Arrow schema of a side table (manifest, quarantine, periods) from its SQL column types."""
    import pyarrow as pa

    def arrow_type(sql: str) -> pa.DataType:
        kind = _ARROW_TYPES[sql]
        return pa.timestamp("us", tz="UTC") if kind == "timestamp" else getattr(pa, kind)()

    return pa.schema([(name, arrow_type(kind)) for name, kind in columns.items()])


def _rows(rows: list[dict[str, Any]], columns: dict[str, str]) -> pa.Table:
    """Rows as an Arrow table with the columns (and SQL types) of a side table."""
    import pyarrow as pa

    return pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows], schema=side_schema(columns))


def _literal(text: str) -> str:
    return text.replace("'", "''")
