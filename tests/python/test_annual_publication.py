"""The second sample publication, declared in config alone: financial-year periods, file names that drift between
years, a per-period override, a ZIP of CSVs with junk, and a presentation-style workbook. Loaded on each engine
with exact row counts, built into silver and a gold model joining it to the monthly publication on the days the
periods cover, and loaded again with nothing changed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestion.devtools.sample import payments
from ingestion.sources.publications.settings import load_publications

from workspace import ENGINES, Workspace

PRACTICES = 24
TABLES = ("regional_payments", "practice_payments", "practice_payment_lines")


@pytest.fixture(scope="module", params=ENGINES)
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with Workspace(request.param, tmp_path_factory.mktemp(f"annual-{request.param}")) as ws:
        ws.generate(practices=PRACTICES)
        run = ws.ingest()
        assert not run.failed, [period.error for period in run.failed]
        build = ws.dbt("build", "--select", "tag:publications")
        assert build.ok, build.failures
        yield ws


def _counts(ws: Workspace) -> dict[str, dict[str, int]]:
    return {table: ws.counts_by_period(table) for table in TABLES}


def test_every_financial_year_loads_with_exact_row_counts_per_table(loaded: Workspace) -> None:
    expected = {
        table: {period: payments.expected_rows(period, PRACTICES)[table] for period in payments.DEFAULT_PERIODS}
        for table in TABLES
    }
    assert _counts(loaded) == expected


def test_the_presentation_style_sheet_loads_as_data_only(loaded: Workspace) -> None:
    columns = loaded.columns("bronze_publications", "regional_payments")
    assert [c for c in columns if not c.startswith("_")] == [
        "region",
        "payment_type",
        "practices",
        "total_payments",
        "payment_per_registered_patient",
    ]  # no hidden F
    rows = loaded.query(
        "select region, payment_type, practices, total_payments, _notes, _source_row "
        "from bronze_publications.regional_payments where _period = '2023-24' order by _source_row"
    )
    assert all(region for region, *_ in rows)  # the group labels were carried down
    assert [row[5] for row in rows[:4]] == [6, 7, 8, 10]  # header row 4, units row 5, a separator after each group
    assert 32 not in [row[5] for row in rows]  # the hidden check-total row
    assert not [row for row in rows if row[2] in ("(number)", "(£ thousands)")]  # the units row is not data
    assert {row[1] for row in rows} == set(payments.PAYMENT_TYPES)
    noted = [row for row in rows if row[4]]
    assert len(noted) == 1 and noted[0][4] == "total_payments: [note 3]" and "[" not in noted[0][3]
    assert len({row[0] for row in rows}) == 7


def test_the_two_row_header_is_joined_into_one_name_per_column(loaded: Workspace) -> None:
    columns = loaded.columns("bronze_publications", "practice_payments")
    assert [c for c in columns if not c.startswith("_")] == [
        "practice_code",
        "practice_name",
        "payments_global_sum",
        "payments_quality_and_outcomes",
        "payments_total",
    ]


def test_the_manifest_says_which_name_rule_matched_and_what_the_sheet_reader_did(loaded: Workspace) -> None:
    rows = loaded.query(
        "select period, file_name, name_rule from bronze_publications.publication_manifest "
        "where publication = 'practice_payments' and status = 'loaded' and part_kind = 'sheet' "
        "and part_name = 'Table 1' order by period"
    )
    assert rows == [
        ("2021-22", "nhs-payments-to-general-practice-2021-22.xlsx", "nhs-payment*-to-general-practice-2021-22.xlsx"),
        ("2022-23", "nhs-payment-to-general-practice-2022-23.xlsx", "nhs-payment*-to-general-practice-2022-23.xlsx"),
        ("2023-24", "payments-to-general-practice-2324.xlsx", "payments-to-general-practice-2324.xlsx"),
        ("2024-25", "payments-to-general-practice-2425.xlsx", "payments-to-general-practice-2425.xlsx"),
    ]
    zips = loaded.query(
        "select distinct file_name from bronze_publications.publication_manifest where period = "
        "'2022-23' and file_name like '%.zip'"
    )
    assert zips == [("practice-payments-extract-2022-23-revised.zip",)]  # the per-period override
    layout, skipped, end, last = loaded.query(
        "select layout, rows_skipped, table_end_row, last_sheet_row from bronze_publications.publication_manifest "
        "where period = '2024-25' and part_name = 'Table 1'"
    )[0]
    layout, skipped = json.loads(layout), json.loads(skipped)
    assert (layout["header_rows"], layout["units_row"], layout["hidden_columns"], layout["hidden_rows"]) == (
        [4],
        5,
        ["F"],
        [32],
    )
    assert layout["units"] == {
        "practices": "(number)",
        "total_payments": "(£ thousands)",
        "payment_per_registered_patient": "(£)",
    }
    assert skipped == {"units": 1, "blank": 7, "hidden": 1, "notes": 3}
    assert (end, last) == (33, 37)
    junk = loaded.query(
        "select classification from bronze_publications.publication_manifest where period = "
        "'2024-25' and part_name = '__MACOSX/._payments_E40000003.csv'"
    )
    assert junk == [("junk",)]


def test_each_period_has_its_first_and_last_day_in_bronze(loaded: Workspace) -> None:
    rows = loaded.query(
        "select period, frequency, cast(period_start as varchar), cast(period_end as varchar) "
        "from bronze_publications.publication_periods where publication = 'practice_payments' "
        "order by period"
    )
    assert rows == [
        ("2021-22", "financial_year", "2021-04-01", "2022-03-31"),
        ("2022-23", "financial_year", "2022-04-01", "2023-03-31"),
        ("2023-24", "financial_year", "2023-04-01", "2024-03-31"),
        ("2024-25", "financial_year", "2024-04-01", "2025-03-31"),
    ]


def test_gold_joins_the_annual_publication_to_the_monthly_one_on_the_days_covered(loaded: Workspace) -> None:
    per_year = dict(
        loaded.query("select financial_year, count(*) from gold.fct_practice_payments_annual group by financial_year")
    )
    assert per_year == {
        period: payments.expected_rows(period, PRACTICES)["practice_payments"] for period in payments.DEFAULT_PERIODS
    }
    months = dict(
        loaded.query(
            "select financial_year, max(submission_month_count) from "
            "gold.fct_practice_payments_annual group by financial_year"
        )
    )
    # the monthly sample covers 2025-02 .. 2025-06: February and March 2025 fall in 2024-25, nothing earlier
    assert months == {"2021-22": 0, "2022-23": 0, "2023-24": 0, "2024-25": 2}
    joined = loaded.scalar(
        "select count(*) from gold.fct_practice_payments_annual where financial_year = '2024-25' "
        "and submission_count is not null"
    )
    assert joined > 0


def test_loading_again_changes_nothing(loaded: Workspace) -> None:
    before = _counts(loaded)
    checksum = (
        "select count(*), sum(length(region || payment_type || coalesce(total_payments, ''))) from "
        "bronze_publications.regional_payments"
    )
    first = loaded.query(checksum)
    publication = load_publications()["practice_payments"]
    from ingestion.pipelines.publications import ingest_publication

    unchanged = ingest_publication(publication, loaded.warehouse, "test-again", progress=lambda _: None)
    assert {period.status for period in unchanged.periods} == {"skipped"}
    forced = ingest_publication(publication, loaded.warehouse, "test-forced", progress=lambda _: None, force=True)
    assert {period.status for period in forced.periods} == {"loaded"}
    assert _counts(loaded) == before and loaded.query(checksum) == first


def test_the_sample_files_exist_for_every_declared_period(loaded: Workspace) -> None:
    root = Path(loaded.data_dir) / "publications" / payments.PUBLICATION
    assert sorted(p.name for p in root.iterdir()) == list(load_publications()["practice_payments"].periods())
