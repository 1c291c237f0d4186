"""XLSX workbooks read with python-calamine; error cells found in the sheet's XML."""

from __future__ import annotations

import html
import itertools
import re
import xml.etree.ElementTree as ElementTree
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
from python_calamine import CalamineError, CalamineWorkbook

from ingestion.errors import IngestionError
from ingestion.sources.publications import files
from ingestion.sources.publications.readers.common import (
    _BOM,
    _SOURCE_ROW,
    SCAN_BYTES,
    XLSX_CHUNK_ROWS,
    Rejection,
    _source_rows,
    cell_text,
    column_names,
)

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


