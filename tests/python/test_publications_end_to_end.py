"""The whole slice on each engine: sample release -> bronze (dlt) -> silver/gold (dbt build), run twice over time.

Periods 2025-02..2025-04 are loaded and built first, then 2025-05 (a practice renamed, another moved) and 2025-06
(five new columns) are loaded and built again, as a team catching up on releases would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from workspace import ENGINES, Workspace

TABLES = ("national_summary", "practice_summary", "practice_detail", "regional_extracts")
NEW_SUMMARY_COLUMNS = (
    "online_submissions",
    "urgent_submissions",
    "median_wait_days",
    "pcn_code",
    "dispensing_practice",
)
NEW_DETAIL_COLUMNS = ("urgent_count", "routine_count", "median_wait_days", "staff_role", "is_extended_hours")


@pytest.fixture(scope="module", params=ENGINES)
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    with Workspace(request.param, tmp_path_factory.mktemp(request.param)) as ws:
        ws.generate()
        first_run = ws.ingest("2025-02", "2025-04")
        first_build = ws.dbt("build", "--select", "tag:publications")
        second_run = ws.ingest("2025-05", "2025-06")
        second_build = ws.dbt("build", "--select", "tag:publications")
        yield {"ws": ws, "runs": [first_run, second_run], "builds": [first_build, second_build]}


def test_every_period_loads_and_dbt_build_passes(built: dict) -> None:
    for run in built["runs"]:
        assert not run.failed, [p.error for p in run.failed]
    for build in built["builds"]:
        assert build.ok, build.failures
        assert build.statuses[("unit_test", "pass")] >= 2
        assert build.statuses[("snapshot", "success")] == 1
        assert not any(status in ("fail", "error") for _, status in build.statuses)
    ws: Workspace = built["ws"]
    for table in TABLES:
        assert set(ws.counts_by_period(table)) == {"2025-02", "2025-03", "2025-04", "2025-05", "2025-06"}


def test_bronze_rows_carry_load_metadata(built: dict) -> None:
    ws: Workspace = built["ws"]
    xlsx = ws.release_root / "2025-03" / "practice-submissions-2025-03.xlsx"
    # a row carries its period, part and row; the part's file, sheet, sha256 and load time are in the manifest once
    rows = ws.query(
        "select parts.file_name, parts.part_kind, parts.part_name, parts.file_sha256, min(rows_._source_row), "
        "count(*), count(distinct rows_._dlt_load_id), min(parts.recorded_at) "
        "from bronze_publications.practice_summary as rows_ join bronze_publications.publication_manifest as parts "
        "on parts._dlt_load_id = rows_._dlt_load_id and parts.part_id = rows_._part "
        "where rows_._period = '2025-03' group by 1, 2, 3, 4"
    )
    assert len(rows) == 1
    source_file, kind, sheet, sha, first_row, _, load_ids, loaded_at = rows[0]
    assert (source_file, kind, sheet) == (xlsx.name, "sheet", "Table 2")
    assert sha == hashlib.sha256(xlsx.read_bytes()).hexdigest()
    assert first_row == 6  # title rows 1-3, a blank row, the header on row 5
    assert load_ids == 1 and loaded_at is not None
    # each period's rows came from one dlt load, recorded in dlt's _dlt_loads of the bronze dataset and by the
    # ledger, in the transaction that published them
    loaded = ws.scalar(
        "select count(*) from bronze_publications._dlt_loads where load_id in "
        "(select _dlt_load_id from bronze_publications.practice_summary)"
    )
    assert loaded == 5
    published = ws.scalar(
        "select count(*) from ops.period_loads where load_id in "
        "(select _dlt_load_id from bronze_publications.practice_summary)"
    )
    assert published == 5
    members = ws.query(
        "select distinct parts.part_kind, parts.part_name from bronze_publications.regional_extracts as rows_ "
        "join bronze_publications.publication_manifest as parts "
        "on parts._dlt_load_id = rows_._dlt_load_id and parts.part_id = rows_._part"
    )
    assert members and all(kind == "member" and name.startswith("extracts/region_") for kind, name in members)


def test_every_bronze_row_leads_to_its_file_and_row(built: dict) -> None:
    """Provenance stays complete with lean rows: every row of every bronze table joins exactly one manifest row
    (file, sheet or member, sha256), and no two rows of a period name the same part and row."""
    ws: Workspace = built["ws"]
    for table in TABLES:
        unresolved = ws.scalar(
            f"select count(*) from bronze_publications.{table} as rows_ left join "
            "bronze_publications.publication_manifest as parts on parts._dlt_load_id = rows_._dlt_load_id "
            "and parts.part_id = rows_._part and parts.status = 'loaded' "
            "where parts.file_sha256 is null or parts.file_name is null or rows_._source_row is null"
        )
        assert unresolved == 0, table
        repeated = ws.scalar(
            f"select count(*) from (select _period, _part, _source_row from bronze_publications.{table} "
            "group by _period, _part, _source_row having count(*) > 1) as repeats"
        )
        assert repeated == 0, table


def test_csv_columns_keep_the_types_the_file_meant(built: dict) -> None:
    ws: Workspace = built["ws"]
    types = dict(
        ws.query(
            "select column_name, data_type from information_schema.columns where "
            "table_schema = 'bronze_publications' and table_name = 'practice_detail'"
        )
    )
    assert types["submission_date"].lower() == "date"
    assert types["submission_count"].lower() == "bigint"
    assert types["is_extended_hours"].lower() == "boolean"
    assert types["_source_row"].lower() == "bigint"


def test_reloading_a_period_replaces_it_without_duplicates(built: dict) -> None:
    ws: Workspace = built["ws"]
    before = {table: ws.counts_by_period(table) for table in TABLES}
    old_load = ws.scalar("select max(_dlt_load_id) from bronze_publications.practice_detail where _period = '2025-04'")
    other_loads = ws.query(
        "select _period, max(_dlt_load_id) from bronze_publications.practice_detail "
        "where _period <> '2025-04' group by _period order by _period"
    )

    again = ws.ingest("2025-04", "2025-04", force=True)

    assert not again.failed and again.periods[0].status == "loaded"
    assert {table: ws.counts_by_period(table) for table in TABLES} == before
    assert (
        ws.scalar("select max(_dlt_load_id) from bronze_publications.practice_detail where _period = '2025-04'")
        != old_load
    )
    assert (
        ws.query(
            "select _period, max(_dlt_load_id) from bronze_publications.practice_detail "
            "where _period <> '2025-04' group by _period order by _period"
        )
        == other_loads
    )
    gold_before = ws.scalar("select count(*) from gold.fct_practice_submissions_monthly")
    assert ws.dbt("build", "--select", "stg_publications__practice_summary+").ok
    assert ws.scalar("select count(*) from gold.fct_practice_submissions_monthly") == gold_before


def test_an_unchanged_period_is_skipped_without_force(built: dict) -> None:
    ws: Workspace = built["ws"]
    loads = ws.query("select _period, max(_dlt_load_id) from bronze_publications.practice_detail group by _period")

    again = ws.ingest("2025-02", "2025-03")

    assert [p.status for p in again.periods] == ["skipped", "skipped"]
    assert sorted(
        ws.query("select _period, max(_dlt_load_id) from bronze_publications.practice_detail group by _period")
    ) == sorted(loads)


def test_columns_added_in_2025_06_reach_bronze_and_silver(built: dict) -> None:
    ws: Workspace = built["ws"]
    assert set(NEW_SUMMARY_COLUMNS) <= set(ws.columns("bronze_publications", "practice_summary"))
    assert set(NEW_DETAIL_COLUMNS) <= set(ws.columns("bronze_publications", "practice_detail"))
    filled = dict(
        ws.query("select _period, count(pcn_code) from bronze_publications.practice_summary group by _period")
    )
    assert filled["2025-06"] > 0 and all(filled[p] == 0 for p in filled if p != "2025-06")
    silver = dict(
        ws.query(
            "select period, count(urgent_submission_count) from "
            "silver.stg_publications__practice_detail group by period"
        )
    )
    assert silver["2025-06"] == ws.scalar("select count(urgent_count) from bronze_publications.practice_detail")
    assert silver["2025-05"] == 0
    gold = ws.scalar(
        "select count(*) from gold.fct_practice_submissions_monthly where "
        "median_wait_days is not null and period_month = date '2025-06-01'"
    )
    assert gold == ws.scalar("select count(*) from bronze_publications.practice_summary where _period = '2025-06'")


def test_suppression_markers_become_null_with_a_flag(built: dict) -> None:
    ws: Workspace = built["ws"]
    marked = ws.scalar("select count(*) from bronze_publications.practice_summary where submissions = '[c]'")
    assert marked > 0
    flagged = ws.query(
        "select count(*), count(submission_count) from silver.stg_publications__practice_summary "
        "where is_submission_count_suppressed"
    )
    assert flagged[0] == (marked, 0)


def test_snapshot_keeps_the_history_of_a_renamed_practice(built: dict) -> None:
    ws: Workspace = built["ws"]
    versions = ws.query(
        "select practice_name, dbt_valid_to is null from snapshots.snap_publications__practices "
        "where practice_name like '%(merged)' or practice_code = (select practice_code from "
        "gold.dim_practices where practice_name like '%(merged)') order by dbt_valid_from"
    )
    assert [name.endswith("(merged)") for name, _ in versions] == [False, True]
    assert [current for _, current in versions] == [False, True]


def test_gold_marts_cover_every_practice_and_region(built: dict) -> None:
    ws: Workspace = built["ws"]
    assert ws.scalar("select count(*) from gold.dim_practices") == 24
    assert ws.scalar("select count(*) from gold.dim_practices where not is_in_latest_release") == 1
    assert ws.scalar("select count(*) from gold.fct_practice_submissions_monthly") == ws.scalar(
        "select count(*) from bronze_publications.practice_summary"
    )
    assert ws.scalar("select count(distinct region_code) from gold.fct_region_submissions_monthly") == 7


def test_manifest_records_how_every_part_was_classified(built: dict) -> None:
    ws: Workspace = built["ws"]
    seen = set(
        ws.query(
            "select part_kind, part_name, classification, bronze_table from "
            "bronze_publications.publication_manifest where period = '2025-02'"
        )
    )
    assert ("sheet", "Cover", "cover", None) in seen
    assert ("sheet", "Notes", "notes", None) in seen
    assert ("sheet", "Table 2", "table", "practice_summary") in seen
    assert ("member", "readme.txt", "notes", None) in seen
    assert ("member", "extracts/.DS_Store", "junk", None) in seen
    assert any(kind == "member" and name.startswith("__MACOSX/") and cls == "junk" for kind, name, cls, _ in seen)
    assert ("file", "practice-detail-2025-02.csv", "table", "practice_detail") in seen


def test_docs_site_generates_from_the_built_project(built: dict) -> None:
    ws: Workspace = built["ws"]
    docs = ws.dbt("docs", "generate", "--static", "--select", "tag:publications")
    assert docs.ok, docs.failures
    page = Path(ws.env["DBT_TARGET_PATH"]) / "static_index.html"
    assert "fct_practice_submissions_monthly" in page.read_text()
