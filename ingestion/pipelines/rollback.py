"""Take one bad load back out of bronze: a publication period's rows leave every bronze table, its manifest,
quarantine and period rows, dlt's load row and the fingerprint that would let a run skip it, in one transaction,
so bronze is as if the period had never loaded and the next run loads it again (from the files as they are then).
Silver and gold follow on the next build that loads it; the ledger records the rollback as a stage of its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingestion.errors import ConfigError
from ingestion.ledger import Ledger, ops_schema
from ingestion.pipelines.publish import (
    LOADS_TABLE,
    MANIFEST_TABLE,
    PERIOD_COLUMN,
    PERIODS_TABLE,
    QUARANTINE_TABLE,
)
from ingestion.sources.publications.settings import Publication, load_publications
from ingestion.warehouse import SparkWarehouse, Warehouse


@dataclass
class Rollback:
    """What a rollback takes out: the rows of each table (``dataset.table``), and the period's published load."""

    publication: str
    period: str
    load_id: str | None
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return f"{self.publication}/{self.period}"

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def resolve(warehouse: Warehouse, publication: str | None, period: str | None, load_id: str | None) -> Rollback:
    """The period to roll back, named by publication and period, or by the load id that published it (the one
    bronze holds: a load a later one replaced is not in bronze any more)."""
    declared = load_publications()
    if load_id:
        found = (
            warehouse.query(f"select source, subject from {ops_schema()}.period_loads where load_id = ?", (load_id,))
            if warehouse.table_exists(ops_schema(), "period_loads")
            else []
        )
        if not found:
            raise ConfigError(
                f"load {load_id} is not the published load of any period (bronze holds only the latest load of each "
                "period; `ingestion runs show RUN_ID` lists a run's load ids)"
            )
        source, subject = found[0]
        publication, period = source, subject.split("/", 1)[1]
    if not publication or not period:
        raise ConfigError("rollback: give --publication and --period, or --load-id")
    if publication not in declared:
        raise ConfigError(f"no publication {publication!r}; declared: {', '.join(declared)}")
    held = (
        warehouse.query(
            f"select load_id from {ops_schema()}.period_loads where source = ? and subject = ?",
            (publication, f"{publication}/{period}"),
        )
        if warehouse.table_exists(ops_schema(), "period_loads")
        else []
    )
    return Rollback(publication, period, held[0][0] if held else load_id)


def _targets(publication: Publication) -> list[tuple[str, str]]:
    """(table, where clause) of every table that holds the period: the bronze tables by their period column, the
    side tables by publication and period."""
    bronze = [(spec.table, f"{PERIOD_COLUMN} = ?") for spec in publication.tables()]
    side = [(table, "publication = ? and period = ?") for table in (MANIFEST_TABLE, QUARANTINE_TABLE, PERIODS_TABLE)]
    return bronze + side


def _parameters(where: str, plan: Rollback) -> tuple[str, ...]:
    return (plan.period,) if where.startswith(PERIOD_COLUMN) else (plan.publication, plan.period)


def count(warehouse: Warehouse, plan: Rollback) -> Rollback:
    """The rows each table holds of the period (what a rollback would take out)."""
    publication = load_publications()[plan.publication]
    dataset = publication.dataset
    for table, where in _targets(publication):
        if warehouse.table_exists(dataset, table):
            rows = warehouse.query(
                f"select count(*) from {warehouse.quote(dataset)}.{warehouse.quote(table)} where {where}",
                _parameters(where, plan),
            )[0][0]
            plan.rows[f"{dataset}.{table}"] = int(rows)
    return plan


def roll_back(warehouse: Warehouse, ledger: Ledger, plan: Rollback) -> Rollback:
    """Delete the period from every table, dlt's load row and ``ops.period_loads`` in one transaction, as a ledger
    stage ``rollback``; an error leaves everything as it was."""
    publication = load_publications()[plan.publication]
    dataset = publication.dataset
    if isinstance(warehouse, SparkWarehouse):
        return _roll_back_lake(warehouse, ledger, plan, dataset)
    with ledger.stage("rollback", source=plan.publication, subject=plan.subject) as stage:
        connection = warehouse.connect()
        try:
            warehouse.begin(connection)
            run = warehouse.cursor(connection)
            for table, where in _targets(publication):
                if not warehouse.table_exists(dataset, table, connection):
                    continue
                relation = f"{warehouse.quote(dataset)}.{warehouse.quote(table)}"
                run.execute(warehouse.sql(f"select count(*) from {relation} where {where}"), _parameters(where, plan))
                plan.rows[f"{dataset}.{table}"] = int(run.fetchall()[0][0])  # in the transaction: what goes
                run.execute(warehouse.sql(f"delete from {relation} where {where}"), _parameters(where, plan))
            if plan.load_id and warehouse.table_exists(dataset, LOADS_TABLE, connection):
                run.execute(
                    warehouse.sql(f"delete from {warehouse.quote(dataset)}.{LOADS_TABLE} where load_id = ?"),
                    (plan.load_id,),
                )
            run.execute(
                warehouse.sql(f"delete from {ops_schema()}.period_loads where source = ? and subject = ?"),
                (plan.publication, plan.subject),
            )
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()
        stage.rows = plan.total
        stage.correlation_id = plan.load_id
        stage.details = {"removed": plan.rows, "load_id": plan.load_id}
    return plan


def _roll_back_lake(warehouse: SparkWarehouse, ledger: Ledger, plan: Rollback, dataset: str) -> Rollback:
    """On the lake (the spark target): the period's ``publication_periods`` file goes, in one step, and with it
    every row of the period from every reader (they show the loads that table lists); then its fingerprint leaves
    the ledger and the load's files are deleted (:meth:`ingestion.lake.Lake.vacuum`)."""
    from ingestion.lake import POINTER_TABLE, pointer_name

    lake = warehouse.lake
    with ledger.stage("rollback", source=plan.publication, subject=plan.subject) as stage:
        count(warehouse, plan)  # what the readers show of it now: what goes
        fs, root = lake.filesystem()
        pointer = f"{root}/{dataset}/{POINTER_TABLE}/{pointer_name(plan.publication, plan.period)}"
        if fs.exists(pointer):
            fs.rm(pointer)
        ledger.query(
            f"delete from {ops_schema()}.period_loads where source = ? and subject = ?",
            (plan.publication, plan.subject),
        )
        lake.vacuum(dataset)
        warehouse.refresh_views()
        stage.rows = plan.total
        stage.correlation_id = plan.load_id
        stage.details = {"removed": plan.rows, "load_id": plan.load_id}
    return plan
