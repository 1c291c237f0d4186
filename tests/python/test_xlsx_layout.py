"""Tables on presentation-style sheets: title rows, units rows, hidden columns and rows, group labels written once,
blank separators, footnotes and note markers; never a silent truncation. Workbooks are built on the fly."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from ingestion.errors import IngestionError
from ingestion.sources.publications import readers
from ingestion.sources.publications.readers import SheetLayout, TableEnd, TableReport
from ingestion.sources.publications.readers.layout import EndTracker, is_note_row, is_units_row, looks_like_units

WHERE = {"publication": "demo", "period": "2025-01", "file": "release.xlsx"}
NOTES = readers.DEFAULT_NOTE_MARKERS


def _book(path: Path, build: Callable[[Worksheet], None], sheet: str = "Table 3") -> Path:
    book = xlsxwriter.Workbook(str(path))
    build(book.add_worksheet(sheet))
    book.close()
    return path


def _rows(sheet: Worksheet, rows: dict[int, list[object]], column: int = 0) -> None:
    """Write rows given by their 1-based sheet row."""
    for number, row in rows.items():
        for offset, value in enumerate(row):
            if value is not None:
                sheet.write(number - 1, column + offset, value)


def _read(
    path: Path,
    layout: SheetLayout,
    sheet: str = "Table 3",
    chunk_rows: int = 50_000,
    rejections: list[readers.Rejection] | None = None,
) -> tuple[pa.Table, list[int], TableReport]:
    """The table read (chunks concatenated), the first rows of the chunks, and the report; the report checked to
    account for every row under the header."""
    report = TableReport(sheet)
    workbook = readers.open_workbook(path, WHERE)
    chunks = list(
        readers.read_xlsx_table(
            workbook, sheet, layout, WHERE, chunk_rows, path=path, rejections=rejections, report=report
        )
    )
    table = pa.concat_tables([chunk for chunk, _ in chunks])
    assert report.rows_read == table.num_rows
    _assert_accounted(report)
    return table, [first for _, first in chunks], report


def _assert_accounted(report: TableReport) -> None:
    """Every row from under the header to the sheet's last non-empty row is read or skipped with a reason."""
    assert report.last_sheet_row is not None and report.header_rows
    assert report.rows_read + sum(report.skipped.values()) == report.last_sheet_row - report.header_rows[-1]
    assert set(report.skipped) <= {"blank", "notes", "units", "hidden", "after_end"}


# ------------------------------------------------------------------------------------ a presentation-style sheet

GROUPS = {"North": (6, 5), "South": (12, 6), "East": (19, 5), "West": (25, 5), "Central": (31, 5)}  # first row, rows
HIDDEN_ROW = 14  # inside South
NOTE_ROW = 20  # "512.3 [note 3]" in East's payments
FOOTNOTES = {
    38: "Source: Practice Payments Collection",
    39: "Notes",
    40: "1. Figures are provisional.",
    41: "[note 3] Includes a late adjustment.",
}


def _presentation(sheet: Worksheet) -> None:
    sheet.merge_range("A1:E1", "Table 3: Practice payments by region, 2024-25")
    sheet.write("A2", "Source: Practice Payments Collection")
    _rows(
        sheet,
        {
            4: ["Region", "Practice code", "Practice name", "Patients", "Payments (£) [note 1]"],
            5: [None, None, None, "(number)", "(£ thousands)"],
        },
    )
    sheet.set_column("F:F", None, None, {"hidden": True})  # unrounded payments, no header
    practice = 0
    for region, (first, count) in GROUPS.items():
        for number in range(first, first + count):
            practice += 1
            payments: object = "512.3 [note 3]" if number == NOTE_ROW else round(100 + practice * 1.5, 1)
            _rows(
                sheet,
                {
                    number: [
                        region if number == first else None,
                        f"P{practice:03d}",
                        f"Practice {practice}",
                        1000 + practice,
                        payments,
                        100 + practice * 1.5 + 0.0123,
                    ]
                },
            )
    sheet.set_row(HIDDEN_ROW - 1, None, None, {"hidden": True})
    _rows(sheet, {number: [text] for number, text in FOOTNOTES.items()})


def _presentation_rows() -> list[int]:
    return [
        number for first, count in GROUPS.values() for number in range(first, first + count) if number != HIDDEN_ROW
    ]


def test_a_presentation_sheet_is_read_whole(tmp_path: Path) -> None:
    path = _book(tmp_path / "payments.xlsx", _presentation)
    layout = SheetLayout(fill_down=("region",), note_markers=NOTES)

    table, _, report = _read(path, layout)

    assert table.num_rows == 25
    assert table.column_names == [
        "region",
        "practice_code",
        "practice_name",
        "patients",
        "payments",
        "_notes",
        "_source_row",
    ]  # the hidden column F is not there
    assert table.column("_source_row").to_pylist() == _presentation_rows()
    regions = table.column("region").to_pylist()
    assert regions == [
        region for region, (_, count) in GROUPS.items() for _ in range(count - (region == "South"))
    ]  # filled down; South lost its hidden row
    assert "(number)" not in table.column("patients").to_pylist()  # the units row is not data
    by_row = {row["_source_row"]: row for row in table.to_pylist()}
    assert by_row[NOTE_ROW]["payments"] == "512.3" and by_row[NOTE_ROW]["_notes"] == "payments: [note 3]"
    assert by_row[6]["_notes"] is None and by_row[6]["payments"] == "101.5"
    assert HIDDEN_ROW not in by_row

    assert report.header_rows == [4] and report.units_row == 5
    assert report.units == {"patients": "(number)", "payments": "(£ thousands)"}
    assert report.header_notes == {"payments": "[note 1]"}
    assert report.hidden_columns == ["F"] and report.hidden_rows == [HIDDEN_ROW]
    assert report.skipped == {"units": 1, "hidden": 1, "blank": 6, "notes": 4}
    assert (report.first_data_row, report.table_end_row, report.last_sheet_row) == (6, 35, 41)
    assert report.notes_found == 1 and report.rows_read == 25
    assert report.detected == {
        "header_row": "detected",
        "header_rows": "detected",
        "units_row": "detected",
        "table_end": "detected",
    }


def test_without_note_markers_the_text_is_kept_and_there_is_no_notes_column(tmp_path: Path) -> None:
    path = _book(tmp_path / "payments.xlsx", _presentation)
    table, _, report = _read(path, SheetLayout())
    assert "_notes" not in table.column_names and "payments_note_1" in table.column_names
    assert table.column("region").to_pylist()[:2] == ["North", None]  # not filled down unless asked
    assert "512.3 [note 3]" in table.column("payments_note_1").to_pylist() and report.notes_found == 0


def test_hidden_columns_and_rows_can_be_kept(tmp_path: Path) -> None:
    path = _book(tmp_path / "payments.xlsx", _presentation)
    with pytest.raises(IngestionError, match=r"row 6: value 101\.5123 in column 6 \(F\) has no header"):
        _read(path, SheetLayout(skip_hidden_columns=False))
    table, _, report = _read(path, SheetLayout(skip_hidden_rows=False, units_row=True, header_row=4))
    assert HIDDEN_ROW in table.column("_source_row").to_pylist() and table.num_rows == 26
    assert report.hidden_rows == [] and report.detected["header_row"] == "declared"


def test_a_units_row_can_be_declared_absent(tmp_path: Path) -> None:
    path = _book(tmp_path / "payments.xlsx", _presentation)
    table, _, report = _read(path, SheetLayout(header_row=4, units_row=False))
    assert table.column("_source_row").to_pylist()[0] == 5 and table.column("patients")[0].as_py() == "(number)"
    assert report.units_row is None and report.units == {}


def test_an_unknown_fill_down_column_names_the_columns_there_are(tmp_path: Path) -> None:
    path = _book(tmp_path / "payments.xlsx", _presentation)
    with pytest.raises(IngestionError, match=r"'Table 3': fill_down names area, .*columns are region, practice_code"):
        _read(path, SheetLayout(fill_down=("area",)))


# --------------------------------------------------------------------------------------------- two-row headers


def _two_row_header(sheet: Worksheet) -> None:
    sheet.write("A1", "Table 4: Patients and payments by practice")
    sheet.merge_range("A3:A4", "Region")
    sheet.write("B3", "Practice")
    sheet.merge_range("C3:D3", "Patients")
    sheet.merge_range("E3:F3", "Payments")
    _rows(
        sheet,
        {
            4: [None, None, "Number", "Rate per 1,000", "2023-24", "2024-25"],
            5: ["North", "P001", 1200, 3.5, 100, 110],
            6: ["North", "P002", 900, 2.5, 90, 95],
            8: ["Figures are provisional."],
        },
    )


def test_a_two_row_header_with_merged_group_labels_is_joined(tmp_path: Path) -> None:
    path = _book(tmp_path / "two.xlsx", _two_row_header)
    table, _, report = _read(path, SheetLayout())
    assert table.column_names == [
        "region",
        "practice",
        "patients_number",
        "patients_rate_per_1_000",
        "payments_2023_24",
        "payments_2024_25",
        "_source_row",
    ]
    assert table.column("payments_2024_25").to_pylist() == ["110", "95"]
    assert report.header_rows == [3, 4] and report.detected["header_rows"] == "detected"
    assert report.skipped == {"blank": 1, "notes": 1}


def test_a_declared_two_row_header_without_merges_joins_column_by_column(tmp_path: Path) -> None:
    path = _book(
        tmp_path / "plain.xlsx",
        lambda sheet: _rows(
            sheet, {2: ["Code", "Patients", None, "Wait"], 3: [None, "Number", "Rate", "(days)"], 4: ["A", 1, 2, 3]}
        ),
    )
    table, _, report = _read(path, SheetLayout(header_row=2, header_rows=2))
    # without a merge, a blank upper cell does not take the text on its left
    assert table.column_names == ["code", "patients_number", "rate", "wait_days", "_source_row"]
    assert report.header_rows == [2, 3] and report.detected["header_rows"] == "declared"


def test_merged_cells_in_a_one_row_header_over_a_units_row_stay_one_row(tmp_path: Path) -> None:
    def build(sheet: Worksheet) -> None:
        _rows(sheet, {1: ["Table 5"], 3: ["Code", "Name"], 4: [None, None, "(number)", "(£000s)"], 5: ["A", "x", 1, 2]})
        sheet.merge_range("C3:D3", "Payments")

    table, _, report = _read(_book(tmp_path / "units.xlsx", build), SheetLayout())
    assert table.column_names == ["code", "name", "payments", "column_4", "_source_row"]
    assert report.header_rows == [3] and report.units == {"payments": "(number)", "column_4": "(£000s)"}


# -------------------------------------------------------------------------------------------------- table ends


def _end_sheet(sheet: Worksheet) -> None:
    _rows(
        sheet,
        {
            1: ["Code", "Value"],
            2: ["A", 1],
            3: ["B", 2],
            5: ["C", 3],
            6: ["D", 4],
            8: ["Source: the collection"],
            10: ["Total", 10],
            11: ["Mean", 2.5],
            12: ["Max", 4],
            15: ["Min", 1],
        },
    )


def test_rows_below_the_end_that_are_not_notes_fail_naming_them(tmp_path: Path) -> None:
    path = _book(tmp_path / "end.xlsx", _end_sheet)
    with pytest.raises(IngestionError) as error:
        _read(path, SheetLayout())
    message = str(error.value)
    assert "'Table 3', row 10: rows 10-12 and 15 below the table's end at row 6 are not notes" in message
    assert "set table_end for this sheet (blank_rows(N), marker(text) or last_row)" in message
    assert error.value.row == 10


def test_one_blank_row_inside_a_table_does_not_end_it(tmp_path: Path) -> None:
    path = _book(
        tmp_path / "gap.xlsx",
        lambda sheet: _rows(
            sheet, {1: ["Code", "Value"], 2: ["A", 1], 4: ["B", 2], 5: ["C", 3], 7: ["Note: provisional"]}
        ),
    )
    table, _, report = _read(path, SheetLayout())
    assert table.column("_source_row").to_pylist() == [2, 4, 5]
    assert report.skipped == {"blank": 2, "notes": 1} and report.table_end_row == 5


def test_table_end_blank_rows(tmp_path: Path) -> None:
    path = _book(tmp_path / "end.xlsx", _end_sheet)
    table, _, report = _read(path, SheetLayout(table_end=TableEnd("blank_rows", blank_rows=2)))
    assert table.column("code").to_pylist() == ["A", "B", "C", "D", "Source: the collection", "Total", "Mean", "Max"]
    assert report.table_end_row == 12 and report.skipped == {"blank": 5, "after_end": 1}  # rows 4, 7, 9, 13-14; 15
    assert report.detected["table_end"] == "declared"


def test_table_end_marker(tmp_path: Path) -> None:
    path = _book(tmp_path / "end.xlsx", _end_sheet)
    table, _, report = _read(path, SheetLayout(table_end=TableEnd("marker", marker="source")))
    assert table.column("code").to_pylist() == ["A", "B", "C", "D"]
    assert report.table_end_row == 6 and report.skipped == {"blank": 2, "after_end": 8}  # rows 4, 7; 8-15
    with pytest.raises(IngestionError, match=r"marker\(Footnotes\) is not found below the header \(row 1\)"):
        _read(path, SheetLayout(table_end=TableEnd("marker", marker="Footnotes")))


def test_table_end_last_row(tmp_path: Path) -> None:
    path = _book(tmp_path / "end.xlsx", _end_sheet)
    table, _, report = _read(path, SheetLayout(table_end=TableEnd("last_row")))
    assert table.column("_source_row").to_pylist() == [2, 3, 5, 6, 8, 10, 11, 12, 15]
    assert report.table_end_row == 15 and report.skipped == {"blank": 5}


# ------------------------------------------------------------------------------------------ two tables, a range


def _two_tables(sheet: Worksheet) -> None:
    _rows(
        sheet,
        {
            1: ["Table 6a: by region"],
            3: ["Region", "Practices", "Patients"],
            4: ["North", 3, 900],
            5: ["South", 2, 700],
            6: ["East", 4, 1100],
            8: ["Table 6b: by practice"],
            9: ["Practice code", "Patients"],
            10: ["P1", 300],
            11: ["P2", 200],
            12: ["P3", 400],
            14: ["Source: the collection"],
        },
    )


def test_the_second_table_of_a_sheet_by_header_text(tmp_path: Path) -> None:
    path = _book(tmp_path / "two.xlsx", _two_tables)
    table, _, report = _read(path, SheetLayout(header_text=" practice CODE "))
    assert table.column_names == ["practice_code", "patients", "_source_row"]
    assert table.column("_source_row").to_pylist() == [10, 11, 12] and report.header_rows == [9]
    assert report.detected["header_row"] == "declared"
    with pytest.raises(IngestionError, match="no row has a cell 'Practice name'"):
        _read(path, SheetLayout(header_text="Practice name"))


def test_both_tables_of_a_sheet_by_range(tmp_path: Path) -> None:
    path = _book(tmp_path / "two.xlsx", _two_tables)
    first, _, report = _read(path, SheetLayout(range="A3:C6"))
    assert first.column("region").to_pylist() == ["North", "South", "East"]
    assert report.last_sheet_row == 6 and report.skipped == {}  # rows below the range are not counted
    second, _, report = _read(path, SheetLayout(range="A9:B14"))
    assert second.column("practice_code").to_pylist() == ["P1", "P2", "P3"] and report.skipped == {
        "blank": 1,
        "notes": 1,
    }
    with pytest.raises(IngestionError, match="rows 9-12 below the table's end at row 6 are not notes"):
        _read(path, SheetLayout(header_text="Region"))  # without a range, table 6b is under table 6a's end


def test_a_range_leaves_out_columns_outside_it(tmp_path: Path) -> None:
    path = _book(
        tmp_path / "side.xlsx",
        lambda sheet: _rows(
            sheet, {2: ["Code", "Value", None, "Other", "Side"], 3: ["A", 1, None, "x", 9], 4: ["B", 2, None, "y", 8]}
        ),
    )
    table, _, _ = _read(path, SheetLayout(range="D2:E4"))
    assert table.to_pydict() == {"other": ["x", "y"], "side": ["9", "8"], "_source_row": [3, 4]}


# --------------------------------------------------------------------------------------------------- chunks


def test_fill_down_carries_across_chunks_and_separators(tmp_path: Path) -> None:
    path = _book(
        tmp_path / "chunks.xlsx",
        lambda sheet: _rows(
            sheet,
            {
                1: ["Region", "Code", "Value"],
                2: ["North", "a", 1],
                3: [None, "b", 2],
                4: [None, "c", 3],
                5: [None, "d", 4],
                7: ["South", "e", 5],
                8: [None, "f", 6],
                9: [None, "g", 7],
            },
        ),
    )
    table, firsts, report = _read(path, SheetLayout(fill_down=("region",)), chunk_rows=3)
    assert firsts == [2, 5, 9]
    assert table.column("region").to_pylist() == ["North"] * 4 + ["South"] * 3
    assert table.column("_source_row").to_pylist() == [2, 3, 4, 5, 7, 8, 9]
    assert report.rows_read == 7 and report.skipped == {"blank": 1}


def test_error_cells_keep_their_text_in_a_presentation_sheet(tmp_path: Path) -> None:
    def build(sheet: Worksheet) -> None:
        _presentation(sheet)
        sheet.write_formula("E7", "=1/0", None, "#DIV/0!")
        sheet.write_formula("F8", "=1/0", None, "#DIV/0!")  # in the hidden column: not loaded, not flagged

    rejections: list[readers.Rejection] = []
    table, _, _ = _read(_book(tmp_path / "errors.xlsx", build), SheetLayout(note_markers=NOTES), rejections=rejections)
    assert table.column("payments").to_pylist()[1] == "#DIV/0!"
    assert rejections == [readers.Rejection(7, "payments", "#DIV/0!", "spreadsheet error cell #DIV/0!", "flagged")]


# ------------------------------------------------------------------------------------------ XML facts, rules


def test_sheet_facts_find_hidden_rows_columns_and_merges_with_any_prefix(tmp_path: Path) -> None:
    path = _book(tmp_path / "facts.xlsx", _presentation)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    xml = members["xl/worksheets/sheet1.xml"]
    xml = re.sub(rb"<(/?)(row|col|c|v|f|mergeCell)\b", rb"<\1x:\2", xml).replace(b'hidden="1"', b"hidden='true'")
    members["xl/worksheets/sheet1.xml"] = xml
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    facts = readers.sheet_facts(path, "Table 3", WHERE)
    assert facts.hidden_rows == {HIDDEN_ROW}
    assert facts.hidden_columns == [(5, 5)] and facts.column_hidden(5) and not facts.column_hidden(4)
    assert facts.merges == [(1, 0, 1, 4)]
    assert readers.sheet_error_cells(path, "Table 3", WHERE) == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(thousands)", True),
        ("(£ thousands)", True),
        ("(number)", True),
        ("(%)", True),
        ("£000s", True),
        ("%", True),
        ("per cent", True),
        ("Rate per 1,000", True),
        ("number", True),
        ("£", True),
        ("days", True),
        ("Region", False),
        ("North East", False),
        ("Practice code", False),
    ],
)
def test_units_vocabulary(text: str, expected: bool) -> None:
    assert looks_like_units(text) is expected


def test_units_and_note_rows() -> None:
    assert is_units_row([None, "(number)", "%"]) and not is_units_row([None, "(number)", 12.0])
    assert not is_units_row([None, None])
    assert is_note_row([None, "Source: x", ""]) and not is_note_row(["Total", 3.0]) and not is_note_row([2024.0])


def test_end_tracker_separator_then_end() -> None:
    tracker = EndTracker(TableEnd())
    steps = [
        tracker.step(2, empty=False, note=False),
        tracker.step(3, empty=True, note=False),
        tracker.step(4, empty=False, note=False),
        tracker.step(5, empty=True, note=False),
        tracker.step(6, empty=False, note=True),
        tracker.step(7, empty=False, note=False),
    ]
    assert steps == ["read", "blank", "read", "blank", "notes", "not_notes"] and tracker.last_read == 4


def test_sheets_are_classified(tmp_path: Path) -> None:
    path = tmp_path / "kinds.xlsx"
    book = xlsxwriter.Workbook(str(path))
    cover = book.add_worksheet("Front")
    _rows(cover, {1: ["Practice Payments, 2024-25"], 3: ["Published", "1 May 2025"], 4: ["Contact", "x@y.org"]})
    _rows(
        book.add_worksheet("Title page"),
        {
            1: ["Practice Payments, England"],
            3: ["Published: 1 May 2025"],
            4: ["Status: official statistics"],
            5: ["Contact: x@y.org"],
        },
    )
    notes = book.add_worksheet("Background")
    _rows(notes, {1: ["About these figures"], 2: ["Payments are in pounds."], 3: ["Rates are per 1,000."]})
    _presentation(book.add_worksheet("Table 3"))
    _rows(
        book.add_worksheet("Contents"),
        {1: ["Sheet", "Title"], 2: ["Table 3", "Payments"], 3: ["Table 4", "Patients"], 4: ["Table 5", "Other"]},
    )
    _rows(book.add_worksheet("Sheet5"), {7: [42]})
    book.add_worksheet("Empty")
    book.close()
    workbook = readers.open_workbook(path, WHERE)
    kinds = {sheet: readers.classify_sheet(workbook, sheet, path) for sheet in workbook.sheet_names}
    assert kinds == {
        "Front": "cover",
        "Title page": "cover",
        "Background": "notes",
        "Table 3": "table",
        "Contents": "notes",
        "Sheet5": "junk",
        "Empty": "junk",
    }
