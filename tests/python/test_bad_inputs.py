"""Bad release files, one per case, on both engines: each fails its period with a clear error that names what a user
needs (file, sheet or member, row or line, column, value), leaving the period exactly as it was, or loads correctly
with the rows it could not take in ``bronze_publications.quarantine``.

Every case mutates one file (or a few) of the baseline's 2025-03 release, loads that period in-process, checks the
outcome, then checks the fault matrix's rules (faultkit): no row lost, none duplicated, the run recorded in the
ledger, and, with the original files put back, one rerun ends in the state of a clean run.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import random
import struct
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from ingestion.sources.publications import settings

from faultkit import (
    TABLES,
    Baseline,
    Record,
    bronze_contents,
    case_workspace,
    counts,
    latest_run_id,
    ledger_events,
    rows_duplicated,
    rows_lost,
    run_cli,
)
from workspace import Workspace

pytestmark = pytest.mark.faults

PERIOD = "2025-03"
SUBJECT = f"practice_submissions/{PERIOD}"
DATASET = "bronze_publications"
XLSX = f"practice-submissions-{PERIOD}.xlsx"
CSV = f"practice-detail-{PERIOD}.csv"
ZIP = f"regional-extracts-{PERIOD}.zip"
MEMBER = "extracts/region_E40000003.csv"  # the first regional extract (two data rows)
VOLATILE = ("_dlt_load_id",)
ERROR_KINDS = ("#DIV/0!", "#N/A", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!")
# the advice a cp1252 file with é and £ must get: an encoding that reads both right
CP1252_ADVICE = tuple(
    f"`encoding: {name}`" for name in ("cp1252", "windows-1252", "iso8859-1", "iso8859-15", "latin-1", "latin_1")
)

# Where things are in the sample release (ingestion/devtools/sample/publications.py): Table 2's header is on row 5
# (index 4), its seven practices on rows 6-12; Table 1's header on row 4, its four measures on rows 5-8. The detail
# CSV has its header on line 1 and 651 data rows (7 practices x 31 days x 3 channels) on lines 2-652.
T2_HEADER, T2_FIRST = 4, 5
T1_FIRST = 4
T2_COLUMNS = {
    "practice_code": 4,
    "practice_name": 5,
    "registered_patients": 6,
    "submissions": 7,
    "rate_per_1_000_patients": 8,
}
CSV_FIELDS = {"practice_code": 0, "submission_date": 1, "channel": 2, "submission_count": 3, "mean_processing_days": 4}
DETAIL_ROWS = 651


# -- the cases ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quarantined:
    """A row the case expects in the period's quarantine (None: any value)."""

    table: str
    row: int | None
    column: str | None = None
    value: str | None = None
    disposition: str = "rejected"
    reason: str | None = None  # a substring


@dataclass(frozen=True)
class Case:
    name: str
    mutate: Callable[[Path], None]  # gets the period's release folder
    # an error case: substrings the FAILED message must hold (a tuple in it: any one of them)
    expect_error: tuple[str | tuple[str, ...], ...] | None = None
    expect_quarantined: int | None = None  # a load case: rejected rows in the period's quarantine
    expect_flagged: int = 0
    quarantined: tuple[Quarantined, ...] = ()
    deltas: dict[str, int] = field(default_factory=dict)  # a load case: 2025-03 rows per table vs the baseline
    new_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # table -> columns the load may add
    verify: Callable[[Workspace], None] | None = None  # more checks of the state after the case's run
    config: Callable[[str], str] | None = None  # edits the text of publications.yml for the case's run
    either: bool = False  # an error (as expect_error says) or a load with what `quarantined` says are both right


def _err(*parts: str | tuple[str, ...]) -> tuple[str | tuple[str, ...], ...]:
    return parts


# -- XLSX: read the workbook, change it, write it back (xlsxwriter) -----------------------------------------------


@dataclass(frozen=True)
class ErrorCell:
    text: str


_FORMULAS = {
    "#DIV/0!": "=1/0",
    "#N/A": "=NA()",
    "#VALUE!": '="a"+1',
    "#REF!": "=#REF!",
    "#NAME?": "=nosuch()",
    "#NUM!": "=SQRT(-1)",
    "#NULL!": "=A1 B2",
}
_LONG = "@@LONG_TEXT@@"


def _read_book(path: Path) -> dict[str, list[list[object]]]:
    book = CalamineWorkbook.from_path(str(path))
    return {
        name: [list(row) for row in book.get_sheet_by_name(name).to_python(skip_empty_area=False)]
        for name in book.sheet_names
    }


def _write_book(path: Path, sheets: dict[str, list[list[object]]], long_text: str | None = None) -> None:
    book = xlsxwriter.Workbook(str(path))
    dates = book.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, ErrorCell):
                    sheet.write_formula(r, c, _FORMULAS[value.text], None, value.text)
                elif value is None or value == "":
                    continue
                elif isinstance(value, dt.datetime | dt.date):
                    sheet.write_datetime(
                        r,
                        c,
                        dt.datetime.combine(value, dt.time()) if not isinstance(value, dt.datetime) else value,
                        dates,
                    )
                elif isinstance(value, bool):
                    sheet.write_boolean(r, c, value)
                elif isinstance(value, int | float):
                    sheet.write_number(r, c, value)
                else:
                    sheet.write_string(r, c, str(value))
    book.close()
    if long_text is not None:  # Excel (and xlsxwriter) stop at 32,767 characters a cell: put it in the XML
        _patch_member(path, "xl/sharedStrings.xml", lambda xml: xml.replace(_LONG.encode(), long_text.encode()))


def _patch_member(path: Path, member: str, change: Callable[[bytes], bytes]) -> None:
    with zipfile.ZipFile(path) as archive:
        items = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in items:
            archive.writestr(info, change(data) if info.filename == member else data)


def _book(
    change: Callable[[dict[str, list[list[object]]]], object], long_text: str | None = None
) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        sheets = _read_book(folder / XLSX)
        change(sheets)
        _write_book(folder / XLSX, sheets, long_text)

    return mutate


def _sheet_named(placeholder: str, name: str) -> Callable[[bytes], bytes]:
    """The workbook with sheet ``placeholder`` renamed in its XML (to a name Excel itself would not allow)."""

    def change(data: bytes) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
            for info in source.infolist():
                part = source.read(info)
                if info.filename == "xl/workbook.xml":
                    part = part.replace(f'name="{placeholder}"'.encode(), f'name="{html.escape(name)}"'.encode())
                out.writestr(info, part)
        return buffer.getvalue()

    return change


def _then(*mutations: Callable[[Path], None]) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        for mutation in mutations:
            mutation(folder)

    return mutate


def _cells(sheet: str, *cells: tuple[int, int, object]) -> Callable[[dict], None]:
    """Set cells (0-based row, column) of a sheet, growing rows as needed."""

    def change(sheets: dict[str, list[list[object]]]) -> None:
        for r, c, value in cells:
            row = sheets[sheet][r]
            row.extend([""] * (c + 1 - len(row)))
            row[c] = value

    return change


def _rename_sheet(old: str, new: str) -> Callable[[dict], None]:
    def change(sheets: dict[str, list[list[object]]]) -> None:
        for name in list(sheets):  # keep the order
            sheets[new if name == old else name] = sheets.pop(name)

    return change


def _add_sheet(name: str) -> Callable[[dict], None]:
    def change(sheets: dict[str, list[list[object]]]) -> None:
        sheets[name] = [["Not data"], [], ["a", "b"], [1, 2]]

    return change


def _table2_rows(keep: int) -> Callable[[dict], None]:
    """Table 2 with only its first ``keep`` data rows (0: the header only, its title rows above)."""

    def change(sheets: dict[str, list[list[object]]]) -> None:
        sheets["Table 2"] = sheets["Table 2"][: T2_FIRST + keep]

    return change


def _data_below_footnote(sheets: dict[str, list[list[object]]]) -> None:
    """A second block of practice rows under Table 2's footnote: data a reader must not drop, nor take silently."""
    sheets["Table 2"] += [[], ["E40000003", "London", "Q11", "London North", "A89999", "Stray Surgery", 100, 5, "50"]]


def _blank_row_inside_table2(sheets: dict[str, list[list[object]]]) -> None:
    sheets["Table 2"].insert(T2_FIRST + 3, [])  # a separator between practice groups, as publications have


def _units_row_under_table2_header(sheets: dict[str, list[list[object]]]) -> None:
    sheets["Table 2"].insert(T2_HEADER + 1, ["", "", "", "", "", "", "(number)", "(number)", "(per 1,000)"])


def _no_units_in_data(ws: Workspace) -> None:
    units = ws.scalar(
        f"select count(*) from {DATASET}.practice_summary where _period = '{PERIOD}' and "
        "registered_patients = '(number)'"
    )
    assert units == 0


def _empty_table2(sheets: dict[str, list[list[object]]]) -> None:
    sheets["Table 2"] = []


def _write(name: str, data: bytes | Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        path = folder / name
        path.write_bytes(data(path.read_bytes()) if callable(data) else data)

    return mutate


def _sector_file(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file (version 3, 512-byte sectors) holding ``streams`` in regular sectors: what an
    encrypted .xlsx (EncryptionInfo + EncryptedPackage) or an old .xls (Workbook) looks like from the outside."""
    free, end, fat_sector = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    padded = {name: data + b"\x00" * (-len(data) % 512 or 0) for name, data in streams.items()}
    padded = {name: data if len(data) >= 4096 else data + b"\x00" * (4096 - len(data)) for name, data in padded.items()}
    fat = [fat_sector, end]  # sector 0: the FAT, sector 1: the directory
    starts = {}
    for name, data in padded.items():
        count = len(data) // 512
        starts[name] = len(fat)
        fat += [len(fat) + i + 1 for i in range(count - 1)] + [end]
    assert len(fat) <= 128
    fat += [free] * (128 - len(fat))

    def entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        return (
            encoded.ljust(64, b"\x00")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", free, right, child)
            + b"\x00" * 36
            + struct.pack("<IQ", start, size)
        )

    names = list(streams)
    entries = [entry("Root Entry", 5, 1, free, end, 0)]
    for index, name in enumerate(names, start=1):
        entries.append(
            entry(
                name,
                2,
                free,
                index + 1 if index < len(names) else free,
                starts[name],
                len(streams[name]) if len(streams[name]) >= 4096 else 4096,
            )
        )
    directory = b"".join(entries).ljust(512, b"\x00")
    header = (
        bytes.fromhex("D0CF11E0A1B11AE1")
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\x00" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", free) * 108
    )
    assert len(header) == 512
    body = b"".join(padded.values())
    return header + struct.pack("<128I", *fat) + directory + body


def _encrypted_workbook(original: bytes) -> bytes:
    info = (
        struct.pack("<HHI", 4, 4, 0x40) + b"<encryption xmlns='http://schemas.microsoft.com/office/2006/encryption'/>"
    )
    package = struct.pack("<Q", len(original)) + random.Random(7).randbytes(len(original) + 16)
    return _sector_file({"EncryptionInfo": info, "EncryptedPackage": package})


def _old_xls(_: bytes) -> bytes:
    return _sector_file({"Workbook": b"\x09\x08\x10\x00\x00\x06\x05\x00" + b"\x00" * 600})


def _truncate(fraction: float) -> Callable[[bytes], bytes]:
    return lambda data: data[: int(len(data) * fraction)]


# -- CSV: text edits on the detail file ------------------------------------------------------------------------


def _lines(folder: Path) -> list[str]:
    return (folder / CSV).read_text().splitlines()


def _save_lines(folder: Path, lines: list[str], encoding: str = "utf-8", bom: bytes = b"") -> None:
    (folder / CSV).write_bytes(bom + ("\n".join(lines) + "\n").encode(encoding))


def _set_field(line: str, column: str, value: str) -> str:
    fields = line.split(",")
    fields[CSV_FIELDS[column]] = value
    return ",".join(fields)


def _csv(
    change: Callable[[list[str]], list[str] | None], encoding: str = "utf-8", bom: bytes = b""
) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        lines = _lines(folder)
        _save_lines(folder, change(lines) or lines, encoding, bom)

    return mutate


def _field_at(line: int, column: str, value: str) -> Callable[[list[str]], None]:
    def change(lines: list[str]) -> None:
        lines[line - 1] = _set_field(lines[line - 1], column, value)

    return change


def _bad_values(every: int, value: str) -> Callable[[list[str]], None]:
    def change(lines: list[str]) -> None:
        for index in range(1, len(lines), every):
            lines[index] = _set_field(lines[index], "mean_processing_days", value)

    return change


def _append_line(line: int, column: str | None = None, value: str | None = None) -> Callable[[list[str]], None]:
    def change(lines: list[str]) -> None:
        copied = lines[line - 1]
        lines.append(_set_field(copied, column, value) if column and value is not None else copied)

    return change


def _edit_line(line: int, edit: Callable[[str], str]) -> Callable[[list[str]], None]:
    def change(lines: list[str]) -> None:
        lines[line - 1] = edit(lines[line - 1])

    return change


def _extra_column(header: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: [lines[0] + "," + header] + [line + ",1" for line in lines[1:]]


def _cp1252_text(lines: list[str]) -> list[str]:
    return [line.replace('"Online"', '"En ligne (café, £5 frais, été)"') for line in lines]


def _truncated_csv(cut: str) -> Callable[[Path], None]:
    """The file cut inside its last line, just after ``cut`` (no line break after it)."""

    def mutate(folder: Path) -> None:
        text = (folder / CSV).read_text()
        last = text.rstrip("\n").rfind("\n") + 1
        (folder / CSV).write_text(text[: text.index(cut, last) + len(cut)])

    return mutate


def _rename(name: str, new: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).rename(folder / new)


def _delete(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


# -- ZIP: rebuild the archive with members changed, added or removed ---------------------------------------------


def _zip(change: Callable[[list[tuple[str, bytes]]], list[tuple[str, bytes]] | None]) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        with zipfile.ZipFile(folder / ZIP) as archive:
            members = [(info.filename, archive.read(info)) for info in archive.infolist()]
        members = change(members) or members
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        (folder / ZIP).write_bytes(buffer.getvalue())

    return mutate


def _add_members(*added: tuple[str, bytes]) -> Callable[[list], list]:
    return lambda members: [*members, *added]


def _replace_member(name: str, edit: Callable[[bytes], bytes]) -> Callable[[list], list]:
    return lambda members: [(n, edit(data) if n == name else data) for n, data in members]


def _only(*names: str) -> Callable[[list], list]:
    """The named members and the AppleDouble files (``__MACOSX/extracts/._region_*.csv``) a Mac zip holds."""
    return lambda members: [(n, data) for n, data in members if n in names or n.startswith("__MACOSX/")]


def _member_lines(edit: Callable[[list[str]], None], encoding: str = "utf-8") -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        lines = data.decode().splitlines()
        edit(lines)
        return ("\n".join(lines) + "\n").encode(encoding)

    return change


def _member_field(line: int, index: int, value: str) -> Callable[[list[str]], None]:
    def edit(lines: list[str]) -> None:
        fields = lines[line - 1].split(",")
        fields[index] = value
        lines[line - 1] = ",".join(fields)

    return edit


def _corrupt_member_data(data: bytes) -> bytes:
    """Bytes flipped inside the compressed data of MEMBER (the archive's directory stays intact)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(MEMBER)
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_length + extra_length
    corrupted = bytearray(data)
    for offset in range(start + 2, start + info.compress_size - 2):
        corrupted[offset] ^= 0x5A
    return bytes(corrupted)


def _lying_member(folder: Path) -> None:
    """MEMBER inflates past max_member_bytes (1,000 in the case's config) but its headers say 100 bytes."""
    _zip(_replace_member(MEMBER, _member_lines(_member_field(2, 2, "London " + "n" * 1500))))(folder)
    data = bytearray((folder / ZIP).read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo(MEMBER)
    struct.pack_into("<I", data, info.header_offset + 22, 100)  # the local header's uncompressed size
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_length] == MEMBER.encode():
            struct.pack_into("<I", data, central + 24, 100)  # the central directory's uncompressed size
        central = data.find(b"PK\x01\x02", central + 4)
    (folder / ZIP).write_bytes(bytes(data))


def _nested_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as inner:
        inner.writestr("region_inner.csv", "region_code,sub_region_code\nE1,Q1\n")
    return buffer.getvalue()


def _small_member_limit(text: str) -> str:
    assert "max_member_bytes: 2147483648" in text
    return text.replace("max_member_bytes: 2147483648", "max_member_bytes: 1000")


# -- checks a case adds ------------------------------------------------------------------------------------------


def _value_of(ws: Workspace, statement: str) -> object:
    rows = ws.query(statement)
    assert rows, f"no row for: {statement}"
    return rows[0][0]


def _detail_channel_where(condition: str) -> str:
    return f"select channel, _source_row from {DATASET}.practice_detail where _period = '{PERIOD}' and {condition}"


def _has_detail_channel(value: str, row: int) -> Callable[[Workspace], None]:
    def verify(ws: Workspace) -> None:
        escaped = value.replace("'", "''")
        rows = ws.query(_detail_channel_where(f"channel = '{escaped}'"))
        assert [(r[0], int(r[1])) for r in rows] == [(value, row)], rows

    return verify


def _long_detail_channel(ws: Workspace) -> None:
    lengths = [
        int(r[0])
        for r in ws.query(
            f"select length(channel) from {DATASET}.practice_detail where "
            f"_period = '{PERIOD}' and length(channel) > 1000"
        )
    ]
    assert lengths == [100_000], lengths


def _summary_value(column: str, row: int, expected: str | int) -> Callable[[Workspace], None]:
    """Table 2's ``column`` on sheet row ``row`` in bronze is ``expected`` (an int: its length)."""

    def verify(ws: Workspace) -> None:
        found = _value_of(
            ws,
            f"select {'length(' + column + ')' if isinstance(expected, int) else column} from "
            f"{DATASET}.practice_summary where _period = '{PERIOD}' and _source_row = {row}",
        )
        assert found == expected, (column, found)

    return verify


def _national_values(expected: dict[int, str]) -> Callable[[Workspace], None]:
    def verify(ws: Workspace) -> None:
        rows = dict(ws.query(f"select _source_row, value from {DATASET}.national_summary where _period = '{PERIOD}'"))
        assert {row: rows.get(row) for row in expected} == expected, rows

    return verify


def _manifest_lists(file_name: str, parts: dict[str, str]) -> Callable[[Workspace], None]:
    """The latest run's manifest rows of the period hold ``parts`` (part name -> classification) of ``file_name``."""

    def verify(ws: Workspace) -> None:
        run_id = latest_run_id(ws)
        rows = ws.query(
            f"select part_name, classification from {DATASET}.publication_manifest where period = "
            f"'{PERIOD}' and run_id = '{run_id}' and file_name = '{file_name}'"
        )
        listed = {name: kind for name, kind in rows}
        assert {name: listed.get(name) for name in parts} == parts, listed

    return verify


def _no_table_x(ws: Workspace) -> None:
    assert ws.warehouse.table_exists(DATASET, "practice_detail")
    assert not ws.warehouse.table_exists(DATASET, "x") and not ws.warehouse.table_exists("main", "x")


# -- the table of cases ------------------------------------------------------------------------------------------

HOSTILE = '"; drop table x; --'
HOSTILE_SHEET = "'; drop table x; --"  # Excel refuses a leading apostrophe, so it is written into the XML
UNICODE_SHEET = "Données ✓ 表 ü"
LONG = "x" * 100_000
NUL_WORDS = ("NUL", "null byte", "\\x00", "0x00", "zero byte")  # how a clear message may call a NUL byte

CASES: list[Case] = [
    # ---- the workbook -----------------------------------------------------------------------------------------
    Case("xlsx truncated", _write(XLSX, _truncate(0.5)), _err(XLSX, "workbook")),
    Case(
        "xlsx plain text renamed",
        _write(XLSX, b"Measure,Value\nSubmissions,10\n"),
        _err(XLSX, "not an .xlsx workbook", "text"),
    ),
    Case("xlsx empty 0 bytes", _write(XLSX, b""), _err(XLSX, "empty")),
    Case("xlsx encrypted", _write(XLSX, _encrypted_workbook), _err(XLSX, "encrypted")),
    Case("xlsx old binary xls renamed", _write(XLSX, _old_xls), _err(XLSX, ".xls")),
    Case(
        "xlsx error cells in a measure column",
        _book(
            _cells(
                "Table 2",
                *(
                    (T2_FIRST + i, T2_COLUMNS["submissions"], ErrorCell(kind))
                    for i, kind in enumerate(("#DIV/0!", "#N/A", "#VALUE!"))
                ),
            )
        ),
        expect_quarantined=0,
        expect_flagged=3,
        quarantined=tuple(
            Quarantined("practice_summary", T2_FIRST + 1 + i, "submissions", kind, "flagged", kind)
            for i, kind in enumerate(("#DIV/0!", "#N/A", "#VALUE!"))
        ),
        verify=_summary_value("submissions", T2_FIRST + 1, "#DIV/0!"),
    ),
    Case(
        "xlsx error cell in the key column",
        _book(_cells("Table 2", (T2_FIRST + 2, T2_COLUMNS["practice_code"], ErrorCell("#REF!")))),
        expect_quarantined=0,
        expect_flagged=1,
        quarantined=(Quarantined("practice_summary", T2_FIRST + 3, "practice_code", "#REF!", "flagged"),),
        verify=_summary_value("practice_code", T2_FIRST + 3, "#REF!"),
    ),
    Case(
        "xlsx error cells in Table 1",
        _book(
            _cells(
                "Table 1", *((T1_FIRST + i, 1, ErrorCell(kind)) for i, kind in enumerate(("#NAME?", "#NUM!", "#NULL!")))
            )
        ),
        expect_quarantined=0,
        expect_flagged=3,
        quarantined=tuple(
            Quarantined("national_summary", T1_FIRST + 1 + i, "value", kind, "flagged")
            for i, kind in enumerate(("#NAME?", "#NUM!", "#NULL!"))
        ),
        verify=_national_values({T1_FIRST + 1: "#NAME?", T1_FIRST + 2: "#NUM!", T1_FIRST + 3: "#NULL!"}),
    ),
    Case(
        "xlsx all seven error kinds in Table 2",
        _book(
            _cells(
                "Table 2",
                *(
                    (T2_FIRST + i, T2_COLUMNS["rate_per_1_000_patients"], ErrorCell(kind))
                    for i, kind in enumerate(ERROR_KINDS)
                ),
            )
        ),
        expect_quarantined=0,
        expect_flagged=7,
        quarantined=tuple(
            Quarantined("practice_summary", T2_FIRST + 1 + i, "rate_per_1_000_patients", kind, "flagged")
            for i, kind in enumerate(ERROR_KINDS)
        ),
    ),
    Case(
        "xlsx declared sheet renamed",
        _book(_rename_sheet("Table 2", "Table 2 (revised)")),
        _err(XLSX, "Table 2", "Table 2 (revised)", "practice_summary"),
    ),
    Case(
        "xlsx extra sheet with a hostile name",
        _then(_book(_add_sheet("Hostile")), _write(XLSX, _sheet_named("Hostile", HOSTILE_SHEET))),
        expect_quarantined=0,
        verify=_manifest_lists(XLSX, {HOSTILE_SHEET: "ignored", "Table 2": "table"}),
    ),
    Case(
        "xlsx extra sheet with a unicode name",
        _book(_add_sheet(UNICODE_SHEET)),
        expect_quarantined=0,
        verify=_manifest_lists(XLSX, {UNICODE_SHEET: "ignored", "Table 2": "table"}),
    ),
    Case(
        "xlsx hostile header name in Table 2",
        _book(_cells("Table 2", (T2_HEADER, T2_COLUMNS["practice_name"], HOSTILE))),
        expect_quarantined=0,
        new_columns={"practice_summary": ("drop_table_x",)},
        verify=_summary_value("drop_table_x", T2_FIRST + 1, "Abbey Surgery"),
    ),
    Case(
        "xlsx duplicate header names in Table 2",
        _book(_cells("Table 2", (T2_HEADER, T2_COLUMNS["practice_name"], "Practice code"))),
        expect_quarantined=0,
        new_columns={"practice_summary": ("practice_code_2",)},
        verify=_summary_value("practice_code_2", T2_FIRST + 1, "Abbey Surgery"),
    ),
    Case(
        "xlsx empty header name in Table 2",
        _book(_cells("Table 2", (T2_HEADER, T2_COLUMNS["practice_name"], ""))),
        expect_quarantined=0,
        new_columns={"practice_summary": ("column_6",)},
        verify=_summary_value("column_6", T2_FIRST + 1, "Abbey Surgery"),
    ),
    Case("xlsx header-only Table 2", _book(_table2_rows(0)), _err(XLSX, "Table 2", "no data rows")),
    Case("xlsx empty Table 2 sheet", _book(_empty_table2), _err(XLSX, "Table 2", ("no header row", "empty"))),
    Case(
        "xlsx 100,000-character cell",
        _book(_cells("Table 2", (T2_FIRST, T2_COLUMNS["practice_name"], _LONG)), long_text=LONG),
        expect_quarantined=0,
        verify=_summary_value("practice_name", T2_FIRST + 1, 100_000),
    ),
    Case(
        "xlsx embedded newline in a cell",
        _book(_cells("Table 2", (T2_FIRST, T2_COLUMNS["practice_name"], "Abbey\nSurgery"))),
        expect_quarantined=0,
        verify=_summary_value("practice_name", T2_FIRST + 1, "Abbey\nSurgery"),
    ),
    Case(
        "xlsx value in a column with no header",
        _book(_cells("Table 2", (T2_FIRST + 1, 10, "stray"))),
        _err(XLSX, "Table 2", f"row {T2_FIRST + 2}", "has no header", "stray", "11"),
    ),
    Case(
        "xlsx data rows below Table 2's footnote",
        _book(_data_below_footnote),
        _err(XLSX, "Table 2", "below the table's end", ("not a note", "not notes"), "table_end"),
    ),
    Case("xlsx blank separator row inside Table 2", _book(_blank_row_inside_table2), expect_quarantined=0),
    Case(
        "xlsx units row under Table 2's header",
        _book(_units_row_under_table2_header),
        expect_quarantined=0,
        verify=_no_units_in_data,
    ),
    Case(
        "xlsx repeated key in Table 2",
        _book(_cells("Table 2", (T2_FIRST + 1, T2_COLUMNS["practice_code"], "A81000"))),
        _err(XLSX, "practice_summary", "1 of 7", "max_quarantined", "A81000"),
    ),
    # ---- the detail CSV -----------------------------------------------------------------------------------------
    Case(
        "csv bad value late in the file",
        _csv(_field_at(DETAIL_ROWS, "submission_count", "lots")),
        expect_quarantined=1,
        deltas={"practice_detail": -1},
        quarantined=(Quarantined("practice_detail", DETAIL_ROWS, "submission_count", "lots", reason="lots"),),
    ),
    Case(
        "csv bad values in more than 1% of rows",
        _csv(_bad_values(30, "n/a")),
        _err(CSV, "practice_detail", "22 of 651", "max_quarantined", "mean_processing_days", "n/a"),
    ),
    Case(
        "csv ragged row, too many fields",
        _csv(_edit_line(300, lambda line: line + ",extra")),
        expect_quarantined=1,
        deltas={"practice_detail": -1},
        quarantined=(Quarantined("practice_detail", 300, None, None, reason="6 fields"),),
    ),
    Case(
        "csv ragged row, too few fields",
        _csv(_edit_line(301, lambda line: line.rsplit(",", 1)[0])),
        expect_quarantined=1,
        deltas={"practice_detail": -1},
        quarantined=(Quarantined("practice_detail", 301, None, None, reason="4 fields"),),
    ),
    Case(
        "csv semicolon-delimited",
        _csv(lambda lines: [line.replace(",", ";") for line in lines]),
        _err(CSV, "delimiter", "';'"),
    ),
    Case(
        "csv cp1252 undeclared", _csv(_cp1252_text, encoding="cp1252"), _err(CSV, "encoding", "line 2", CP1252_ADVICE)
    ),
    Case(
        "csv utf-16 with BOM undeclared",
        _csv(lambda lines: None, encoding="utf-16"),
        _err(CSV, "encoding", ("utf-16", "utf_16")),
    ),
    Case("csv utf-8 BOM", _csv(lambda lines: None, bom=b"\xef\xbb\xbf"), expect_quarantined=0),
    Case("csv CRLF line endings", _write(CSV, lambda data: data.replace(b"\n", b"\r\n")), expect_quarantined=0),
    Case("csv empty 0 bytes", _write(CSV, b""), _err(CSV, "empty")),
    Case("csv header only", _csv(lambda lines: lines[:1]), _err(CSV, "practice_detail", "no data rows")),
    Case(
        "csv embedded newline in a quoted field",
        _csv(_field_at(10, "channel", '"On\nline"')),
        expect_quarantined=0,
        verify=_has_detail_channel("On\nline", 10),
    ),
    Case(
        "csv 100,000-character cell",
        _csv(_field_at(20, "channel", f'"{LONG}"')),
        expect_quarantined=0,
        verify=_long_detail_channel,
    ),
    Case(
        "csv exact duplicate row",
        _csv(_append_line(6)),
        expect_quarantined=1,
        quarantined=(Quarantined("practice_detail", DETAIL_ROWS + 2, None, None, reason="repeated key"),),
    ),
    Case(
        "csv same key with different values",
        _csv(_append_line(6, "submission_count", "99")),
        expect_quarantined=1,
        quarantined=(Quarantined("practice_detail", DETAIL_ROWS + 2, None, None, reason="repeated key"),),
    ),
    Case(
        "csv hostile extra column name",
        _csv(_extra_column('"""; drop table x; --"')),
        expect_quarantined=0,
        new_columns={"practice_detail": ("drop_table_x",)},
        verify=_no_table_x,
    ),
    Case("csv truncated inside a quoted field", _truncated_csv('"Pho'), _err(CSV, str(DETAIL_ROWS + 1), "quot")),
    Case(
        "csv truncated mid-row",
        _truncated_csv('"Phone",1'),
        expect_quarantined=1,
        deltas={"practice_detail": -1},
        quarantined=(Quarantined("practice_detail", DETAIL_ROWS + 1, None, None, reason="4 fields"),),
    ),
    Case("csv binary garbage renamed", _write(CSV, random.Random(3).randbytes(8192)), _err(CSV, "UTF-8")),
    Case(
        "csv NUL byte in a field",
        _csv(_field_at(600, "channel", '"On\x00line"')),
        _err(CSV, "600", NUL_WORDS),
        quarantined=(Quarantined("practice_detail", 600),),
        either=True,
    ),
    Case("csv file deleted", _delete(CSV), _err(CSV, "file not found")),
    Case(
        "csv file renamed",
        _rename(CSV, "practice-detail-2025-03 (1).csv"),
        _err(CSV, "file not found", "the folder holds", "practice-detail-2025-03 (1).csv"),
    ),
    # ---- the ZIP of regional extracts -------------------------------------------------------------------------
    Case("zip truncated", _write(ZIP, _truncate(0.6)), _err(ZIP, "archive")),
    Case("zip member data corrupted", _write(ZIP, _corrupt_member_data), _err(ZIP, MEMBER)),
    Case("zip without the declared member", _zip(_only("readme.txt")), _err(ZIP, "no member matches", "readme.txt")),
    Case(
        "zip without the declared member, no junk",
        _zip(lambda members: [m for m in members if m[0] == "readme.txt"]),
        _err(ZIP, "no member matches", "readme.txt"),
    ),
    Case(
        "zip member over max_member_bytes",
        _zip(_replace_member(MEMBER, _member_lines(_member_field(2, 2, "London " + "n" * 1500)))),
        _err(ZIP, MEMBER, "1,000", "max_member_bytes"),
        config=_small_member_limit,
    ),
    Case(
        "zip member declaring a smaller size than it inflates to",
        _lying_member,
        _err(ZIP, MEMBER),
        config=_small_member_limit,
    ),
    Case(
        "zip member name with ../",
        _zip(_add_members(("../region_evil.csv", b"region_code\nE1\n"))),
        _err(ZIP, "../region_evil.csv", "unsafe"),
    ),
    Case(
        "zip absolute member name",
        _zip(_add_members(("/tmp/region_evil.csv", b"region_code\nE1\n"))),
        _err(ZIP, "/tmp/region_evil.csv", "unsafe"),
    ),
    Case(
        "zip member in cp1252",
        _zip(
            _replace_member(
                MEMBER, _member_lines(_member_field(2, 2, '"Londres Nord, Île, café, £, été"'), encoding="cp1252")
            )
        ),
        _err(ZIP, MEMBER, "encoding", CP1252_ADVICE),
    ),
    # no type declared for the members' columns: a text value makes the column text in this period, which lands
    # beside the bronze column as a variant (schema drift, stopped by validation before silver)
    Case(
        "zip member with a bad value, type not declared",
        _zip(_replace_member("extracts/region_E40000005.csv", _member_lines(_member_field(3, 3, "lots")))),
        expect_quarantined=0,
        new_columns={"regional_extracts": ("practice_count__v_text",)},
    ),
    # declared: the row is quarantined, and 1 row of 7 is over the default limit of 1%
    Case(
        "zip member with a bad value, type declared",
        _zip(_replace_member("extracts/region_E40000005.csv", _member_lines(_member_field(3, 3, "lots")))),
        _err(ZIP, "region_E40000005.csv", "regional_extracts", "1 of 7", "max_quarantined", "lots"),
        config=lambda text: text.replace(
            "            keys: [sub_region_code]\n",
            "            keys: [sub_region_code]\n            types: {practice_count: BIGINT}\n",
        ),
    ),
    Case(
        "zip only junk added",
        _zip(
            _add_members(
                ("__MACOSX/", b""),
                ("__MACOSX/extracts/._region_extra.csv", b"\0"),
                (".DS_Store", b"\0\0\0\1Bud1"),
                ("Thumbs.db", b"\0"),
            )
        ),
        expect_quarantined=0,
        verify=_manifest_lists(
            ZIP,
            {"__MACOSX/extracts/._region_extra.csv": "junk", ".DS_Store": "junk", "Thumbs.db": "junk", MEMBER: "table"},
        ),
    ),
    Case(
        "zip nested zip as a member",
        _zip(_add_members(("extracts/region_x.csv", _nested_zip()))),
        _err(ZIP, "extracts/region_x.csv", ("ZIP", "zip")),
    ),
    Case(
        "zip empty member",
        _zip(_add_members(("extracts/region_empty.csv", b""))),
        _err(ZIP, "extracts/region_empty.csv", "empty"),
    ),
]


# -- the test -----------------------------------------------------------------------------------------------------


class _HeldWarehouse:
    """The workspace's warehouse with one connection held for a block of checks (opening one per query, as
    ``Warehouse.query`` does, would take most of a case's time). Closed before the CLI runs."""

    def __init__(self, warehouse: Any) -> None:
        self.inner, self.connection = warehouse, warehouse.connect()
        if warehouse.target == "postgres":
            self.connection.autocommit = True  # a failed query must not abort the ones after it

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def query(self, statement: str, parameters: tuple = ()) -> list[tuple]:
        run = self.inner.cursor(self.connection)
        run.execute(self.inner.sql(statement), parameters or None)
        return run.fetchall()

    def table_exists(self, schema: str, table: str) -> bool:
        return self.inner.table_exists(schema, table, self.connection)


@contextmanager
def _checking(ws: Workspace) -> Iterator[None]:
    held = _HeldWarehouse(ws.warehouse)
    ws.warehouse = held  # type: ignore[assignment]
    try:
        yield
    finally:
        ws.warehouse = held.inner
        held.connection.close()


def _contents_on(ws: Workspace, columns: dict[str, list[str]]) -> tuple[dict[str, list[tuple]], list[str]]:
    """Bronze on the baseline's columns (without the volatile ones), the quarantine as faultkit reads it; and the
    columns added since that hold a value (a column added by a bad file that the rerun left empty is fine)."""
    contents, filled = {}, []
    for table in TABLES:
        kept = [c for c in columns[table] if c not in VOLATILE]
        listed = ", ".join(f'"{c}"' for c in kept)
        contents[table] = sorted(tuple(map(str, row)) for row in ws.query(f"select {listed} from {DATASET}.{table}"))
        for added in (c for c in ws.columns(DATASET, table) if c not in columns[table]):
            if int(ws.scalar(f'select count("{added}") from {DATASET}.{table}')):
                filled.append(f"{table}.{added}")
    contents["quarantine"] = bronze_contents(ws).get("quarantine", [])
    return contents, filled


def _baseline_on(baseline: Baseline, columns: dict[str, list[str]]) -> dict[str, list[tuple]]:
    trimmed: dict[str, list[tuple]] = {"quarantine": []}
    for table, rows in baseline.contents.items():
        if table not in columns:
            trimmed[table] = rows
            continue
        keep = [i for i, c in enumerate(columns[table]) if c not in VOLATILE]
        trimmed[table] = sorted(tuple(row[i] for i in keep) for row in rows)
    return trimmed


def _missing(message: str, expected: tuple[str | tuple[str, ...], ...]) -> list[str]:
    """The expected substrings (or groups of alternatives) missing from ``message``."""
    missing = []
    for item in expected:
        options = (item,) if isinstance(item, str) else item
        if not any(option in message for option in options):
            missing.append(" or ".join(repr(o) for o in options))
    return missing


def _quarantine(ws: Workspace) -> list[dict]:
    if not ws.warehouse.table_exists(DATASET, "quarantine"):
        return []
    names = (
        "bronze_table",
        "file_name",
        "part_name",
        "source_row",
        "column_name",
        "raw_value",
        "reason",
        "disposition",
    )
    return [
        dict(zip(names, row, strict=True))
        for row in ws.query(f"select {', '.join(names)} from {DATASET}.quarantine where period = '{PERIOD}'")
    ]


def _has(rows: list[dict], expected: Quarantined) -> bool:
    return any(
        row["bronze_table"] == expected.table
        and (expected.row is None or (row["source_row"] is not None and int(row["source_row"]) == expected.row))
        and (expected.column is None or row["column_name"] == expected.column)
        and (expected.value is None or row["raw_value"] == expected.value)
        and row["disposition"] == expected.disposition
        and (expected.reason is None or expected.reason in (row["reason"] or ""))
        for row in rows
    )


@dataclass
class _Run:
    """What the case's run did, as the user and the ledger saw it."""

    code: int
    out: str
    message: str  # the FAILED line's message
    failed: list[dict]  # stage_failed events of the period
    completed: list[dict]  # load_completed events of the period


def _check_error(case: Case, run: _Run, problems: list[str]) -> None:
    if case.expect_error is None and not case.either:
        problems.append(f"expected a load, got exit {run.code}: {run.message or run.out[-1500:]}")
    if run.code != 1:
        problems.append(f"exit code {run.code}, not 1")
    if not run.message:
        problems.append(f"no 'FAILED {PERIOD}: ' line on stdout: {run.out[-1500:]}")
    if case.expect_error is not None and (missing := _missing(run.message, case.expect_error)):
        problems.append(f"the FAILED message lacks {', '.join(missing)}: {run.message!r}")
    if not run.failed:
        problems.append(f"no stage_failed event for {SUBJECT}")
        return
    said = run.failed[-1].get("message") or ""
    if not said.startswith(f"practice_submissions, {PERIOD}"):
        problems.append(f"the stage_failed message does not lead with publication and period: {said!r}")
    if case.expect_error is not None and (missing := _missing(said, case.expect_error)):
        problems.append(f"the stage_failed message lacks {', '.join(missing)}: {said!r}")


def _check_load(
    case: Case,
    ws: Workspace,
    baseline: Baseline,
    columns: dict[str, list[str]],
    quarantine: list[dict],
    problems: list[str],
) -> str:
    """The checks of a period that loaded; returns the outcome."""
    rejected = sum(q["disposition"] == "rejected" for q in quarantine)
    flagged = sum(q["disposition"] == "flagged" for q in quarantine)
    outcome = "loaded" + (f", {rejected} quarantined" if rejected else "") + (f", {flagged} flagged" if flagged else "")
    if case.expect_error is not None and not case.either:
        problems.append(f"expected an error with {case.expect_error}, the period loaded ({outcome})")
    if case.expect_quarantined is not None and rejected != case.expect_quarantined:
        problems.append(f"{rejected} rows quarantined, expected {case.expect_quarantined}: {quarantine}")
    if flagged != case.expect_flagged and not case.either:
        problems.append(f"{flagged} cells flagged, expected {case.expect_flagged}: {quarantine}")
    for expected_row in case.quarantined:
        if not _has(quarantine, expected_row):
            problems.append(f"no quarantine row like {expected_row}: {quarantine}")
    expected = {(t, p): n + case.deltas.get(t, 0) for (t, p), n in baseline.counts.items() if p == PERIOD}
    got = {key: n for key, n in counts(ws).items() if key[1] == PERIOD}
    if got != expected and not case.either:
        problems.append(f"{PERIOD} rows {got}, expected {expected}")
    for table in TABLES:
        now = set(ws.columns(DATASET, table))
        if added := now - set(columns[table]) - set(case.new_columns.get(table, ())):
            problems.append(f"{table} got columns {sorted(added)}")
        if lacking := set(case.new_columns.get(table, ())) - now:
            problems.append(f"{table} lacks the columns {sorted(lacking)}")
    return outcome


def _restore(folder: Path, originals: dict[str, bytes]) -> None:
    for path in folder.iterdir():
        if path.name not in originals:
            path.unlink()
    for name, data in originals.items():
        (folder / name).write_bytes(data)


@pytest.mark.parametrize("case", CASES, ids=[case.name.replace(" ", "-") for case in CASES])
def test_a_bad_input_fails_clearly_or_loads_correctly(
    baseline: Baseline, tmp_path: Path, case: Case, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    problems: list[str] = []
    with case_workspace(baseline, tmp_path / "case") as ws:
        folder = ws.release_root / PERIOD
        originals = {path.name: path.read_bytes() for path in folder.iterdir()}
        with _checking(ws):
            columns = {table: ws.columns(DATASET, table) for table in TABLES}
            before = bronze_contents(ws, volatile=())
        if case.config is not None:
            config = tmp_path / "publications.yml"
            config.write_text(case.config(settings.DEFAULT_CONFIG.read_text()))
            monkeypatch.setenv("PUBLICATIONS_CONFIG", str(config))
        case.mutate(folder)
        capsys.readouterr()

        code = run_cli(ws, "publications", "--from", PERIOD, "--to", PERIOD)

        out = capsys.readouterr().out
        with _checking(ws):
            events = [e for e in ledger_events(ws) if e.get("subject") == SUBJECT]
            failing = [line.strip() for line in out.splitlines() if line.strip().startswith(f"FAILED {PERIOD}: ")]
            run = _Run(
                code,
                out,
                failing[0].removeprefix(f"FAILED {PERIOD}: ") if failing else "",
                [e for e in events if e["event_type"] == "stage_failed"],
                [e for e in events if e["event_type"] == "load_completed"],
            )
            if "Traceback" in out:
                problems.append(f"a traceback on stdout: {out[-2000:]}")
            if code != 0:
                outcome, detail, ledger_recorded = "clear error", run.message, bool(run.failed)
                _check_error(case, run, problems)
                if (after := bronze_contents(ws, volatile=())) != before:
                    problems.append(f"the failed period changed bronze: {[t for t in after if after[t] != before[t]]}")
                lost = rows_lost(baseline.counts, counts(ws), changed=())
            else:
                quarantine = _quarantine(ws)
                outcome = _check_load(case, ws, baseline, columns, quarantine, problems)
                detail, ledger_recorded = f"quarantine: {quarantine[:3]}", bool(run.completed)
                if not run.completed:
                    problems.append(f"no load_completed event for {SUBJECT}")
                lost = rows_lost(baseline.counts, counts(ws), changed=(PERIOD,))
            if case.verify is not None:
                try:
                    case.verify(ws)
                except AssertionError as error:
                    problems.append(f"{getattr(case.verify, '__qualname__', 'verify')}: {error}")
            duplicated = rows_duplicated(ws)

        # the fault removed: the original files (and config) back, one rerun of the baseline's periods
        _restore(folder, originals)
        monkeypatch.undo()
        rerun = run_cli(ws, "publications", "--to", "2025-04")
        capsys.readouterr()
        with _checking(ws):
            contents, filled = _contents_on(ws, columns)
            clean = _baseline_on(baseline, columns)
            rerun_matches_clean = rerun == 0 and contents == clean and not filled
            if not rerun_matches_clean:
                problems.append(
                    f"the rerun (exit {rerun}) differs from a clean run in "
                    f"{[t for t in contents if contents[t] != clean.get(t)]}; added columns with values: "
                    f"{filled}"
                )
            duplicated = max(duplicated, rows_duplicated(ws))

    record = Record(
        case.name,
        ws.engine,
        "bad input",
        outcome + (" (UNEXPECTED)" if problems else ""),
        lost,
        duplicated,
        ledger_recorded,
        rerun_matches_clean,
        detail=detail[:500],
    )
    record.save()
    assert not problems, f"{case.name} on {ws.engine}:\n  " + "\n  ".join(problems)
    record.check()
