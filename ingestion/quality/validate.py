"""Run the suites against the warehouse with Great Expectations; the drift rules (:mod:`.rules`) classify what the
schema checks found and apply each table's policy.

Two batches per table and period:

* a schema batch, the same on both engines: a zero-row pandas frame whose columns are those the period's files
  arrived with and whose dtypes come from the warehouse catalog, so column-set and type checks cost no scan however
  large the table, and one suite's types hold on DuckDB and PostgreSQL alike;
* a rows batch, the same on both engines: only the columns the row checks name, only for the period being
  validated (the whole table for a table loaded without periods), read through the engine's columnar export
  (DuckDB's Arrow export; PostgreSQL's binary COPY through the ADBC driver) into a pandas batch. Released GX 1.x has
  no DuckDB datasource (and ``add_sql`` through duckdb_engine has open metric errors); on PostgreSQL its SQL
  datasource computes each metric with a query of its own over the period's rows: at 1.4 million rows a period's
  four tables took 8.3 s that way against 3.4 s read once, and it was a second way to check the same suite.

GX runs in a worker process of its own (:mod:`.gx_worker`), started as soon as a run knows a period will load, so
that its import overlaps the load on the other core; the batches reach it as column types and Arrow tables.

Results go to the run ledger (``validation_result``, and ``schema_drift`` when the shape changed) and to GX Data
Docs, a static site next to the dbt docs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ingestion import paths
from ingestion.quality import catalog, gx_worker
from ingestion.quality.catalog import BronzeTable
from ingestion.quality.docs_assets import AssetsMissing, make_offline
from ingestion.quality.gx_worker import ExpectationOutcome, GxWorker, Part
from ingestion.quality.rules import Drift, Judgement, SchemaFindings, classify, judge
from ingestion.quality.suites import Suite, suite_path, suites_dir
from ingestion.warehouse import Warehouse

if TYPE_CHECKING:
    from ingestion.ledger import Ledger

Progress = Callable[[str], None]


def docs_dir() -> Path:
    """GX Data Docs go beside the dbt docs (``target/``, or ``DBT_TARGET_PATH``)."""
    return paths.resolve(os.environ.get("DBT_TARGET_PATH", "target")) / "gx_docs"


@dataclass
class TableCheck:
    """One table (and period) checked against its suite."""

    table: BronzeTable
    period: str | None
    drift: Drift = field(default_factory=Drift)
    judgement: Judgement = field(default_factory=Judgement)  # what the suite's policy makes of the drift
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    expectations: int = 0

    @property
    def drift_failed(self) -> bool:
        """The policy fails this drift (as opposed to a row check failing)."""
        return self.judgement.failed

    @property
    def status(self) -> str:
        return "failed" if self.failures else "warn" if self.warnings else "success"

    @property
    def subject(self) -> str:
        return f"{self.table.table}/{self.period}" if self.period else self.table.table

    def where(self) -> str:
        return f"{self.table.name}, period {self.period}" if self.period else self.table.name


@dataclass
class ValidationReport:
    checks: list[TableCheck] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    docs: Path | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> list[TableCheck]:
        return [c for c in self.checks if c.status == "failed"]

    @property
    def warned(self) -> list[TableCheck]:
        return [c for c in self.checks if c.status == "warn"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (
            f"validate: {len(self.checks)} table checks against {len({c.table for c in self.checks})} suites: "
            f"{len(self.checks) - len(self.failed) - len(self.warned)} passed, {len(self.warned)} warned, "
            f"{len(self.failed)} failed in {self.seconds:.1f}s"
        )

    def details(self) -> dict:
        """What the validate stage's ledger event carries."""
        return {
            "checks": len(self.checks),
            "failed": [c.subject for c in self.failed],
            "warned": [c.subject for c in self.warned],
            "skipped": self.skipped,
            "data_docs": str(self.docs) if self.docs else None,
        }


# -- GX, in its worker process ------------------------------------------------------------------------------------
def warm_up() -> GxWorker | None:
    """Start the Great Expectations worker while a run extracts and loads, when there are suites for it to run: its
    import (about 3 s) then happens in a process of its own, on the other core, instead of in the validate stage."""
    if not any(suites_dir().glob("*/*.json")):
        return None
    return gx_worker.shared()


def _columns_of(expectation: dict) -> list[str]:
    kwargs = expectation["kwargs"]
    return [kwargs["column"]] if "column" in kwargs else list(kwargs.get("column_list", []))


def _schema_findings(results: list[ExpectationOutcome]) -> SchemaFindings:
    """What the failed schema expectations found, as column names."""
    unexpected: list[str] = []
    missing: list[str] = []
    mistyped: list[str] = []
    for result in results:
        if result.success:
            continue
        if result.type == "expect_table_columns_to_match_set":
            mismatched = result.result.get("details", {}).get("mismatched", {})
            unexpected += mismatched.get("unexpected", [])
            missing += mismatched.get("missing", [])
        else:  # the schema part holds the column set and the type expectations
            mistyped.append(result.kwargs["column"])
    return SchemaFindings(tuple(unexpected), tuple(missing), tuple(mistyped))


# -- checking one table ----------------------------------------------------------------------------------------------
class Checker:
    def __init__(self, warehouse: Warehouse, gx: GxWorker) -> None:
        self.warehouse, self.gx = warehouse, gx

    def check(
        self,
        table: BronzeTable,
        suite: Suite,
        period: str | None,
        types: dict[str, str],
        arrived: dict[str, list[str]],
        first: dict[str, str],
        rows: bool = True,
        previous_rows: int | None = None,
    ) -> TableCheck:
        """``previous_rows``: the rows of the period before ``period`` (the row-count bounds are relative to it)."""
        check = TableCheck(table, period)
        present = types
        if period is not None and period in arrived:
            brought = set(arrived[period]) | set(catalog.METADATA)
            present = {c: t for c, t in types.items() if c in brought}
        expected = suite.expected_columns(period)
        schema = [
            e
            for e in suite.schema_expectations(period)
            if e["type"] != "expect_column_values_to_be_of_type" or e["kwargs"]["column"] in present
        ]
        parts = [Part(schema, present)]
        rows_check = (
            self._rows_part(table, suite, period, present, suite.row_parameters(previous_rows)) if rows else None
        )
        if rows_check is not None:
            parts.append(rows_check)
        document = {"name": suite.name, "expectations": suite.expectations, "meta": suite.meta}
        schema_results, *row_results = self.gx.validate(table.name, document, period, parts)
        check.expectations += len(schema_results) + sum(len(r) for r in row_results)
        check.drift = classify(
            _schema_findings(schema_results),
            expected=expected,
            suite_types=suite.column_types(),
            present=present,
            first_seen=first,
            period=period,
        )
        check.judgement = judge(check.drift, suite.policy, check.where())
        check.failures += check.judgement.failures
        check.warnings += check.judgement.warnings
        for result in (r for part in row_results for r in part):
            if not result.success:
                text = f"{check.where()}: {result.describe()}"
                (check.failures if result.severity == "critical" else check.warnings).append(text)
        if not all(r.success for part in (schema_results, *row_results) for r in part):
            # GX calls the validation Failed; the drift policy and the checks' severity may call it a warning
            verdict = "fail" if check.failures else "warn" if check.warnings else "pass"
            self.gx.judge(verdict)
        return check

    def _rows_part(
        self, table: BronzeTable, suite: Suite, period: str | None, present: dict[str, str], parameters: dict
    ) -> Part | None:
        """The row checks that apply, on the rows they name (the period's, for a table with periods)."""
        runnable = [e for e in suite.row_expectations() if all(c in present for c in _columns_of(e))]
        if not runnable:
            return None
        needed = list(dict.fromkeys(c for e in runnable for c in _columns_of(e)))
        needed = needed or [table.period_column or next(iter(present))]
        where = f" where {table.period_column} = '{period}'" if period and table.period_column else ""
        query = f"select {', '.join(needed)} from {table.name}{where}"
        rows = self.warehouse.read_arrow(query)  # the worker makes the pandas batch: this process never needs pandas
        return Part(runnable, rows, parameters)


# -- the stage -------------------------------------------------------------------------------------------------------
def validate_bronze(
    warehouse: Warehouse,
    *,
    loaded: dict[str, set[str]] | None = None,
    all_periods: bool = False,
    rows: bool = True,
    ledger: Ledger | None = None,
    docs: Path | None = None,
    only: list[BronzeTable] | None = None,
    progress: Progress = print,
) -> ValidationReport:
    """Check declared bronze tables that exist against their suites. Which periods:

    * ``loaded`` (dataset -> periods a run loaded): those periods of that dataset's tables, and the tables without
      periods of a dataset in it; nothing else, so a run's validation costs what it loaded, not what bronze holds;
    * neither: each table's latest period, and every table without periods;
    * ``all_periods``: every period of every table.

    Great Expectations (in its worker process) starts only when a check runs."""
    with warehouse.kept_open():
        return _validate_bronze(warehouse, loaded, all_periods, rows, ledger, docs, only, progress)


def _validate_bronze(
    warehouse: Warehouse,
    loaded: dict[str, set[str]] | None,
    all_periods: bool,
    rows: bool,
    ledger: Ledger | None,
    docs: Path | None,
    only: list[BronzeTable] | None,
    progress: Progress,
) -> ValidationReport:
    started = time.monotonic()
    report = ValidationReport()
    runner: GxWorker | None = None
    tables = only or catalog.declared_tables()
    if loaded is not None:
        tables = [table for table in tables if table.dataset in loaded]
    held_columns = catalog.all_columns(warehouse, tables)
    for table in tables:
        types = held_columns.get(table)
        if not types:
            report.skipped.append(f"{table.name}: not loaded yet")
            continue
        suite = Suite.load(table)
        if suite is None:
            report.skipped.append(
                f"{table.name}: no suite at {suite_path(table)}; write one with: ingestion "
                f"expectations init --table {table.name}"
            )
            continue
        arrived = catalog.arrived_columns(warehouse, table)
        first = catalog.first_seen(warehouse, table, arrived)
        counts: dict[str, int] = {}
        periods: list[str | None] = [None]
        if table.period_column:
            held = catalog.periods(warehouse, table, arrived)
            if all_periods:
                wanted = set(held)
            elif loaded is not None:
                wanted = loaded[table.dataset] & set(held)
            else:
                wanted = set(held[-1:])
            periods = [*sorted(wanted)]
            counts = catalog.period_rows(warehouse, table) if rows and periods else {}
        for period in periods:
            if runner is None:
                runner = gx_worker.shared()
                runner.open(docs, ledger.run_id if ledger is not None else None)
            earlier = [p for p in counts if period is not None and p < period]
            previous = counts[max(earlier)] if earlier else None
            check = Checker(warehouse, runner).check(
                table, suite, period, types, arrived, first, rows=rows, previous_rows=previous
            )
            report.checks.append(check)
            if ledger is not None:
                _record(ledger, check)
            if check.status != "success":
                progress(
                    f"  {check.status.upper():<7} {check.where()}: "
                    + "; ".join(t.removeprefix(check.where() + ": ") for t in check.failures + check.warnings)
                )
    built_from = time.time()
    report.docs = runner.build_docs() if runner is not None else None
    if report.docs is not None:
        try:  # GX's pages load their scripts from CDNs: local copies instead, in the pages this build wrote
            make_offline(report.docs.parent, since=built_from - 1)
        except AssetsMissing as error:
            report.skipped.append(str(error))
    report.seconds = time.monotonic() - started
    return report


def _record(ledger: Ledger, check: TableCheck) -> None:
    drift = check.drift
    details = {
        "suite": str(suite_path(check.table)),
        "period": check.period,
        **drift.details(),
        "failures": check.failures,
        "warnings": check.warnings,
        "expectations": check.expectations,
    }
    others = [t for t in check.failures + check.warnings if t not in check.judgement.reported]
    details["drift_only"] = bool(drift) and not others  # the schema_drift event below says all there is to say
    message = "; ".join(others) or (
        f"{check.expectations} expectations checked; schema drift, see the schema_drift event"
        if drift
        else f"{check.expectations} expectations met"
    )
    parent = ledger.event(
        "validate",
        "validation_result",
        check.status,
        source=check.table.dataset,
        subject=check.subject,
        rows=None,
        message=message,
        details=details,
        error_class="permanent" if check.failures else None,
    )
    if drift:
        ledger.event(
            "validate",
            "schema_drift",
            "failed" if check.drift_failed else "warn",
            source=check.table.dataset,
            subject=check.subject,
            parent=parent,
            message=f"{check.where()}: {drift.summary()}",
            details=details,
        )
