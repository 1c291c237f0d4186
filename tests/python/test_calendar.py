"""Period calendars (pure rules) and declaring them in publications.yml: monthly, quarterly, annual and financial
years, ranges in each notation, the dates each period covers, and file names built from a period's parts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ingestion.errors import ConfigError
from ingestion.sources.publications.calendar import Calendar, Frequency, PeriodError
from ingestion.sources.publications.settings import load_publications


def test_each_frequency_iterates_in_its_own_notation() -> None:
    assert Calendar(Frequency.MONTHLY).range("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert Calendar(Frequency.QUARTERLY).range("2024-Q3", "2025-Q2") == ["2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2"]
    assert Calendar(Frequency.ANNUAL).range("2023", "2025") == ["2023", "2024", "2025"]
    assert Calendar(Frequency.FINANCIAL_YEAR).range("2016-17", "2019-20") == [
        "2016-17",
        "2017-18",
        "2018-19",
        "2019-20",
    ]
    assert Calendar(Frequency.FINANCIAL_YEAR).range("1999-00", "2000-01") == ["1999-00", "2000-01"]


def test_each_period_covers_its_dates() -> None:
    assert (Calendar(Frequency.MONTHLY).start("2024-02"), Calendar(Frequency.MONTHLY).end("2024-02")) == (
        dt.date(2024, 2, 1),
        dt.date(2024, 2, 29),
    )
    assert (Calendar(Frequency.QUARTERLY).start("2025-Q4"), Calendar(Frequency.QUARTERLY).end("2025-Q4")) == (
        dt.date(2025, 10, 1),
        dt.date(2025, 12, 31),
    )
    assert Calendar(Frequency.ANNUAL).end("2025") == dt.date(2025, 12, 31)
    april = Calendar(Frequency.FINANCIAL_YEAR)
    assert (april.start("2016-17"), april.end("2016-17")) == (dt.date(2016, 4, 1), dt.date(2017, 3, 31))
    july = Calendar(Frequency.FINANCIAL_YEAR, start_month=7)
    assert (july.start("2016-17"), july.end("2016-17")) == (dt.date(2016, 7, 1), dt.date(2017, 6, 30))


def test_file_name_parts_of_a_period() -> None:
    assert Calendar(Frequency.FINANCIAL_YEAR).parts("2016-17") == {"yyyy": "2016", "yy": "16", "fy_short": "1617"}
    assert Calendar(Frequency.QUARTERLY).parts("2025-Q3") == {"yyyy": "2025", "yy": "25", "q": "3"}
    assert Calendar(Frequency.MONTHLY).parts("2025-03") == {"yyyy": "2025", "yy": "25", "mm": "03"}


@pytest.mark.parametrize(
    ("frequency", "period", "words"),
    [
        (Frequency.MONTHLY, "2016-17", "not a monthly period of the form YYYY-MM (for example 2025-03)"),
        (Frequency.FINANCIAL_YEAR, "2016-18", "2016-17 follows 2016"),
        (Frequency.QUARTERLY, "2025-Q5", "YYYY-Qn"),
        (Frequency.ANNUAL, "25", "YYYY"),
    ],
)
def test_a_period_in_the_wrong_notation_is_refused_naming_the_right_one(
    frequency: Frequency, period: str, words: str
) -> None:
    with pytest.raises(PeriodError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Calendar(frequency).check(period)


def _config(tmp_path: Path, periods: str, name: str = "report-{period}.csv") -> Path:
    path = tmp_path / "publications.yml"
    path.write_text(f"""
publications:
  annual_report:
    location: "{{data_dir}}/x/{{period}}"
    periods: {periods}
    files:
      - name: "{name}"
        table: annual_rows
""")
    return path


def test_a_financial_year_release_is_declared_and_its_ranges_iterate_by_year(tmp_path: Path) -> None:
    config = _config(
        tmp_path, "{frequency: financial_year, first: '2016-17', last: '2019-20'}", name="annual-report-{fy_short}.csv"
    )
    publication = load_publications(config)["annual_report"]

    assert publication.periods() == ["2016-17", "2017-18", "2018-19", "2019-20"]
    assert publication.periods("2018-19") == ["2018-19", "2019-20"]
    assert publication.files[0].file_name("2017-18", publication.calendar) == "annual-report-1718.csv"
    # --from/--to in another notation (a run over every publication): the financial years overlapping those days
    assert publication.periods("2018-Q1", "2018-Q2") == ["2017-18", "2018-19"]
    assert publication.periods("2019-05") == ["2019-20"]
    with pytest.raises(ConfigError, match="'2018-x' is in none of the notations YYYY-MM"):
        publication.periods("2018-x")


def test_an_explicit_list_of_periods_loads_only_those(tmp_path: Path) -> None:
    config = _config(tmp_path, "{frequency: annual, list: ['2019', '2021', '2024']}")
    publication = load_publications(config)["annual_report"]
    assert publication.periods() == ["2019", "2021", "2024"]
    assert publication.periods("2020", "2023") == ["2021"]


@pytest.mark.parametrize(
    ("periods", "name", "words"),
    [
        ("{frequency: weekly, first: '2025', last: '2025'}", "r-{period}.csv", "frequency: Input should be 'monthly'"),
        ("{frequency: annual, first: '2025'}", "r-{period}.csv", "missing setting last"),
        ("{first: '2025-01', last: '2025-02', step: 1}", "r-{period}.csv", "unknown setting 'step'"),
        ("{frequency: annual, list: ['2021', '2019']}", "r-{period}.csv", "each period once, in order"),
        ("{frequency: annual, first: '2019', last: '2021'}", "r-{mm}.csv", "uses 'mm' which an annual period"),
        ("{frequency: annual, first: '2019', last: '2021'}", "report.csv", "must be a file name template"),
    ],
)
def test_a_wrong_periods_declaration_is_refused_naming_the_setting(
    tmp_path: Path, periods: str, name: str, words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        load_publications(_config(tmp_path, periods, name=name))
