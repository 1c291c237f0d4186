"""Readers that turn release files into Arrow tables, streaming: calamine for XLSX, DuckDB for CSV, zipfile for ZIP.

XLSX table cells land as text: a spreadsheet column mixes numbers with suppression markers (``[c]``), so bronze
keeps exactly what was published and the staging models cast it. CSV columns keep the types the file means
(integers stay integers, dates stay dates), inferred by DuckDB's reader and pinnable in the config.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import duckdb
import pyarrow as pa
from python_calamine import CalamineError, CalamineWorkbook

from ingestion.errors import IngestionError

XLSX_CHUNK_ROWS = 50_000
CSV_BATCH_ROWS = 250_000
_NON_WORD = re.compile(r"[^0-9a-z]+")


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


# ---------------------------------------------------------------------------------------------------------- XLSX

def open_workbook(path: Path, where: dict) -> CalamineWorkbook:
    try:
        return CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as error:
        raise IngestionError(f"cannot read the workbook ({error}); is it a valid .xlsx file?", **where) from error


def _filled(row: list[object]) -> list[object]:
    return [cell for cell in row if cell not in (None, "")]


def _is_header(row: list[object], following: list[object] | None) -> bool:
    cells = _filled(row)
    return (len(cells) >= 2 and all(isinstance(cell, str) for cell in cells)
            and following is not None and len(_filled(following)) >= 2)


def read_xlsx_table(workbook: CalamineWorkbook, sheet: str, header_row: int | None, where: dict,
                    chunk_rows: int = XLSX_CHUNK_ROWS) -> Iterator[tuple[pa.Table, int]]:
    """Yield ``(table of text columns, first source row)`` chunks of the table on ``sheet``.

    The header is ``header_row`` (1-based) or the first row of two or more text cells followed by a row with data;
    the table ends at the first empty row, so footnotes below it are not data.
    """
    where = {**where, "part": sheet}
    try:
        rows = workbook.get_sheet_by_name(sheet)
        numbered: Iterator[tuple[int, list[object]]] = enumerate(rows.iter_rows(), start=1)  # rows from the top
    except CalamineError as error:
        raise IngestionError(f"cannot read sheet: {error}", **where) from error
    header, data_rows = _find_header(numbered, header_row)
    if header is None or not _filled(header):
        detail = f"row {header_row} is empty" if header_row else "no header row found in the first 200 rows"
        raise IngestionError(f"{detail}; set header_row for this sheet in the publications config", **where)

    names = column_names(header[: _last_filled(header) + 1])
    width = len(names)
    columns: list[list[str | None]] = [[] for _ in names]
    chunk_start = None
    for number, data in data_rows:
        if not _filled(data):
            break  # end of table: what follows a blank row is a footnote
        extra = [index for index in range(width, len(data)) if data[index] not in (None, "")]
        if extra:
            raise IngestionError(f"value {data[extra[0]]!r} in column {extra[0] + 1} has no header", row=number,
                                 **where)
        chunk_start = chunk_start or number
        for index in range(width):
            columns[index].append(cell_text(data[index]) if index < len(data) else None)
        if len(columns[0]) >= chunk_rows:
            yield _text_table(names, columns), chunk_start
            chunk_start, columns = None, [[] for _ in names]
    if columns[0]:
        yield _text_table(names, columns), chunk_start or 0


def _find_header(numbered: Iterator[tuple[int, list[object]]],
                 header_row: int | None) -> tuple[list[object] | None, Iterator[tuple[int, list[object]]]]:
    """The header row and an iterator over the rows after it."""
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
        previous = row
    return None, numbered


def _last_filled(row: list[object]) -> int:
    return max(index for index, cell in enumerate(row) if cell not in (None, ""))


def _text_table(names: list[str], columns: list[list[str | None]]) -> pa.Table:
    return pa.table({name: pa.array(values, type=pa.string()) for name, values in zip(names, columns, strict=True)})


# ----------------------------------------------------------------------------------------------------------- CSV

def read_csv_batches(path: Path, types: dict[str, str], where: dict,
                     batch_rows: int = CSV_BATCH_ROWS) -> Iterator[tuple[pa.Table, int]]:
    """Yield ``(typed table, first source line)`` batches, streamed by DuckDB's CSV reader (header on line 1)."""
    connection = duckdb.connect()
    try:
        # an explicit dialect and strict mode: a ragged row is an error, never a silent one-column table
        options = ["header = true", "auto_detect = true", "sample_size = 100000", "delim = ','", "quote = '\"'",
                   "strict_mode = true"]
        # the config may pin columns that only some periods have; DuckDB rejects unknown names, so pin the known
        known = _csv_columns(connection, path, where)
        pinned = {name: kind for name, kind in types.items() if name in known}
        if pinned:
            options.append("types = {" + ", ".join(f"'{_sql_text(k)}': '{_sql_text(v)}'" for k, v in pinned.items())
                           + "}")
        query = f"select * from read_csv('{_sql_text(str(path))}', {', '.join(options)})"
        reader = connection.sql(query).to_arrow_reader(batch_rows)
        line = 2
        for batch in reader:
            table = pa.Table.from_batches([batch])
            yield table.rename_columns(column_names(table.column_names)), line
            line += batch.num_rows
    except duckdb.Error as error:
        raise IngestionError(f"cannot parse CSV: {_first_line(error)}", **where) from error
    finally:
        connection.close()


def _csv_columns(connection: duckdb.DuckDBPyConnection, path: Path, where: dict) -> set[str]:
    try:
        described = connection.execute(
            f"describe select * from read_csv('{_sql_text(str(path))}', header = true)").fetchall()
    except duckdb.Error as error:
        raise IngestionError(f"cannot parse CSV: {_first_line(error)}", **where) from error
    return {row[0] for row in described}


def _sql_text(value: str) -> str:
    return value.replace("'", "''")


def _first_line(error: Exception) -> str:
    """DuckDB's reason, without its long list of suggestions."""
    lines = []
    for line in str(error).strip().splitlines():
        if line.startswith(("The search space", "Possible fixes", "  file=", "Original Line")) or len(lines) == 3:
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
    if info.file_size > max_bytes:
        raise IngestionError(f"member is {info.file_size:,} bytes uncompressed, over the limit of {max_bytes:,}",
                             **where)
    target = folder / PurePosixPath(info.filename.replace("\\", "/")).name
    written = 0
    try:
        with archive.open(info) as source, target.open("wb") as sink:
            while chunk := source.read(1024 * 1024):
                written += len(chunk)
                if written > max_bytes:
                    raise IngestionError(f"member inflates past the limit of {max_bytes:,} bytes", **where)
                sink.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise IngestionError(f"cannot extract member ({error})", **where) from error
    return target
