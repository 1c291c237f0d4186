"""The pieces of drift handling that need no warehouse: how a chunk whose types changed is conformed to bronze,
which columns a suite expects in a period, and how catalog types are named on both engines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from ingestion.errors import ConfigError
from ingestion.quality import catalog, gx_worker
from ingestion.quality.catalog import BronzeTable
from ingestion.quality.gx_worker import Part
from ingestion.quality.suites import Suite, row_count_bounds, type_expectation
from ingestion.sources.publications import conform

DETAIL = BronzeTable("bronze_publications", "practice_detail", ("practice_code",), "_period")


def test_a_column_that_changes_type_lands_beside_the_old_one_and_a_lossless_widening_is_cast() -> None:
    known = {"practice_code": "text", "submission_date": "date", "mean_days": "double", "wait_days": "double"}
    chunk = pa.table(
        {
            "practice_code": ["A1", "B2"],
            "submission_date": ["2025-W18-4", "2025-W18-5"],  # dates now published as ISO weeks
            "mean_days": pa.array([3, 4], pa.int64()),  # whole numbers this month: still a double column
            "wait_days": pa.array([None, None], pa.string()),  # nothing published: typed as bronze holds it
            "staff_role": ["GP", "Nurse"],  # new
        }
    )

    conformed = conform(chunk, known)

    assert conformed.column_names == [
        "practice_code",
        "submission_date__v_text",
        "mean_days",
        "wait_days",
        "staff_role",
    ]
    assert conformed.column("submission_date__v_text").to_pylist() == ["2025-W18-4", "2025-W18-5"]
    assert conformed.schema.field("mean_days").type == pa.float64()
    assert conformed.column("mean_days").to_pylist() == [3.0, 4.0]
    assert conformed.schema.field("wait_days").type == pa.float64()
    assert known["staff_role"] == "text" and known["submission_date__v_text"] == "text"


def test_a_chunk_in_the_types_bronze_holds_is_left_as_it_is() -> None:
    chunk = pa.table({"practice_code": ["A1"], "submission_date": [dt.date(2025, 5, 1)]})
    assert conform(chunk, {"practice_code": "text", "submission_date": "date"}) is chunk


def _suite(since: dict[str, str], retired: dict[str, str]) -> Suite:
    columns = {"practice_code": "text", "mean_days": "double", "staff_role": "text", "_period": "text"}
    suite = Suite(DETAIL, DETAIL.name, [], {"columns_since": since, "columns_retired": retired})
    suite.set_columns(columns)
    return suite


def test_a_suite_judges_each_period_by_the_shape_it_had() -> None:
    suite = _suite(since={"staff_role": "2025-06"}, retired={"mean_days": "2025-07"})

    assert suite.expected_columns("2025-05") == ["practice_code", "mean_days", "_period"]
    assert suite.expected_columns("2025-06") == ["practice_code", "mean_days", "staff_role", "_period"]
    assert suite.expected_columns("2025-07") == ["practice_code", "staff_role", "_period"]
    schema = suite.schema_expectations("2025-05")
    assert schema[0]["kwargs"]["column_set"] == ["practice_code", "mean_days", "_period"]
    assert "staff_role" not in [e["kwargs"].get("column") for e in schema]


def test_a_periods_row_count_bounds_follow_the_previous_period() -> None:
    suite = Suite(DETAIL, DETAIL.name, [row_count_bounds(DETAIL)])

    assert suite.row_parameters(None) == {"min_rows": 1, "max_rows": None}  # the first period: any rows at all
    assert suite.row_parameters(1_427_550) == {"min_rows": 713_775, "max_rows": 2_855_100}
    suite.expectations[0]["meta"]["previous_period_ratios"] = [0.9, 1.2]  # narrowed for a steady publication
    assert suite.row_parameters(101) == {"min_rows": 90, "max_rows": 122}


def test_gx_judges_a_period_by_the_bounds_its_previous_period_gives() -> None:
    worker = gx_worker.shared()
    worker.open(None)
    suite = Suite(DETAIL, DETAIL.name, [row_count_bounds(DETAIL)])
    rows = pa.table({"_period": ["2025-07"] * 10})

    document = {"name": suite.name, "expectations": suite.expectations}
    [shrunk] = worker.validate(
        DETAIL.name, document, "2025-07", [Part(suite.expectations, rows, suite.row_parameters(40))]
    )
    [steady] = worker.validate(
        DETAIL.name, document, "2025-07", [Part(suite.expectations, rows, suite.row_parameters(12))]
    )

    assert not shrunk[0].success
    assert shrunk[0].describe() == "10 rows, outside the expected 20..80"
    assert steady[0].success


def test_the_gx_worker_reports_a_check_it_could_not_run_and_its_own_death() -> None:
    worker = gx_worker.GxWorker()
    try:
        with pytest.raises(gx_worker.GxWorkerError, match="validate before open"):
            worker.validate(DETAIL.name, {"name": DETAIL.name, "expectations": []}, None, [])
        worker.open(None)
        worker.process.kill()  # a worker killed mid-run (out of memory, kill -9) is an error, not a hang
        worker.process.wait()
        with pytest.raises(gx_worker.GxWorkerError, match=r"exited with code -9 during validate"):
            worker.validate(DETAIL.name, {"name": DETAIL.name, "expectations": []}, None, [])
    finally:
        worker.close()


def test_policy_defaults_and_per_table_overrides() -> None:
    suite = _suite({}, {})
    assert suite.policy == {"added": "warn", "removed": "fail", "retyped": "fail"}
    suite.meta["drift_policy"] = {"added": "fail"}
    assert suite.policy == {"added": "fail", "removed": "fail", "retyped": "fail"}
    suite.meta["drift_policy"] = {"added": "fial"}
    with pytest.raises(ConfigError, match=r"practice_detail\.json.*fial"):
        suite.policy  # noqa: B018


@pytest.mark.parametrize(
    ("catalog_type", "expected"),
    [
        ("VARCHAR", "text"),
        ("character varying", "text"),
        ("BIGINT", "bigint"),
        ("integer", "bigint"),
        ("DOUBLE", "double"),
        ("double precision", "double"),
        ("DATE", "date"),
        ("BOOLEAN", "bool"),
        ("TIMESTAMP WITH TIME ZONE", "timestamp"),
        ("timestamp with time zone", "timestamp"),
        ("numeric", "decimal"),
    ],
)
def test_catalog_types_are_named_alike_on_duckdb_and_postgres(catalog_type: str, expected: str) -> None:
    assert catalog.dlt_type(catalog_type) == expected
    assert type_expectation("c", expected)["meta"]["dlt_type"] == expected


def test_the_validation_history_keeps_the_newest_results_of_each_suite(tmp_path: Path) -> None:
    for suite in ("bronze_publications/practice_detail", "bronze_servicedesk/tickets"):
        for run, time in (("run-a", "20261201T000000Z"), ("run-b", "20261202T000000Z"), ("run-c", "20261203T000000Z")):
            result = tmp_path / suite / run / time / "batch.json"
            result.parent.mkdir(parents=True)
            result.write_text("{}")

    gx_worker.prune(tmp_path, keep=2)

    kept = sorted(str(path.relative_to(tmp_path).parent.parent) for path in tmp_path.rglob("*.json"))
    assert kept == [
        "bronze_publications/practice_detail/run-b",
        "bronze_publications/practice_detail/run-c",
        "bronze_servicedesk/tickets/run-b",
        "bronze_servicedesk/tickets/run-c",
    ]
