"""dbt builds the monthly publication's staging models and facts incrementally by period: a build replaces the
periods published since the last one (new, or published again) and keeps the others, and gives exactly the tables a
full refresh gives (real dlt, dbt, DuckDB and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ingestion.ledger import Ledger
from ingestion.transform import DbtResult

from workspace import ENGINES, Workspace

INCREMENTAL = (
    "silver.stg_publications__practice_detail",
    "silver.stg_publications__practice_summary",
    "silver.stg_publications__regional_extracts",
    "silver.stg_publications__national_summary",
    "gold.fct_practice_submissions_monthly",
    "gold.fct_region_submissions_monthly",
)
BUILD = ("build", "--select", "tag:publications")


def _contents(ws: Workspace, relation: str) -> list[tuple]:
    return sorted(ws.query(f"select * from {relation}"), key=repr)


def _revise_detail(ws: Workspace, period: str) -> None:
    """Publish ``period`` again with every submission count one higher (a revised release)."""
    import duckdb

    csv = ws.release_root / period / f"practice-detail-{period}.csv"
    revised = csv.with_suffix(".revised.csv")
    duckdb.connect().execute(
        f"copy (select * replace (submission_count + 1 as submission_count) from read_csv('{csv}')) "
        f"to '{revised}' (header, delimiter ',')"
    )
    revised.replace(csv)


@dataclass
class Story:
    ws: Workspace
    first: DbtResult
    incremental: DbtResult
    after_incremental: dict[str, list[tuple]]
    full: DbtResult
    after_full: dict[str, list[tuple]]
    marked_after_incremental: dict[str, int]
    after_removal: DbtResult
    removed_left: dict[str, int]


MARKED = "select period, count(*) from silver.stg_publications__practice_summary where source_row < 0 group by period"


@pytest.fixture(scope="module", params=ENGINES)
def story(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    with Workspace(request.param, tmp_path_factory.mktemp(f"incremental-{request.param}")) as ws:
        ws.generate(("2025-02", "2025-03", "2025-04", "2025-05"))
        assert not ws.ingest("2025-02", "2025-03").failed
        first = ws.dbt(*BUILD)
        # the rows of both periods are marked by hand (source_row negated): a build that rebuilds a period loses them
        mark = "update silver.stg_publications__practice_summary set source_row = -source_row"
        ws.execute(mark)
        _revise_detail(ws, "2025-02")
        assert not ws.ingest("2025-02", "2025-05").failed  # 2025-02 again (revised), 2025-03 unchanged, two new
        incremental = ws.dbt(*BUILD)
        marked = dict(ws.query(MARKED))
        ws.execute(mark + " where source_row < 0")  # unmarked: as the build left them
        after_incremental = {relation: _contents(ws, relation) for relation in INCREMENTAL}
        full = ws.dbt(*BUILD, "--full-refresh")
        after_full = {relation: _contents(ws, relation) for relation in INCREMENTAL}
        # 2025-05 removed from bronze, as a rollback does: the next build removes it from every incremental model
        for table in ("national_summary", "practice_summary", "practice_detail", "regional_extracts"):
            ws.execute(f"delete from bronze_publications.{table} where _period = '2025-05'")
        ws.execute("delete from bronze_publications.publication_periods where period = '2025-05'")
        after_removal = ws.dbt(*BUILD)
        removed_left = {
            relation: int(ws.scalar(f"select count(*) from {relation} where {column} = {value}"))
            for relation in INCREMENTAL
            for column, value in [
                ("period_month", "cast('2025-05-01' as date)")
                if relation.startswith("gold")
                else ("period", "'2025-05'")
            ]
        }
        yield Story(ws, first, incremental, after_incremental, full, after_full, marked, after_removal, removed_left)


def test_every_build_passes(story: Story) -> None:
    for build in (story.first, story.incremental, story.full):
        assert build.ok, build.failures


def test_an_incremental_build_gives_the_tables_a_full_refresh_gives(story: Story) -> None:
    for relation in INCREMENTAL:
        assert story.after_incremental[relation], relation
        assert story.after_incremental[relation] == story.after_full[relation], relation


def test_a_period_published_again_is_replaced(story: Story) -> None:
    revised = story.ws.query(
        "select count(distinct load_id) from silver.stg_publications__practice_detail where period = '2025-02'"
    )
    assert revised == [(1,)]
    loads = dict(
        story.ws.query(
            "select period, load_id from bronze_publications.publication_periods where publication = "
            "'practice_submissions'"
        )
    )
    built = dict(story.ws.query("select distinct period, load_id from silver.stg_publications__practice_detail"))
    assert built == loads


def test_only_the_periods_published_since_the_last_build_are_rebuilt(story: Story) -> None:
    assert list(story.marked_after_incremental) == ["2025-03"]  # 2025-02 published again, 2025-03 untouched


def test_a_period_removed_from_bronze_is_removed_by_the_next_build(story: Story) -> None:
    assert story.after_removal.ok, story.after_removal.failures
    assert story.removed_left == dict.fromkeys(INCREMENTAL, 0)


def test_gold_rows_say_which_load_they_were_built_from(story: Story) -> None:
    mismatched = story.ws.scalar(
        "select count(*) from gold.fct_practice_submissions_monthly as fact "
        "join bronze_publications.publication_periods as periods "
        "on periods.publication = 'practice_submissions' and fact.period_month = cast(periods.period_start as date) "
        "where fact.load_id <> periods.load_id"
    )
    assert mismatched == 0


def _transform_succeeded(ws: Workspace) -> None:
    """What a run's successful transform stage leaves in the ledger."""
    with Ledger(ws.warehouse, f"run-{uuid.uuid4().hex[:8]}").stage("transform", source="dbt"):
        pass


def test_a_build_tests_the_loads_published_since_the_last_build_not_the_history(workspace: Workspace) -> None:
    """The detail model's tests read the rows of the loads a build brought, so their cost is one period's however
    many periods the model holds; rows tested by an earlier build are not read again."""
    ws = workspace
    detail = "stg_publications__practice_detail"
    ws.generate(("2025-02", "2025-03"), practices=10)
    Ledger(ws.warehouse, "-").ensure_schema()
    assert not ws.ingest("2025-02", "2025-02").failed
    assert ws.dbt(*BUILD).ok
    _transform_succeeded(ws)
    # a row built and tested then goes bad in place: the next build does not read it again
    ws.execute(f"update silver.{detail} set channel = 'Pigeon' where period = '2025-02' and source_row = 2")
    assert not ws.ingest("2025-03", "2025-03").failed
    assert ws.dbt(*BUILD).ok
    # the same in a period published since the last successful transform: its tests catch it
    ws.execute(f"update silver.{detail} set channel = 'Pigeon' where period = '2025-03' and source_row = 2")
    failed = ws.dbt("test", "--select", detail).failed_nodes
    assert [node.split(".")[2] for node in failed] == [f"accepted_values_{detail}_channel__Online__Paper__Phone"]
    # the bronze table's source test reads the same loads: a bad row of an earlier load is not read again
    source, bronze = "source:publications.practice_detail", "bronze_publications.practice_detail"
    ws.execute(f"update {bronze} set practice_code = null where _period = '2025-02' and _source_row = 2")
    assert ws.dbt("test", "--select", source).ok
    ws.execute(f"update {bronze} set practice_code = null where _period = '2025-03' and _source_row = 2")
    failed = ws.dbt("test", "--select", source).failed_nodes
    assert [node.split(".")[2] for node in failed] == ["source_not_null_publications_practice_detail_practice_code"]
    # once a transform succeeded after that load, its rows count as tested
    _transform_succeeded(ws)
    assert ws.dbt("test", "--select", detail).ok
    assert ws.dbt("test", "--select", source).ok
