"""What every reader shares: rejected rows, column names, cell text, source rows."""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


def column_names(header: Sequence[object]) -> list[str]:
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


_SPACE = "".join(chr(code) for code in range(0x110000) if chr(code).isspace())  # what str.strip() takes away
_EXACT_FLOATS = 2.0**63  # below this an integral float is exactly an int64
_AS_IS = {bool: pa.bool_(), int: pa.int64(), dt.date: pa.date32()}  # Arrow's text of these is cell_text's


def column_text(values: Sequence[object]) -> pa.Array:
    """:func:`cell_text` of a column of cells, built by Arrow: Python work only for the cells Arrow cannot show
    the same way (text beside numbers, times, floats Python writes in exponent notation)."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    kind = kinds.pop() if len(kinds) == 1 else None
    if not kinds and kind in (None, str):
        trimmed = pc.utf8_trim(pa.array(values, type=pa.string()), characters=_SPACE)
        return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    if not kinds and kind is float:
        return _float_text(pa.array(values, type=pa.float64()))
    if not kinds and kind in _AS_IS:
        with contextlib.suppress(OverflowError, pa.ArrowInvalid):  # an int beyond int64: shown by Python below
            return pa.array(values, type=_AS_IS[kind]).cast(pa.string())
    # numbers with blanks ('') or markers ('[c]') between them, times: Python for what is not a float
    floats = pa.array([value if type(value) is float else None for value in values], type=pa.float64())
    others = pa.array([None if type(value) is float else cell_text(value) for value in values], type=pa.string())
    return pc.coalesce(others, _float_text(floats))


def _float_text(array: pa.Array) -> pa.Array:
    """Integral floats as integers (``12.0`` -> ``'12'``); others as Python's ``repr`` (the shortest text that
    reads back the same, as Arrow writes it too, except where Python switches to exponent notation)."""
    magnitude = pc.abs(array)
    integral = pc.and_(pc.equal(pc.floor(array), array), pc.less(magnitude, _EXACT_FLOATS))
    whole = pc.if_else(integral, array, pa.scalar(None, pa.float64())).cast(pa.int64()).cast(pa.string())
    fraction = pc.if_else(integral, pa.scalar(None, pa.float64()), array)
    text = pc.coalesce(whole, fraction.cast(pa.string()))
    python = pc.or_(  # Python's exponent notation, and what Arrow writes as one; infinities; huge integers
        pc.or_(pc.less(magnitude, 1e-4), pc.greater_equal(magnitude, 1e16)),
        pc.match_substring(text, "e"),
    )
    python = pc.and_(pc.and_(python, pc.invert(integral)), pc.not_equal(magnitude, 0.0))
    positions = np.flatnonzero(python.fill_null(False).to_numpy(zero_copy_only=False))
    if not len(positions):
        return text
    exact = [cell_text(value) for value in array.take(pa.array(positions)).to_pylist()]
    return pc.replace_with_mask(text, python.fill_null(False), pa.array(exact, type=pa.string()))


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
