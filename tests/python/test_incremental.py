"""dbt builds the monthly publication's staging models and facts incrementally by period: a build replaces the
periods published since the last one (new, or published again) and keeps the others, and gives exactly the tables a
full refresh gives (real dlt, dbt, DuckDB and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

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
    nothing_new: DbtResult
    kept_marker: int
    one_more: DbtResult
    kept_marker_after_one_more: int
    rebuilt_period_marked: int


@pytest.fixture(scope="module", params=ENGINES)
def story(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    with Workspace(request.param, tmp_path_factory.mktemp(f"incremental-{request.param}")) as ws:
        ws.generate(("2025-02", "2025-03", "2025-04", "2025-05"))
        assert not ws.ingest("2025-02", "2025-03").failed
        first = ws.dbt(*BUILD)
        _revise_detail(ws, "2025-02")
        assert not ws.ingest("2025-02", "2025-05").failed  # 2025-02 again (revised), 2025-03 unchanged, two new
        incremental = ws.dbt(*BUILD)
        after_incremental = {relation: _contents(ws, relation) for relation in INCREMENTAL}
        full = ws.dbt(*BUILD, "--full-refresh")
        after_full = {relation: _contents(ws, relation) for relation in INCREMENTAL}

        # a row of a period nothing reloaded is marked by hand: a build that rebuilt that period would lose the mark
        mark = "update silver.stg_publications__practice_summary set practice_name = 'MARK' where period = '{}'"
        marked = "select count(*) from silver.stg_publications__practice_summary where practice_name = 'MARK'"
        ws.execute(mark.format("2025-03"))
        nothing_new = ws.dbt(*BUILD)
        kept = int(ws.scalar(marked))
        ws.execute(mark.format("2025-04"))
        assert not ws.ingest("2025-04", "2025-04", force=True).failed
        one_more = ws.dbt(*BUILD)
        yield Story(
            ws,
            first,
            incremental,
            after_incremental,
            full,
            after_full,
            nothing_new,
            kept,
            one_more,
            int(ws.scalar(marked + " and period = '2025-03'")),
            int(ws.scalar(marked + " and period = '2025-04'")),
        )


def test_every_build_passes(story: Story) -> None:
    for build in (story.first, story.incremental, story.full, story.nothing_new, story.one_more):
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


def test_a_build_with_nothing_new_rebuilds_no_period(story: Story) -> None:
    assert story.kept_marker > 0


def test_a_build_after_one_more_load_rebuilds_only_that_period(story: Story) -> None:
    assert story.kept_marker_after_one_more == story.kept_marker
    assert story.rebuilt_period_marked == 0


def test_gold_rows_say_which_load_they_were_built_from(story: Story) -> None:
    mismatched = story.ws.scalar(
        "select count(*) from gold.fct_practice_submissions_monthly as fact "
        "join bronze_publications.publication_periods as periods "
        "on periods.publication = 'practice_submissions' and fact.period_month = cast(periods.period_start as date) "
        "where fact.load_id <> periods.load_id"
    )
    assert mismatched == 0
