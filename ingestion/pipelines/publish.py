"""Make one period visible in bronze in one transaction: all its tables, its manifest and quarantine rows, and the
fingerprint that lets later runs skip it, or none of them.

dlt extracts and normalizes each period into a load package of parquet files (dlt's schema and load id); each row is
written once, from those files straight into bronze, in one database transaction on the warehouse's own connection:

1. the manifest rows of the period (one per file, sheet and member, numbered: the ``part_id`` a row's ``_part``
   names), its ``publication_periods`` row (frequency, first and last day: what dbt joins publications of different
   frequencies on) and its ``_dlt_loads`` row replace the previous ones;
2. each bronze table is created, or given the columns a later release added, in the types dlt's schema gives them;
3. the period's old rows are deleted and the load files bulk-inserted (DuckDB reads the parquet files itself;
   PostgreSQL takes them through ``COPY``); rows whose declared key repeats within the period are kept once (the
   first in file order) and the others moved to quarantine;
4. ``ops.period_loads`` records the period's fingerprint, load id and run.

Any error rolls all of it back, so a failure (a value that no longer fits a bronze column, a lost connection, a
``kill -9``) leaves the period exactly as it was, and the next run loads it again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlt.common.schema import Schema

from ingestion.errors import IngestionError, describe
from ingestion.ledger import ops_schema
from ingestion.sources.publications.settings import TableSpec
from ingestion.warehouse import Warehouse, WarehouseUnavailable, find_unavailable

MANIFEST_TABLE = "publication_manifest"
PERIOD_COLUMN = "_period"  # what a bronze row names its period by
QUARANTINE_TABLE = "quarantine"
MANIFEST_COLUMNS = {
    "run_id": "varchar",
    "publication": "varchar",
    "period": "varchar",
    "file_name": "varchar",
    "file_location": "varchar",
    "file_sha256": "varchar",
    "file_size_bytes": "bigint",
    "part_id": "bigint",  # what the rows of this file, sheet or member carry as _part (with _dlt_load_id)
    "part_kind": "varchar",
    "part_name": "varchar",
    "classification": "varchar",
    "bronze_table": "varchar",
    "row_count": "bigint",
    "columns": "varchar",
    "status": "varchar",
    "recorded_at": "timestamp with time zone",
    "_dlt_load_id": "varchar",
    # which name rule matched the file; for a sheet, its layout (JSON: header and units rows, units, hidden columns
    # and rows, declared or detected), the rows skipped by reason (JSON), where the table ended and the sheet did
    "name_rule": "varchar",
    "layout": "varchar",
    "rows_skipped": "varchar",
    "table_end_row": "bigint",
    "last_sheet_row": "bigint",
}
PERIODS_TABLE = "publication_periods"
PERIODS_COLUMNS = {
    "publication": "varchar",
    "period": "varchar",
    "frequency": "varchar",
    "period_start": "date",
    "period_end": "date",
    "run_id": "varchar",
    "load_id": "varchar",
    "published_at": "timestamp with time zone",
}
LOADS_TABLE = "_dlt_loads"  # dlt's own record of completed loads, in dlt's layout
LOADS_COLUMNS = {
    "load_id": "varchar",
    "schema_name": "varchar",
    "status": "bigint",
    "inserted_at": "timestamp with time zone",
    "schema_version_hash": "varchar",
}
# dlt's stored schemas, in dlt's layout: what dlt's CLI reads and writes (`dlt pipeline <name> drop | sync`); a
# dataset dlt's loader never wrote would otherwise lack it and refuse a drop
VERSION_TABLE = "_dlt_version"
VERSION_COLUMNS = {
    "version": "bigint",
    "engine_version": "bigint",
    "inserted_at": "timestamp with time zone",
    "schema_name": "varchar",
    "version_hash": "varchar",
    "schema": "varchar",
}
QUARANTINE_COLUMNS = {
    "publication": "varchar",
    "period": "varchar",
    "bronze_table": "varchar",
    "file_name": "varchar",
    "part_name": "varchar",
    "source_row": "bigint",
    "column_name": "varchar",
    "raw_value": "varchar",
    "reason": "varchar",
    "disposition": "varchar",
    "run_id": "varchar",
    "load_id": "varchar",
    "recorded_at": "timestamp with time zone",
}


@dataclass
class TableOutcome:
    table: str
    rows: int = 0  # published into bronze
    rejected: int = 0  # quarantined, not loaded (reader rejections and repeated keys)
    flagged: int = 0  # loaded, with a quarantine record (spreadsheet error cells)


@dataclass
class PeriodPublication:
    """What one period's load brings, ready to be published."""

    publication: str
    dataset: str
    period: str
    load_id: str
    run_id: str
    fingerprint: str
    tables: Sequence[TableSpec]
    load_files: dict[str, list[Path]]  # table -> the parquet files dlt normalized for it
    column_types: dict[str, dict[str, str]]  # table -> column -> SQL type (dlt's schema, the engine's type names)
    schema_name: str  # dlt's schema and its version hash, for the _dlt_loads row
    schema_hash: str
    read_rows: dict[str, int]  # rows the readers took, per table
    manifest: list[dict[str, Any]]
    quarantine: list[dict[str, Any]] = field(default_factory=list)  # reader rejections, QUARANTINE_COLUMNS keys
    frequency: str = "monthly"
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    cleared: Sequence[str] = ()  # tables of optional files this release lacks: the period's rows there go
    units: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> column -> units (column comments)
    schema_version: int = 0  # dlt's schema as dlt stores it, for the _dlt_version row
    schema_json: str = "{}"

    @property
    def subject(self) -> str:
        return f"{self.publication}/{self.period}"

    def quarantine_rows(self, now: dt.datetime) -> list[dict[str, Any]]:
        """The readers' quarantine rows, as the quarantine table holds them."""
        recorded = {
            "publication": self.publication,
            "period": self.period,
            "run_id": self.run_id,
            "load_id": self.load_id,
            "recorded_at": now,
        }
        return [{**q, **recorded} for q in self.quarantine]

    def period_row(self, now: dt.datetime) -> dict[str, Any]:
        """The period's row of ``publication_periods``."""
        return {
            "publication": self.publication,
            "period": self.period,
            "frequency": self.frequency,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "run_id": self.run_id,
            "load_id": self.load_id,
            "published_at": now,
        }

    def manifest_rows(self, now: dt.datetime) -> list[dict[str, Any]]:
        """The manifest rows of the period's files, sheets and members, as loaded."""
        return [{**row, "status": "loaded", "recorded_at": now, "_dlt_load_id": self.load_id} for row in self.manifest]


def publish_period(warehouse: Warehouse, period: PeriodPublication) -> dict[str, TableOutcome]:
    """Publish ``period`` in one transaction (see the module docs). Raises IngestionError naming the table when
    the period cannot be published (too many rows quarantined, a value that does not fit), WarehouseUnavailable
    when the warehouse went away; in both cases nothing of the period changed."""
    connection = warehouse.connect()
    try:
        warehouse.begin(connection)
        _prepare_side_tables(connection, warehouse, period)
        _add_side_rows(connection, warehouse, period)
        outcomes = {spec.table: _publish_table(connection, warehouse, period, spec) for spec in period.tables}
        _clear_tables(connection, warehouse, period)
        _record_period(connection, warehouse, period, outcomes)
        connection.commit()
        return outcomes
    except BaseException as error:
        _rollback(connection)
        unavailable = find_unavailable(error) if not isinstance(error, IngestionError) else None
        if unavailable is not None:
            raise unavailable from error
        if isinstance(error, Exception) and not isinstance(error, IngestionError | WarehouseUnavailable):
            raise IngestionError(
                f"publishing the period failed, nothing of it was changed: {describe(error)}",
                publication=period.publication,
                period=period.period,
            ) from error
        raise
    finally:
        connection.close()


def record_failed_manifest(warehouse: Warehouse, dataset: str, rows: list[dict[str, Any]]) -> None:
    """Manifest rows of a period that failed (status failed), so its files and parts are still on record."""
    connection = warehouse.connect()
    try:
        ensure_columns(connection, warehouse, dataset, MANIFEST_TABLE, MANIFEST_COLUMNS)
        _insert_dicts(
            connection, warehouse, dataset, MANIFEST_TABLE, _manifest_columns(connection, warehouse, dataset), rows
        )
        connection.commit()
    finally:
        connection.close()


# -- the steps ------------------------------------------------------------------------------------------------------


def checked_columns(period: PeriodPublication, spec: TableSpec) -> tuple[list[str], int]:
    """The columns a table's load files bring into bronze (dlt's own left out, but its load id) and the rows they
    hold, once checked: the declared key columns are there and the files hold every row the readers took."""
    arriving = period.column_types.get(spec.table, {})
    files = period.load_files.get(spec.table, [])
    if not arriving or not files:
        raise IngestionError(
            f"table {spec.table} has no load files to publish", publication=period.publication, period=period.period
        )
    columns = [name for name in arriving if not name.startswith("_dlt_") or name == "_dlt_load_id"]
    missing = [key for key in spec.keys if key not in arriving]
    if missing:
        raise IngestionError(
            f"table {spec.table}: declared key column(s) {', '.join(missing)} not in the data "
            f"(columns: {', '.join(c for c in columns if not c.startswith('_'))})",
            publication=period.publication,
            period=period.period,
        )
    landed, taken = Warehouse.parquet_rows(files), period.read_rows.get(spec.table)
    if not landed or (taken is not None and landed != taken):
        raise IngestionError(
            f"table {spec.table}: dlt normalized {landed:,} rows of this load, the readers took "
            f"{taken if taken is not None else 'some'}; nothing of this period was changed",
            publication=period.publication,
            period=period.period,
        )
    return columns, landed


def _publish_table(connection: Any, warehouse: Warehouse, period: PeriodPublication, spec: TableSpec) -> TableOutcome:
    outcome = TableOutcome(spec.table)
    arriving = period.column_types.get(spec.table, {})
    files = period.load_files.get(spec.table, [])
    columns, landed = checked_columns(period, spec)
    ensure_columns(connection, warehouse, period.dataset, spec.table, {c: arriving[c] for c in columns})
    target = f"{warehouse.quote(period.dataset)}.{warehouse.quote(spec.table)}"
    run = warehouse.cursor(connection)
    run.execute(f"delete from {target} where _period = {warehouse.placeholder}", (period.period,))
    warehouse.insert_parquet(connection, period.dataset, spec.table, columns, files)
    for statement in warehouse.summary_statements(period.dataset, spec.table, PERIOD_COLUMN):
        run.execute(statement)
    # counted in the load files (the rows just inserted), so the warehouse sorts the period only when a key repeats
    repeated = warehouse.repeated_keys(files, spec.keys) if spec.keys else 0
    if repeated:
        _quarantine_repeats(run, warehouse, period, spec, target)
    for column, units in period.units.get(spec.table, {}).items():
        if column in arriving:
            run.execute(
                f"comment on column {target}.{warehouse.quote(column)} is "
                + "'units: "
                + units.replace("'", "''")
                + "'"
            )
    outcome.rows = landed - repeated  # one row of each repeated key stays
    rejections = [q for q in period.quarantine if q["bronze_table"] == spec.table]
    outcome.rejected = repeated + sum(q["disposition"] == "rejected" for q in rejections)
    outcome.flagged = sum(q["disposition"] == "flagged" for q in rejections)
    total = landed + outcome.rejected - repeated  # every data row read: taken, or rejected by a reader
    limit = spec.max_quarantined
    if outcome.rejected and limit.exceeded(outcome.rejected, total):
        examples = "; ".join(
            [_example(q) for q in rejections[:3]]
            + _repeat_examples(run, warehouse, period, 3 - min(len(rejections), 3), spec.table)
        )
        raise over_the_limit(period, spec, outcome.rejected, total, examples)
    return outcome


def over_the_limit(
    period: PeriodPublication, spec: TableSpec, rejected: int, total: int, examples: str
) -> IngestionError:
    """The error of a table whose quarantined rows exceed its ``max_quarantined``."""
    return IngestionError(
        f"table {spec.table}: {rejected:,} of {total:,} rows quarantined, over the limit of {spec.max_quarantined} "
        f"(max_quarantined in the publications config); for example: {examples}. Nothing of this period was changed",
        publication=period.publication,
        period=period.period,
    )


def _quarantine_repeats(
    run: Any, warehouse: Warehouse, period: PeriodPublication, spec: TableSpec, target: str
) -> None:
    """Rows of the period whose declared key repeats: the first in file order (part, then row) stays, the others
    move to quarantine, naming the row that kept the key."""
    ph = warehouse.placeholder
    keys = ", ".join(warehouse.quote(k) for k in spec.keys)
    # a row whose key is partly null repeats nothing (null is no value); validation reports null keys
    incomplete = " or ".join(f"{warehouse.quote(k)} is null" for k in spec.keys)
    ranked = (
        f"(select *, case when {incomplete} then 1 else row_number() over (partition by {keys} "
        f"order by _part, _source_row) end as _repeat, "
        f"first_value(_source_row) over (partition by {keys} order by _part, _source_row) as _first_row "
        f"from {target} where _period = {ph}) as ranked"
    )
    key_text = " || ', ' || ".join(f"coalesce(cast({warehouse.quote(k)} as varchar), 'null')" for k in spec.keys)
    names = ", ".join(warehouse.quote(c) for c in QUARANTINE_COLUMNS)
    manifest = f"{warehouse.quote(period.dataset)}.{warehouse.quote(MANIFEST_TABLE)}"
    run.execute(
        f"insert into {warehouse.quote(period.dataset)}.{warehouse.quote(QUARANTINE_TABLE)} ({names}) "
        f"select {ph}, ranked._period, {ph}, parts.file_name, parts.part_name, ranked._source_row, {ph}, {key_text}, "
        f"'repeated key: the first row with it is row ' || cast(ranked._first_row as varchar), 'rejected', {ph}, "
        f"{ph}, {ph} from {ranked} join {manifest} as parts on parts._dlt_load_id = ranked._dlt_load_id "
        f"and parts.part_id = ranked._part where ranked._repeat > 1",
        (
            period.publication,
            spec.table,
            ", ".join(spec.keys),
            period.run_id,
            period.load_id,
            dt.datetime.now(dt.UTC),
            period.period,
        ),
    )
    run.execute(
        f"delete from {target} where _period = {ph} and exists (select 1 from {ranked} where ranked._repeat > 1 "
        f"and ranked._part = {target}._part and ranked._source_row = {target}._source_row)",
        (period.period, period.period),
    )


def _repeat_examples(run: Any, warehouse: Warehouse, period: PeriodPublication, limit: int, table: str) -> list[str]:
    """Up to ``limit`` repeated keys, as quarantined in this transaction: the value and the rows that repeat it."""
    if limit <= 0:
        return []
    ph = warehouse.placeholder
    run.execute(
        f"select file_name, part_name, raw_value, count(*) + 1, min(source_row), max(source_row) "
        f"from {warehouse.quote(period.dataset)}.{warehouse.quote(QUARANTINE_TABLE)} where publication = {ph} "
        f"and period = {ph} and bronze_table = {ph} and substr(reason, 1, 12) = 'repeated key' "
        f"group by file_name, part_name, column_name, raw_value order by min(source_row) limit {int(limit)}",
        (period.publication, period.period, table),
    )
    return [
        f"{file}{f', {part}' if part != file else ''}: key = ({value}) on {count} rows, repeated on rows {first} "
        f"to {last}"
        for file, part, value, count, first, last in run.fetchall()
    ]


def _clear_tables(connection: Any, warehouse: Warehouse, period: PeriodPublication) -> None:
    """The period's rows go from the tables of optional files this release does not have."""
    run = warehouse.cursor(connection)
    for table in period.cleared:
        if warehouse.column_types(connection, period.dataset, table):
            run.execute(
                f"delete from {warehouse.quote(period.dataset)}.{warehouse.quote(table)} "
                f"where _period = {warehouse.placeholder}",
                (period.period,),
            )


SIDE_TABLES = {
    QUARANTINE_TABLE: QUARANTINE_COLUMNS,
    MANIFEST_TABLE: MANIFEST_COLUMNS,
    PERIODS_TABLE: PERIODS_COLUMNS,
    LOADS_TABLE: LOADS_COLUMNS,
    VERSION_TABLE: VERSION_COLUMNS,
}


def ensure_side_tables(connection: Any, warehouse: Warehouse, dataset: str) -> None:
    """A publication dataset's quarantine, manifest, periods and dlt's two tables exist, with their columns."""
    for table, columns in SIDE_TABLES.items():
        ensure_columns(connection, warehouse, dataset, table, columns)


def _prepare_side_tables(connection: Any, warehouse: Warehouse, period: PeriodPublication) -> None:
    """Quarantine and manifest tables exist; the quarantine rows of the period's earlier load go."""
    ph = warehouse.placeholder
    ensure_side_tables(connection, warehouse, period.dataset)
    warehouse.cursor(connection).execute(  # one row per schema version, as dlt keeps it
        f"delete from {warehouse.quote(period.dataset)}.{VERSION_TABLE} "
        f"where schema_name = {ph} and version_hash = {ph}",
        (period.schema_name, period.schema_hash),
    )
    for table in (QUARANTINE_TABLE, PERIODS_TABLE):
        warehouse.cursor(connection).execute(
            f"delete from {warehouse.quote(period.dataset)}.{warehouse.quote(table)} "
            f"where publication = {ph} and period = {ph}",
            (period.publication, period.period),
        )


def _add_side_rows(connection: Any, warehouse: Warehouse, period: PeriodPublication) -> None:
    """The readers' quarantine rows (the table step adds repeated keys), the period's row, dlt's load row and the
    manifest rows (which the table step joins to name a repeated row's file and part)."""
    now = dt.datetime.now(dt.UTC)
    rows = period.quarantine_rows(now)
    _insert_dicts(connection, warehouse, period.dataset, QUARANTINE_TABLE, QUARANTINE_COLUMNS, rows)
    _insert_dicts(
        connection,
        warehouse,
        period.dataset,
        PERIODS_TABLE,
        PERIODS_COLUMNS,
        [period.period_row(now)],
    )
    _insert_dicts(
        connection,
        warehouse,
        period.dataset,
        LOADS_TABLE,
        LOADS_COLUMNS,
        [
            {
                "load_id": period.load_id,
                "schema_name": period.schema_name,
                "status": 0,  # dlt's "loaded"
                "inserted_at": now,
                "schema_version_hash": period.schema_hash,
            }
        ],
    )
    _insert_dicts(
        connection,
        warehouse,
        period.dataset,
        VERSION_TABLE,
        VERSION_COLUMNS,
        [
            {
                "version": period.schema_version,
                "engine_version": Schema.ENGINE_VERSION,
                "inserted_at": now,
                "schema_name": period.schema_name,
                "version_hash": period.schema_hash,
                "schema": period.schema_json,
            }
        ],
    )
    manifest = period.manifest_rows(now)
    _insert_dicts(
        connection,
        warehouse,
        period.dataset,
        MANIFEST_TABLE,
        _manifest_columns(connection, warehouse, period.dataset),
        manifest,
    )


def _record_period(
    connection: Any, warehouse: Warehouse, period: PeriodPublication, outcomes: dict[str, TableOutcome]
) -> None:
    ph, run = warehouse.placeholder, warehouse.cursor(connection)
    run.execute(
        f"delete from {ops_schema()}.period_loads where source = {ph} and subject = {ph}",
        (period.publication, period.subject),
    )
    run.execute(
        f"insert into {ops_schema()}.period_loads (source, subject, fingerprint, load_id, run_id, row_count, "
        f"quarantined_count, published_at) values ({', '.join([ph] * 8)})",
        (
            period.publication,
            period.subject,
            period.fingerprint,
            period.load_id,
            period.run_id,
            sum(o.rows for o in outcomes.values()),
            sum(o.rejected for o in outcomes.values()),
            dt.datetime.now(dt.UTC),
        ),
    )


# -- helpers --------------------------------------------------------------------------------------------------------


def ensure_columns(connection: Any, warehouse: Warehouse, schema: str, table: str, wanted: dict[str, str]) -> None:
    """Create ``schema.table`` with ``wanted`` columns, or add the ones it lacks (a later release's new columns). A
    table read a period at a time (bronze tables, by ``_period``) gets the engine's index on it, so that reading or
    replacing one period costs that period's rows however many the table holds."""
    run = warehouse.cursor(connection)
    run.execute(f"create schema if not exists {warehouse.quote(schema)}")
    held = warehouse.column_types(connection, schema, table)
    if not held:
        run.execute(
            f"create table {warehouse.quote(schema)}.{warehouse.quote(table)} ("
            + ", ".join(f"{warehouse.quote(name)} {kind}" for name, kind in wanted.items())
            + ")"
        )
    for name, kind in wanted.items():
        if held and name not in held:
            run.execute(
                f"alter table {warehouse.quote(schema)}.{warehouse.quote(table)} "
                f"add column {warehouse.quote(name)} {kind}"
            )
    if PERIOD_COLUMN in wanted:
        for statement in warehouse.index_statements(schema, table, PERIOD_COLUMN):
            run.execute(statement)


def _manifest_columns(connection: Any, warehouse: Warehouse, dataset: str) -> dict[str, str]:
    """The manifest's columns; a manifest written by dlt (before periods were published by this module) also has
    a not-null ``_dlt_id``, given a fresh id per row."""
    held = warehouse.column_types(connection, dataset, MANIFEST_TABLE)
    return {**MANIFEST_COLUMNS, "_dlt_id": "varchar"} if "_dlt_id" in held else MANIFEST_COLUMNS


def _insert_dicts(
    connection: Any, warehouse: Warehouse, schema: str, table: str, columns: dict[str, str], rows: list[dict[str, Any]]
) -> None:
    names = list(columns)
    warehouse.insert_rows(
        connection,
        schema,
        table,
        names,
        [tuple(uuid.uuid4().hex if c == "_dlt_id" else row.get(c) for c in names) for row in rows],
    )


def _rollback(connection: Any) -> None:
    with contextlib.suppress(Exception):  # a connection that is gone was rolled back by the server
        connection.rollback()


def _example(rejection: dict[str, Any]) -> str:
    where = ", ".join(
        str(bit)
        for bit in (
            rejection.get("file_name"),
            rejection.get("part_name"),
            rejection.get("source_row") and f"row {rejection['source_row']}",
            rejection.get("column_name"),
        )
        if bit
    )
    return f"{where}: {rejection.get('reason')}"
