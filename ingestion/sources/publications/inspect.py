"""``ingestion inspect``: look at a release file the way the loader will, and write its config entry.

For an XLSX workbook, CSV file or ZIP of CSVs just downloaded, :func:`inspect_file` classifies each sheet or member
(table, cover, notes, junk), reads each table with the same readers and detection as a load (header and units rows,
hidden columns and rows, where the table ends, note markers, labels to fill down), and :func:`config_entry` writes
a ``publications.yml`` entry that, pasted unchanged, loads the file. It turns "write a config" into "check one".
"""

from __future__ import annotations

import functools
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import yaml
from python_calamine import CalamineWorkbook

from ingestion import paths
from ingestion.errors import IngestionError, Where
from ingestion.sources.publications import files, readers
from ingestion.sources.publications.calendar import Calendar, Frequency
from ingestion.sources.publications.readers.common import snake_case
from ingestion.sources.publications.readers.layout import SheetLayout, TableReport
from ingestion.sources.publications.settings import DEFAULT_JUNK, DEFAULT_NOTE_MARKERS, DEFAULT_NOTES, PartSpec

PREVIEW_ROWS = 5
_INTEGER = r"^-?\d+$"
_DECIMAL = r"^-?\d+(\.\d+)?$"
_MARKER = r"^\[[a-z]\]$|^\*$|^\.\.$|^-$"  # suppression markers publications use: [c] [x] [z] * .. -
# Periods in file names, most specific first: 2016-17 (financial year), 2025-Q1, 2025-03, 2025.
_PERIOD_PATTERNS = (
    (Frequency.FINANCIAL_YEAR, re.compile(r"(?<!\d)(?P<period>(?P<year>\d{4})-(?P<next>\d{2}))(?!\d)")),
    (Frequency.QUARTERLY, re.compile(r"(?<!\d)(?P<period>\d{4}-Q[1-4])(?!\d)", re.IGNORECASE)),
    (Frequency.MONTHLY, re.compile(r"(?<!\d)(?P<period>\d{4}-(0[1-9]|1[0-2]))(?!\d)")),
    (Frequency.ANNUAL, re.compile(r"(?<!\d)(?P<period>(19|20)\d{2})(?!\d)")),
)


@dataclass
class InspectedPart:
    """A sheet, member or CSV file as the loader sees it."""

    name: str
    kind: str  # sheet | member | file
    classification: str  # table | cover | notes | junk | ignored
    report: TableReport | None = None
    columns: dict[str, str] = field(default_factory=dict)  # bronze column -> inferred type
    preview: list[dict] = field(default_factory=list)
    rows: int = 0
    error: str | None = None
    settings: dict = field(default_factory=dict)  # what the config entry needs beyond the defaults
    hints: list[str] = field(default_factory=list)
    table: pa.Table | None = field(default=None, repr=False)  # every row read


@dataclass
class Inspection:
    path: Path
    format: str  # xlsx | csv | zip
    parts: list[InspectedPart]
    period: str | None
    frequency: Frequency | None
    folder: str = ""  # where the file came from: its local folder, or the URL's (a period in it becomes {period})

    @property
    def tables(self) -> list[InspectedPart]:
        return [part for part in self.parts if part.classification == "table"]

    @property
    def unreadable(self) -> list[InspectedPart]:
        return [part for part in self.tables if part.error]

    @property
    def readable(self) -> bool:
        """The file has at least one table and every table reads: the entry it prints will load."""
        return bool(self.tables) and not self.unreadable


def detect_period(name: str) -> tuple[str | None, Frequency | None]:
    """The period a file name carries and its frequency: ``x-2016-17.xlsx`` -> ``2016-17``, financial year."""
    for frequency, pattern in _PERIOD_PATTERNS:
        for match in pattern.finditer(name):
            if frequency is Frequency.FINANCIAL_YEAR and int(match["next"]) != (int(match["year"]) + 1) % 100:
                continue
            period = match["period"].upper() if frequency is Frequency.QUARTERLY else match["period"]
            return period, frequency
    return None, None


def file_format(path: Path) -> str:
    """xlsx, zip or csv, from the content (a name can lie)."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                return "xlsx" if "[Content_Types].xml" in archive.namelist() else "zip"
        except zipfile.BadZipFile:
            return "zip"
    return "csv" if path.suffix.lower() != ".xlsx" else "xlsx"


def inspect_source(source: str, preview_rows: int = PREVIEW_ROWS) -> Inspection:
    """:func:`inspect_file` on a local path, or on an http(s) URL downloaded first (into the data folder's cache)."""
    if files.is_url(source):
        folder, _, name = source.rstrip("/").rpartition("/")
        release = files.fetch(folder, name, paths.data_dir() / "cache" / "inspect", publication="inspect", period="-")
        return inspect_file(release.path, preview_rows, folder=folder)
    path = Path(source)
    if not path.is_file():
        raise IngestionError(f"no such file: {path}")
    return inspect_file(path, preview_rows)


def inspect_file(path: Path, preview_rows: int = PREVIEW_ROWS, *, folder: str | None = None) -> Inspection:
    """Every sheet or member of ``path`` with its classification, layout, columns and first rows. ``folder``: where
    the file came from when that is not ``path``'s folder (the URL folder of a downloaded file)."""
    fmt = file_format(path)
    folder = folder or str(path.resolve().parent)
    period, frequency = detect_period(path.name)
    if period is None:  # the name has no period, its folder may (releases/2023-24/payments-2324.xlsx)
        period, frequency = detect_period(folder.rstrip("/").rsplit("/", 1)[-1])
    where: Where = {"file": path.name}
    if fmt == "xlsx":
        parts = _inspect_workbook(path, where, preview_rows)
    elif fmt == "zip":
        parts = _inspect_archive(path, where, preview_rows)
    else:
        part = InspectedPart(path.name, "file", "table")
        _read_into(part, lambda: readers.read_csv_batches(path, {}, where, rejections=[]), preview_rows)
        parts = [part]
    return Inspection(path, fmt, parts, period, frequency, folder)


def _inspect_workbook(path: Path, where: Where, preview_rows: int) -> list[InspectedPart]:
    workbook = readers.open_workbook(path, where)
    parts = []
    for sheet in workbook.sheet_names:
        part = InspectedPart(sheet, "sheet", readers.classify_sheet(workbook, sheet, path))
        if part.classification == "table":
            _inspect_sheet(part, workbook, path, where, preview_rows)
        parts.append(part)
    return parts


def _inspect_sheet(
    part: InspectedPart, workbook: CalamineWorkbook, path: Path, where: Where, preview_rows: int
) -> None:
    """Read the sheet as a load would, with note markers cut; then say which settings the entry needs."""
    layout = SheetLayout(note_markers=DEFAULT_NOTE_MARKERS)
    part.report = TableReport(part.name)
    _read_into(
        part,
        lambda: readers.read_xlsx_table(
            workbook, part.name, layout, where, path=path, rejections=[], report=part.report
        ),
        preview_rows,
    )
    report = part.report
    if part.error is not None:
        if "below the table's end" in part.error:
            part.hints.append(
                "rows below the table are not notes: set table_end (blank_rows(N), marker(text) or "
                "last_row) once you know where the table ends"
            )
        return
    if report.notes_found:
        part.settings["note_markers"] = True
    else:
        part.columns.pop("_notes", None)
        for row in part.preview:
            row.pop("_notes", None)
    if len(report.header_rows) > 1:
        part.settings["header_rows"] = len(report.header_rows)
    fill = _fill_down_candidates(part)
    if fill:  # read again as the entry will: labels carried down
        part.settings["fill_down"] = fill
        layout = SheetLayout(note_markers=DEFAULT_NOTE_MARKERS if report.notes_found else None, fill_down=tuple(fill))
        part.report = TableReport(part.name)
        _read_into(
            part,
            lambda: readers.read_xlsx_table(
                workbook, part.name, layout, where, path=path, rejections=[], report=part.report
            ),
            preview_rows,
        )


def _fill_down_candidates(part: InspectedPart) -> list[str]:
    """Text columns that look like group labels: filled on the first data row, blank on at least a third of the
    rows, and never the only filled cell of a row."""
    table = part.table
    if table is None or table.num_rows < 3:
        return []
    found = []
    for name in table.column_names:
        if name.startswith("_") or part.columns.get(name) != "text":
            continue
        column = table.column(name)
        blanks = column.null_count
        if column[0].is_valid and blanks * 3 >= table.num_rows and blanks < table.num_rows:
            found.append(name)
    return found[:1]  # the leftmost: deeper levels are rarer, and easy to add


def _inspect_archive(path: Path, where: Where, preview_rows: int) -> list[InspectedPart]:
    parts = []
    with readers.open_zip(path, where) as archive:
        names = [info.filename for info in archive.infolist()]
    for member in names:
        if any(PartSpec(pattern, "junk", None).matches(member) for pattern in DEFAULT_JUNK):
            parts.append(InspectedPart(member, "member", "junk"))
        elif any(PartSpec(pattern, "notes", None).matches(member) for pattern in DEFAULT_NOTES):
            parts.append(InspectedPart(member, "member", "notes"))
        elif member.lower().endswith((".csv", ".tsv")):
            part = InspectedPart(member, "member", "table")
            _read_into(
                part,
                functools.partial(readers.read_zip_member_batches, path, member, 4 * 1024**3, {}, where, rejections=[]),
                preview_rows,
            )
            parts.append(part)
        else:
            parts.append(InspectedPart(member, "member", "ignored"))
    return parts


def _read_into(part: InspectedPart, read: Callable[[], Iterable[tuple[pa.Table, int]]], preview_rows: int) -> None:
    """Read every batch (counting rows, inferring types over all of them), keep the first rows as a preview."""
    tables: list[pa.Table] = []
    try:
        for table, _ in read():
            tables.append(table)
    except IngestionError as error:
        part.error = str(error)
        return
    if not tables:
        part.hints.append("no data rows in this release (a header at most)")
        return
    table = pa.concat_tables(tables, promote_options="permissive")
    part.rows = table.num_rows
    part.table = table
    part.columns = {name: _type_of(table.column(name)) for name in table.column_names if name != "_source_row"}
    part.preview = table.slice(0, preview_rows).to_pylist()


def _type_of(column: pa.ChunkedArray) -> str:
    """integer, decimal, date or text; a text column whose values are numbers but for suppression markers is
    'number with markers' (it lands as text; staging casts it)."""
    if pa.types.is_integer(column.type):
        return "integer"
    if pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
        return "decimal"
    if pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
        return "date"
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        return str(column.type)
    values = pc.drop_null(pc.utf8_trim_whitespace(column))
    if len(values) == 0:
        return "text"
    integer = pc.sum(pc.match_substring_regex(values, _INTEGER)).as_py() or 0
    decimal = pc.sum(pc.match_substring_regex(values, _DECIMAL)).as_py() or 0
    markers = pc.sum(pc.match_substring_regex(values, _MARKER)).as_py() or 0
    if integer + markers == len(values) and integer:
        return "integer" + (" with markers" if markers else "")
    if decimal + markers == len(values) and decimal:
        return "decimal" + (" with markers" if markers else "")
    return "text"


# -- the config entry -------------------------------------------------------------------------------------------


def _template(name: str, period: str | None, frequency: Frequency | None) -> str:
    """The file name with its period as a template part: {period}, else {fy_short} (2324) or {yyyy}."""
    if period is None:
        return name
    if period in name:
        return name.replace(period, "{period}", 1)
    for part, value in Calendar(frequency or Frequency.MONTHLY).parts(period).items():
        if part in ("fy_short", "yyyy") and value in name:
            return name.replace(value, "{" + part + "}", 1)
    return name


def config_entry(inspection: Inspection, publication: str | None = None) -> str:
    """A ``publications.yml`` entry (under ``publications:``) that loads the inspected file as it is."""
    path = inspection.path.resolve()
    period, frequency = inspection.period, inspection.frequency
    stem = (
        snake_case(
            re.sub(re.escape(period), "", path.stem)
            if period and period in path.stem
            else re.sub(r"\d{4}", "", path.stem)
        )
        or "publication"
    )
    name = publication or stem
    parent, _, last = inspection.folder.rstrip("/").rpartition("/")
    folder = f"{parent}/{{period}}" if period and last == period else inspection.folder
    if period is None:
        raise IngestionError(
            "the file name carries no period (2025-03, 2025-Q1, 2025, 2016-17), so a release "
            "per period cannot be declared from it; rename it with its period and inspect again",
            file=path.name,
        )
    periods: dict = {"frequency": str(frequency), "first": period, "last": period}
    entry: dict = {
        "title": f"{path.stem} (from ingestion inspect)",
        "periods": periods,
        "location": folder,
        "files": [_file_entry(inspection, name)],
    }
    if frequency is Frequency.MONTHLY:
        periods.pop("frequency")
    Calendar(frequency or Frequency.MONTHLY).check(period)
    return yaml.safe_dump({name: entry}, sort_keys=False, allow_unicode=True, width=120)


def _file_entry(inspection: Inspection, publication: str) -> dict:
    fmt = inspection.format
    entry: dict = {"name": _template(inspection.path.name, inspection.period, inspection.frequency), "format": fmt}
    tables = [part for part in inspection.parts if part.classification == "table" and part.error is None]
    if fmt == "csv":
        entry["table"] = publication
        return entry
    if fmt == "xlsx":
        sheets = []
        for part in inspection.parts:
            if part.classification == "table" and part.error is None:
                sheets.append({"match": part.name, "table": snake_case(f"{publication}_{part.name}"), **part.settings})
            elif part.classification in ("cover", "notes"):
                sheets.append({"match": part.name, "role": part.classification})
        entry["sheets"] = sheets
    else:
        entry["members"] = (
            [
                {
                    "match": _member_glob([part.name for part in tables]),
                    "table": snake_case(f"{publication}_{_member_stem(tables)}"),
                }
            ]
            if tables
            else []
        )
    return entry


def _member_glob(names: list[str]) -> str:
    """One glob for CSV members that differ only in the middle (payments_E40000003.csv ...)."""
    if len(names) == 1:
        return names[0]
    prefix = names[0]
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    suffix = names[0]
    for name in names[1:]:
        while not name.endswith(suffix):
            suffix = suffix[1:]
    return f"{prefix}*{suffix}"


def _member_stem(parts: list[InspectedPart]) -> str:
    glob = _member_glob([part.name for part in parts])
    return re.sub(r"\.[a-z]+$", "", glob.rsplit("/", 1)[-1]).replace("*", "").strip("_-") or "rows"


# -- the printout ---------------------------------------------------------------------------------------------


def render(inspection: Inspection, publication: str | None = None) -> str:
    lines = [
        f"{inspection.path.name}: {inspection.format}"
        + (f", period {inspection.period} ({inspection.frequency})" if inspection.period else ", no period in the name")
    ]
    for part in inspection.parts:
        lines.append(f"\n  {part.kind} {part.name!r}: {part.classification}")
        if part.error:
            lines.append(f"    cannot be read as a table: {part.error}")
        report = part.report
        if report is not None and part.error is None:
            lines.append(
                f"    header row{'s' if len(report.header_rows) > 1 else ''} "
                f"{', '.join(map(str, report.header_rows))} ({report.detected.get('header_row', 'detected')})"
                + (
                    f"; units row {report.units_row}: " + ", ".join(f"{c} {u}" for c, u in report.units.items())
                    if report.units_row
                    else ""
                )
            )
            if report.hidden_columns or report.hidden_rows:
                lines.append(
                    f"    hidden, skipped: columns {', '.join(report.hidden_columns) or 'none'}; rows "
                    f"{', '.join(map(str, report.hidden_rows)) or 'none'}"
                )
            skipped = ", ".join(f"{count} {reason}" for reason, count in report.skipped.items())
            lines.append(
                f"    table rows {report.first_data_row}-{report.table_end_row} (sheet's last non-empty "
                f"row {report.last_sheet_row}): {part.rows:,} read" + (f"; skipped {skipped}" if skipped else "")
            )
        if part.columns:
            lines.append("    columns: " + ", ".join(f"{name} ({kind})" for name, kind in part.columns.items()))
        if part.preview:
            lines.append(f"    first {len(part.preview)} rows as they would load:")
            for row in part.preview:
                lines.append("      " + " | ".join("" if row.get(c) is None else str(row.get(c)) for c in part.columns))
        if part.rows:
            lines.append(f"    {part.rows:,} rows")
        lines += [f"    hint: {hint}" for hint in part.hints]
    try:
        entry = config_entry(inspection, publication)
    except IngestionError as error:
        lines.append(f"\nno config entry: {error}")
    else:
        lines.append(
            "\nA publications.yml entry (under `publications:`) that loads this file; add keys, check the "
            "table names, widen the periods:\n"
        )
        lines += ["  " + line for line in entry.rstrip().splitlines()]
    return "\n".join(lines)


__all__ = ["InspectedPart", "Inspection", "config_entry", "detect_period", "file_format", "inspect_file", "render"]
