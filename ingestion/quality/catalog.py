"""What a bronze table holds, read from the warehouse without scanning it.

Column types come from ``information_schema`` and are named in dlt's engine-neutral vocabulary (text, bigint,
double, bool, date, timestamp, ...), so that one suite holds on DuckDB and on PostgreSQL. For publication tables,
the columns each period's files arrived with come from the manifest (``publication_manifest.columns``): dlt never
drops a column, so the catalog alone cannot show that a later release stopped sending one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ingestion.errors import ConfigError
from ingestion.warehouse import Warehouse

# Columns every row of a table carries whatever its source sent: the load metadata and dlt's own; then the per-file
# metadata rows carried before it moved to the manifest (still in bronze tables loaded by earlier versions).
METADATA = (
    "_period",
    "_part",
    "_source_row",
    "_dlt_load_id",
    "_dlt_id",
    "_source_file",
    "_source_sheet",
    "_source_member",
    "_file_sha256",
    "_loaded_at",
)

_TYPES = (  # catalog type (DuckDB or PostgreSQL, lower case, prefix match) -> dlt data type
    ("timestamp with time zone", "timestamp"),
    ("timestamp", "timestamp"),
    ("date", "date"),
    ("time", "time"),
    ("character varying", "text"),
    ("varchar", "text"),
    ("text", "text"),
    ("character", "text"),
    ("bigint", "bigint"),
    ("integer", "bigint"),
    ("smallint", "bigint"),
    ("hugeint", "bigint"),
    ("double", "double"),
    ("real", "double"),
    ("float", "double"),
    ("boolean", "bool"),
    ("numeric", "decimal"),
    ("decimal", "decimal"),
    ("jsonb", "json"),
    ("json", "json"),
    ("blob", "binary"),
    ("bytea", "binary"),
)


def dlt_type(catalog_type: str) -> str:
    """``'TIMESTAMP WITH TIME ZONE'`` (DuckDB) or ``'timestamp with time zone'`` (PostgreSQL) -> ``'timestamp'``."""
    name = catalog_type.lower().strip()
    for prefix, mapped in _TYPES:
        if name.startswith(prefix):
            return mapped
    return name


@dataclass(frozen=True)
class BronzeTable:
    """A bronze table a suite guards: its keys, and its period column when it is loaded a period at a time."""

    dataset: str
    table: str
    keys: tuple[str, ...]
    period_column: str | None

    @property
    def name(self) -> str:
        return f"{self.dataset}.{self.table}"


def declared_tables() -> list[BronzeTable]:
    """Every bronze table the source configs declare (publications, then the service desk)."""
    from ingestion.sources.publications.settings import load_publications
    from ingestion.sources.servicedesk import dataset, declared_systems
    from ingestion.sources.servicedesk.mapping import SOURCE_SYSTEM

    tables = [
        BronzeTable(p.dataset, spec.table, spec.keys, "_period")
        for p in load_publications().values()
        for spec in p.tables()
    ]
    keys: dict[str, set[tuple[str, ...]]] = {}
    for system in declared_systems().values():  # the canonical tables the declared systems fill
        for resource in system.resources:
            keys.setdefault(resource.entity, set()).add((SOURCE_SYSTEM, *resource.key()))
    # a table whose systems identify records differently (an id here, a natural key there) has no one key to check
    tables += [
        BronzeTable(dataset(), entity, next(iter(found)) if len(found) == 1 else (), None)
        for entity, found in sorted(keys.items())
    ]
    return tables


def find_table(name: str) -> BronzeTable:
    """A declared table by ``dataset.table`` or by its bare table name."""
    found = [t for t in declared_tables() if name in (t.name, t.table)]
    if len(found) != 1:
        known = ", ".join(t.name for t in declared_tables())
        raise ConfigError(f"no single bronze table {name!r}; declared: {known}")
    return found[0]


def columns(warehouse: Warehouse, table: BronzeTable) -> dict[str, str]:
    """Column -> dlt type, in table order, from the catalog (empty if the table does not exist yet)."""
    return all_columns(warehouse, [table]).get(table, {})


def all_columns(warehouse: Warehouse, tables: list[BronzeTable]) -> dict[BronzeTable, dict[str, str]]:
    """:func:`columns` of several tables in one catalog query (tables that do not exist are left out)."""
    if not tables:
        return {}
    by_name = {(t.dataset, t.table): t for t in tables}
    wanted = " or ".join(f"(table_schema = '{d}' and table_name = '{n}')" for d, n in by_name)
    found: dict[BronzeTable, dict[str, str]] = {}
    for schema, name, column, kind in warehouse.query(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        f"where {wanted} order by table_schema, table_name, ordinal_position"
    ):
        found.setdefault(by_name[(schema, name)], {})[column] = dlt_type(kind)
    return found


def periods(warehouse: Warehouse, table: BronzeTable, arrived: dict[str, list[str]] | None = None) -> list[str]:
    """The periods a publication table holds, in order: from the manifest (its loaded periods, the keys of
    :func:`arrived_columns`), which costs the same however many rows the table holds; by a scan of the table only
    when it has no manifest (a table loaded before there was one)."""
    if not table.period_column:
        return []
    if arrived is None:
        arrived = arrived_columns(warehouse, table)
    if arrived:
        return sorted(arrived)
    if not columns(warehouse, table):
        return []
    rows = warehouse.query(f"select distinct {table.period_column} from {table.name} order by 1")
    return [row[0] for row in rows]


def _latest_parts(warehouse: Warehouse, table: BronzeTable, select: str, rest: str) -> list[tuple] | None:
    """``select`` (columns of the manifest ``m``, then ``rest``) over the manifest rows of each period's latest
    load of ``table``; None when the table has no periods or there is no manifest."""
    manifest = f"{table.dataset}.publication_manifest"
    if not table.period_column or not warehouse.table_exists(table.dataset, "publication_manifest"):
        return None
    return warehouse.query(
        f"select {select} from {manifest} m join (select period, max(recorded_at) as recorded_at "
        f"from {manifest} where bronze_table = '{table.table}' and status = 'loaded' group by period) latest "
        "on m.period = latest.period and m.recorded_at = latest.recorded_at "
        f"where m.bronze_table = '{table.table}' and m.status = 'loaded' {rest}"
    )


def period_rows(warehouse: Warehouse, table: BronzeTable) -> dict[str, int]:
    """Period -> the rows its latest load brought into the table, from the manifest (no scan of the table)."""
    rows = _latest_parts(warehouse, table, "m.period, sum(m.row_count)", "group by m.period") or []
    return {period: int(count or 0) for period, count in rows}


def arrived_columns(warehouse: Warehouse, table: BronzeTable) -> dict[str, list[str]]:
    """Period -> the columns that period's files brought (the latest load of each period; union over its parts)."""
    rows = _latest_parts(warehouse, table, "m.period, m.columns", "order by m.period")
    if rows is None:
        return {}
    result: dict[str, list[str]] = {}
    for period, listed in rows:
        seen = result.setdefault(period, [])
        seen += [c for c in (listed or "").split(",") if c and c not in seen]
    return result


def first_seen(warehouse: Warehouse, table: BronzeTable, arrived: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Column -> when it first appeared: the first period that brought it (publications; ``arrived`` when the
    caller read it already), or the date of the first dlt schema version that held it (``_dlt_version``, for tables
    loaded without periods)."""
    if table.period_column:
        first: dict[str, str] = {}
        for period, names in sorted((arrived_columns(warehouse, table) if arrived is None else arrived).items()):
            for name in names:
                first.setdefault(name, period)
        return first
    if not warehouse.table_exists(table.dataset, "_dlt_version"):
        return {}
    first = {}
    for inserted_at, schema in warehouse.query(
        f"select inserted_at, schema from {table.dataset}._dlt_version order by inserted_at"
    ):
        described = json.loads(schema).get("tables", {}).get(table.table, {}).get("columns", {})
        for name in described:
            first.setdefault(name, f"{inserted_at:%Y-%m-%d %H:%M}")
    return first
