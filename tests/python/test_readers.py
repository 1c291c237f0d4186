"""The readers on their own: headers found under title rows, footnotes left out, errors that name the row."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from ingestion.errors import ConfigError, IngestionError
from ingestion.sources.publications import readers
from ingestion.sources.publications.settings import load_publications

WHERE = {"publication": "demo", "period": "2025-01", "file": "release.xlsx"}


def _workbook(path: Path, rows: dict[int, list[object]], sheet: str = "Table 2") -> CalamineWorkbook:
    book = xlsxwriter.Workbook(str(path))
    worksheet = book.add_worksheet(sheet)
    for number, row in rows.items():
        worksheet.write_row(number - 1, 0, row)
    book.close()
    return CalamineWorkbook.from_path(str(path))


def _read(book: CalamineWorkbook, header_row: int | None = None) -> list[tuple[dict, int]]:
    layout = readers.SheetLayout(header_row=header_row)
    return [(table.to_pydict(), first) for table, first in readers.read_xlsx_table(book, "Table 2", layout, WHERE)]


def test_header_is_found_below_title_rows_and_footnotes_are_not_data(tmp_path: Path) -> None:
    book = _workbook(
        tmp_path / "a.xlsx",
        {
            1: ["Table 2: Submissions by practice"],
            2: ["Source: sample"],
            4: ["Practice code", "Rate per 1,000", "Date"],
            5: ["A1", 12.5, "[c]"],
            6: ["A2", 3, "*"],
            8: ["Figures are provisional."],
        },
    )
    [(table, first_row)] = _read(book)
    assert table == {
        "practice_code": ["A1", "A2"],
        "rate_per_1_000": ["12.5", "3"],
        "date": ["[c]", "*"],
        "_source_row": [5, 6],
    }
    assert first_row == 5


def test_an_explicit_header_row_wins_over_detection(tmp_path: Path) -> None:
    book = _workbook(tmp_path / "b.xlsx", {1: ["Notes", "more notes"], 2: ["code", "value"], 3: ["x", 1]})
    [(table, first_row)] = _read(book, header_row=2)
    assert table == {"code": ["x"], "value": ["1"], "_source_row": [3]} and first_row == 3


def test_a_value_without_a_header_names_sheet_and_row(tmp_path: Path) -> None:
    book = _workbook(tmp_path / "c.xlsx", {3: ["code", "value"], 4: ["x", 1], 5: ["y", 2, "stray"]})
    with pytest.raises(IngestionError) as error:
        _read(book)
    assert "'Table 2'" in str(error.value) and "row 5" in str(error.value) and "release.xlsx" in str(error.value)


def test_a_sheet_without_a_header_says_how_to_fix_it(tmp_path: Path) -> None:
    book = _workbook(tmp_path / "d.xlsx", {1: ["only a title"]})
    with pytest.raises(IngestionError, match="set header_row"):
        _read(book)


def test_cells_land_as_the_text_they_show() -> None:
    assert readers.cell_text(12.0) == "12"
    assert readers.cell_text(0.1) == "0.1"
    assert readers.cell_text(" [c] ") == "[c]"
    assert readers.cell_text("") is None
    assert readers.cell_text(True) == "true"
    assert readers.cell_text(dt.date(2025, 6, 1)) == "2025-06-01"


@pytest.mark.parametrize(
    "column",
    [
        [12.0, 0.1, -0.0, 1e-05, 0.0001, 1234567.5, 123456789012345.67, 1e16, 1e22, 2.0**63, float("inf"), None],
        [512.3, "", " [c] ", 7.0, None, "\u3000x\u3000", "\x1c"],  # numbers with blanks and markers
        [" a ", "", None, "b"],
        [True, False, None],
        [3, -4, 2**70, None],  # an int beyond int64
        [dt.date(2025, 6, 1), None],
        [dt.datetime(2025, 6, 1, 9, 30), dt.time(9, 30), 1.5],
        [1.5, True, dt.date(2025, 6, 1)],  # kinds Arrow would coerce into one another
        [None, None],
        [],
    ],
)
def test_a_column_of_cells_shows_what_each_cell_shows(column: list[object]) -> None:
    """The XLSX reader builds a column's text with Arrow; it must equal the text of each cell on its own."""
    assert readers.column_text(column).to_pylist() == [readers.cell_text(value) for value in column]


def test_header_names_are_snake_case_and_unique() -> None:
    assert readers.column_names(["Rate per 1,000 patients", "Median wait (days)", "", "Code", "code", "2024"]) == [
        "rate_per_1_000_patients",
        "median_wait_days",
        "column_3",
        "code",
        "code_2",
        "c_2024",
    ]


def test_csv_keeps_integers_dates_and_nulls_as_typed_columns(tmp_path: Path) -> None:
    path = tmp_path / "detail.csv"
    path.write_text("Practice code,Submission date,Count,Rate\nA1,2025-01-02,3,1.5\nA2,2025-01-03,,2\n")
    [(table, first_line)] = list(readers.read_csv_batches(path, {"rate": "DOUBLE"}, WHERE))
    assert table.column_names == ["practice_code", "submission_date", "count", "rate", "_source_row"]
    assert str(table.schema.field("submission_date").type) == "date32[day]"
    assert str(table.schema.field("count").type) == "int64"
    assert table.column("count").to_pylist() == [3, None]
    assert first_line == 2


def test_malformed_csv_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text("a,b\n1,2\n3,4,5,6\n7,8\n")
    with pytest.raises(IngestionError, match=r"release\.xlsx.*cannot parse CSV"):
        list(readers.read_csv_batches(path, {}, WHERE))


@pytest.mark.parametrize("name", ["../evil.csv", "/etc/passwd", "extracts/../../x.csv", "C:\\temp\\x.csv"])
def test_archive_members_that_escape_the_folder_are_refused(name: str) -> None:
    with pytest.raises(IngestionError, match="unsafe member name"):
        readers.check_member_name(name, WHERE)


def test_members_that_inflate_past_the_limit_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("region_1.csv", "0" * 200_000)
    with zipfile.ZipFile(archive) as zipped, pytest.raises(IngestionError, match="over the limit"):
        readers.extract_member(zipped, zipped.getinfo("region_1.csv"), tmp_path, 10_000, WHERE)


def test_config_errors_name_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "publications.yml"
    config.write_text(
        "publications:\n  demo:\n    periods: {first: '2025-01', last: '2025-02'}\n"
        "    location: data\n    files:\n      - {name: 'x.xlsx', format: xlsx}\n"
    )
    with pytest.raises(ConfigError, match=r"files\[0\].*\{period\}"):
        load_publications(config)
    config.write_text(
        "publications:\n  demo:\n    periods: {first: '2025-13', last: '2025-02'}\n"
        "    location: data\n    files: [{name: 'x-{period}.csv', table: x}]\n"
    )
    with pytest.raises(ConfigError, match="2025-13"):
        load_publications(config)


def test_declared_periods_are_monthly_and_inclusive() -> None:
    publication = load_publications()["practice_submissions"]
    assert publication.periods() == ["2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]
    assert publication.periods("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]
