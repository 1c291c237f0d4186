"""The sample annual publication "Payments to general practice": stable bytes, drifting names, the sheet shapes a
reader must cope with, and row counts that match :func:`expected_rows` (no database needed)."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
from python_calamine import CalamineWorkbook

from ingestion.devtools.sample import payments
from ingestion.devtools.sample.publications import REGIONS, practices

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELATIONSHIP = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
PACKAGE_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"

DRIFTING_NAMES = {
    "2021-22": {"nhs-payments-to-general-practice-2021-22.xlsx", "practice-payments-extract-2021-22.zip"},
    "2022-23": {"nhs-payment-to-general-practice-2022-23.xlsx", "practice-payments-extract-2022-23-revised.zip"},
    "2023-24": {"payments-to-general-practice-2324.xlsx", "practice-payments-extract-2023-24.zip"},
    "2024-25": {"payments-to-general-practice-2425.xlsx", "practice-payments-extract-2024-25.zip"},
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("payments")
    payments.generate(folder)
    return folder


def _folder(root: Path, period: str) -> Path:
    return root / "practice_payments" / period


def _workbook(root: Path, period: str) -> Path:
    return _folder(root, period) / payments.workbook_name(period)


def _cells(path: Path, sheet: str) -> list[list[object]]:
    """The sheet's values, row 1 first and column A first, blanks as ''."""
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python(skip_empty_area=False)


def _sheet_xml(path: Path, sheet: str) -> ElementTree.Element:
    """The worksheet part of ``sheet`` (what calamine does not tell: hidden rows and columns, merged cells)."""
    with zipfile.ZipFile(path) as archive:
        book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        rel_id = next(s.get(RELATIONSHIP) for s in book.iter(f"{MAIN}sheet") if s.get("name") == sheet)
        target = next(r.get("Target") for r in rels.iter(f"{PACKAGE_RELS}Relationship") if r.get("Id") == rel_id)
        return ElementTree.fromstring(archive.read(f"xl/{target.removeprefix('/xl/')}"))


def _merged(path: Path, sheet: str) -> set[str]:
    return {cell.get("ref") for cell in _sheet_xml(path, sheet).iter(f"{MAIN}mergeCell")}


def _hidden_rows(path: Path, sheet: str) -> set[int]:
    return {int(row.get("r")) for row in _sheet_xml(path, sheet).iter(f"{MAIN}row") if row.get("hidden") == "1"}


def _hidden_columns(path: Path, sheet: str) -> set[int]:
    return {
        number
        for col in _sheet_xml(path, sheet).iter(f"{MAIN}col")
        if col.get("hidden") == "1"
        for number in range(int(col.get("min")), int(col.get("max")) + 1)
    }


def _table1_data_rows(path: Path) -> list[tuple[int, list[object]]]:
    """(Excel row number, cells) of Table 1's data rows as a reader should see them: no blank, hidden or note row."""
    hidden = _hidden_rows(path, "Table 1")
    rows = _cells(path, "Table 1")
    return [
        (number, row)
        for number, row in enumerate(rows[5:], start=6)
        if number not in hidden and row[1] in payments.PAYMENT_TYPES
    ]


def _table2_data_rows(path: Path) -> list[list[object]]:
    rows = _cells(path, "Table 2")
    data = []
    for row in rows[4:]:
        if not any(row):
            break
        data.append(row)
    return data


def _csv_rows(path: Path) -> dict[str, list[list[str]]]:
    with zipfile.ZipFile(path) as archive:
        return {
            name: list(csv.reader(io.StringIO(archive.read(name).decode("utf-8"))))
            for name in archive.namelist()
            if re.fullmatch(r"payments_E\d{8}\.csv", name)
        }


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_the_same_call_writes_byte_identical_files(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    payments.generate(first)
    payments.generate(second)
    assert len(_digests(first)) == 2 * len(payments.DEFAULT_PERIODS)
    assert _digests(first) == _digests(second)


def test_file_names_drift_between_years(root: Path) -> None:
    assert tuple(DRIFTING_NAMES) == payments.DEFAULT_PERIODS
    for period, names in DRIFTING_NAMES.items():
        assert {path.name for path in _folder(root, period).iterdir()} == names, period


def test_a_bad_period_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="'2021-23' is not a financial year"):
        payments.workbook_name("2021-23")


def test_practices_come_from_the_shared_register_and_open_and_close() -> None:
    register = {practice.code: practice.region_code for practice in practices(40)}
    counts = []
    for period in payments.DEFAULT_PERIODS:
        published = payments.year_practices(period)
        assert all(register[practice.code] == practice.region_code for practice in published)
        counts.append(len(published))
    assert counts == [34, 31, 33, 36]
    assert len(set(counts)) == len(counts) and all(30 <= count <= 40 for count in counts)


def test_sheets_and_cover(root: Path) -> None:
    path = _workbook(root, "2021-22")
    assert CalamineWorkbook.from_path(str(path)).sheet_names == ["Cover", "Notes", "Table 1", "Table 2"]
    cover = [row[0] for row in _cells(path, "Cover") if row[0]]
    assert cover[0] == "Payments to General Practice, England, financial year 2021-22"
    assert "Publication date: 12 October 2022" in cover
    notes = [row[0] for row in _cells(path, "Notes")]
    assert [note[:8] for note in notes if str(note).startswith("[note")] == ["[note 1]", "[note 2]", "[note 3]"]


def test_table1_presentation_layout(root: Path) -> None:
    path = _workbook(root, "2023-24")
    rows = _cells(path, "Table 1")
    assert "A1:E1" in _merged(path, "Table 1")
    assert rows[0][0] == "Table 1: Payments to general practice by region and payment type"
    assert rows[1][0] == "Financial year 2023-24, England"
    assert not any(rows[2])
    assert rows[3] == [
        "Region",
        "Payment type",
        "Practices",
        "Total payments",
        "Payment per registered patient",
        "Unrounded",
    ]
    assert rows[4][:5] == ["", "", "(number)", "(£ thousands)", "(£)"]
    assert _hidden_columns(path, "Table 1") == {6}

    # a check row hidden inside the last region, after its second row
    assert _hidden_rows(path, "Table 1") == {32}
    assert rows[31][1] == "Check total"
    assert [row[1] for row in rows[29:33]] == ["Global sum", "Quality and outcomes", "Check total", "Enhanced services"]

    # the region only on the first row of its group, one blank row between groups
    for index, (_, region_name) in enumerate(REGIONS):
        first = 5 + 4 * index
        group = [rows[first], rows[first + 1], rows[first + 2 + (index == len(REGIONS) - 1)]]
        assert [row[0] for row in group] == [region_name, "", ""]
        assert [row[1] for row in group] == list(payments.PAYMENT_TYPES)
        if index < len(REGIONS) - 1:
            assert not any(rows[first + 3])

    # the footnotes below the table
    assert [row[0] for row in rows[-4:]] == [
        "",
        "Notes:",
        "1. Figures are rounded to the nearest £100.",
        "Source: sample generator, not real data.",
    ]


def test_table1_values_and_the_note_marker(root: Path) -> None:
    path = _workbook(root, "2021-22")
    data = _table1_data_rows(path)
    marked = [row for _, row in data if isinstance(row[3], str)]
    assert len(marked) == 1
    value, marker = marked[0][3].split(" ", 1)
    assert marker == "[note 3]"
    assert float(value) == round(marked[0][5], 1)
    for _, row in data:
        practices_paid, total, per_patient, unrounded = row[2], row[3], row[4], row[5]
        assert practices_paid == int(practices_paid) and practices_paid >= 0
        assert isinstance(per_patient, float) and per_patient == round(per_patient, 2)
        assert isinstance(unrounded, float)
        if not isinstance(total, str):
            assert total == round(unrounded, 1)


def test_table2_two_row_header_and_suppression(root: Path) -> None:
    path = _workbook(root, "2022-23")
    rows = _cells(path, "Table 2")
    assert {"A3:B3", "C3:E3"} <= _merged(path, "Table 2")
    assert rows[0][0] == "Table 2: Payments by practice, financial year 2022-23"
    assert rows[2] == ["Practice", "", "Payments (£)", "", ""]
    assert rows[3] == ["Code", "Name", "Global sum", "Quality and outcomes", "Total"]
    data = _table2_data_rows(path)
    assert [row[0] for row in data] == [practice.code for practice in payments.year_practices("2022-23")]
    assert 1 <= sum(row[3] == "[c]" for row in data) <= 2
    assert all(isinstance(row[2], float) and isinstance(row[4], float) for row in data)
    assert [row[0] for row in rows[len(data) + 4 :]] == ["", "Source: sample generator."]


def test_extract_members(root: Path) -> None:
    path = _folder(root, "2024-25") / payments.extract_name("2024-25")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        assert len(archive.read("__MACOSX/._payments_E40000003.csv")) < 16
    assert names == {f"payments_{code}.csv" for code, _ in REGIONS} | {
        "__MACOSX/._payments_E40000003.csv",
        "readme.txt",
    }
    members = _csv_rows(path)
    codes = {practice.code: practice.region_code for practice in payments.year_practices("2024-25")}
    for name, rows in members.items():
        assert rows[0] == ["practice_code", "payment_type", "amount_gbp", "registered_patients"]
        assert all(codes[row[0]] == name[9:18] for row in rows[1:])
        assert all(re.fullmatch(r"\d+\.\d\d", row[2]) for row in rows[1:])


@pytest.mark.parametrize("period", payments.DEFAULT_PERIODS)
def test_expected_rows_match_the_files(root: Path, period: str) -> None:
    workbook = _workbook(root, period)
    extract = _folder(root, period) / payments.extract_name(period)
    found = {
        "regional_payments": len(_table1_data_rows(workbook)),
        "practice_payments": len(_table2_data_rows(workbook)),
        "practice_payment_lines": sum(len(rows) - 1 for rows in _csv_rows(extract).values()),
    }
    assert found == payments.expected_rows(period)
    assert found["regional_payments"] == 21
    assert found["practice_payment_lines"] == 3 * found["practice_payments"]
