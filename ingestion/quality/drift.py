"""The drift workflow: what each table's bronze shape differs from its suite in, and accepting it into the suite.

``ingestion drift`` runs the schema part of every suite over every period (catalog only, no scan) and lists, per
table, the added, removed and retyped columns with the first period where each was seen. ``ingestion drift
--accept TABLE`` writes the decision into the suite file: added columns join the column set from their first period
(``columns_since``), removed ones stop being expected from the period they went missing (``columns_retired``), a
column that changed type is retired and its replacement (``<column>__v_<type>``) expected from then on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingestion import paths
from ingestion.quality import catalog
from ingestion.quality.catalog import BronzeTable
from ingestion.quality.rules import Drift, first_changes
from ingestion.quality.suites import Suite, suite_path, type_expectation
from ingestion.quality.validate import validate_bronze
from ingestion.warehouse import Warehouse


@dataclass(frozen=True)
class TableDrift:
    """A table's drift over all its periods: each change once, from the period it was first found in."""

    table: BronzeTable
    drift: Drift

    def __bool__(self) -> bool:
        return bool(self.drift)

    def lines(self) -> list[str]:
        drift = self.drift
        out = [f"  + {c.column:<28} added      first seen {c.since}" for c in drift.added]
        out += [f"  - {c.column:<28} removed    missing from {c.since}" for c in drift.removed]
        out += [
            f"  ~ {c.column:<28} retyped    {c.expected_type} -> {c.found_type} from {c.since}"
            + (f" (bronze column {c.landed})" if c.landed != c.column else "")
            for c in drift.retyped
        ]
        return out


def table_drift(warehouse: Warehouse, only: list[BronzeTable] | None = None) -> tuple[list[TableDrift], list[str]]:
    """Each table's differences from its suite over all its periods (schema only), and the tables not checked."""
    report = validate_bronze(warehouse, all_periods=True, rows=False, only=only, progress=lambda _: None)
    periods: dict[BronzeTable, list[Drift]] = {}
    for check in report.checks:  # periods in order, so the first one seen is the first period
        periods.setdefault(check.table, []).append(check.drift)
    return [TableDrift(table, first_changes(drifts)) for table, drifts in periods.items()], report.skipped


def staging_model(table: BronzeTable) -> Path:
    """The one model that reads ``table`` from bronze: ``models/staging/<source>/stg_<source>__<table>.sql``."""
    staging, source = (
        paths.PROJECT_ROOT / "models" / "staging",
        paths.logical_schema(table.dataset).removeprefix("bronze_"),
    )
    found = sorted(staging.glob(f"*/stg_*__{table.table}.sql"))
    return found[0] if found else staging / source / f"stg_{source}__{table.table}.sql"


def accept(warehouse: Warehouse, table: BronzeTable) -> list[str]:
    """Write the table's current drift into its suite file; returns what changed."""
    suite = Suite.load(table)
    if suite is None:
        raise LookupError(
            f"no suite for {table.name} at {suite_path(table)}: write one with ingestion expectations "
            f"init --table {table.name}"
        )
    drifts, _ = table_drift(warehouse, [table])
    if not drifts or not drifts[0]:
        return []
    drift, types = drifts[0].drift, catalog.columns(warehouse, table)
    since = suite.meta.setdefault("columns_since", {})
    retired = suite.meta.setdefault("columns_retired", {})
    column_set, changes = suite.column_set, []

    def add(column: str, first: str) -> None:
        if column not in column_set:
            column_set.append(column)
            suite.expectations.append(type_expectation(column, types.get(column, "text")))
        if table.period_column and first != "-":
            since[column] = first
        changes.append(
            f"expect {column} ({types.get(column, '?')})" + (f" from {first}" if table.period_column else "")
        )

    for change in drift.added:
        add(change.column, change.since)
    for change in drift.removed:
        retired[change.column] = change.since
        changes.append(f"stop expecting {change.column} from {change.since}")
    for change in drift.retyped:
        column, new = change.column, change.found_type or "?"
        if change.landed != column:
            retired[column] = change.since
            add(change.landed, change.since)
            changes.append(f"stop expecting {column} from {change.since}: it arrives as {new} in {change.landed}")
        else:
            for expectation in suite.expectations:
                if (
                    expectation["type"] == "expect_column_values_to_be_of_type"
                    and expectation["kwargs"]["column"] == column
                ):
                    expectation.update(type_expectation(column, new))
            changes.append(f"expect {column} as {new}")
    for expectation in suite.expectations:
        if expectation["type"] == "expect_table_columns_to_match_set":
            expectation["kwargs"]["column_set"] = column_set
    suite.save()
    return changes
