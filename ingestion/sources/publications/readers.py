"""Readers that turn release files into Arrow tables, streaming: calamine for XLSX, DuckDB for CSV, zipfile for ZIP.

XLSX table cells land as text: a spreadsheet column mixes numbers with suppression markers (``[c]``), so bronze
keeps exactly what was published and the staging models cast it. A spreadsheet error cell (``#DIV/0!``, ``#N/A``)
keeps its error text and is reported as flagged, never turned into a blank. CSV columns keep the types the file means
(integers stay integers, dates stay dates), inferred by DuckDB's sniffer and pinnable in the config.

Nothing is lost silently. Every yielded table carries ``_source_row``: the 1-based line of the CSV file (header on
line 1) or row of the sheet each row came from. A CSV row whose value does not fit its column's type, or that has
more or fewer fields than the header, is rejected: with a ``rejections`` list it goes there with its line and reason
and the read goes on; without one, it stops the read with an error that names line, column and value.

How a CSV is read, all in bulk: the text is checked to be UTF-8 (or transcoded from the declared encoding), DuckDB
reads every field as text (``null_padding`` and one overflow column make short and long rows visible instead of
errors) and casts in SQL with ``try_cast``, so a bad value is a flag on its row, not a failed scan. Beside DuckDB's
scan, :class:`_RecordIndex` finds where each record starts (its physical line) with numpy, in step with the batches,
so that line numbers stay right across quoted newlines, blank lines and rejected rows.
"""

from __future__ import annotations

import codecs
import datetime as dt
import html
import itertools
import re
import sys
import threading
import xml.etree.ElementTree as ElementTree
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from python_calamine import CalamineError, CalamineWorkbook

from ingestion.errors import IngestionError
from ingestion.sources.publications import files
from ingestion.sources.publications.settings import TYPE_NAME

XLSX_CHUNK_ROWS = 50_000
CSV_BATCH_ROWS = 250_000
SAMPLE_ROWS = 100_000  # rows the type inference looks at
LOOKAHEAD_ROWS = 4 * CSV_BATCH_ROWS  # how far the record index may run ahead of the rows read
SCAN_BYTES = 8 * 1024 * 1024  # chunk of the record index and error-cell scans
MAX_VALUE_CHARS = 1_000  # a rejected value is kept up to this length
MAX_LINE_BYTES = 8 * 1024 * 1024  # DuckDB's limit on one record (its default is 2 MB); buffers are twice that
_NON_WORD = re.compile(r"[^0-9a-z]+")
_BOM = codecs.BOM_UTF8
_NULL_TEXT = "\x1f\x1e<null>\x1e\x1f"  # DuckDB's null string: never in data, so that an empty field reads as ''
_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass(frozen=True)
class Rejection:
    """A row (or, for a flagged cell, a value) that could not be taken as published."""

    row: int | None  # 1-based line of the CSV file (header is line 1) / 1-based row of the sheet
    column: str | None  # the bronze (snake_case) column name, when known
    value: str | None  # the raw text as published (up to 1,000 characters)
    reason: str  # e.g. "spreadsheet error cell #DIV/0!", "value 'abc' is not a BIGINT"
    disposition: str = "rejected"  # "rejected": the row is not loaded; "flagged": loaded, the cell keeps its text


def snake_case(name: str) -> str:
    """``'Rate per 1,000 patients'`` -> ``'rate_per_1_000_patients'``."""
    return _NON_WORD.sub("_", str(name).strip().lower()).strip("_")


def column_names(header: list[object]) -> list[str]:
    """Snake-case header names; blanks become ``column_N`` and repeats get ``_2``, ``_3``."""
    names: list[str] = []
    for index, cell in enumerate(header, start=1):
        base = snake_case(str(cell)) if cell not in (None, "") else ""
        base = base or f"column_{index}"
        if base[0].isdigit():
            base = f"c_{base}"
        name, n = base, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


def cell_text(value: object) -> str | None:
    """A spreadsheet cell as the text it shows: ``12.0`` -> ``'12'``, dates as ISO, blanks as null."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:MAX_VALUE_CHARS]


def _source_rows(rows: range | np.ndarray) -> pa.Array:
    """Row numbers as an int64 array (a numpy array is wrapped without a copy, and without pyarrow importing
    pandas to convert it)."""
    if isinstance(rows, range):
        rows = np.arange(rows.start, rows.stop, dtype=np.int64)
    values = np.ascontiguousarray(rows, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


_SOURCE_ROW = pa.field("_source_row", pa.int64(), nullable=False)


# ---------------------------------------------------------------------------------------------------------- XLSX

def open_workbook(path: Path, where: dict) -> CalamineWorkbook:
    """Open an .xlsx workbook; an encrypted, binary (.xls, .xlsb), OpenDocument or non-workbook file is refused
    with a message that says what it is."""
    _refuse_other_workbooks(path, where)
    try:
        return CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as error:
        raise IngestionError(f"cannot read the workbook ({error}); is it a valid .xlsx file?", **where) from error


def _refuse_other_workbooks(path: Path, where: dict) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(files.SAMPLE_BYTES)
    except OSError as error:
        raise IngestionError(f"cannot read the workbook ({error})", **where) from error
    if not head:
        raise IngestionError("file is empty (0 bytes), not a workbook", **where)
    if head.startswith(files.OLE2_MAGIC):
        if _file_contains(path, "EncryptedPackage".encode("utf-16-le")):
            raise IngestionError("the workbook is encrypted (password-protected): it cannot be read; ask the "
                                 "publisher for a copy without a password", **where)
        raise IngestionError("the file is an old binary Excel workbook (.xls, an OLE2 compound file), not .xlsx; "
                             "its error cells cannot be checked, so it is not read: save it as .xlsx", **where)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
        except (zipfile.BadZipFile, OSError, KeyError, EOFError) as error:
            raise IngestionError(f"cannot read the workbook ({error}); is it a valid .xlsx file?", **where) from error
        if "xl/workbook.bin" in names:
            raise IngestionError("the file is a binary Excel workbook (.xlsb), not .xlsx: save it as .xlsx", **where)
        if b"opendocument" in mimetype:
            raise IngestionError("the file is an OpenDocument spreadsheet (.ods), not .xlsx: save it as .xlsx",
                                 **where)
        if "[Content_Types].xml" not in names:
            raise IngestionError("the file is a ZIP archive but not an .xlsx workbook (no [Content_Types].xml)",
                                 **where)
        return
    text = head[:2000].lstrip(_BOM).lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text[:500]:
        raise IngestionError("the file is an HTML page, not a workbook (an error page saved under the workbook's "
                             "name?)", **where)
    kind = "text (a CSV file?)" if _looks_like_text(head) else f"bytes {head[:8].hex(' ')}"
    raise IngestionError(f"the file is not an .xlsx workbook (an .xlsx file is a ZIP archive starting with 'PK'); "
                         f"it starts with {kind}", **where)


def _file_contains(path: Path, needle: bytes) -> bool:
    """Whether ``needle`` occurs in the file, read in chunks."""
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(files.CHUNK):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle):]
    return False


def _looks_like_text(sample: bytes) -> bool:
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(sample) - 4:
            return False
    return b"\x00" not in sample


def _filled(row: list[object]) -> list[object]:
    return [cell for cell in row if cell not in (None, "")]


def _is_header(row: list[object], following: list[object] | None) -> bool:
    cells = _filled(row)
    return (len(cells) >= 2 and all(isinstance(cell, str) for cell in cells)
            and following is not None and len(_filled(following)) >= 2)


def read_xlsx_table(workbook: CalamineWorkbook, sheet: str, header_row: int | None, where: dict,
                    chunk_rows: int = XLSX_CHUNK_ROWS, *, path: Path | None = None,
                    rejections: list[Rejection] | None = None) -> Iterator[tuple[pa.Table, int]]:
    """Yield ``(table of text columns + _source_row, first source row)`` chunks of the table on ``sheet``.

    The header is ``header_row`` (1-based) or the first row of two or more text cells followed by a row with data;
    the table ends at the first empty row, so footnotes below it are not data. Error cells (``#DIV/0!`` ...), which
    calamine reads as blanks, are found in the sheet's XML (``path``, default the workbook's own path) and land as
    their error text, each appended to ``rejections`` as flagged.
    """
    where = {**where, "part": sheet}
    try:
        rows = workbook.get_sheet_by_name(sheet)
        first_column = (rows.start or (0, 0))[1]  # rows come from the top, cells from the first used column
        numbered: Iterator[tuple[int, list[object]]] = enumerate(rows.iter_rows(), start=1)
    except CalamineError as error:
        raise IngestionError(f"cannot read sheet: {error}", **where) from error
    source = path or (Path(workbook.path) if workbook.path else None)
    if source is None:
        raise IngestionError("the workbook's path is needed to check its error cells", **where)
    errors = {row: {column - first_column: text for column, text in cells.items()}
              for row, cells in sheet_error_cells(source, sheet, where).items()}
    candidates: list[int] = []
    header, data_rows = _find_header(numbered, header_row, candidates)
    if header is None or not _filled(header):
        if header_row is None and candidates:
            raise IngestionError(f"the table has a header (row {candidates[-1]}) but no data rows under it",
                                 row=candidates[-1], **where)
        detail = f"row {header_row} is empty" if header_row else "no header row found in the first 200 rows"
        raise IngestionError(f"{detail}; set header_row for this sheet in the publications config", **where)

    names = column_names(header[: _last_filled(header) + 1])
    width = len(names)
    columns: list[list[str | None]] = [[] for _ in names]
    chunk_start = None
    for number, data in data_rows:
        if not _filled(data) and number not in errors:
            break  # end of table: what follows a blank row is a footnote
        extra = [index for index in range(width, len(data)) if data[index] not in (None, "")]
        if extra:
            raise IngestionError(f"value {data[extra[0]]!r} in column {extra[0] + 1} has no header", row=number,
                                 **where)
        chunk_start = chunk_start or number
        for index in range(width):
            columns[index].append(cell_text(data[index]) if index < len(data) else None)
        if len(columns[0]) >= chunk_rows:
            yield _sheet_chunk(names, columns, chunk_start, errors, first_column, where, rejections), chunk_start
            chunk_start, columns = None, [[] for _ in names]
    if columns[0] and chunk_start is not None:
        yield _sheet_chunk(names, columns, chunk_start, errors, first_column, where, rejections), chunk_start


def _sheet_chunk(names: list[str], columns: list[list[str | None]], first_row: int,
                 errors: dict[int, dict[int, str]], first_column: int, where: dict,
                 rejections: list[Rejection] | None) -> pa.Table:
    """The chunk as a table, its error cells put back as their text (Python work per error cell only)."""
    count = len(columns[0])
    for row in sorted(number for number in errors if first_row <= number < first_row + count):
        for index, text in sorted(errors[row].items()):
            if not 0 <= index < len(names):
                cell = f"{_column_letters(index + first_column)}{row}"
                raise IngestionError(f"spreadsheet error cell {text} in {cell} has no header", row=row, **where)
            columns[index][row - first_row] = text
            if rejections is not None:
                rejections.append(Rejection(row, names[index], text, f"spreadsheet error cell {text}", "flagged"))
    table = pa.table({name: pa.array(values, type=pa.string()) for name, values in zip(names, columns, strict=True)})
    return table.append_column(_SOURCE_ROW, _source_rows(range(first_row, first_row + count)))


def _column_letters(index: int) -> str:
    """0 -> ``A``, 27 -> ``AB``."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _find_header(numbered: Iterator[tuple[int, list[object]]], header_row: int | None,
                 candidates: list[int] | None = None) -> tuple[list[object] | None,
                                                               Iterator[tuple[int, list[object]]]]:
    """The header row and an iterator over the rows after it. ``candidates`` gets the rows that look like a header
    (two or more text cells) even with no data under them, for the message when none has data."""
    if header_row is not None:
        for number, row in numbered:
            if number == header_row:
                return row, numbered
        return None, numbered
    previous: list[object] | None = None
    for number, row in numbered:
        if previous is not None and _is_header(previous, row):
            return previous, itertools.chain([(number, row)], numbered)
        if number > 200:
            break
        cells = _filled(row)
        if candidates is not None and len(cells) >= 2 and all(isinstance(cell, str) for cell in cells):
            candidates.append(number)
        previous = row
    return None, numbered


def _last_filled(row: list[object]) -> int:
    return max(index for index, cell in enumerate(row) if cell not in (None, ""))


# Error cells in a sheet's XML: <c r="B5" t="e"><f>1/0</f><v>#DIV/0!</v></c>, with or without a namespace prefix.
_ERROR_CELL = re.compile(rb"<(?:[\w.-]+:)?c\s([^>]*?\bt\s*=\s*[\"']e[\"'][^>]*?)(/?)>")
_CELL_END = re.compile(rb"</(?:[\w.-]+:)?c>")
_CELL_VALUE = re.compile(rb"<(?:[\w.-]+:)?v(?:\s[^>]*)?>([^<]*)<")
_CELL_REF = re.compile(rb"\br\s*=\s*[\"']\$?([A-Za-z]{1,3})\$?(\d+)[\"']")
_ROW_CLOSE = re.compile(rb"</(?:[\w.-]+:)?\Z")


def sheet_error_cells(path: Path, sheet: str, where: dict) -> dict[int, dict[int, str]]:
    """``{row: {column index (0 = A): error text}}`` of the error cells of ``sheet`` in the .xlsx at ``path``.

    A bulk regex scan of the sheet's XML part, streamed out of the archive in chunks; only error cells cost Python.
    """
    found: dict[int, dict[int, str]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            part = _sheet_part(archive, sheet)
            if part is None:
                raise IngestionError("cannot find the sheet's XML part in the workbook, so its error cells cannot "
                                     "be checked", **{**where, "part": sheet})
            with archive.open(part) as stream:
                carry = b""
                while True:
                    chunk = stream.read(SCAN_BYTES)
                    buffer = carry + chunk
                    if chunk:  # keep an unfinished row for the next chunk
                        cut = _last_row_end(buffer)
                        buffer, carry = buffer[:cut], buffer[cut:]
                    if b'"e"' in buffer or b"'e'" in buffer:
                        _collect_error_cells(buffer, found, {**where, "part": sheet})
                    if not chunk:
                        break
    except (zipfile.BadZipFile, OSError, KeyError, EOFError, zlib.error) as error:
        raise IngestionError(f"cannot read the workbook's XML to check error cells ({error})",
                             **{**where, "part": sheet}) from error
    return found


def _last_row_end(buffer: bytes) -> int:
    """Where the last ``</row>`` (or ``</x:row>``) of the buffer ends; 0 if there is none."""
    position = buffer.rfind(b"row>")
    while position != -1:
        if _ROW_CLOSE.search(buffer, max(0, position - 40), position):
            return position + 4
        position = buffer.rfind(b"row>", 0, position)
    return 0


def _collect_error_cells(buffer: bytes, found: dict[int, dict[int, str]], where: dict) -> None:
    for match in _ERROR_CELL.finditer(buffer):
        reference = _CELL_REF.search(match.group(1))
        if reference is None:
            raise IngestionError("the sheet has a spreadsheet error cell without a cell reference; its position "
                                 "cannot be known", **where)
        text = "#ERROR"
        if not match.group(2):  # not self-closing: the cached value holds the error text
            end = _CELL_END.search(buffer, match.end())
            value = _CELL_VALUE.search(buffer, match.end(), end.start() if end else len(buffer))
            if value is not None and value.group(1).strip():
                text = html.unescape(value.group(1).decode("utf-8", "replace")).strip()
        column = 0
        for letter in reference.group(1).upper():  # bytes: each letter is its code
            column = column * 26 + letter - 64
        found.setdefault(int(reference.group(2)), {})[column - 1] = text


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _attribute(element: ElementTree.Element, name: str) -> str | None:
    return next((value for key, value in element.attrib.items() if _local(key) == name), None)


def _sheet_part(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The archive member holding ``sheet``: through ``xl/workbook.xml`` (name -> relationship id) and its rels."""
    names = set(archive.namelist())
    workbook = "xl/workbook.xml"
    if "_rels/.rels" in names:
        for relation in ElementTree.fromstring(archive.read("_rels/.rels")):
            if (_attribute(relation, "Type") or "").endswith("/officeDocument"):
                workbook = _resolve("", _attribute(relation, "Target") or workbook)
    folder = workbook.rsplit("/", 1)[0] if "/" in workbook else ""
    rels = f"{folder}/_rels/{workbook.rsplit('/', 1)[-1]}.rels" if folder else f"_rels/{workbook}.rels"
    if workbook not in names or rels not in names:
        return None
    relation_id = None
    for element in ElementTree.fromstring(archive.read(workbook)).iter():
        if _local(element.tag) == "sheet" and element.get("name") == sheet:
            relation_id = _attribute(element, "id")
    targets = {relation.get("Id"): relation.get("Target") for relation in ElementTree.fromstring(archive.read(rels))}
    target = targets.get(relation_id)
    part = _resolve(folder, target) if target else None
    return part if part in names else None


def _resolve(folder: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    parts: list[str] = [p for p in folder.split("/") if p]
    for piece in target.split("/"):
        if piece == "..":
            parts = parts[:-1]
        elif piece not in ("", "."):
            parts.append(piece)
    return "/".join(parts)


# ----------------------------------------------------------------------------------------------------------- CSV

def read_csv_batches(path: Path, types: dict[str, str], where: dict, *, encoding: str | None = None,
                     rejections: list[Rejection] | None = None,
                     batch_rows: int = CSV_BATCH_ROWS) -> Iterator[tuple[pa.Table, int]]:
    """Yield ``(typed table + _source_row, first source line)`` batches of a CSV file (header on line 1).

    ``types`` pins column types (DuckDB names) by header or snake_case name; the others are inferred by DuckDB.
    ``encoding`` is the declared encoding; without one the file must be UTF-8. With ``rejections=None`` the first row
    that does not fit (a value not of its column's type, too many or too few fields) stops the read; with a list,
    such rows are appended to it and skipped.
    """
    with ExitStack() as stack:
        try:
            handle = stack.enter_context(path.open("rb"))
        except OSError as error:
            raise IngestionError(f"cannot open the CSV file ({error})", **where) from error
        chunks = iter(lambda: handle.read(files.CHUNK), b"")
        utf8 = files.utf8_file(chunks, where, encoding, stack, original=path)
        handle.close()
        yield from _read_utf8_csv(utf8, types, where, rejections, batch_rows)


def read_zip_member_batches(archive_path: Path, member: str, max_bytes: int, types: dict[str, str], where: dict,
                            *, encoding: str | None = None,
                            rejections: list[Rejection] | None = None) -> Iterator[tuple[pa.Table, int]]:
    """Like :func:`read_csv_batches` for the CSV ``member`` of a ZIP archive.

    The member is streamed out of the archive in chunks into a private temporary file (transcoded to UTF-8 on the
    way when an encoding is declared) while its inflated size is counted: past ``max_bytes`` the copy stops at once.
    """
    where = {**where, "part": member}
    check_member_name(member, where)
    with ExitStack() as stack:
        with open_zip(archive_path, where) as archive:
            try:
                info = archive.getinfo(member)
            except KeyError:
                raise IngestionError("the archive has no such member", **where) from None
            _check_member_info(info, max_bytes, where)
            try:
                with archive.open(info) as stream:
                    chunks = files.bounded(stream, max_bytes, where)
                    utf8 = files.utf8_file(chunks, where, encoding, stack, original=None)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError) as error:
                raise IngestionError(f"cannot read member ({error})", **where) from error
        yield from _read_utf8_csv(utf8, types, where, rejections, CSV_BATCH_ROWS)


def _check_member_info(info: zipfile.ZipInfo, max_bytes: int, where: dict) -> None:
    if info.flag_bits & 0x1:
        raise IngestionError("member is encrypted (password-protected): it cannot be read", **where)
    if info.file_size > max_bytes:
        raise IngestionError(f"member is {info.file_size:,} bytes uncompressed, over the limit of {max_bytes:,} "
                             "(max_member_bytes)", **where)


def _read_utf8_csv(path: Path, types: dict[str, str], where: dict, rejections: list[Rejection] | None,
                   batch_rows: int) -> Iterator[tuple[pa.Table, int]]:
    """The typed batches of a UTF-8 CSV file: DuckDB reads text, casts in SQL, flags rows that do not fit."""
    _check_first_line(path, where)
    index = _RecordIndex(path, where)
    connection = duckdb.connect()
    try:
        header = index.header()
        names = column_names(list(header))
        width = len(names)
        if not index.has_data():
            return  # a header and no rows: the caller fails a table that got nothing
        kinds, formats = _column_types(connection, path, header, names, types, index, where)
        index.start()
        # DuckDB's parallel scan cannot pad short rows in a file with quoted line breaks (it says so): such a file
        # is read by one thread, from the start when the first chunk shows them, else from where the error came
        parallel, taken = not index.quoted_breaks, 0
        while True:
            try:
                query = _typed_query(path, width, kinds, formats, parallel) + (f" offset {taken}" if taken else "")
                for batch in connection.sql(query).to_arrow_reader(batch_rows):
                    lines, offsets = index.take(batch.num_rows)
                    taken += batch.num_rows
                    table = _typed_batch(batch, names, kinds, formats, lines, offsets, index, where, rejections)
                    if table.num_rows:
                        yield table, int(table.column("_source_row")[0].as_py())
                break
            except (duckdb.Error, pa.ArrowException, OSError) as error:  # mid-stream, DuckDB's error comes via Arrow
                if parallel and "parallel=false" in str(error):
                    parallel = False
                    continue
                raise _failure(error, index, "cannot parse CSV", where) from error
        index.finish()
    finally:
        index.close()
        connection.close()


def _failure(error: Exception, index: _RecordIndex, doing: str, where: dict) -> IngestionError:
    """Our account of a DuckDB failure first (the line, what is wrong with it), DuckDB's own words after."""
    index.scan_all()  # raises itself on a problem it knows better: encoding, quotes
    if index.too_long is not None:
        return IngestionError(f"{doing}: line {index.too_long} is longer than {MAX_LINE_BYTES // 2**20} MiB, the "
                              f"longest record this reader takes; DuckDB says: {_first_line(error)}",
                              row=index.too_long, **where)
    line = index.next_line()
    at = " at this line or after it" if line else ""
    return IngestionError(f"{doing}{at}; DuckDB says: {_first_line(error)}", row=line, **where)


def _column_types(connection: duckdb.DuckDBPyConnection, path: Path, header: list[str], names: list[str],
                  types: dict[str, str], index: _RecordIndex, where: dict) -> tuple[list[str], dict[str, str]]:
    """Each column's DuckDB type, sniffed from up to 100,000 rows (as DuckDB's reader would) or pinned in ``types``
    by header or snake_case name; and the date and timestamp formats the sniffer found. Where the sniffer gives up
    (it can, on a small file with mixed line endings), each column gets the first type all its sampled values cast
    to."""
    newline = f", new_line = '{index.newline}'" if index.newline else ""
    try:
        sniffed = connection.execute(
            f"select Columns, DateFormat, TimestampFormat from sniff_csv('{_sql_text(str(path))}', header = true, "
            f"delim = ',', quote = '\"', escape = '\"', comment = ''{newline}, sample_size = {SAMPLE_ROWS}, "
            f"ignore_errors = true, max_line_size = {MAX_LINE_BYTES}, buffer_size = {2 * MAX_LINE_BYTES})"
        ).fetchall()
        columns, date_format, timestamp_format = sniffed[0]
        kinds = [str(column["type"]) for column in columns]
    except duckdb.Error:
        kinds, date_format, timestamp_format = [], None, None
    if len(kinds) != len(names):
        kinds = _inferred_types(connection, path, len(names), index, where)
    pinned = {key.strip().lower(): value for key, value in types.items()}
    for position, (raw, name) in enumerate(zip(header, names, strict=True)):
        kind = pinned.get(name) or pinned.get(raw.strip().lower())
        if kind is not None:
            if not TYPE_NAME.match(kind.strip()):
                raise IngestionError(f"types: {kind!r} (pinned for column {name}) is not a DuckDB type name", **where)
            try:
                connection.execute(f"select cast(null as {kind})").fetchall()
            except duckdb.Error as error:
                raise IngestionError(f"types: {kind!r} (pinned for column {name}) is not a DuckDB type "
                                     f"({_first_line(error)})", **where) from error
            kinds[position] = kind.upper()
    formats = {"DATE": date_format or "", "TIMESTAMP": timestamp_format or ""}
    return kinds, {kind: text for kind, text in formats.items() if text and text not in ("%Y-%m-%d",)}


_CANDIDATE_TYPES = ("BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "BOOLEAN")


def _inferred_types(connection: duckdb.DuckDBPyConnection, path: Path, width: int, index: _RecordIndex,
                    where: dict) -> list[str]:
    """The first of :data:`_CANDIDATE_TYPES` every sampled value of a column casts to (VARCHAR if none does, or if
    the column is empty), over the first rows that have as many fields as the header. One SQL aggregate."""
    checks = [f"bool_and(c{i} = '' or not (try_cast(c{i} as {kind}) is null"
              f"{_lossy(f'c{i}', f'try_cast(c{i} as {kind})', kind)}))" for i in range(width)
              for kind in _CANDIDATE_TYPES] + [f"count(nullif(c{i}, ''))" for i in range(width)]
    for parallel in (not index.quoted_breaks, False):
        sample = f"select * from {_scan(path, width, parallel)} limit {SAMPLE_ROWS}"
        try:
            [answers] = connection.execute(f"select {', '.join(checks)} from ({sample}) "
                                           f"where c{width} is null and c{width - 1} is not null").fetchall()
            break
        except duckdb.Error as error:
            if not (parallel and "parallel=false" in str(error)):
                raise _failure(error, index, "cannot parse CSV: the column types cannot be inferred", where) from error
    fits, filled = answers[: width * len(_CANDIDATE_TYPES)], answers[width * len(_CANDIDATE_TYPES):]
    kinds = []
    for i in range(width):
        own = fits[i * len(_CANDIDATE_TYPES): (i + 1) * len(_CANDIDATE_TYPES)]
        kinds.append(next((kind for kind, fit in zip(_CANDIDATE_TYPES, own, strict=True) if fit and filled[i]),
                          "VARCHAR"))
    return kinds


def _cast(column: str, kind: str, formats: dict[str, str]) -> str:
    value = f"nullif({column}, '')"
    if kind == "VARCHAR":
        return value
    if kind in formats:
        return f"cast(try_strptime({value}, '{_sql_text(formats[kind])}') as {kind})"
    return f"try_cast({value} as {kind})"


_WHOLE_NUMBERS = ("TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT", "INT1", "INT2", "INT4", "INT8", "LONG", "SHORT")


def _lossy(text: str, value: str, kind: str) -> str:
    """SQL that is true where the cast changed the value, which DuckDB's casts do: ``'1.5'`` -> BIGINT 2, ``'12.345'``
    -> DECIMAL(5,1) 12.3, ``'2025-01-02 10:00'`` -> DATE 2025-01-02. Such a value is a type failure, not a number."""
    if kind in _WHOLE_NUMBERS or kind.startswith(("DECIMAL", "NUMERIC")):
        return f" or (contains({text}, '.') and {value} <> try_cast({text} as DOUBLE))"
    if kind == "DATE":
        return f" or contains({text}, ':')"
    return ""


def _scan(path: Path, width: int, parallel: bool) -> str:
    """DuckDB's scan of the file with every field as text: ``c0`` ... and one overflow column ``c<width>``; a short
    row is padded with null (an empty field reads as ``''``, never null), a long one fills the overflow column."""
    fields = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width + 1))
    return (f"read_csv('{_sql_text(str(path))}', header = true, auto_detect = false, delim = ',', quote = '\"', "
            f"escape = '\"', strict_mode = false, null_padding = true, parallel = {str(parallel).lower()}, "
            f"nullstr = '{_NULL_TEXT}', max_line_size = {MAX_LINE_BYTES}, buffer_size = {2 * MAX_LINE_BYTES}, "
            f"columns = {{{fields}}})")


def _typed_query(path: Path, width: int, kinds: list[str], formats: dict[str, str], parallel: bool) -> str:
    """The scan cast in SQL. ``__bad`` is null for a row that fits: -2 too many fields, -1 too few, else the index of
    the first value that is not its column's type."""
    scan = _scan(path, width, parallel)
    typed = [i for i, kind in enumerate(kinds) if kind != "VARCHAR"]
    inner = ", ".join([f"c{i}" for i in range(width + 1)] + [f"{_cast(f'c{i}', kinds[i], formats)} as v{i}"
                                                              for i in range(width)])
    failed = {i: f"(c{i} <> '' and (v{i} is null{_lossy(f'c{i}', f'v{i}', kinds[i])}))" for i in typed}
    bad = (f"case when c{width} is not null then -2 when c{width - 1} is null then -1 "
           + "".join(f"when {failed[i]} then {i} " for i in typed) + "end")
    outer = ", ".join(f"v{i}" for i in range(width))
    return f"select {outer}, {bad} as __bad from (select {inner} from {scan})"


def _typed_batch(batch: pa.RecordBatch, names: list[str], kinds: list[str], formats: dict[str, str],
                 lines: np.ndarray, offsets: np.ndarray, index: _RecordIndex, where: dict,
                 rejections: list[Rejection] | None) -> pa.Table:
    width = len(names)
    table = pa.Table.from_arrays(batch.columns[:width], names=names)
    table = table.append_column(_SOURCE_ROW, _source_rows(lines))
    bad = batch.column(width)
    if bad.null_count == len(bad):
        return table
    for position in pc.indices_nonzero(pc.is_valid(bad)).to_pylist():  # Python work per bad row only
        code, line = bad[position].as_py(), int(lines[position])
        fields, raw = index.raw_record(int(offsets[position]))
        if code < 0:
            rejection = Rejection(line, None, _clip(raw), f"row has {_fields(len(fields))}, the header {width}")
        else:
            kind = kinds[code] + (f" (format {formats[kinds[code]]})" if kinds[code] in formats else "")
            raw = fields[code]
            shown = raw if len(raw) <= 100 else raw[:100] + "..."
            rejection = Rejection(line, names[code], _clip(raw), f"value {shown!r} is not a {kind}")
        if rejections is None:
            where_column = f"column {rejection.column}: " if rejection.column else ""
            detail = f": {rejection.value!r}" if rejection.column is None else ""
            raise IngestionError(f"cannot parse CSV: {where_column}{rejection.reason}{detail}", row=line, **where)
        rejections.append(rejection)
    return table.filter(pc.is_null(bad))


_FIELD = re.compile(r'"([^"]*(?:""[^"]*)*)"|([^,\r\n"]*)')


def _parse_record(text: str) -> tuple[list[str], int]:
    """The fields of the CSV record at the start of ``text`` and where it ends (a line break, or the end of text)."""
    fields, position = [], 0
    while True:
        match = _FIELD.match(text, position)
        assert match is not None  # the second branch matches the empty string
        quoted, plain = match.groups()
        fields.append(quoted.replace('""', '"') if quoted is not None else plain)
        position = match.end()
        if position < len(text) and text[position] == ",":
            position += 1
            continue
        if position < len(text) and text[position] == '"':  # cut short inside a quoted field: take the rest
            fields[-1] += text[position:]
            position = len(text)
        return fields, position


def _fields(count: int) -> str:
    return "1 field" if count == 1 else f"{count} fields"


class _RecordIndex:
    """Where each record of a UTF-8 CSV file starts (byte offset) and on which physical line, read with numpy in
    chunks: as far as the reader asks for, then (:meth:`start`) in a thread of its own a bounded way ahead of it, so
    that the scan overlaps DuckDB's (numpy lets go of the GIL). Checks on the way that the text is UTF-8 and that
    quotes are where CSV allows them (so that a record ends where DuckDB's parser ends it). A record ends at a line
    break (LF, CRLF, or CR) outside quotes; blank lines are not records, as for DuckDB."""

    def __init__(self, path: Path, where: dict) -> None:
        self.path, self.where = path, where
        self.handle = path.open("rb")
        bom = self.handle.read(3)
        self.base = 3 if bom == _BOM else 0  # file offset of the next byte to scan
        self.handle.seek(self.base)
        self.breaks = 0  # line breaks before self.base
        self.quotes = 0  # quote characters before self.base
        self.carry = b""  # a trailing CR or quote, held until the byte after it is known
        self.previous = 10  # the byte before self.base (a line break at the start of the file)
        self.open_start, self.open_line = self.base, 1  # the record not yet ended
        self.header_span: tuple[int, int] | None = None
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.starts: list[np.ndarray] = []
        self.lines: list[np.ndarray] = []
        self.ready = 0
        self.done = False
        self.quoted_breaks = False  # whether a line break inside quotes was seen
        self.too_long: int | None = None  # the first line of a record longer than DuckDB takes
        self.rereader: BinaryIO | None = None  # for the text of rejected records
        self.newline: str | None = None  # how the header line ends, as DuckDB writes it ('\\r\\n')
        # the scanning thread: it waits while `ready` is past the lookahead; the reader waits on it for records
        self.changed = threading.Condition()
        self.thread: threading.Thread | None = None
        self.wanted, self.stopping, self.error = 0, False, None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="csv-record-index", daemon=True)
        self.thread.start()

    def close(self) -> None:
        if self.thread is not None:
            with self.changed:
                self.stopping = True
                self.changed.notify_all()
            self.thread.join()
        self.handle.close()
        if self.rereader is not None:
            self.rereader.close()

    def _run(self) -> None:
        try:
            while not self.done:
                with self.changed:
                    self.changed.wait_for(lambda: self.stopping or self.ready < max(LOOKAHEAD_ROWS, self.wanted))
                    if self.stopping:
                        return
                self._scan()
                with self.changed:
                    self.changed.notify_all()
        except BaseException as error:  # handed to the reader, which raises it
            self.error = error
        finally:
            with self.changed:
                self.done = True
                self.changed.notify_all()

    def _wait(self, count: int) -> None:
        """Until ``count`` records are ready or the file is scanned; scanning here unless the thread does."""
        if self.thread is None:
            while self.ready < count and not self.done:
                self._scan()
            return
        with self.changed:
            self.wanted = count
            self.changed.notify_all()
            self.changed.wait_for(lambda: self.ready >= count or self.done)
        if self.error is not None:
            raise self.error

    def header(self) -> list[str]:
        while self.header_span is None and not self.done:
            self._scan()
        if self.header_span is None:
            raise IngestionError("file is empty (no header line)", **self.where)
        start, end = self.header_span
        with self.path.open("rb") as handle:
            handle.seek(start)
            raw = handle.read(end - start + 1)
        ending = raw[end - start:]
        self.newline = "\\r\\n" if ending == b"\n" and raw[-2:-1] == b"\r" else "\\n" if ending == b"\n" else (
            "\\r" if ending == b"\r" else None)
        text = raw[: end - start].decode("utf-8").rstrip("\r")
        header, _ = _parse_record(text)
        _check_delimiter(text, header, self.where)
        return header

    def has_data(self) -> bool:
        self._wait(1)
        return self.ready > 0

    def take(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The lines and offsets of the next ``count`` records."""
        self._wait(count)
        with self.changed:
            if self.ready < count:
                raise IngestionError("cannot parse CSV: DuckDB read more rows than the file has records; the line "
                                     "numbers cannot be trusted, so nothing is loaded", **self.where)
            starts, lines = np.concatenate(self.starts), np.concatenate(self.lines)
            self.starts, self.lines, self.ready = [starts[count:]], [lines[count:]], self.ready - count
            self.changed.notify_all()
        return lines[:count], starts[:count]

    def next_line(self) -> int | None:
        """The line of the first record not yet taken."""
        with self.changed:
            return next((int(lines[0]) for lines in self.lines if len(lines)), None)

    def scan_all(self) -> None:
        self._wait(sys.maxsize)

    def finish(self) -> None:
        self.scan_all()
        if self.ready:
            raise IngestionError(f"cannot parse CSV: DuckDB read {self.ready:,} rows fewer than the file has "
                                 f"records (the first missing one on line {self.next_line()}); nothing is loaded",
                                 **self.where)

    def raw_record(self, offset: int) -> tuple[list[str], str]:
        """The fields and the text of the record at ``offset``, as published (Python work, for a rejected row)."""
        if self.rereader is None:
            self.rereader = self.path.open("rb")
        size = 64 * 1024
        while True:
            self.rereader.seek(offset)
            data = self.rereader.read(size)
            text = data.decode("utf-8", "replace")
            fields, end = _parse_record(text)
            if end < len(text) or len(data) < size or size > MAX_LINE_BYTES:
                return fields, text[:end]
            size *= 4

    def _scan(self) -> None:
        chunk = self.handle.read(SCAN_BYTES)
        data, at_end = self.carry + chunk, not chunk
        self.carry = b""
        if not at_end and data[-1:] in (b'"', b"\r"):
            data, self.carry = data[:-1], data[-1:]
        try:
            self.decoder.decode(data, final=at_end)
        except UnicodeDecodeError as error:
            line = self.breaks + data[: error.start].count(b"\n") + 1
            around = data[max(0, error.start - files.SAMPLE_BYTES // 2): error.start + files.SAMPLE_BYTES // 2]
            raise files.encoding_error(around, line, self.where, None) from error
        if b"\x00" in data:
            raise files.zero_byte_error(self.breaks + data[: data.index(b"\x00")].count(b"\n") + 1, self.where)
        if data:
            self._records(data)
        if at_end:
            self._end()

    def _records(self, data: bytes) -> None:
        raw = np.frombuffer(data, dtype=np.uint8)
        breaks = np.flatnonzero(raw == 10)
        if b"\r" in data:  # a CR not followed by LF ends a line too (a CR at the chunk's end is the file's last byte)
            returns = np.flatnonzero(raw == 13)
            following = raw[np.minimum(returns + 1, raw.size - 1)]
            lone = returns[(following != 10) | (returns == raw.size - 1)]
            if lone.size:
                breaks = np.sort(np.concatenate([breaks, lone]))
        if b'"' in data:
            quotes = np.flatnonzero(raw == 34)
            self._check_quotes(raw, quotes, breaks)
            outside = ((np.searchsorted(quotes, breaks) + self.quotes) & 1) == 0
            self.quoted_breaks = self.quoted_breaks or not outside.all()
            self.quotes += quotes.size
        else:
            outside = np.full(breaks.size, self.quotes % 2 == 0)
            self.quoted_breaks = self.quoted_breaks or bool(self.quotes % 2 and breaks.size)
        ends = np.arange(breaks.size) if outside.all() else np.flatnonzero(outside)  # indices of record ends
        if ends.size:
            positions = breaks[ends] + self.base
            next_lines = self.breaks + ends + 2
            starts = np.concatenate([[self.open_start], positions[:-1] + 1])
            lines = np.concatenate([[self.open_line], next_lines[:-1]])
            self.open_start, self.open_line = int(positions[-1] + 1), int(next_lines[-1])
            self._add(starts, lines, positions, raw)
        self.breaks += breaks.size
        self.base += len(data)
        self.previous = data[-1]

    def _add(self, starts: np.ndarray, lines: np.ndarray, ends: np.ndarray, raw: np.ndarray) -> None:
        lengths = ends - starts
        if self.too_long is None and (lengths > MAX_LINE_BYTES).any():
            self.too_long = int(lines[np.argmax(lengths > MAX_LINE_BYTES)])
        local = starts - self.base
        inside = (local >= 0) & (local < raw.size)
        first = np.where(inside, raw[np.clip(local, 0, raw.size - 1)] if raw.size else 0, 0)
        blank = (lengths == 0) | ((lengths == 1) & (first == 13))
        if self.header_span is None:
            if blank[0]:
                raise IngestionError("cannot parse CSV: line 1 is empty; the header must be on line 1", row=1,
                                     **self.where)
            self.header_span = (int(starts[0]), int(ends[0]))
            starts, lines, blank = starts[1:], lines[1:], blank[1:]
        keep = ~blank
        if keep.any():
            kept_starts, kept_lines = starts[keep].astype(np.int64), lines[keep].astype(np.int64)
            with self.changed:
                self.starts.append(kept_starts)
                self.lines.append(kept_lines)
                self.ready += len(kept_starts)

    def _end(self) -> None:
        self.done = True
        if self.quotes % 2:
            raise IngestionError(f"cannot parse CSV: a quoted field is never closed (it opens on line "
                                 f"{self.open_line} or later)", row=self.open_line, **self.where)
        end = self.base
        if end > self.open_start:  # the last record has no line break after it
            self._add(np.array([self.open_start]), np.array([self.open_line]), np.array([end]), np.zeros(0, np.uint8))

    def _check_quotes(self, raw: np.ndarray, quotes: np.ndarray, breaks: np.ndarray) -> None:
        """An opening quote must start a field, a closing quote must end one (or be doubled)."""
        first = self.quotes & 1  # 1: the chunk starts inside a quoted field, its first quote closes it
        opening, closing = quotes[first::2], quotes[1 - first::2]
        padded = np.empty(raw.size + 2, dtype=np.uint8)  # padded[i] is raw[i - 1]
        padded[0], padded[1:-1], padded[-1] = self.previous, raw, 44  # past the chunk is the end of the file
        before, after = _QUOTE_NEIGHBOURS[padded[opening]], _QUOTE_NEIGHBOURS[padded[closing + 2]]
        if before.all() and after.all():
            return
        position = int(np.concatenate([opening[~before], closing[~after]]).min())
        line = self.breaks + int(np.searchsorted(breaks, position)) + 1
        start = int(breaks[breaks < position].max() + 1) if (breaks < position).any() else 0
        text = bytes(raw[start: start + 200]).decode("utf-8", "replace").split("\n")[0]
        raise IngestionError(f"cannot parse CSV: a quote character inside a field that is not quoted whole (or text "
                             f"after a closing quote): {text!r}; a field with quotes must be wrapped in quotes, "
                             "its quotes doubled", row=line, **self.where)


_QUOTE_NEIGHBOURS = np.zeros(256, dtype=bool)
_QUOTE_NEIGHBOURS[[10, 13, 34, 44]] = True  # line break, quote (a doubled quote), comma


def _check_first_line(path: Path, where: dict) -> None:
    """The delimiter, from the header line alone, before anything else reads the file: a ``;`` file must be told
    as such, not by whatever its quotes or field counts break first."""
    with path.open("rb") as handle:
        first = handle.readline(1024 * 1024)
    line = first.decode("utf-8", "replace").rstrip("\r\n")
    if line:
        _check_delimiter(line, _parse_record(line)[0], where)


def _check_delimiter(line: str, header: list[str], where: dict) -> None:
    """A header that splits better on another delimiter than the comma means a file this reader would misread."""
    unquoted = re.sub(r'"[^"]*"', "", line)
    commas = unquoted.count(",")
    counts = {delimiter: unquoted.count(delimiter) for delimiter in _DELIMITERS}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    if counts[best] and (len(header) == 1 or counts[best] > 2 * commas):
        raise IngestionError(f"cannot parse CSV: the delimiter looks like {best!r} ({_DELIMITERS[best]}), not a comma "
                             f"(line 1, the header: {_clip(line)!r}); this reader reads comma-separated files",
                             row=1, **where)


def _sql_text(value: str) -> str:
    return value.replace("'", "''")


def _first_line(error: Exception) -> str:
    """DuckDB's reason, without its long list of suggestions."""
    lines = []
    for line in str(error).strip().splitlines():
        if line.startswith(("The search space", "Possible fixes", "  file=", "  file =", "Original Line")) or len(
                lines) == 3:
            break
        lines.append(line.strip())
    return " ".join(lines) or type(error).__name__


# ----------------------------------------------------------------------------------------------------------- ZIP

def open_zip(path: Path, where: dict) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise IngestionError(f"cannot open the archive ({error})", **where) from error


def check_member_name(name: str, where: dict) -> None:
    """Refuse names that would escape an extraction folder: absolute paths, drive letters, ``..``."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", name):
        raise IngestionError("unsafe member name (absolute path or '..'): refusing to read the archive",
                             **{**where, "part": name})


def extract_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, folder: Path, max_bytes: int,
                   where: dict) -> Path:
    """Copy one member to ``folder``, stopping at ``max_bytes`` whatever the archive claims its size is."""
    where = {**where, "part": info.filename}
    check_member_name(info.filename, where)
    _check_member_info(info, max_bytes, where)
    target = folder / PurePosixPath(info.filename.replace("\\", "/")).name
    try:
        with archive.open(info) as source, target.open("wb") as sink:
            for chunk in files.bounded(source, max_bytes, where):
                sink.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError) as error:
        raise IngestionError(f"cannot extract member ({error})", **where) from error
    except IngestionError:
        target.unlink(missing_ok=True)
        raise
    return target
