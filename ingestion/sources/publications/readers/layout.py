"""How a table sits on a presentation-style sheet, and what the reader found there.

:class:`SheetLayout` is what the publications config declares for a sheet (every setting optional: what is not
declared is detected where it safely can be). :class:`TableReport` is what the reader found: which rows were the
header and units, which columns and rows were hidden, where the table ended, and how many rows it read and skipped,
and why. The report goes to the manifest, so a load can always say what it did with every non-empty row.

Below them are the pure rules the XLSX reader applies, apart from any file format: what a units row, a note and a
title look like, where a header is (:func:`detect_header`), how a header of several rows becomes one name per column
(:func:`join_header`), and where a table ends (:class:`EndTracker`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

EndKind = Literal["auto", "blank_rows", "marker", "last_row"]


@dataclass(frozen=True)
class TableEnd:
    """Where a table ends.

    - ``auto``: at a blank row followed only by notes (rows of one text cell: footnotes, sources) or by nothing;
      a blank row followed by more data is a separator inside the table. Non-empty rows below the end that do not
      look like notes fail the read, naming them.
    - ``blank_rows(N)``: at N consecutive blank rows; what follows is not read (counted as ``after_end``).
    - ``marker(text)``: at the first row whose first non-empty cell starts with ``text`` (case-insensitive).
    - ``last_row``: at the sheet's last non-empty row; blank rows inside are skipped.
    """

    kind: EndKind = "auto"
    blank_rows: int = 1
    marker: str | None = None

    def __str__(self) -> str:
        if self.kind == "blank_rows":
            return f"blank_rows({self.blank_rows})"
        if self.kind == "marker":
            return f"marker({self.marker})"
        return self.kind


@dataclass(frozen=True)
class SheetLayout:
    """Where a table is on its sheet, as declared (``None`` = detect)."""

    header_row: int | None = None  # 1-based first header row; None: detected
    header_rows: int = 1  # rows the header spans; their texts are joined into one name per column. With 1 and a
    # detected header, a two-row header with merged group labels above is still detected (see detect_header)
    header_text: str | None = None  # the (first) header row is the first row (at or after range) with a cell equal
    # to this, case-insensitive
    range: str | None = None  # "A5:F40": only these rows and columns are the table's
    units_row: bool | None = None  # the row under the header holds units; None: detected
    skip_hidden_columns: bool = True
    skip_hidden_rows: bool = True
    fill_down: tuple[str, ...] = ()  # bronze column names whose blanks take the value above (group labels)
    table_end: TableEnd = field(default_factory=TableEnd)
    note_markers: str | None = None  # a regex; matches are cut from cell values into the row's _notes column


@dataclass
class TableReport:
    """What the reader did with a table's sheet: every non-empty row is read or skipped with a reason."""

    sheet: str
    header_rows: list[int] = field(default_factory=list)  # 1-based sheet rows
    units_row: int | None = None
    units: dict[str, str] = field(default_factory=dict)  # bronze column -> units text ("(£ thousands)")
    hidden_columns: list[str] = field(default_factory=list)  # column letters skipped as hidden
    hidden_rows: list[int] = field(default_factory=list)  # rows skipped as hidden
    rows_read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows: blank, notes, units, hidden, after_end
    first_data_row: int | None = None
    table_end_row: int | None = None  # the last row of the table
    last_sheet_row: int | None = None  # the last non-empty row of the sheet
    detected: dict[str, str] = field(default_factory=dict)  # setting -> "detected" | "declared"
    notes_found: int = 0  # cells whose note markers went to _notes
    header_notes: dict[str, str] = field(default_factory=dict)  # bronze column -> markers cut from its header text

    def skip(self, reason: str, rows: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + rows


# ------------------------------------------------------------------------------------------------- the pure rules
# Decisions about rows, apart from any file format: a row is a list of cell values as the workbook reader gives them
# (str, float, int, bool, date, or None / "" for a blank), already without hidden or out-of-range columns. A merged
# range is ``(first_row, first_column, last_row, last_column)``: 1-based sheet rows, 0-based columns of those rows.

DEFAULT_NOTE_MARKERS = r"\[note \d+\]"  # what ``note_markers: true`` means: "[note 3]", case-insensitive
HEADER_SEARCH_ROWS = 200  # a detected header is in the sheet's first 200 rows (of its range)

Row = Sequence[object]  # read only: the reader's own row lists are passed as they are
Merge = tuple[int, int, int, int]

# A units row (the row under a header saying what its figures count) holds, in every filled cell, either a short
# parenthesised text, "(thousands)", "(£ thousands)", "(number)", "(%)", or one of these unit words (case-insensitive):
# a currency sign alone or scaled (£, $, €, £000, £000s, £k, £m, £bn, £ thousands, £ millions); a scale alone
# (000s, thousands, millions, billions); %, per cent, percent, percentage; number(s), count, ratio, index, rate;
# "per N" or "rate per N" with up to two words after ("rate per 1,000", "per 100,000 population");
# days, weeks, months, years, hours, minutes. Nothing numeric: a row with a number in it is data.
UNIT_PARENTHESISED = re.compile(r"\([^()]{1,40}\)")
UNIT_WORDS = re.compile(
    r"""
      [£$€]\s?(?:000s?|k|m|bn|thousands?|millions?|billions?)?
    | (?:000s?|thousands?|millions?|billions?)
    | %|per\s?cent|percent(?:age)?
    | numbers?|count|ratio|index|rate
    | (?:rate\s+)?per\s+[\d,.]+(?:\s+[a-z]+){0,2}
    | days|weeks|months|years|hours|minutes
""",
    re.IGNORECASE | re.VERBOSE,
)


def filled(row: Row) -> list[object]:
    """The row's non-blank cells."""
    return [cell for cell in row if cell not in (None, "")]


def looks_like_units(text: str) -> bool:
    """``'(£ thousands)'``, ``'%'``, ``'rate per 1,000'``: see :data:`UNIT_WORDS`."""
    text = text.strip()
    return bool(UNIT_PARENTHESISED.fullmatch(text) or UNIT_WORDS.fullmatch(text))


def is_units_row(row: Row) -> bool:
    """At least one filled cell, none numeric, each a unit: the row under a header that says what it counts."""
    cells = filled(row)
    return bool(cells) and all(isinstance(cell, str) and looks_like_units(cell) for cell in cells)


def is_note_row(row: Row) -> bool:
    """Exactly one non-blank cell, and it is text: a footnote, "Source: ...", "Notes", "1. Figures are ...".

    (The reader also requires the row to hold no spreadsheet error cell.)"""
    cells = filled(row)
    return len(cells) == 1 and isinstance(cells[0], str)


def is_header_like(row: Row) -> bool:
    """Two or more filled cells, all text."""
    cells = filled(row)
    return len(cells) >= 2 and all(isinstance(cell, str) for cell in cells)


def _span(row: Row) -> tuple[int, int] | None:
    """The first and last filled column of the row."""
    indexes = [index for index, cell in enumerate(row) if cell not in (None, "")]
    return (indexes[0], indexes[-1]) if indexes else None


def _merges_in_row(merges: list[Merge], number: int) -> list[Merge]:
    return [merge for merge in merges if merge[0] <= number <= merge[2]]


def is_title_row(row: Row, number: int, merges: list[Merge], width: tuple[int, int]) -> bool:
    """One filled cell that is not merged, or whose merge covers the table's whole ``width`` (first, last column):
    a title above the table, not a group label over some of its columns."""
    cells = [index for index, cell in enumerate(row) if cell not in (None, "")]
    if len(cells) != 1:
        return False
    merge = next((m for m in _merges_in_row(merges, number) if m[1] <= cells[0] <= m[3]), None)
    return merge is None or (merge[1] <= width[0] and merge[3] >= width[1])


@dataclass(frozen=True)
class HeaderFound:
    """Where a header was found in a list of rows: positions in that list, not sheet rows."""

    first: int  # position of the first header row
    rows: int  # header rows
    units: bool  # the row under the header is a units row


def units_under(rows: list[tuple[int, Row]], last: int, units_row: bool | None) -> bool:
    """Whether the row after position ``last`` is a units row: as declared, or detected with :func:`is_units_row`."""
    if units_row is not None:
        return units_row and last + 1 < len(rows)
    return last + 1 < len(rows) and is_units_row(rows[last + 1][1])


def header_at(
    rows: list[tuple[int, Row]],
    merges: list[Merge],
    first: int,
    count: int,
    units_row: bool | None,
    *,
    grouped: bool = False,
) -> HeaderFound | None:
    """Whether rows ``first`` .. ``first + count - 1`` of ``rows`` ((sheet row, cells), consecutive visible rows) are
    a header with data under it: the last header row has two or more text cells; each upper row is filled and not a
    title; the row under the header (past a units row) has two or more filled cells. ``grouped``: the first upper
    row must also hold a merged range of two or more columns inside the table's width (a group label)."""
    last = first + count - 1
    if last >= len(rows) or not is_header_like(rows[last][1]):
        return None
    if count > 1 and is_units_row(rows[last][1]):
        return None  # the lower row is the units row under a one-row header
    width = _span(rows[last][1])
    assert width is not None
    for number, row in rows[first:last]:
        if not filled(row) or is_title_row(row, number, merges, width):
            return None
    if grouped and not any(
        m[3] > m[1] and m[1] >= width[0] and m[3] <= width[1] for m in _merges_in_row(merges, rows[first][0])
    ):
        return None
    units = units_under(rows, last, units_row)
    data = last + 1 + units
    if data >= len(rows) or len(filled(rows[data][1])) < 2:
        return None
    return HeaderFound(first, count, units)


def detect_header(
    rows: list[tuple[int, Row]], merges: list[Merge], header_rows: int = 1, units_row: bool | None = None
) -> HeaderFound | None:
    """The first header in ``rows`` (the sheet's first rows, visible ones only, blank ones included).

    A header is the first row of two or more text cells whose next row (past a units row) has two or more filled
    cells; title rows (one cell, often merged), blank rows and notes above it are passed over. With ``header_rows``
    1 (not declared otherwise), a two-row header is taken where it is safe: the upper row holds a merged range of
    two or more columns inside the table's width (a group label over its columns) and is not a one-cell title,
    and the lower row is a header with data under it. A declared ``header_rows`` N takes N rows: the last a header,
    the ones above filled and not titles."""
    for first in range(len(rows)):
        if rows[first][0] > HEADER_SEARCH_ROWS:
            break
        if header_rows == 1 and (found := header_at(rows, merges, first, 2, units_row, grouped=True)):
            return found
        if found := header_at(rows, merges, first, header_rows, units_row):
            return found
    return None


def join_header(rows: list[tuple[int, Row]], merges: list[Merge]) -> list[str | None]:
    """One text per column from a header of one or more rows ((sheet row, cells)): the upper rows' text carries right
    across the blank cells of its merged range, and the texts of a column are joined top to bottom with a space."""
    width = max(len(row) for _, row in rows)
    parts: list[list[str]] = [[] for _ in range(width)]
    for position, (number, row) in enumerate(rows):
        texts = [_text(cell) for cell in row] + [None] * (width - len(row))
        if position < len(rows) - 1:  # an upper row: carry across its merged ranges
            for first_row, first_column, _, last_column in _merges_in_row(merges, number):
                label = _text(row[first_column]) if first_row == number and first_column < len(row) else None
                for column in range(first_column, min(last_column, width - 1) + 1):
                    if texts[column] is None and label is not None:
                        texts[column] = label
        for column, text in enumerate(texts):
            if text is not None:
                parts[column].append(text)
    return [" ".join(column) if column else None for column in parts]


def _text(cell: object) -> str | None:
    if cell is None or cell == "":
        return None
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip() or None


class EndTracker:
    """Decides, row by row under a header, what each row is under a :class:`TableEnd`.

    :meth:`step` returns ``read`` (a table row), ``blank`` (a blank row: a separator inside the table, or a blank
    row below it), ``notes`` (a note-like row below the end, ``auto``), ``after_end`` (below a declared end), or
    ``not_notes`` (a row below an ``auto`` end that is not a note: the read must fail, naming it)."""

    def __init__(self, end: TableEnd) -> None:
        self.end = end
        self.ended = False
        self.blank_run = 0
        self.last_read: int | None = None

    def step(self, number: int, *, empty: bool, note: bool, marker: bool = False) -> str:
        kind = self.end.kind
        if self.ended:
            if kind in ("blank_rows", "marker"):
                return "after_end"
            if empty:
                return "blank"
            return "notes" if note else "not_notes"
        if empty:
            self.blank_run += 1
            if kind == "blank_rows" and self.blank_run >= max(1, self.end.blank_rows):
                self.ended = True
            return "blank"
        if kind == "marker" and marker:
            self.ended = True
            return "after_end"
        if kind == "auto" and self.blank_run and note:
            self.ended = True  # a blank row, then a note: the table ended at the blank row
            return "notes"
        self.blank_run = 0
        self.last_read = number
        return "read"
