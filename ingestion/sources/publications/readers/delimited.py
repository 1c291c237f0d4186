"""CSV text read by DuckDB in bulk, with a record index for true line numbers."""

from __future__ import annotations

import codecs
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.errors import IngestionError, Where
from ingestion.sources.publications import files
from ingestion.sources.publications.readers.common import (
    _BOM,
    _DELIMITERS,
    _NULL_TEXT,
    _SOURCE_ROW,
    CSV_BATCH_ROWS,
    LOOKAHEAD_ROWS,
    MAX_LINE_BYTES,
    SAMPLE_ROWS,
    SCAN_BYTES,
    Rejection,
    _clip,
    _source_rows,
    column_names,
)
from ingestion.sources.publications.schema import TYPE_NAME

# ----------------------------------------------------------------------------------------------------------- CSV


def read_csv_batches(
    path: Path,
    types: dict[str, str],
    where: Where,
    *,
    encoding: str | None = None,
    rejections: list[Rejection] | None = None,
    batch_rows: int = CSV_BATCH_ROWS,
) -> Iterator[tuple[pa.Table, int]]:
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
        yield from read_text_csv(utf8, types, where, rejections, batch_rows)


def read_text_csv(
    path: Path, types: dict[str, str], where: Where, rejections: list[Rejection] | None, batch_rows: int
) -> Iterator[tuple[pa.Table, int]]:
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


def _failure(error: Exception, index: _RecordIndex, doing: str, where: Where) -> IngestionError:
    """Our account of a DuckDB failure first (the line, what is wrong with it), DuckDB's own words after."""
    index.scan_all()  # raises itself on a problem it knows better: encoding, quotes
    if index.too_long is not None:
        return IngestionError(
            f"{doing}: line {index.too_long} is longer than {MAX_LINE_BYTES // 2**20} MiB, the "
            f"longest record this reader takes; DuckDB says: {_first_line(error)}",
            row=index.too_long,
            **where,
        )
    line = index.next_line()
    at = " at this line or after it" if line else ""
    return IngestionError(f"{doing}{at}; DuckDB says: {_first_line(error)}", row=line, **where)


def _column_types(
    connection: duckdb.DuckDBPyConnection,
    path: Path,
    header: list[str],
    names: list[str],
    types: dict[str, str],
    index: _RecordIndex,
    where: Where,
) -> tuple[list[str], dict[str, str]]:
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
                raise IngestionError(
                    f"types: {kind!r} (pinned for column {name}) is not a DuckDB type ({_first_line(error)})", **where
                ) from error
            kinds[position] = kind.upper()
    formats = {"DATE": date_format or "", "TIMESTAMP": timestamp_format or ""}
    return kinds, {kind: text for kind, text in formats.items() if text and text not in ("%Y-%m-%d",)}


_CANDIDATE_TYPES = ("BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "BOOLEAN")


def _inferred_types(
    connection: duckdb.DuckDBPyConnection, path: Path, width: int, index: _RecordIndex, where: Where
) -> list[str]:
    """The first of :data:`_CANDIDATE_TYPES` every sampled value of a column casts to (VARCHAR if none does, or if
    the column is empty), over the first rows that have as many fields as the header. One SQL aggregate."""
    checks = [
        f"bool_and(c{i} = '' or not (try_cast(c{i} as {kind}) is null"
        f"{_lossy(f'c{i}', f'try_cast(c{i} as {kind})', kind)}))"
        for i in range(width)
        for kind in _CANDIDATE_TYPES
    ] + [f"count(nullif(c{i}, ''))" for i in range(width)]
    for parallel in (not index.quoted_breaks, False):
        sample = f"select * from {_scan(path, width, parallel)} limit {SAMPLE_ROWS}"
        try:
            [answers] = connection.execute(
                f"select {', '.join(checks)} from ({sample}) where c{width} is null and c{width - 1} is not null"
            ).fetchall()
            break
        except duckdb.Error as error:
            if not (parallel and "parallel=false" in str(error)):
                raise _failure(error, index, "cannot parse CSV: the column types cannot be inferred", where) from error
    fits, filled = answers[: width * len(_CANDIDATE_TYPES)], answers[width * len(_CANDIDATE_TYPES) :]
    kinds = []
    for i in range(width):
        own = fits[i * len(_CANDIDATE_TYPES) : (i + 1) * len(_CANDIDATE_TYPES)]
        kinds.append(
            next((kind for kind, fit in zip(_CANDIDATE_TYPES, own, strict=True) if fit and filled[i]), "VARCHAR")
        )
    return kinds


def _cast(column: str, kind: str, formats: dict[str, str]) -> str:
    value = f"nullif({column}, '')"
    if kind == "VARCHAR":
        return value
    if kind in formats:
        return f"cast(try_strptime({value}, '{_sql_text(formats[kind])}') as {kind})"
    return f"try_cast({value} as {kind})"


_WHOLE_NUMBERS = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "INT",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "INT1",
    "INT2",
    "INT4",
    "INT8",
    "LONG",
    "SHORT",
)


def _lossy(text: str, value: str, kind: str) -> str:
    """SQL that is true where the cast changed the value, which DuckDB's casts do: ``'1.5'`` -> BIGINT 2, ``'12.345'``
    -> DECIMAL(5,1) 12.3, ``'2025-01-02 10:00'`` -> DATE 2025-01-02. Such a value is a type failure, not a number."""
    if kind in _WHOLE_NUMBERS:  # only digits (and a zero fraction): '15e-1', '1e-3', '0x1F' are no whole numbers
        return f" or not regexp_full_match({text}, '\\s*[+-]?[0-9]+(\\.0*)?\\s*')"
    if kind.startswith(("DECIMAL", "NUMERIC")):
        return f" or (contains({text}, '.') and {value} <> try_cast({text} as DOUBLE))"
    if kind == "DATE":
        return f" or contains({text}, ':')"
    return ""


def _scan(path: Path, width: int, parallel: bool) -> str:
    """DuckDB's scan of the file with every field as text: ``c0`` ... and one overflow column ``c<width>``; a short
    row is padded with null (an empty field reads as ``''``, never null), a long one fills the overflow column."""
    fields = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width + 1))
    return (
        f"read_csv('{_sql_text(str(path))}', header = true, auto_detect = false, delim = ',', quote = '\"', "
        f"escape = '\"', strict_mode = false, null_padding = true, parallel = {str(parallel).lower()}, "
        f"nullstr = '{_NULL_TEXT}', max_line_size = {MAX_LINE_BYTES}, buffer_size = {2 * MAX_LINE_BYTES}, "
        f"columns = {{{fields}}})"
    )


def _typed_query(path: Path, width: int, kinds: list[str], formats: dict[str, str], parallel: bool) -> str:
    """The scan cast in SQL. ``__bad`` is null for a row that fits: -2 too many fields, -1 too few, else the index of
    the first value that is not its column's type."""
    scan = _scan(path, width, parallel)
    typed = [i for i, kind in enumerate(kinds) if kind != "VARCHAR"]
    inner = ", ".join(
        [f"c{i}" for i in range(width + 1)] + [f"{_cast(f'c{i}', kinds[i], formats)} as v{i}" for i in range(width)]
    )
    failed = {i: f"(c{i} <> '' and (v{i} is null{_lossy(f'c{i}', f'v{i}', kinds[i])}))" for i in typed}
    bad = (
        f"case when c{width} is not null then -2 when c{width - 1} is null then -1 "
        + "".join(f"when {failed[i]} then {i} " for i in typed)
        + "end"
    )
    outer = ", ".join(f"v{i}" for i in range(width))
    return f"select {outer}, {bad} as __bad from (select {inner} from {scan})"


def _typed_batch(
    batch: pa.RecordBatch,
    names: list[str],
    kinds: list[str],
    formats: dict[str, str],
    lines: np.ndarray,
    offsets: np.ndarray,
    index: _RecordIndex,
    where: Where,
    rejections: list[Rejection] | None,
) -> pa.Table:
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

    def __init__(self, path: Path, where: Where) -> None:
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
        self.wanted, self.stopping = 0, False
        self.error: BaseException | None = None  # what the scanning thread raised, for the reader to raise

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
        ending = raw[end - start :]
        self.newline = (
            "\\r\\n"
            if ending == b"\n" and raw[-2:-1] == b"\r"
            else "\\n"
            if ending == b"\n"
            else ("\\r" if ending == b"\r" else None)
        )
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
                raise IngestionError(
                    "cannot parse CSV: DuckDB read more rows than the file has records; the line "
                    "numbers cannot be trusted, so nothing is loaded",
                    **self.where,
                )
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
            raise IngestionError(
                f"cannot parse CSV: DuckDB read {self.ready:,} rows fewer than the file has "
                f"records (the first missing one on line {self.next_line()}); nothing is loaded",
                **self.where,
            )

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
            around = data[max(0, error.start - files.SAMPLE_BYTES // 2) : error.start + files.SAMPLE_BYTES // 2]
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
                raise IngestionError(
                    "cannot parse CSV: line 1 is empty; the header must be on line 1", row=1, **self.where
                )
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
            raise IngestionError(
                f"cannot parse CSV: a quoted field is never closed (it opens on line {self.open_line} or later)",
                row=self.open_line,
                **self.where,
            )
        end = self.base
        if end > self.open_start:  # the last record has no line break after it
            self._add(np.array([self.open_start]), np.array([self.open_line]), np.array([end]), np.zeros(0, np.uint8))

    def _check_quotes(self, raw: np.ndarray, quotes: np.ndarray, breaks: np.ndarray) -> None:
        """An opening quote must start a field, a closing quote must end one (or be doubled)."""
        first = self.quotes & 1  # 1: the chunk starts inside a quoted field, its first quote closes it
        opening, closing = quotes[first::2], quotes[1 - first :: 2]
        padded = np.empty(raw.size + 2, dtype=np.uint8)  # padded[i] is raw[i - 1]
        padded[0], padded[1:-1], padded[-1] = self.previous, raw, 44  # past the chunk is the end of the file
        before, after = _QUOTE_NEIGHBOURS[padded[opening]], _QUOTE_NEIGHBOURS[padded[closing + 2]]
        if before.all() and after.all():
            return
        position = int(np.concatenate([opening[~before], closing[~after]]).min())
        line = self.breaks + int(np.searchsorted(breaks, position)) + 1
        start = int(breaks[breaks < position].max() + 1) if (breaks < position).any() else 0
        text = bytes(raw[start : start + 200]).decode("utf-8", "replace").split("\n")[0]
        raise IngestionError(
            f"cannot parse CSV: a quote character inside a field that is not quoted whole (or text "
            f"after a closing quote): {text!r}; a field with quotes must be wrapped in quotes, "
            "its quotes doubled",
            row=line,
            **self.where,
        )


_QUOTE_NEIGHBOURS = np.zeros(256, dtype=bool)
_QUOTE_NEIGHBOURS[[10, 13, 34, 44]] = True  # line break, quote (a doubled quote), comma


def _check_first_line(path: Path, where: Where) -> None:
    """The delimiter, from the header line alone, before anything else reads the file: a ``;`` file must be told
    as such, not by whatever its quotes or field counts break first."""
    with path.open("rb") as handle:
        first = handle.readline(1024 * 1024)
    line = first.decode("utf-8", "replace").rstrip("\r\n")
    if line:
        _check_delimiter(line, _parse_record(line)[0], where)


def _check_delimiter(line: str, header: list[str], where: Where) -> None:
    """A header that splits better on another delimiter than the comma means a file this reader would misread."""
    unquoted = re.sub(r'"[^"]*"', "", line)
    commas = unquoted.count(",")
    counts = {delimiter: unquoted.count(delimiter) for delimiter in _DELIMITERS}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    if counts[best] and (len(header) == 1 or counts[best] > 2 * commas):
        raise IngestionError(
            f"cannot parse CSV: the delimiter looks like {best!r} ({_DELIMITERS[best]}), not a comma "
            f"(line 1, the header: {_clip(line)!r}); this reader reads comma-separated files",
            row=1,
            **where,
        )


def _sql_text(value: str) -> str:
    return value.replace("'", "''")


def _first_line(error: Exception) -> str:
    """DuckDB's reason, without its long list of suggestions."""
    lines: list[str] = []
    for line in str(error).strip().splitlines():
        if (
            line.startswith(("The search space", "Possible fixes", "  file=", "  file =", "Original Line"))
            or len(lines) == 3
        ):
            break
        lines.append(line.strip())
    return " ".join(lines) or type(error).__name__
