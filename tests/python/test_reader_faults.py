"""Bad release files never become a silent null or an unclear error: every fault is either loaded as published and
flagged, quarantined with its line and reason, or refused with a message naming file, sheet or member, row, column
and value. Inputs are built on the fly; no warehouse is needed."""

from __future__ import annotations

import datetime as dt
import re
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import xlsxwriter

from ingestion.errors import ConfigError, IngestionError
from ingestion.sources.publications import readers
from ingestion.sources.publications.readers import Rejection
from ingestion.sources.publications.readers import archive as zip_reader
from ingestion.sources.publications.settings import QuarantineLimit, load_publications

WHERE = {"publication": "demo", "period": "2025-01", "file": "release.csv"}
ERROR_KINDS = ["#DIV/0!", "#N/A", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!"]


def _csv(tmp_path: Path, content: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _rows(batches: list[tuple]) -> list[dict]:
    return [row for table, _ in batches for row in table.to_pylist()]


def _read(path: Path, types: dict | None = None, **options: object) -> list[tuple]:
    return list(readers.read_csv_batches(path, types or {}, WHERE, **options))


# ---------------------------------------------------------------------------------------------------------- XLSX


def _error_workbook(path: Path) -> Path:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Table 1")
    sheet.write(0, 1, "Table 1: a title above the header")
    sheet.write_row(2, 1, ["Code", "Value", "Note"])  # the table starts in column B
    for offset, kind in enumerate(ERROR_KINDS):
        sheet.write_row(3 + offset, 1, [f"R{offset}"])
        sheet.write_formula(3 + offset, 2, "=1/0", None, kind)
        sheet.write(3 + offset, 3, "ok")
    last = 3 + len(ERROR_KINDS)  # a row of error cells only: not a blank row, so not the end of the table
    for column in (1, 2, 3):
        sheet.write_formula(last, column, "=NA()", None, "#N/A")
    sheet.write_row(last + 1, 1, ["Z", 5, "after"])
    sheet.write(last + 3, 1, "Footnote: figures are provisional.")
    book.close()
    return path


def test_every_kind_of_error_cell_keeps_its_text_and_is_flagged(tmp_path: Path) -> None:
    path = _error_workbook(tmp_path / "errors.xlsx")
    rejections: list[Rejection] = []
    workbook = readers.open_workbook(path, WHERE)

    [(table, first_row)] = list(
        readers.read_xlsx_table(workbook, "Table 1", readers.SheetLayout(), WHERE, path=path, rejections=rejections)
    )

    assert table.column("value").to_pylist() == [*ERROR_KINDS, "#N/A", "5"]
    assert table.column("code").to_pylist() == [f"R{i}" for i in range(len(ERROR_KINDS))] + ["#N/A", "Z"]
    assert table.column("_source_row").to_pylist() == list(range(4, 4 + len(ERROR_KINDS) + 2))
    assert first_row == 4
    by_cell = {(r.row, r.column): r for r in rejections}
    for offset, kind in enumerate(ERROR_KINDS):
        assert by_cell[(4 + offset, "value")] == Rejection(
            4 + offset, "value", kind, f"spreadsheet error cell {kind}", "flagged"
        )
    last = 4 + len(ERROR_KINDS)
    assert {(r.row, r.column) for r in rejections if r.row == last} == {(last, "code"), (last, "value"), (last, "note")}
    assert all(r.disposition == "flagged" for r in rejections) and len(rejections) == len(ERROR_KINDS) + 3


def test_error_cells_keep_their_text_without_a_rejection_list(tmp_path: Path) -> None:
    path = _error_workbook(tmp_path / "errors.xlsx")
    workbook = readers.open_workbook(path, WHERE)  # the path comes from the workbook itself
    [(table, _)] = list(readers.read_xlsx_table(workbook, "Table 1", readers.SheetLayout(), WHERE))
    assert None not in table.column("value").to_pylist()


def test_an_error_cell_without_a_header_names_the_cell(tmp_path: Path) -> None:
    path = tmp_path / "stray.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Table 2")
    sheet.write_row(0, 0, ["Code", "Value"])
    sheet.write_row(1, 0, ["A", 1])
    sheet.write_formula(1, 3, "=1/0", None, "#DIV/0!")
    book.close()
    with pytest.raises(IngestionError, match=r"'Table 2', row 2: spreadsheet error cell #DIV/0! in D2 has no header"):
        list(readers.read_xlsx_table(readers.open_workbook(path, WHERE), "Table 2", readers.SheetLayout(), WHERE))


def _ole2(path: Path, *streams: str) -> Path:
    body = b"".join(name.encode("utf-16-le") + b"\x00" * 8 for name in streams)
    path.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 504 + body + b"\x00" * 1024)
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (lambda p: _ole2(p, "EncryptionInfo", "EncryptedPackage"), r"encrypted \(password-protected\)"),
        (lambda p: _ole2(p, "Workbook", "SummaryInformation"), r"old binary Excel workbook \(\.xls"),
        (lambda p: p.write_bytes(b"<!DOCTYPE html><html><body>Not found</body></html>"), "HTML page"),
        (lambda p: p.write_bytes(b"code,value\nA,1\n"), "not an .xlsx workbook.*text"),
        (lambda p: p.write_bytes(b""), "file is empty"),
        (lambda p: p.write_bytes(b"PK\x03\x04 truncated"), "cannot read the workbook"),
    ],
)
def test_a_file_that_is_not_a_readable_xlsx_says_what_it_is(
    tmp_path: Path, content: Callable[[Path], object], expected: str
) -> None:
    path = tmp_path / "release.xlsx"
    content(path)
    with pytest.raises(IngestionError, match=expected) as error:
        readers.open_workbook(path, WHERE)
    assert "release.csv" in str(error.value)  # the file named in where


# ----------------------------------------------------------------------------------------------------------- CSV


def _long_csv(rows: int, bad_at: int) -> tuple[str, dict[int, int]]:
    """A CSV with a quoted line break in row 10 and a blank line after row 20; the line of each id."""
    lines, line_of, line = ["id,name,count"], {}, 2
    for i in range(1, rows + 1):
        if i == 10:
            lines.append(f'{i},"two\nlines",{i % 97}')
            line_of[i], line = line, line + 2
            continue
        lines.append(f"{i},n{i},{'abc' if i == bad_at else i % 97}")
        line_of[i], line = line, line + 1
        if i == 20:
            lines.append("")
            line += 1
    return "\n".join(lines) + "\n", line_of


def test_a_type_failure_late_in_a_large_file_names_its_line_and_later_rows_keep_theirs(tmp_path: Path) -> None:
    text, line_of = _long_csv(300_000, bad_at=250_000)
    path = _csv(tmp_path, text)
    assert line_of[250_000] == 250_003

    with pytest.raises(
        IngestionError,
        match=r"row 250003: cannot parse CSV: column count: value 'abc' is not a "
        r"BIGINT",
    ) as error:
        _read(path, batch_rows=100_000)
    assert error.value.row == 250_003

    rejections: list[Rejection] = []
    batches = _read(path, rejections=rejections, batch_rows=100_000)
    assert rejections == [Rejection(250_003, "count", "abc", "value 'abc' is not a BIGINT")]
    ids, lines = [], []
    for table, first_row in batches:
        assert first_row == table.column("_source_row")[0].as_py()
        assert table.schema.field("_source_row").nullable is False
        ids += table.column("id").to_pylist()
        lines += table.column("_source_row").to_pylist()
    assert len(ids) == 299_999 and 250_000 not in ids
    assert lines == [line_of[i] for i in ids]  # right after the quoted break, the blank line and the rejection
    assert dict(zip(ids, lines, strict=True))[250_001] == 250_004


def test_a_quoted_line_break_deep_in_a_large_file_keeps_every_row_and_line(tmp_path: Path) -> None:
    # past the first 8 MiB: DuckDB's parallel scan gives up there and the read goes on in one thread
    lines = ["id,name"] + [f'{i},"two\nlines"' if i == 550_000 else f"{i},name {i}" for i in range(1, 600_001)]
    batches = _read(_csv(tmp_path, "\n".join(lines) + "\n"), rejections=[], batch_rows=100_000)
    ids = [i for table, _ in batches for i in table.column("id").to_pylist()]
    rows = [r for table, _ in batches for r in table.column("_source_row").to_pylist()]
    assert ids == list(range(1, 600_001))
    assert rows[549_998:550_002] == [550_000, 550_001, 550_003, 550_004] and rows[-1] == 600_002


def test_a_cast_that_would_change_the_value_is_a_type_failure(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "n,d,m\n1,2025-01-02,1.25\n1.5,2025-01-02,1\n2,2025-01-02 10:30:00,1\n3,2025-01-03,1.255\n1.0,2025-01-04,2\n",
    )
    rejections: list[Rejection] = []
    rows = _rows(_read(path, {"n": "BIGINT", "d": "DATE", "m": "DECIMAL(5,2)"}, rejections=rejections))
    assert [(r["n"], r["_source_row"]) for r in rows] == [(1, 2), (1, 6)]
    assert [(r.row, r.column, r.value) for r in rejections] == [
        (3, "n", "1.5"),
        (4, "d", "2025-01-02 10:30:00"),
        (5, "m", "1.255"),
    ]


def test_types_are_inferred_where_the_sniffer_gives_up_and_comment_marks_are_data(tmp_path: Path) -> None:
    rows = _rows(_read(_csv(tmp_path, 'n,x,d\r\n1,"a\nb",2025-01-02\n#2,c,2025-01-03\r\n'), rejections=[]))
    assert rows == [
        {"n": "1", "x": "a\nb", "d": dt.date(2025, 1, 2), "_source_row": 2},
        {"n": "#2", "x": "c", "d": dt.date(2025, 1, 3), "_source_row": 4},
    ]


def test_ragged_rows_are_quarantined_with_their_line_and_text(tmp_path: Path) -> None:
    path = _csv(tmp_path, "code,value,unit\nA,1,kg\nB,2\nC,3,kg,extra\nD,4,kg\n  \n")
    rejections: list[Rejection] = []
    [(table, _)] = _read(path, rejections=rejections)
    assert table.column("code").to_pylist() == ["A", "D"]
    assert table.column("_source_row").to_pylist() == [2, 5]
    assert rejections == [
        Rejection(3, None, "B,2", "row has 2 fields, the header 3"),
        Rejection(4, None, "C,3,kg,extra", "row has 4 fields, the header 3"),
        Rejection(6, None, "  ", "row has 1 field, the header 3"),
    ]
    with pytest.raises(IngestionError, match=r"row 3: cannot parse CSV: row has 2 fields, the header 3: 'B,2'"):
        _read(path)


@pytest.mark.parametrize(("header", "delimiter"), [("code;value;unit", ";"), ("code\tvalue\tunit", "\t")])
def test_a_file_with_another_delimiter_says_which(tmp_path: Path, header: str, delimiter: str) -> None:
    path = _csv(tmp_path, f"{header}\n" + delimiter.join(["A", "1", "kg"]) + "\n")
    with pytest.raises(
        IngestionError,
        match=rf"row 1: cannot parse CSV: the delimiter looks like "
        rf"{re.escape(repr(delimiter))}.*line 1, the header",
    ):
        _read(path, rejections=[])


CP1252 = "code,name\nA1,Café Renée\nA2,Zoë\n".encode("cp1252")


def test_an_undeclared_encoding_is_named_with_how_to_declare_it(tmp_path: Path) -> None:
    with pytest.raises(IngestionError) as error:
        _read(_csv(tmp_path, CP1252))
    message = str(error.value)
    assert "release.csv" in message and "not UTF-8" in message and "line 2" in message
    assert "encoding looks like cp1252" in message and "`encoding: cp1252`" in message and "publications.yml" in message


def test_a_declared_encoding_is_decoded(tmp_path: Path) -> None:
    assert _rows(_read(_csv(tmp_path, CP1252), encoding="cp1252"))[0]["name"] == "Café Renée"
    with pytest.raises(IngestionError, match=r"declared as encoding cp1252 but its text is UTF-8"):
        _read(_csv(tmp_path, "code,name\nA1,Café\n", "utf8.csv"), encoding="cp1252")


def test_utf16_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = _csv(tmp_path, "code,name\r\nA1,Café\r\nA2,Zoë\r\n".encode("utf-16"))
    with pytest.raises(IngestionError, match=r"encoding looks like utf-16.*`encoding: utf-16`"):
        _read(path)
    rows = _rows(_read(path, encoding="utf-16"))
    assert [(r["code"], r["name"], r["_source_row"]) for r in rows] == [("A1", "Café", 2), ("A2", "Zoë", 3)]


def test_a_utf8_byte_order_mark_stays_out_of_the_first_header(tmp_path: Path) -> None:
    [(table, _)] = _read(_csv(tmp_path, '\ufeff"Id",Name\n1,é\n2,x\n'))
    assert table.column_names == ["id", "name", "_source_row"]
    assert table.column("id").to_pylist() == [1, 2] and str(table.schema.field("id").type) == "int64"


def test_bytes_that_are_not_utf8_after_the_sample_name_their_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, ("code,name\n" + "A1,plain\n" * 20_000 + "A2,Café\n").encode("cp1252"))
    with pytest.raises(IngestionError, match=r"not UTF-8 text \(the first byte that is not is on line 20002\)"):
        _read(path, rejections=[])


def test_zero_bytes_are_never_loaded_as_text(tmp_path: Path) -> None:
    with pytest.raises(IngestionError, match=r"row 3: the file has a zero \(NUL\) byte on line 3"):
        _read(_csv(tmp_path, b'code,name\nA,ok\nB,"x\x00y"\n'), rejections=[])
    with pytest.raises(IngestionError, match="declared as encoding utf-16 but it is not"):
        _read(_csv(tmp_path, "code,name\nA,ok\n", "ascii.csv"), encoding="utf-16")


def test_an_empty_file_and_a_header_only_file(tmp_path: Path) -> None:
    with pytest.raises(IngestionError, match=r"release\.csv: file is empty"):
        _read(_csv(tmp_path, ""))
    assert _read(_csv(tmp_path, "code,value\n", "header.csv")) == []
    assert _read(_csv(tmp_path, "code,value", "header-no-newline.csv")) == []
    with pytest.raises(IngestionError, match="line 1 is empty"):
        _read(_csv(tmp_path, "\ncode,value\nA,1\n", "blank-first.csv"))


def test_long_cells_embedded_line_breaks_and_hostile_headers_load_exactly(tmp_path: Path) -> None:
    long_text = "x" * 100_000
    header = '"a""b","; drop table x; --",,Niño,a,a,"two\nline header",\'quote'
    path = _csv(tmp_path, f'{header}\r\n1,"{long_text}",,"line one\r\nline two",5,6,7,8\r\n2,b,c,d,e,f,g,h\r\n')
    [(table, first_row)] = _read(path, rejections=[])
    assert table.column_names == [
        "a_b",
        "drop_table_x",
        "column_3",
        "ni_o",
        "a",
        "a_2",
        "two_line_header",
        "quote",
        "_source_row",
    ]
    assert table.column("drop_table_x").to_pylist() == [long_text, "b"]
    assert table.column("ni_o").to_pylist() == ["line one\r\nline two", "d"]
    assert table.column("column_3").to_pylist() == [None, "c"]
    assert table.column("_source_row").to_pylist() == [3, 5] and first_row == 3


def test_quotes_inside_unquoted_fields_and_unclosed_quotes_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(IngestionError, match=r"row 3: cannot parse CSV: a quote character inside a field"):
        _read(_csv(tmp_path, 'code,name\nA,ok\nB,say "hi"\nC,ok\n'), rejections=[])
    with pytest.raises(IngestionError, match=r"a quoted field is never closed \(it opens on line 3"):
        _read(_csv(tmp_path, 'code,name\nA,ok\nB,"open\nC,ok\n', "unclosed.csv"), rejections=[])


def test_a_duckdb_failure_leads_with_the_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, "code,text\nA,short\nB," + "y" * (9 * 1024 * 1024) + "\nC,short\n")
    with pytest.raises(IngestionError, match=r"row 3: cannot parse CSV.*line 3 is longer than 8 MiB.*DuckDB says"):
        _read(path, rejections=[])


# ----------------------------------------------------------------------------------------------------------- ZIP


def _zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes handed out by every zip member stream, in order."""
    served: list[int] = []
    original = zipfile.ZipExtFile.read

    def read(self: zipfile.ZipExtFile, n: int = -1) -> bytes:
        data = original(self, n)
        served.append(len(data))
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", read)
    return served


def _member(archive: Path, name: str, limit: int = 10**9, types: dict | None = None, **options: object) -> list[tuple]:
    return list(
        readers.read_zip_member_batches(archive, name, limit, types or {}, {**WHERE, "file": archive.name}, **options)
    )


def test_a_member_is_read_with_its_encoding_and_rejections(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "extracts.zip",
        {
            "extracts/region_1.csv": 'region_code,name,count\nE1,"Nord, Süd",3\nE2,x,lots\n',
            "extracts/region_2.csv": "region_code,name\nE3,Málaga\n".encode("cp1252"),
            "extracts/empty.csv": "",
            "extracts/header.csv": "region_code,name\n",
        },
    )
    rejections: list[Rejection] = []
    rows = _rows(_member(archive, "extracts/region_1.csv", types={"count": "BIGINT"}, rejections=rejections))
    assert rows == [{"region_code": "E1", "name": "Nord, Süd", "count": 3, "_source_row": 2}]
    assert rejections == [Rejection(3, "count", "lots", "value 'lots' is not a BIGINT")]
    with pytest.raises(IngestionError, match=r"extracts.zip, 'extracts/region_2.csv': .*`encoding: cp1252`"):
        _member(archive, "extracts/region_2.csv")
    assert _rows(_member(archive, "extracts/region_2.csv", encoding="cp1252"))[0]["name"] == "Málaga"
    with pytest.raises(IngestionError, match=r"'extracts/empty\.csv': file is empty"):
        _member(archive, "extracts/empty.csv")
    assert _member(archive, "extracts/header.csv") == []


def test_a_zip_bomb_is_stopped_before_it_inflates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _zip(tmp_path / "bomb.zip", {"region_1.csv": b"a,b\n" + b"0" * 50_000_000})
    served = _count_reads(monkeypatch)
    with pytest.raises(
        IngestionError,
        match=r"'region_1.csv': member is 50,000,004 bytes uncompressed, over the "
        r"limit of 1,000,000",
    ):
        _member(archive, "region_1.csv", limit=1_000_000)
    assert sum(served) == 0  # refused on its declared size, nothing inflated

    # an archive whose declared size is wrong or unknown: the copy stops at the limit, not at the end
    monkeypatch.setattr(zip_reader, "_check_member_info", lambda info, limit, where: None)
    with pytest.raises(IngestionError, match="member inflates past the limit of 1,000,000 bytes"):
        _member(archive, "region_1.csv", limit=1_000_000)
    assert sum(served) <= 1_000_000 + 1024 * 1024  # at most one chunk past the limit


def test_a_member_whose_header_lies_about_its_size_fails_without_inflating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _zip(tmp_path / "liar.zip", {"region_1.csv": b"a,b\n" + b"0" * 50_000_000})
    data = bytearray(archive.read_bytes())
    struct.pack_into("<I", data, 22, 1_000)  # local header: uncompressed size
    directory = data.rindex(b"PK\x01\x02")
    struct.pack_into("<I", data, directory + 24, 1_000)  # central directory: uncompressed size
    archive.write_bytes(bytes(data))
    served = _count_reads(monkeypatch)
    with pytest.raises(IngestionError, match=r"'region_1\.csv': cannot read member"):
        _member(archive, "region_1.csv", limit=1_000_000)
    assert sum(served) <= 1_000


@pytest.mark.parametrize("name", ["../evil.csv", "/etc/passwd", "extracts/../../x.csv", "C:\\temp\\x.csv"])
def test_member_names_that_escape_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    archive = _zip(tmp_path / "traversal.zip", {name: "a,b\n1,2\n"})
    with pytest.raises(IngestionError, match="unsafe member name"):
        _member(archive, name)


# -------------------------------------------------------------------------------------------------------- config


def _config(tmp_path: Path, files: str) -> Path:
    path = tmp_path / "publications.yml"
    path.write_text(
        "publications:\n  demo:\n    periods: {first: '2025-01', last: '2025-02'}\n"
        "    location: data\n    files:\n" + files
    )
    return path


CSV_ENTRY = "      - name: 'detail-{period}.csv'\n        table: detail\n"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            CSV_ENTRY + "        encodng: cp1252\n",
            r"files\[0\]\.encodng: unknown setting 'encodng'; did you mean 'encoding'\? \(allowed: .*encoding",
        ),
        (
            "      - name: 'book-{period}.xlsx'\n        sheets:\n"
            "          - {match: 'Table 1', table: t, encoding: x}\n",
            r"files\[0\]\.sheets\[0\]\.encoding: unknown setting 'encoding' \(allowed: .*match, role",
        ),
        (
            "      - name: 'x-{period}.zip'\n        members:\n          - {match: '*.csv', table: t, sheet: x}\n",
            r"files\[0\]\.members\[0\]\.sheet: unknown setting 'sheet'",
        ),
        (
            "      - name: 'book-{period}.xlsx'\n        sheets:\n          - {match: Cover, role: cover, table: t}\n"
            "          - {match: 'Table 1', table: t}\n",
            r"sheets\[0\]: 'table': only a table entry has this setting; this one has role cover",
        ),
        (CSV_ENTRY + "        max_quarantined: lots\n", r"files\[0\]\.max_quarantined: must be a row count.*'lots'"),
        (CSV_ENTRY + "        max_quarantined: -1\n", r"max_quarantined: must be a row count.*-1"),
        (CSV_ENTRY + "        max_quarantined: '150%'\n", r"max_quarantined: must be .*'150%'"),
        (
            CSV_ENTRY + "        max_quarantined: true\n",
            r"max_quarantined: Input should be a valid integer .*\(got True\)",
        ),
        (CSV_ENTRY + "        encoding: klingon\n", r"files\[0\]\.encoding: 'klingon' is not a known text encoding"),
        (CSV_ENTRY + "        encoding: rot13\n", r"'rot13' is not a known text encoding"),
        (CSV_ENTRY + "        types: {count: 'BIGINT; drop table x'}\n", r"types: count: .* is not a DuckDB type"),
        (CSV_ENTRY + "        header_row: 3\n", r"header_row: Input should be 'auto' or 1"),
    ],
)
def test_config_mistakes_name_the_file_and_setting(tmp_path: Path, files: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as error:
        load_publications(_config(tmp_path, files))
    assert "publications.yml: publications.demo.files[0]" in str(error.value)


def test_encodings_and_quarantine_limits_are_read_from_the_config(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        CSV_ENTRY + "        encoding: latin-1\n        max_quarantined: 25\n"
        "      - name: 'x-{period}.zip'\n        encoding: cp1252\n        members:\n"
        "          - {match: '*a*.csv', table: a, max_quarantined: '2%'}\n"
        "          - {match: '*b*.csv', table: b, encoding: utf-16, max_quarantined: 0}\n"
        "      - name: 'c-{period}.csv'\n        table: c\n",
    )
    tables = {spec.table: spec for spec in load_publications(config)["demo"].tables()}
    assert (tables["detail"].encoding, tables["detail"].max_quarantined) == ("iso8859-1", QuarantineLimit(rows=25))
    assert (tables["a"].encoding, tables["a"].max_quarantined) == ("cp1252", QuarantineLimit(share=0.02))
    assert (tables["b"].encoding, tables["b"].max_quarantined) == ("utf-16", QuarantineLimit(rows=0))
    assert (tables["c"].encoding, tables["c"].max_quarantined) == (None, QuarantineLimit(share=0.01))


def test_quarantine_limits() -> None:
    assert (
        str(QuarantineLimit(rows=25)),
        str(QuarantineLimit(rows=1)),
        str(QuarantineLimit(share=0.02)),
        str(QuarantineLimit(share=0.005)),
    ) == ("25 rows", "1 row", "2% of rows", "0.5% of rows")
    assert not QuarantineLimit(share=0.01).exceeded(10, 1_000) and QuarantineLimit(share=0.01).exceeded(11, 1_000)
    assert not QuarantineLimit(rows=0).exceeded(0, 10) and QuarantineLimit(rows=0).exceeded(1, 10)
    assert not QuarantineLimit(rows=25).exceeded(25, 26) and QuarantineLimit(rows=25).exceeded(26, 10_000)


@pytest.mark.parametrize("value", ["15e-1", "1e-3", "0x1F", "1.5", "12 "])
def test_a_value_a_whole_number_column_would_round_or_reinterpret_is_rejected(tmp_path: Path, value: str) -> None:
    path = tmp_path / "whole.csv"
    path.write_text(f"code,count\na,1\nb,{value}\nc,3\n")
    rejections: list[Rejection] = []
    rows = [
        row
        for table, _ in readers.read_csv_batches(
            path, {"count": "BIGINT"}, {"file": "whole.csv"}, rejections=rejections
        )
        for row in table.to_pylist()
    ]
    if value == "12 ":  # surrounding blanks are no change of value
        assert [r["count"] for r in rows] == [1, 12, 3] and not rejections
        return
    assert [r["count"] for r in rows] == [1, 3]
    assert [(r.row, r.column, r.value) for r in rejections] == [(3, "count", value)]
