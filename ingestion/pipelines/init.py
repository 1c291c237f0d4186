"""``ingestion init``: a warehouse that ``dbt build`` can build before anything is loaded.

On a fresh server ``dbt build --target postgres`` had nothing to connect to (the database did not exist) and, once
it had, nothing to select from (the bronze sources did not exist). ``init`` creates, each only when missing:

* the database (PostgreSQL; a DuckDB file is created by its first connection);
* the run ledger (``ops``);
* every declared bronze table, empty, in the shape later loads give it: a publication's tables with the columns and
  types of their committed suites (``expectations/``, the reviewed shape of each table; the publications declare
  no columns), its manifest, periods and quarantine tables with the columns the load writes; a service desk's
  canonical tables with the columns the canonical model declares, as dlt creates them (``_dlt_load_id`` and
  ``_dlt_id`` not null).

Types come from dlt's own type mapper for the warehouse, the one the loads use, so a later load finds the columns
it would have created and only adds what a release brings new. A table that already exists is left as it is:
``init`` on a loaded warehouse changes nothing. Silver and gold built on the empty bronze are empty; their tests
pass, except those that guard against a model losing rows its sources hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ingestion.ledger import Ledger
from ingestion.pipelines.publish import SIDE_TABLES, ensure_columns
from ingestion.quality import catalog
from ingestion.quality.catalog import BronzeTable
from ingestion.quality.suites import Suite, suite_path
from ingestion.warehouse import SparkWarehouse, Warehouse

if TYPE_CHECKING:
    from ingestion.sources.servicedesk.schema import EntityName

DLT_COLUMNS = ("_dlt_load_id", "_dlt_id")  # what dlt adds to every table its loader creates, never null


@dataclass
class InitReport:
    """What ``init`` did: created the database or not, and per table created, kept (already there) or skipped."""

    target: str
    database_created: bool = False
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<table>: why"

    def summary(self) -> str:
        return (
            f"init {self.target}: database {'created' if self.database_created else 'ready'}, ledger ready, "
            f"{len(self.created)} bronze tables created empty, {len(self.kept)} already there"
            + (f", {len(self.skipped)} skipped" if self.skipped else "")
        )


def init_warehouse(warehouse: Warehouse) -> InitReport:
    if isinstance(warehouse, SparkWarehouse):
        return init_lake(warehouse)
    report = InitReport(warehouse.target)
    report.database_created = warehouse.ensure_database()
    Ledger(warehouse, "-").ensure_schema()
    mapper = warehouse.dlt_destination().capabilities().get_type_mapper()
    tables = catalog.declared_tables()
    connection = warehouse.connect()
    try:
        for table in tables:
            if warehouse.table_exists(table.dataset, table.table, connection):
                report.kept.append(table.name)
                continue
            columns = _declared_columns(table)
            if columns is None:
                report.skipped.append(
                    f"{table.name}: no suite at {suite_path(table)} says its columns (a first load creates it; "
                    f"then write one with: ingestion expectations init --table {table.name})"
                )
                continue
            ensure_columns(connection, warehouse, table.dataset, table.table, _sql_types(mapper, table, columns))
            report.created.append(table.name)
        for dataset in sorted({t.dataset for t in tables if t.period_column}):  # publication datasets
            for side, side_columns in SIDE_TABLES.items():
                if not warehouse.table_exists(dataset, side, connection):
                    ensure_columns(connection, warehouse, dataset, side, side_columns)
        connection.commit()
    finally:
        connection.close()
    return report


def _declared_columns(table: BronzeTable) -> dict[str, dict[str, Any]] | None:
    """dlt column schemas of ``table``: a service desk's canonical columns, a publication table's suite columns."""
    if table.period_column is None:
        from ingestion.sources.servicedesk import entity_columns

        columns: dict[str, dict[str, Any]] = {
            name: dict(c) for name, c in entity_columns(cast("EntityName", table.table)).items()
        }
        return columns | {name: {"data_type": "text", "nullable": False} for name in DLT_COLUMNS}
    suite = Suite.load(table)
    if suite is None:
        return None
    types = suite.column_types()  # the load's own _period, _part, _source_row and _dlt_load_id among them
    return {name: {"data_type": types[name], "nullable": True} for name in suite.expected_columns(None)}


def _sql_types(mapper: Any, table: BronzeTable, columns: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Column -> the SQL type dlt's loader would create it with (and ``not null`` where dlt makes it so)."""
    prepared: dict[str, Any] = {
        "name": table.table,
        "columns": {name: {"name": name, **c} for name, c in columns.items()},
    }
    return {
        name: mapper.to_destination_type(prepared["columns"][name], prepared)
        + ("" if column.get("nullable", True) else " not null")
        for name, column in columns.items()
    }


def init_lake(warehouse: SparkWarehouse) -> InitReport:
    """``init`` on the lake (the spark target): the ledger (its DuckDB file), every declared table with files
    (:func:`ensure_lake_tables`) and the ledger's copy for dbt: what a plain ``dbt build --target spark`` needs."""
    Ledger(warehouse, "-").ensure_schema()
    report = ensure_lake_tables(warehouse)
    warehouse.before_dbt()
    return report


def ensure_lake_tables(warehouse: SparkWarehouse) -> InitReport:
    """Every declared bronze table, each side table of a publication dataset and a service desk's ``deletions``
    that has no files yet gets an empty one (:meth:`ingestion.lake.Lake.ensure_table`) with the columns a load gives
    it, in the Arrow types dlt writes, so that dbt on Spark can make every source before the first load. Done at
    the start of every command on the lake and before every dbt command."""
    import dlt
    from dlt.common.libs.pyarrow import columns_to_arrow

    from ingestion.pipelines.lake_publish import side_schema
    from ingestion.sources.servicedesk import DELETION_COLUMNS, DELETIONS
    from ingestion.sources.servicedesk import dataset as servicedesk_dataset

    report = InitReport(warehouse.target)
    lake = warehouse.lake
    capabilities = dlt.destinations.filesystem(bucket_url=lake.url).capabilities()

    def arrow(columns: dict[str, dict[str, Any]]) -> Any:
        named: Any = {name: {"name": name, **c} for name, c in columns.items()}
        return columns_to_arrow(named, capabilities, "UTC")

    tables = catalog.declared_tables()
    for table in tables:
        columns = _declared_columns(table)
        if columns is None:
            report.skipped.append(f"{table.name}: no suite at {suite_path(table)} says its columns")
            continue
        created = lake.ensure_table(table.dataset, table.table, arrow(columns))
        (report.created if created else report.kept).append(table.name)
    for dataset in sorted({t.dataset for t in tables if t.period_column}):
        for side, side_columns in SIDE_TABLES.items():
            if not side.startswith("_dlt"):  # dlt's own are written by its loader, in its own layout
                lake.ensure_table(dataset, side, side_schema(side_columns))
    deletions = {name: dict(column) for name, column in DELETION_COLUMNS.items()}
    lake.ensure_table(
        servicedesk_dataset(),
        DELETIONS,
        arrow(deletions | {name: {"data_type": "text", "nullable": False} for name in DLT_COLUMNS}),
    )
    return report
