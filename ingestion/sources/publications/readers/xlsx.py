"""XLSX workbooks read with python-calamine; what calamine does not say (error cells, hidden rows and columns,
merged ranges) found in the sheet's XML.

A table on a presentation-style sheet is found and read as :class:`SheetLayout` declares or the rules in
:mod:`layout` detect: title rows, a header of one or two rows, a units row, hidden columns and rows, group labels
written once (``fill_down``), blank separator rows, footnotes, note markers. Nothing is dropped without a reason in the
:class:`TableReport`, and a table's end is never guessed past rows that do not look like notes.
"""

from __future__ import annotations

import html
import itertools
import re
import xml.etree.ElementTree as ElementTree
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from python_calamine import CalamineError, CalamineWorkbook

from ingestion.errors import IngestionError, Where
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
    column_text,
)
from ingestion.sources.publications.readers.layout import (
    HEADER_SEARCH_ROWS,
    EndTracker,
    Merge,
    Row,
    SheetLayout,
    TableReport,
    detect_header,
    filled,
    is_header_like,
    is_units_row,
    join_header,
)

# ------------------------------------------------------------------------------------------------ opening a file


def open_workbook(path: Path, where: Where) -> CalamineWorkbook:
    """Open an .xlsx workbook; an encrypted, binary (.xls, .xlsb), OpenDocument or non-workbook file is refused
    with a message that says what it is."""
    _refuse_other_workbooks(path, where)
    try:
        return CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as error:
        raise IngestionError(f"cannot read the workbook ({error}); is it a valid .xlsx file?", **where) from error


def _refuse_other_workbooks(path: Path, where: Where) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(files.SAMPLE_BYTES)
    except OSError as error:
        raise IngestionError(f"cannot read the workbook ({error})", **where) from error
    if not head:
        raise IngestionError("file is empty (0 bytes), not a workbook", **where)
    if head.startswith(files.OLE2_MAGIC):
        if _file_contains(path, "EncryptedPackage".encode("utf-16-le")):
            raise IngestionError(
                "the workbook is encrypted (password-protected): it cannot be read; ask the "
                "publisher for a copy without a password",
                **where,
            )
        raise IngestionError(
            "the file is an old binary Excel workbook (.xls, an OLE2 compound file), not .xlsx; "
            "its error cells cannot be checked, so it is not read: save it as .xlsx",
            **where,
        )
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
            raise IngestionError("the file is an OpenDocument spreadsheet (.ods), not .xlsx: save it as .xlsx", **where)
        if "[Content_Types].xml" not in names:
            raise IngestionError(
                "the file is a ZIP archive but not an .xlsx workbook (no [Content_Types].xml)", **where
            )
        return
    text = head[:2000].lstrip(_BOM).lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text[:500]:
        raise IngestionError(
            "the file is an HTML page, not a workbook (an error page saved under the workbook's name?)", **where
        )
    kind = "text (a CSV file?)" if _looks_like_text(head) else f"bytes {head[:8].hex(' ')}"
    raise IngestionError(
        f"the file is not an .xlsx workbook (an .xlsx file is a ZIP archive starting with 'PK'); it starts with {kind}",
        **where,
    )


def _file_contains(path: Path, needle: bytes) -> bool:
    """Whether ``needle`` occurs in the file, read in chunks."""
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(files.CHUNK):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle) :]
    return False


def _looks_like_text(sample: bytes) -> bool:
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(sample) - 4:
            return False
    return b"\x00" not in sample


# ------------------------------------------------------------------------------------------------ reading a table


def read_xlsx_table(
    workbook: CalamineWorkbook,
    sheet: str,
    layout: SheetLayout,
    where: Where,
    chunk_rows: int = XLSX_CHUNK_ROWS,
    *,
    path: Path | None = None,
    rejections: list[Rejection] | None = None,
    report: TableReport | None = None,
) -> Iterator[tuple[pa.Table, int]]:
    """Yield ``(table of text columns [+ _notes] + _source_row, first source row)`` chunks of the table on ``sheet``.

    ``layout`` says where the table is (:class:`SheetLayout`; what it leaves out is detected): hidden columns are
    removed and hidden rows skipped; the header is declared (``header_row``, ``header_text``, ``range``) or detected
    below title rows (:func:`layout.detect_header`), over one or more rows; a units row under it is left out of the
    data; ``fill_down`` columns take the value above in their blanks; the table ends as ``table_end`` says, and a
    non-empty row below an ``auto`` end that is not a note fails the read. Every non-empty row from the header down
    is read or skipped with a reason, in ``report``. Error cells (``#DIV/0!`` ...), which calamine reads as blanks,
    are found in the sheet's XML (``path``, default the workbook's own path) and land as their error text, each
    appended to ``rejections`` as flagged. ``_source_row`` is the row's 1-based sheet row.
    """
    where = {**where, "part": sheet}
    report = report if report is not None else TableReport(sheet)
    view, rows = _open_view(workbook, sheet, layout, path, where)
    report.hidden_columns = view.hidden_letters
    notes = _NoteMarkers.compile(layout.note_markers, where)
    header, units_number, rows = _locate_header(rows, layout, view, report, where)
    names = _header_names(header, view, notes, report, where)
    unknown = [name for name in layout.fill_down if name not in names]
    if unknown:
        raise IngestionError(
            f"fill_down names {', '.join(unknown)}, which the table does not have; its columns are {', '.join(names)}",
            **where,
        )
    header_last = header[-1][0]
    chunk = _Chunk(names, view, notes, layout.fill_down, where)
    end = layout.table_end
    marker = (end.marker or "").strip().lower() if end.kind == "marker" else None
    tracker = EndTracker(end)
    pending: list[tuple[int, str]] = []  # empty rows: counted once a non-empty row comes after them
    offending: list[int] = []
    report.last_sheet_row = header_last
    for number, cells, errors, hidden in rows:
        if number <= header_last:
            continue
        cells_filled = [cell for cell in cells if cell not in (None, "")]
        empty = not cells_filled and not errors
        if not empty:
            _count_pending(pending, report)
            report.last_sheet_row = number
        if hidden:
            if empty:
                pending.append((number, "hidden"))
            else:
                report.skip("hidden")
                report.hidden_rows.append(number)
            continue
        if number == units_number:
            report.units = {
                names[index]: text
                for index, cell in enumerate(cells[: len(names)])
                if (text := cell_text(cell)) is not None
            }
            if empty:
                pending.append((number, "units"))
            else:
                report.skip("units")
            continue
        first = cells_filled[0] if cells_filled else None
        note = len(cells_filled) == 1 and isinstance(first, str) and not errors
        hit = marker is not None and isinstance(first, str) and first.strip().lower().startswith(marker)
        action = tracker.step(number, empty=empty, note=note, marker=hit)
        if empty:
            pending.append((number, action))
        elif action == "read":
            report.first_data_row = report.first_data_row or number
            chunk.add(number, cells, errors)
            if chunk.size >= chunk_rows:
                first_row = chunk.rows[0]
                yield chunk.table(rejections, report), first_row
        elif action == "not_notes":
            offending.append(number)
        else:
            report.skip(action)
    report.table_end_row = tracker.last_read
    if offending:
        many = len(offending) > 1
        raise IngestionError(
            f"{'rows' if many else 'row'} {_runs(offending)} below the table's end at row "
            f"{tracker.last_read or header_last} {'are not notes' if many else 'is not a note'}; "
            f"set table_end for this sheet (blank_rows(N), marker(text) or last_row) in the "
            f"publications config",
            row=offending[0],
            **where,
        )
    if marker is not None and not tracker.ended:
        raise IngestionError(
            f"table_end marker({end.marker}) is not found below the header (row {header_last}): "
            f"no row starts with it; correct table_end for this sheet in the publications config",
            **where,
        )
    if chunk.size:
        first_row = chunk.rows[0]
        yield chunk.table(rejections, report), first_row


def _count_pending(pending: list[tuple[int, str]], report: TableReport) -> None:
    for number, reason in pending:
        report.skip(reason)
        if reason == "hidden":
            report.hidden_rows.append(number)
    pending.clear()


def _runs(rows: list[int], shown: int = 5) -> str:
    """``[40, 41, 42, 52]`` -> ``'40-42 and 52'``; past ``shown`` runs, ``'... and N more'``."""
    runs: list[list[int]] = []
    for row in rows:
        if runs and row == runs[-1][1] + 1:
            runs[-1][1] = row
        else:
            runs.append([row, row])
    texts = [f"{a}-{b}" if b > a else str(a) for a, b in runs[:shown]]
    if len(runs) > shown:
        rest = sum(b - a + 1 for a, b in runs[shown:])
        return f"{', '.join(texts)} and {rest} more"
    return texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} and {texts[-1]}"


# --------------------------------------------------------------------------------------- the sheet as it is seen

SheetRow = tuple[int, Row, dict[int, str] | None, bool]  # sheet row, cells, error cells, hidden


@dataclass
class _View:
    """The sheet's columns the table may use: calamine's, less hidden ones and those outside ``range``."""

    positions: list[int] | None  # indexes into calamine's rows (None: all of them)
    columns: list[int]  # the 0-based sheet column of each cell of a seen row
    errors: dict[int, dict[int, str]]  # sheet row -> {index in a seen row: error text}
    hidden_rows: set[int]
    merges: list[Merge]  # in seen columns
    hidden_letters: list[str]
    bounds: tuple[int, int, int, int] | None  # range: first row, first column, last row, last column

    def letter(self, index: int) -> str:
        return _column_letters(self.columns[index]) if index < len(self.columns) else f"column {index + 1}"


_RANGE = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+):\$?([A-Za-z]{1,3})\$?(\d+)")


def _open_view(
    workbook: CalamineWorkbook, sheet: str, layout: SheetLayout, path: Path | None, where: Where
) -> tuple[_View, Iterator[SheetRow]]:
    try:
        sheet_rows = workbook.get_sheet_by_name(sheet)
        first_column = (sheet_rows.start or (0, 0))[1]  # rows come from the top, cells from the first used column
        width = sheet_rows.width
        numbered = enumerate(sheet_rows.iter_rows(), start=1)
    except CalamineError as error:
        raise IngestionError(f"cannot read sheet: {error}", **where) from error
    source = path or (Path(workbook.path) if workbook.path else None)
    if source is None:
        raise IngestionError("the workbook's path is needed to check its error cells", **where)
    facts = sheet_facts(source, sheet, where)
    bounds = None
    if layout.range:
        match = _RANGE.fullmatch(layout.range.strip())
        if match is None:
            raise IngestionError(f"range {layout.range!r} is not a cell range like 'A5:F40'", **where)
        bounds = (int(match[2]), _column_index(match[1]), int(match[4]), _column_index(match[3]))
        if bounds[0] > bounds[2] or bounds[1] > bounds[3]:
            raise IngestionError(f"range {layout.range!r} ends before it starts", **where)
    inside = [
        column
        for column in range(first_column, first_column + width)
        if bounds is None or bounds[1] <= column <= bounds[3]
    ]
    hidden = [column for column in inside if layout.skip_hidden_columns and facts.column_hidden(column)]
    columns = [column for column in inside if column not in set(hidden)] if hidden else inside
    positions = None if len(columns) == width else [column - first_column for column in columns]
    seen = {column: index for index, column in enumerate(columns)}
    errors = {}
    for row, cells in facts.errors.items():
        if bounds is None or bounds[0] <= row <= bounds[2]:
            kept = {seen[column]: text for column, text in cells.items() if column in seen}
            if kept:
                errors[row] = kept
    merges = []
    for first_row, first, last_row, last in facts.merges:
        indexes = [index for index, column in enumerate(columns) if first <= column <= last]
        if indexes:
            merges.append((first_row, indexes[0], last_row, indexes[-1]))
    view = _View(
        positions,
        columns,
        errors,
        facts.hidden_rows if layout.skip_hidden_rows else set(),
        merges,
        [_column_letters(column) for column in hidden],
        bounds,
    )
    return view, _seen_rows(numbered, view)


def _seen_rows(numbered: Iterator[tuple[int, Row]], view: _View) -> Iterator[SheetRow]:
    first, last = (view.bounds[0], view.bounds[2]) if view.bounds else (1, None)
    positions, errors, hidden = view.positions, view.errors, view.hidden_rows
    for number, row in numbered:
        if number < first:
            continue
        if last is not None and number > last:
            break
        cells = row if positions is None else [row[index] for index in positions]
        yield number, cells, errors.get(number), number in hidden


# ------------------------------------------------------------------------------------------------------ the header


def _locate_header(
    rows: Iterator[SheetRow], layout: SheetLayout, view: _View, report: TableReport, where: Where
) -> tuple[list[tuple[int, Row]], int | None, Iterator[SheetRow]]:
    """The header rows ((sheet row, cells)), the units row's number (or None) and the rows from the header on."""
    count = max(1, layout.header_rows)
    declared = layout.header_row is not None or layout.header_text is not None or layout.range is not None
    report.detected = {
        "header_row": "declared" if declared else "detected",
        "header_rows": "declared" if declared or count > 1 else "detected",
        "units_row": "declared" if layout.units_row is not None else "detected",
        "table_end": "declared" if layout.table_end.kind != "auto" else "detected",
    }
    buffer: list[SheetRow] = []
    if declared:
        first = layout.header_row or (view.bounds[0] if view.bounds and layout.header_text is None else None)
        wanted = (layout.header_text or "").strip().lower()
        for entry in rows:
            number, cells = entry[0], entry[1]
            if first is None and any(isinstance(cell, str) and cell.strip().lower() == wanted for cell in cells):
                first = number
            if first is None or number < first:
                continue
            buffer.append(entry)
            if number >= first + count and not entry[3]:
                break  # the header and the visible row under it
        if first is None:
            raise IngestionError(
                f"no row has a cell {layout.header_text!r} (header_text); correct header_text for "
                f"this sheet in the publications config",
                **where,
            )
        header = [(number, cells) for number, cells, _, _ in buffer if number < first + count]
        if not header or header[0][0] != first or not filled(header[0][1]):
            raise IngestionError(
                f"row {first} is empty; set header_row for this sheet in the publications config", **where
            )
        under = [(n, cells, errors) for n, cells, errors, hidden in buffer if n >= first + count and not hidden]
        units = bool(under) and (
            layout.units_row if layout.units_row is not None else is_units_row(under[0][1]) and not under[0][2]
        )
        units_number = under[0][0] if units else None
    else:
        for entry in rows:
            buffer.append(entry)
            if entry[0] >= HEADER_SEARCH_ROWS + count + 2:
                break
        visible = [(number, cells) for number, cells, _, hidden in buffer if not hidden]
        found = detect_header(visible, view.merges, count, layout.units_row)
        if found is None:
            candidates = [number for number, cells in visible if number <= HEADER_SEARCH_ROWS and is_header_like(cells)]
            if candidates:
                raise IngestionError(
                    f"the table has a header (row {candidates[-1]}) but no data rows under it",
                    row=candidates[-1],
                    **where,
                )
            raise IngestionError(
                f"no header row found in the first {HEADER_SEARCH_ROWS} rows; set header_row for "
                f"this sheet in the publications config",
                **where,
            )
        header = visible[found.first : found.first + found.rows]
        units_number = visible[found.first + found.rows][0] if found.units else None
    report.header_rows = [number for number, _ in header]
    report.units_row = units_number
    return header, units_number, itertools.chain(buffer, rows)


def _header_names(
    header: list[tuple[int, Row]], view: _View, notes: _NoteMarkers | None, report: TableReport, where: Where
) -> list[str]:
    """Snake-case names, one per column up to the last filled header cell (or the end of a merged range in the
    header); note markers cut from the texts."""
    cut: dict[int, str] = {}
    if notes is not None:
        edited = [(number, list(cells)) for number, cells in header]  # copies: the reader's rows stay as read
        for _, cells in edited:
            for index, cell in enumerate(cells):
                if isinstance(cell, str) and notes.search(cell):
                    markers, cells[index] = notes.split(cell)
                    cut[index] = " ".join(filter(None, [cut.get(index), *markers]))
        header = list(edited)
    texts: Row = header[0][1] if len(header) == 1 else list(join_header(header, view.merges))
    last = max((index for index, cell in enumerate(texts) if cell not in (None, "")), default=-1)
    numbers = {number for number, _ in header}
    last = max([last, *(merge[3] for merge in view.merges if merge[0] in numbers and merge[1] <= last)])
    if last < 0:
        raise IngestionError(
            f"row {header[0][0]} is empty; set header_row for this sheet in the publications config", **where
        )
    names = column_names(texts[: last + 1])
    report.header_notes = {names[index]: markers for index, markers in cut.items() if index < len(names)}
    return names


# ---------------------------------------------------------------------------------------------- building chunks


@dataclass
class _NoteMarkers:
    """Note markers (``[note 3]``) cut out of cell texts: found in bulk (Arrow's RE2), cut in Python only where
    found."""

    pattern: str
    finder: re.Pattern[str]
    cutter: re.Pattern[str]

    @classmethod
    def compile(cls, pattern: str | None, where: Where) -> _NoteMarkers | None:
        if not pattern:
            return None
        try:
            finder = re.compile(pattern, re.IGNORECASE)
            cutter = re.compile(rf"\s*(?:{pattern})", re.IGNORECASE)
            pc.match_substring_regex(pa.array([""]), pattern=pattern, ignore_case=True)
        except (re.error, pa.ArrowInvalid) as error:
            raise IngestionError(
                f"note_markers {pattern!r} is not a regular expression both Python and RE2 accept ({error})", **where
            ) from error
        return cls(pattern, finder, cutter)

    def search(self, text: str) -> bool:
        return self.finder.search(text) is not None

    def split(self, text: str) -> tuple[list[str], str | None]:
        """``'512.3 [note 3]'`` -> ``(['[note 3]'], '512.3')``."""
        markers = [match.group(0) for match in self.finder.finditer(text)]
        return markers, self.cutter.sub("", text).strip() or None

    def matching(self, values: pa.Array) -> np.ndarray:
        """Positions of the values holding a marker."""
        found = pc.match_substring_regex(values, pattern=self.pattern, ignore_case=True)
        if not pc.any(found).as_py():
            return np.empty(0, dtype=np.int64)
        return np.flatnonzero(found.fill_null(False).to_numpy(zero_copy_only=False))


class _Chunk:
    """The rows read since the last chunk, column by column, and the state carried from chunk to chunk."""

    def __init__(
        self, names: list[str], view: _View, notes: _NoteMarkers | None, fill_down: tuple[str, ...], where: Where
    ) -> None:
        self.names, self.view, self.notes, self.where = names, view, notes, where
        self.fill = [names.index(name) for name in fill_down]
        self.carry: dict[int, object] = {}  # fill-down column -> last value, across chunks
        self._reset()

    def _reset(self) -> None:
        self.cells: list[Row] = []  # as calamine gives them; made text a column at a time
        self.rows: list[int] = []
        self.errors: list[tuple[int, dict[int, str]]] = []

    @property
    def size(self) -> int:
        return len(self.rows)

    def add(self, number: int, cells: Row, errors: dict[int, str] | None) -> None:
        width = len(self.names)
        extra = [index for index in range(width, len(cells)) if cells[index] not in (None, "")]
        if extra:
            raise IngestionError(
                f"value {cells[extra[0]]!r} in column {self.view.columns[extra[0]] + 1} "
                f"({self.view.letter(extra[0])}) has no header",
                row=number,
                **self.where,
            )
        if errors:
            for index, text in sorted(errors.items()):
                if index >= width:
                    raise IngestionError(
                        f"spreadsheet error cell {text} in {self.view.letter(index)}{number} has no header",
                        row=number,
                        **self.where,
                    )
            self.errors.append((len(self.rows), errors))
        if len(cells) < width:  # calamine's rows span the used range; padded in case a row is shorter
            cells = [*cells, *[None] * (width - len(cells))]
        self.cells.append(cells)
        self.rows.append(number)

    def table(self, rejections: list[Rejection] | None, report: TableReport) -> pa.Table:
        """The chunk as a table: error cells put back as their text, note markers cut out into ``_notes``, blanks of
        fill-down columns filled (Python work per error or marked cell only)."""
        names = self.names
        columns: list[Sequence[object]] = [() for _ in names]
        if self.cells:  # rows to columns (zip stops at the shortest row: every row is at least as wide as names)
            columns[:] = list(zip(*self.cells, strict=False))[: len(names)]
        error_cells: dict[int, dict[int, str]] = {}  # column -> {position: error text}
        for position, errors in self.errors:
            for index, text in sorted(errors.items()):
                error_cells.setdefault(index, {})[position] = text
                if rejections is not None:
                    rejections.append(
                        Rejection(self.rows[position], names[index], text, f"spreadsheet error cell {text}", "flagged")
                    )
        for index, cells in error_cells.items():
            values = list(columns[index])
            for position, text in cells.items():
                values[position] = text
            columns[index] = values
        arrays = [column_text(values) for values in columns]
        notes_column = None
        if self.notes is not None:
            row_notes: dict[int, list[str]] = {}
            for index, array in enumerate(arrays):
                positions = self.notes.matching(array)
                if not len(positions):
                    continue
                shown: list[str | None] = array.to_pylist()
                for position in positions.tolist():
                    markers, shown[position] = self.notes.split(shown[position] or "")
                    row_notes.setdefault(position, []).extend(f"{names[index]}: {marker}" for marker in markers)
                report.notes_found += len(positions)
                arrays[index] = pa.array(shown, type=pa.string())
            notes_list: list[str | None] = [None] * self.size
            for position, entries in row_notes.items():
                notes_list[position] = "; ".join(entries)
            notes_column = pa.array(notes_list, type=pa.string())
        for index in self.fill:
            values = pc.fill_null_forward(arrays[index])
            if values.null_count and self.carry.get(index) is not None:
                values = pc.fill_null(values, self.carry[index])  # only leading blanks are left
            if len(values) and values[-1].is_valid:
                self.carry[index] = values[-1].as_py()
            arrays[index] = values
        table = pa.table(dict(zip(names, arrays, strict=True)))
        if notes_column is not None:
            table = table.append_column("_notes", notes_column)
        table = table.append_column(_SOURCE_ROW, _source_rows(np.asarray(self.rows, dtype=np.int64)))
        report.rows_read += self.size
        self._reset()
        return table


def _column_letters(index: int) -> str:
    """0 -> ``A``, 27 -> ``AB``."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _column_index(letters: str) -> int:
    """``A`` -> 0, ``AB`` -> 27."""
    column = 0
    for letter in letters.upper():
        column = column * 26 + ord(letter) - 64
    return column - 1


# ------------------------------------------------------------------------------------------- what a sheet holds

_NOTES_SHEET = re.compile(r"note|content|read\s*me|about|glossary|definition|guidance|metadata", re.IGNORECASE)
_LABEL_VALUE = re.compile(r"[^:\n]{1,30}:\s*\S")  # "Publication date: 12 October 2025"


def classify_sheet(workbook: CalamineWorkbook, sheet: str, path: Path) -> str:
    """What ``sheet`` looks like, for ``inspect``: ``table``, ``cover``, ``notes`` or ``junk``. Looks at the first
    rows only, hidden columns and rows left out; checked in this order:

    - ``junk``: nothing in it;
    - ``notes``: its name says notes, contents, readme, about, glossary, definitions, guidance or metadata;
    - ``table``: a header is detected as the reader would (:func:`layout.detect_header`) with three or more columns
      or three or more rows of data under it;
    - ``cover``: it starts with a title (one text cell of two or more words), holds at most 40 cells, no row has
      more than two, and it is the title alone or at least half the rows under the title are a label and a value
      (two cells, or one cell ``Label: value`` with a label of at most 30 characters): a title page;
    - ``notes``: two or more rows, at least half of them one text cell;
    - ``junk``: anything else (a few stray cells).
    """
    where: Where = {"file": path.name, "part": sheet}
    view, rows = _open_view(workbook, sheet, SheetLayout(), path, where)
    visible = [
        (number, cells) for number, cells, _, hidden in itertools.islice(rows, HEADER_SEARCH_ROWS + 3) if not hidden
    ]
    nonempty = [filled(cells) for _, cells in visible if filled(cells)]
    total = sum(len(cells) for cells in nonempty)
    if not total:
        return "junk"
    if _NOTES_SHEET.search(sheet):
        return "notes"
    found = detect_header(visible, view.merges)
    if found is not None:
        last = found.first + found.rows - 1
        width = len(filled(visible[last][1]))
        data = 0
        for _, cells in visible[last + 1 + found.units :]:
            if len(filled(cells)) < 2:
                break
            data += 1
        if width >= 3 or data >= 3:
            return "table"
    first = nonempty[0]
    titled = len(first) == 1 and isinstance(first[0], str) and len(first[0].split()) >= 2
    labelled = sum(
        len(cells) == 2 or (isinstance(cells[0], str) and _LABEL_VALUE.match(cells[0]) is not None)
        for cells in nonempty[1:]
    )
    if titled and total <= 40 and all(len(cells) <= 2 for cells in nonempty) and labelled * 2 >= len(nonempty) - 1:
        return "cover"
    one_cell = sum(len(cells) == 1 and isinstance(cells[0], str) for cells in nonempty)
    if len(nonempty) >= 2 and one_cell * 2 >= len(nonempty):
        return "notes"
    return "junk"


# ---------------------------------------------------------------------------------------- the sheet's XML facts
# What calamine does not say, found by a bulk regex scan of the sheet's XML part, streamed out of the archive in
# chunks (only the matches cost Python), with or without a namespace prefix:
# error cells  <c r="B5" t="e"><f>1/0</f><v>#DIV/0!</v></c>
# hidden rows  <row r="7" hidden="1">          hidden columns  <cols><col min="6" max="7" hidden="1"/></cols>
# merged cells <mergeCell ref="C3:D3"/>
_ERROR_CELL = re.compile(rb"<(?:[\w.-]+:)?c\s([^>]*?\bt\s*=\s*[\"']e[\"'][^>]*?)(/?)>")
_CELL_END = re.compile(rb"</(?:[\w.-]+:)?c>")
_CELL_VALUE = re.compile(rb"<(?:[\w.-]+:)?v(?:\s[^>]*)?>([^<]*)<")
_CELL_REF = re.compile(rb"\br\s*=\s*[\"']\$?([A-Za-z]{1,3})\$?(\d+)[\"']")
_ROW_CLOSE = re.compile(rb"</(?:[\w.-]+:)?\Z")
_HIDDEN = rb"\bhidden\s*=\s*[\"'](?:1|[Tt]rue)[\"']"
_HIDDEN_ROW = re.compile(rb"<(?:[\w.-]+:)?row\s([^>]*?" + _HIDDEN + rb"[^>]*)>")
_HIDDEN_COLUMN = re.compile(rb"<(?:[\w.-]+:)?col\s([^>]*?" + _HIDDEN + rb"[^>]*)>")
_ROW_NUMBER = re.compile(rb"(?:^|\s)r\s*=\s*[\"'](\d+)[\"']")
_MIN = re.compile(rb"(?:^|\s)min\s*=\s*[\"'](\d+)[\"']")
_MAX = re.compile(rb"(?:^|\s)max\s*=\s*[\"'](\d+)[\"']")
_MERGE = re.compile(
    rb"<(?:[\w.-]+:)?mergeCell\s[^>]*?\bref\s*=\s*[\"']\$?([A-Za-z]{1,3})\$?(\d+)"
    rb"(?::\$?([A-Za-z]{1,3})\$?(\d+))?[\"']"
)


@dataclass
class SheetFacts:
    """What a sheet's XML says that calamine does not: error cells, hidden rows and columns, merged ranges."""

    errors: dict[int, dict[int, str]] = field(default_factory=dict)  # row -> {column index (0 = A): error text}
    hidden_rows: set[int] = field(default_factory=set)  # 1-based
    hidden_columns: list[tuple[int, int]] = field(default_factory=list)  # 0-based first, last column of each range
    merges: list[Merge] = field(default_factory=list)  # (first row, first column, last row, last column)

    def column_hidden(self, column: int) -> bool:
        return any(first <= column <= last for first, last in self.hidden_columns)


def sheet_error_cells(path: Path, sheet: str, where: Where) -> dict[int, dict[int, str]]:
    """``{row: {column index (0 = A): error text}}`` of the error cells of ``sheet`` in the .xlsx at ``path``."""
    return sheet_facts(path, sheet, where).errors


def sheet_facts(path: Path, sheet: str, where: Where) -> SheetFacts:
    """The :class:`SheetFacts` of ``sheet`` in the .xlsx at ``path``, in one streamed scan of its XML."""
    facts = SheetFacts()
    where = {**where, "part": sheet}
    try:
        with zipfile.ZipFile(path) as archive:
            part = _sheet_part(archive, sheet)
            if part is None:
                raise IngestionError(
                    "cannot find the sheet's XML part in the workbook, so its error cells cannot be checked", **where
                )
            with archive.open(part) as stream:
                carry = b""
                while True:
                    chunk = stream.read(SCAN_BYTES)
                    buffer = carry + chunk
                    if chunk:  # keep an unfinished row for the next chunk
                        cut = _last_row_end(buffer)
                        buffer, carry = buffer[:cut], buffer[cut:]
                    _collect_facts(buffer, facts, where)
                    if not chunk:
                        break
    except (zipfile.BadZipFile, OSError, KeyError, EOFError, zlib.error) as error:
        raise IngestionError(f"cannot read the workbook's XML to check error cells ({error})", **where) from error
    return facts


def _last_row_end(buffer: bytes) -> int:
    """Where the last ``</row>`` (or ``</x:row>``) of the buffer ends; 0 if there is none."""
    position = buffer.rfind(b"row>")
    while position != -1:
        if _ROW_CLOSE.search(buffer, max(0, position - 40), position):
            return position + 4
        position = buffer.rfind(b"row>", 0, position)
    return 0


def _collect_facts(buffer: bytes, facts: SheetFacts, where: Where) -> None:
    if b'"e"' in buffer or b"'e'" in buffer:
        _collect_error_cells(buffer, facts.errors, where)
    if b"hidden" in buffer:
        for match in _HIDDEN_ROW.finditer(buffer):
            number = _ROW_NUMBER.search(match.group(1))
            if number is not None:
                facts.hidden_rows.add(int(number.group(1)))
        for match in _HIDDEN_COLUMN.finditer(buffer):
            first, last = _MIN.search(match.group(1)), _MAX.search(match.group(1))
            if first is not None:
                facts.hidden_columns.append((int(first.group(1)) - 1, int((last or first).group(1)) - 1))
    if b"mergeCell" in buffer:
        for match in _MERGE.finditer(buffer):
            first_row, first_column = int(match.group(2)), _column_index(match.group(1).decode())
            last_row = int(match.group(4)) if match.group(4) else first_row
            last_column = _column_index(match.group(3).decode()) if match.group(3) else first_column
            facts.merges.append((first_row, first_column, last_row, last_column))


def _collect_error_cells(buffer: bytes, found: dict[int, dict[int, str]], where: Where) -> None:
    for match in _ERROR_CELL.finditer(buffer):
        reference = _CELL_REF.search(match.group(1))
        if reference is None:
            raise IngestionError(
                "the sheet has a spreadsheet error cell without a cell reference; its position cannot be known", **where
            )
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
