"""Suite files: one Great Expectations suite per bronze table, as GX's own JSON, under ``expectations/<dataset>/``.

A suite holds two kinds of expectation, told apart by what they need:

* schema (from the catalog, no scan): ``expect_table_columns_to_match_set`` and one
  ``expect_column_values_to_be_of_type`` per column, the type in GX's pandas vocabulary with dlt's type name in
  its ``meta``;
* rows (the loaded period only): keys not null and unique, row-count bounds, allowed values of code columns.
  Their ``severity`` says what a failure does: ``critical`` fails the run, ``warning`` warns.

The suite's ``meta`` holds what GX has no field for: the drift policy (``added``/``removed``/``retyped``:
``warn``, ``fail`` or ``ignore``), and per column the period it is expected from (``columns_since``) and the period
it is no longer expected from (``columns_retired``), so that an older period is judged by the shape it had.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingestion import paths
from ingestion.errors import ConfigError
from ingestion.quality import catalog
from ingestion.quality.catalog import BronzeTable
from ingestion.quality.rules import DEFAULT_POLICY, Action, ChangeKind, PolicyError, resolve_policy
from ingestion.warehouse import Warehouse

SCHEMA_TYPES = ("expect_table_columns_to_match_set", "expect_column_values_to_be_of_type")
# dlt type -> the dtype name GX reports for a pandas column of that type (see validate.schema_frame)
GX_TYPES = {
    "text": "str",
    "bigint": "int64",
    "double": "float64",
    "bool": "bool",
    "date": "datetime64",
    "timestamp": "Timestamp",
    "decimal": "object",
    "json": "object",
    "time": "object",
    "binary": "object",
}
ROW_COUNT = "expect_table_row_count_to_be_between"
# a period's row-count bounds: these ratios of the previous period's rows (in the expectation's meta), given to GX as
# the parameters MIN_ROWS and MAX_ROWS; a suite may instead hold fixed numbers (declared per publication)
ROW_RATIOS = "previous_period_ratios"
DEFAULT_RATIOS = (0.5, 2.0)
MIN_ROWS, MAX_ROWS = "min_rows", "max_rows"
_CODE_NAME = re.compile(r"(_code|code|status|priority|role|team|channel|unit|type|kind|category)$")


def suites_dir() -> Path:
    return paths.resolve(os.environ.get("ANALYTICS_EXPECTATIONS_DIR", "expectations"))


def suite_path(table: BronzeTable) -> Path:
    return suites_dir() / paths.logical_schema(table.dataset) / f"{table.table}.json"


@dataclass
class Suite:
    """A suite file, read into GX's JSON shape (``name``, ``expectations``, ``meta``)."""

    table: BronzeTable
    name: str
    expectations: list[dict]
    meta: dict = field(default_factory=dict)

    # -- reading ---------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, table: BronzeTable) -> Suite | None:
        path = suite_path(table)
        if not path.exists():
            return None
        document = json.loads(path.read_text())
        return cls(table, document["name"], document.get("expectations", []), document.get("meta", {}))

    @property
    def policy(self) -> dict[ChangeKind, Action]:
        """The drift policy; a value that is not warn, fail or ignore is refused, naming the suite file, so that a
        typo never turns a check off silently."""
        try:
            return resolve_policy(self.meta.get("drift_policy", {}))
        except PolicyError as error:
            raise ConfigError(
                f"{suite_path(self.table)}: meta.drift_policy {error.wrong} not understood; each of "
                f"{', '.join(ChangeKind)} is one of {', '.join(Action)}"
            ) from None

    @property
    def column_set(self) -> list[str]:
        for expectation in self.expectations:
            if expectation["type"] == "expect_table_columns_to_match_set":
                return list(expectation["kwargs"]["column_set"])
        return []

    def column_types(self) -> dict[str, str]:
        """Column -> dlt type, as the suite expects it."""
        return {
            e["kwargs"]["column"]: e.get("meta", {}).get("dlt_type", e["kwargs"]["type_"])
            for e in self.expectations
            if e["type"] == "expect_column_values_to_be_of_type"
        }

    def expected_columns(self, period: str | None) -> list[str]:
        """The columns expected in ``period`` (all current ones for a table without periods)."""
        since, retired = self.meta.get("columns_since", {}), self.meta.get("columns_retired", {})
        if period is None:
            return [c for c in self.column_set if c not in retired]
        return [c for c in self.column_set if since.get(c, "") <= period and (c not in retired or period < retired[c])]

    def schema_expectations(self, period: str | None) -> list[dict]:
        """The schema part of the suite as it applies to ``period``."""
        expected = self.expected_columns(period)
        out = []
        for expectation in self.expectations:
            if expectation["type"] == "expect_table_columns_to_match_set":
                out.append({**expectation, "kwargs": {**expectation["kwargs"], "column_set": expected}})
            elif (
                expectation["type"] == "expect_column_values_to_be_of_type"
                and expectation["kwargs"]["column"] in expected
            ):
                out.append(expectation)
        return out

    def row_expectations(self) -> list[dict]:
        return [e for e in self.expectations if e["type"] not in SCHEMA_TYPES]

    def row_parameters(self, previous_rows: int | None) -> dict[str, int | None]:
        """The values of the row-count bounds' parameters for a period whose previous period brought
        ``previous_rows`` (None for the first period: at least one row, no upper bound)."""
        ratios = next((e.get("meta", {}).get(ROW_RATIOS) for e in self.expectations if e["type"] == ROW_COUNT), None)
        low, high = ratios or DEFAULT_RATIOS
        if previous_rows is None:
            return {MIN_ROWS: 1, MAX_ROWS: None}
        return {MIN_ROWS: max(1, math.floor(previous_rows * low)), MAX_ROWS: math.ceil(previous_rows * high)}

    # -- writing ---------------------------------------------------------------------------------------------
    def document(self) -> dict:
        return {"name": self.name, "meta": self.meta, "expectations": self.expectations}

    def save(self) -> Path:
        path = suite_path(self.table)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.document(), indent=2, sort_keys=False) + "\n")
        return path

    def set_columns(self, types: dict[str, str]) -> None:
        """Make the column set and type expectations hold exactly ``types`` (column -> dlt type), in order."""
        schema = [_columns_expectation(list(types))] + [type_expectation(c, t) for c, t in types.items()]
        self.expectations = schema + self.row_expectations()


def _columns_expectation(columns: list[str]) -> dict:
    return {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": columns, "exact_match": True}}


def type_expectation(column: str, dlt_type: str) -> dict:
    return {
        "type": "expect_column_values_to_be_of_type",
        "kwargs": {"column": column, "type_": GX_TYPES.get(dlt_type, "object")},
        "meta": {"dlt_type": dlt_type},
    }


def row_count_bounds(table: BronzeTable) -> dict:
    """The row-count expectation of a new suite: per period, relative to the previous period (the bounds are GX
    parameters the validation fills in from the manifest); for a table without periods, never empty."""
    kwargs: dict[str, object]
    if table.period_column:
        kwargs = {"min_value": {"$PARAMETER": MIN_ROWS}, "max_value": {"$PARAMETER": MAX_ROWS}}
        low, high = DEFAULT_RATIOS
        meta: dict[str, object] = {
            ROW_RATIOS: [low, high],
            "notes": f"rows per period: {low:g} to {high:g} times the previous period's (the first period: at least "
            "one); fixed min_value and max_value numbers may replace the parameters",
        }
    else:
        kwargs, meta = {"min_value": 1, "max_value": None}, {"notes": "the table is never empty once loaded"}
    return {"type": ROW_COUNT, "kwargs": kwargs, "severity": "warning", "meta": meta}


def _code_values(warehouse: Warehouse, table: BronzeTable, types: dict[str, str]) -> list[dict]:
    """Allowed values for code-like text columns: few distinct values, short, not numbers, not names or keys."""
    out = []
    total = warehouse.query(f"select count(*) from {table.name}")[0][0]
    for column, kind in types.items():
        if (
            kind != "text"
            or (column in table.keys and len(table.keys) == 1)
            or column.startswith("_")
            or not _CODE_NAME.search(column)
        ):
            continue
        values = [
            row[0]
            for row in warehouse.query(
                f"select distinct {column} from {table.name} where {column} is not null order by 1 limit 26"
            )
        ]
        if 0 < len(values) <= 25 and len(values) <= total / 2 and all(len(v) <= 32 for v in values):
            out.append(
                {
                    "type": "expect_column_values_to_be_in_set",
                    "severity": "warning",
                    "kwargs": {"column": column, "value_set": values},
                }
            )
    return out


def _column_lifetimes(arrived: dict[str, list[str]], types: dict[str, str]) -> tuple[dict, dict]:
    """From the columns each period brought: the period each column is expected from (when later than the first
    period) and the period it is no longer expected from (when the latest period does not bring it)."""
    periods = sorted(arrived)
    since, retired = {}, {}
    for column in types:
        if column in catalog.METADATA:
            continue
        seen = [p for p in periods if column in arrived[p]]
        if not seen:
            continue
        if seen[0] != periods[0]:
            since[column] = seen[0]
        if seen[-1] != periods[-1]:
            retired[column] = periods[periods.index(seen[-1]) + 1]
    return since, retired


def scaffold(warehouse: Warehouse, table: BronzeTable) -> Suite:
    """A first suite from the table as it is now, for a person to review before committing it."""
    types = catalog.columns(warehouse, table)
    if not types:
        raise LookupError(f"{table.name} does not exist in {warehouse.describe()}: load it first")
    arrived = catalog.arrived_columns(warehouse, table)
    if arrived:  # a column no period's latest files brought (dlt never drops one) is not part of the table's shape
        brought = set(catalog.METADATA).union(*arrived.values())
        types = {c: t for c, t in types.items() if c in brought}
    keys = [k for k in table.keys if k in types]
    rows: list[dict] = [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column}}
        for column in ([table.period_column] if table.period_column else []) + keys
    ]
    if len(keys) == 1:
        rows.append({"type": "expect_column_values_to_be_unique", "kwargs": {"column": keys[0]}})
    elif keys:
        rows.append({"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": keys}})
    rows.append(row_count_bounds(table))
    rows += _code_values(warehouse, table, types)
    since, retired = _column_lifetimes(arrived, types)
    meta = {
        "bronze_table": table.name,
        "period_column": table.period_column,
        "row_checks_per": "period" if table.period_column else "table",
        "drift_policy": dict(DEFAULT_POLICY),
        "columns_since": since,
        "columns_retired": retired,
        "written_by": f"ingestion expectations init on {dt.date.today():%Y-%m-%d} from {warehouse.target}",
    }
    suite = Suite(table, table.name, rows, meta)
    suite.set_columns(types)
    return suite


@dataclass
class Scaffolded:
    """What ``expectations init`` did for one table: wrote a suite, kept the committed one, or skipped it."""

    table: BronzeTable
    path: Path
    expectations: int | None = None  # set when written
    skipped: str | None = None  # why, when the table is not there to read


def scaffold_suites(warehouse: Warehouse, tables: list[BronzeTable], *, overwrite: bool) -> Iterator[Scaffolded]:
    """Write a first suite for each table; a committed suite is kept unless ``overwrite``."""
    for table in tables:
        path = suite_path(table)
        if path.exists() and not overwrite:
            yield Scaffolded(table, path)
            continue
        try:
            suite = scaffold(warehouse, table)
        except LookupError as error:
            yield Scaffolded(table, path, skipped=str(error))
            continue
        suite.save()
        yield Scaffolded(table, path, expectations=len(suite.expectations))


__all__ = [
    "DEFAULT_POLICY",
    "GX_TYPES",
    "Scaffolded",
    "Suite",
    "scaffold",
    "scaffold_suites",
    "suite_path",
    "suites_dir",
]
