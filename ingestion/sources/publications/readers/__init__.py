"""Readers that turn release files into Arrow tables, streaming: calamine for XLSX, DuckDB for CSV, zipfile for ZIP.

XLSX table cells land as text: a spreadsheet column mixes numbers with suppression markers (``[c]``), so bronze
keeps exactly what was published and the staging models cast it. A spreadsheet error cell (``#DIV/0!``, ``#N/A``)
keeps its error text and is reported as flagged, never turned into a blank. A table on a presentation-style sheet
(title rows, a units row, hidden columns and rows, group labels written once, blank separators, footnotes, note
markers) is read as its :class:`SheetLayout` declares or the rules in ``layout`` detect, and a :class:`TableReport`
says what was done with every non-empty row: read, or skipped with a reason; rows below a table's end that do not
look like notes fail the read instead of being dropped. CSV columns keep the types the file means
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

from ingestion.sources.publications.readers.archive import (
    check_member_name,
    extract_member,
    open_zip,
    read_zip_member_batches,
)
from ingestion.sources.publications.readers.common import (
    CSV_BATCH_ROWS,
    XLSX_CHUNK_ROWS,
    Rejection,
    cell_text,
    column_names,
    column_text,
    snake_case,
)
from ingestion.sources.publications.readers.delimited import read_csv_batches
from ingestion.sources.publications.readers.layout import (
    DEFAULT_NOTE_MARKERS,
    SheetLayout,
    TableEnd,
    TableReport,
)
from ingestion.sources.publications.readers.xlsx import (
    SheetFacts,
    classify_sheet,
    open_workbook,
    read_xlsx_table,
    sheet_error_cells,
    sheet_facts,
)

__all__ = [
    "CSV_BATCH_ROWS",
    "DEFAULT_NOTE_MARKERS",
    "XLSX_CHUNK_ROWS",
    "Rejection",
    "SheetFacts",
    "SheetLayout",
    "TableEnd",
    "TableReport",
    "cell_text",
    "check_member_name",
    "classify_sheet",
    "column_names",
    "column_text",
    "extract_member",
    "open_workbook",
    "open_zip",
    "read_csv_batches",
    "read_xlsx_table",
    "read_zip_member_batches",
    "sheet_error_cells",
    "sheet_facts",
    "snake_case",
]
