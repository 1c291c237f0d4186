"""dlt source for file-based statistical publications (XLSX, CSV, ZIP of CSVs), one period at a time.

:func:`plan_period` finds a period's files, fingerprints them and classifies every sheet and member (table, cover,
notes, ignored, junk) before anything is read, so that a missing sheet or member fails early with its file named.
:func:`publication_source` then reads the planned parts into one dlt resource per bronze table, with load metadata
on every row. dlt normalizes them into parquet load files, which are then published into bronze in one
transaction, replacing the period (:mod:`ingestion.pipelines.publish`). Rows a reader cannot take (a value
that does not fit its column, a ragged row) and spreadsheet error cells are collected in ``PeriodPlan.quarantine``
with file, sheet or member, row, column, value and reason.

A column whose values arrive in another type than bronze holds it in (a retyped column, schema drift) is not cast
into the old type, which could fail the load or round values silently: it lands beside it as
``<column>__v_<type>``, dlt's own name for a variant column, where the validation stage reports it.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dlt
import pyarrow as pa
from dlt.common.schema.typing import TColumnSchema
from dlt.extract.resource import DltResource

from ingestion.errors import FileMissing, IngestionError, NotPublished, Where
from ingestion.sources.publications import files, readers
from ingestion.sources.publications.readers.layout import TableReport
from ingestion.sources.publications.settings import FileSpec, PartSpec, Publication, TableSpec

# Metadata columns on every bronze row, with their dlt types: lean, because they repeat on every row. What is the same
# for a whole file, sheet or member (file name, sheet or member, sha256, when it was loaded) is in the manifest once,
# on the row whose (_dlt_load_id, part_id) the bronze row's (_dlt_load_id, _part) names.
METADATA_COLUMNS: dict[str, TColumnSchema] = {
    "_period": {"data_type": "text", "nullable": False},
    "_part": {"data_type": "bigint", "nullable": False},
    "_source_row": {"data_type": "bigint", "nullable": False},
}


@dataclass
class Part:
    """One readable unit of a release: a CSV file, a sheet of a workbook, or a member of an archive."""

    file: files.ReleaseFile
    kind: str  # file | sheet | member
    name: str  # sheet or member name; the file name for a CSV
    classification: str  # table | cover | notes | ignored | junk | absent (an optional file not in this release)
    spec: TableSpec | None = None
    file_spec: FileSpec | None = None
    rows: int = 0
    header: list[str] = field(default_factory=list)
    rule: str | None = None  # the name rule the file matched
    report: TableReport | None = None  # what the sheet reader found and skipped
    part_id: int | None = None  # the period's number for it (plan order), carried by its rows as _part

    def manifest_row(self, run_id: str, publication: str, period: str, status: str) -> dict:
        absent = self.classification == "absent"
        return {
            "run_id": run_id,
            "publication": publication,
            "period": period,
            "file_name": self.file.name,
            "file_location": self.file.location,
            "file_sha256": None if absent else self.file.sha256,
            "file_size_bytes": None if absent else self.file.size_bytes,
            "part_id": self.part_id,
            "part_kind": self.kind,
            "part_name": self.name,
            "classification": self.classification,
            "bronze_table": self.spec.table if self.spec else None,
            "row_count": self.rows if self.spec else None,
            "columns": ",".join(self.header) or None,
            "status": status,
            "name_rule": self.rule,
            **_report_columns(self.report),
        }


def _report_columns(report: TableReport | None) -> dict:
    """The manifest's account of a sheet: its layout (declared or detected) and every skipped row by reason."""
    if report is None:
        return {}
    layout = {
        "header_rows": report.header_rows,
        "units_row": report.units_row,
        "units": report.units,
        "hidden_columns": report.hidden_columns,
        "hidden_rows": report.hidden_rows,
        "first_data_row": report.first_data_row,
        "detected": report.detected,
        "notes_found": report.notes_found,
    }
    return {
        "layout": json.dumps(layout, ensure_ascii=False),
        "rows_skipped": json.dumps(report.skipped),
        "table_end_row": report.table_end_row,
        "last_sheet_row": report.last_sheet_row,
    }


@dataclass
class PeriodPlan:
    publication: Publication
    period: str
    parts: list[Part]
    unexpected_files: list[str]
    quarantine: list[dict] = field(default_factory=list)  # publish.QUARANTINE_COLUMNS keys, filled while reading

    def table_parts(self, table: str) -> list[Part]:
        return [part for part in self.parts if part.spec is not None and part.spec.table == table]

    def files(self) -> list[files.ReleaseFile]:
        return list({part.file.name: part.file for part in self.parts if part.classification != "absent"}.values())

    def tables(self) -> list[TableSpec]:
        """The bronze tables this period's release holds (an absent optional file's are not among them)."""
        held = {part.spec.table for part in self.parts if part.spec is not None and part.classification == "table"}
        return [spec for spec in self.publication.tables() if spec.table in held]


def _classify(name: str, file_spec: FileSpec) -> list[tuple[str, TableSpec | None]]:
    """What a sheet or member is: one entry per declared table it holds (a sheet may hold several), or one of
    cover, notes, ignored, junk."""
    if any(PartSpec(pattern, "junk", None).matches(name) for pattern in file_spec.junk):
        return [("junk", None)]  # before the declared patterns: __MACOSX/._region_1.csv also matches *region_*.csv
    matched = [part for part in file_spec.parts if part.matches(name)]
    tables = [("table", part.spec) for part in matched if part.role == "table"]
    if tables:
        return tables
    if matched:
        return [("ignored" if matched[0].role == "ignore" else matched[0].role, None)]
    if any(PartSpec(pattern, "notes", None).matches(name) for pattern in file_spec.notes):
        return [("notes", None)]
    return [("ignored", None)]


def resolve_name(location: str, rules: list[str], where: Where) -> tuple[str, str] | None:
    """The one file in folder ``location`` that the name rules (exact names or globs, in order) match, and the
    rule that matched it; None when none does. Several files matching is an error naming them: the release must
    say which file is meant."""
    if files.is_url(location):
        return None  # over http(s) the names are exact and tried in order when fetched
    present = files.local_folder_names(location)
    matched: dict[str, str] = {}
    for rule in rules:
        if files.GLOB.search(rule):
            for name in present:
                if fnmatch.fnmatch(name.lower(), rule.lower()):
                    matched.setdefault(name, rule)
        elif rule in present:
            matched.setdefault(rule, rule)
    if len(matched) > 1:
        listing = ", ".join(f"{name} (by {rule!r})" for name, rule in matched.items())
        raise IngestionError(
            f"{len(matched)} files match the one declared file {rules[0]!r}: {listing}; make the "
            "name rules match exactly one (or add a per-period override)",
            **where,
        )
    return next(iter(matched.items()), None)


def _fetch(
    publication: Publication, file_spec: FileSpec, period: str, location: str, cache_dir: Path
) -> tuple[files.ReleaseFile, str]:
    """The period's file for ``file_spec`` and the name rule it matched; FileMissing when none matches."""
    rules = file_spec.file_names(period, publication.calendar)
    where: Where = {"publication": publication.name, "period": period, "file": rules[0]}
    globs = [rule for rule in rules if files.GLOB.search(rule)]
    if globs and files.is_url(location):
        raise IngestionError(
            f"name rule {globs[0]!r} is a glob, and a folder over http(s) cannot be listed "
            f"({location}); give the exact names, as a list of alternatives",
            **where,
        )
    fetch = functools.partial(files.fetch, location, cache_dir=cache_dir, publication=publication.name, period=period)
    if not files.is_url(location):  # a folder: list it once, match every rule
        found = resolve_name(location, rules, where)
        if found is not None:
            return fetch(found[0]), found[1]
        if len(rules) == 1 and not globs:
            return fetch(rules[0]), rules[0]  # raises FileMissing, listing what the folder holds
        present = files.local_folder_names(location)
        holds = f"; the folder holds: {', '.join(present)}" if present else "; the folder is empty or missing"
        raise FileMissing(f"no file matches {' or '.join(map(repr, rules))} in {location}{holds}", **where)
    missing: FileMissing | None = None
    for rule in rules:  # over http(s): each exact name in turn
        try:
            return fetch(rule), rule
        except FileMissing as error:
            missing = missing or error
    assert missing is not None
    if len(rules) > 1:
        raise FileMissing(f"none of {' or '.join(map(repr, rules))} is at {location} ({missing.message})", **where)
    raise missing


def plan_period(publication: Publication, period: str, cache_dir: Path) -> PeriodPlan:
    """Fetch and fingerprint the period's files and classify every sheet and member; fail if a declared one is
    missing. Nothing is loaded here."""
    location = publication.location_for(period)
    parts: list[Part] = []
    fetched: list[tuple[FileSpec, files.ReleaseFile, str]] = []
    missing: list[FileMissing] = []
    for declared_file in publication.files:
        file_spec = declared_file.for_period(period)
        try:
            release, rule = _fetch(publication, file_spec, period, location, cache_dir)
            fetched.append((file_spec, release, rule))
        except FileMissing as error:
            if file_spec.optional:
                name = file_spec.file_name(period, publication.calendar)
                parts.append(
                    Part(
                        files.ReleaseFile(name, location, Path(name), "", 0),
                        "file",
                        name,
                        "absent",
                        file_spec=file_spec,
                        rule=", ".join(file_spec.file_names(period, publication.calendar)),
                    )
                )
            else:
                missing.append(error)
    if missing and not fetched:
        raise NotPublished(
            f"none of the period's {len(missing)} declared files is there ({location})",
            publication=publication.name,
            period=period,
        )
    if missing:
        raise missing[0]  # some files of the release are there, this one is not: a broken release
    for file_spec, release, rule in fetched:
        name = release.name
        where: Where = {"publication": publication.name, "period": period, "file": name}
        if file_spec.format == "csv":
            parts.append(Part(release, "file", name, "table", file_spec.spec, file_spec, rule=rule))
            continue
        if file_spec.format == "xlsx":
            kind, names = "sheet", readers.open_workbook(release.path, where).sheet_names
        else:
            with readers.open_zip(release.path, where) as archive:
                kind, names = "member", [info.filename for info in archive.infolist()]
            for member in names:
                readers.check_member_name(member, where)
        tables: list[str] = []
        for part_name in names:
            for classification, spec in _classify(part_name, file_spec):
                parts.append(Part(release, kind, part_name, classification, spec, file_spec, rule=rule))
                if classification == "table":
                    tables.append(part_name)
        for declared in file_spec.parts:  # junk that matches the glob (__MACOSX/._region_1.csv) is no table
            if declared.role == "table" and not any(declared.matches(n) for n in tables):
                listing = ", ".join(names) or "nothing"
                raise IngestionError(
                    f"no {kind} matches {declared.match!r} (declared for table "
                    f"{declared.spec.table if declared.spec else '?'}); the file holds: {listing}",
                    **where,
                )
    for number, part in enumerate(parts, start=1):
        part.part_id = number
    taken = {release.name for _, release, _ in fetched}
    unexpected = [n for n in files.local_folder_names(location) if n not in taken]
    return PeriodPlan(publication, period, parts, unexpected)


def _with_metadata(table: pa.Table, part: Part, period: str, first_row: int) -> pa.Table:
    n = table.num_rows
    if "_source_row" in table.column_names:  # the reader's own row numbers, right across rejected rows
        source_row = table.column("_source_row").cast(pa.int64())
        table = table.drop_columns(["_source_row"])
    else:
        source_row = pa.chunked_array([pa.array(range(first_row, first_row + n), type=pa.int64())])
    columns = {
        "_period": pa.repeat(period, n),
        "_part": pa.repeat(pa.scalar(part.part_id, type=pa.int64()), n),
        "_source_row": source_row,
    }
    for name, values in columns.items():
        table = table.append_column(pa.field(name, values.type, nullable=False), values)
    return table


_ARROW_TYPES = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_SAFE_WIDENING = {("double", "bigint"), ("text", "bigint"), ("text", "double"), ("text", "bool"), ("text", "date")}


def conform(chunk: pa.Table, known: dict[str, str]) -> pa.Table:
    """Keep each column in the dlt type bronze already holds it in (``known``: column -> type, updated with the
    columns seen first here). An all-null column, or a widening that loses nothing (integers into a double or a
    text column), is cast; any other change of type goes to a variant column ``<column>__v_<type>``."""
    from dlt.common.libs.pyarrow import get_column_type_from_py_arrow

    for index, name in enumerate(chunk.column_names):
        column = chunk.column(index)
        arriving = get_column_type_from_py_arrow(column.type).get("data_type")
        held = known.get(name)
        if held is None or arriving is None or held == arriving:
            if held is None and arriving is not None:
                known[name] = arriving
            continue
        target = _ARROW_TYPES.get(held)
        if target is not None and (column.null_count == len(column) or (held, arriving) in _SAFE_WIDENING):
            chunk = chunk.set_column(index, pa.field(name, target), column.cast(target))
        else:
            variant = f"{name}__v_{arriving}"
            known.setdefault(variant, arriving)
            chunk = chunk.rename_columns([variant if n == name else n for n in chunk.column_names])
    return chunk


def _read_part(part: Part, where: Where, rejections: list[readers.Rejection]) -> Iterator[tuple[pa.Table, int]]:
    spec = part.spec
    assert spec is not None and part.file_spec is not None
    if part.kind == "sheet":
        workbook = readers.open_workbook(part.file.path, where)
        part.report = TableReport(part.name)
        yield from readers.read_xlsx_table(
            workbook, part.name, spec.layout, where, path=part.file.path, rejections=rejections, report=part.report
        )
    elif part.kind == "member":
        yield from readers.read_zip_member_batches(
            part.file.path,
            part.name,
            part.file_spec.max_member_bytes,
            spec.types,
            where,
            encoding=spec.encoding,
            rejections=rejections,
        )
    else:
        yield from readers.read_csv_batches(
            part.file.path, spec.types, where, encoding=spec.encoding, rejections=rejections
        )


def _table_rows(plan: PeriodPlan, table: TableSpec, known: dict[str, str]) -> Iterator[pa.Table]:
    total = rejected = 0
    for part in plan.table_parts(table.table):
        where: Where = {"publication": plan.publication.name, "period": plan.period, "file": part.file.name}
        rejections: list[readers.Rejection] = []
        for chunk, first_row in _read_part(part, where, rejections):
            chunk = conform(chunk, known)
            part.rows += chunk.num_rows
            part.header = part.header or [c for c in chunk.column_names if c != "_source_row"]
            yield _with_metadata(chunk, part, plan.period, first_row)
        total += part.rows
        rejected += sum(r.disposition == "rejected" for r in rejections)
        plan.quarantine += [
            asdict(r)
            | {
                "bronze_table": table.table,
                "file_name": part.file.name,
                "part_name": part.name,
                "source_row": r.row,
                "column_name": r.column,
                "raw_value": r.value,
            }
            for r in rejections
        ]
    if total == 0:
        # A declared table with no rows is almost always a broken release; replacing the period with nothing would
        # delete what was loaded before, so fail and keep it.
        detail = f" ({rejected:,} rows quarantined: none could be taken)" if rejected else ""
        parts = plan.table_parts(table.table)
        files_ = sorted({part.file.name for part in parts})
        named = [part.name for part in parts if part.kind != "file"]
        raise IngestionError(
            f"table {table.table} got no data rows{detail}; the rows loaded earlier for this period are kept",
            publication=plan.publication.name,
            period=plan.period,
            file=", ".join(files_) or None,
            part=", ".join(named) or None,
        )


def table_resources(plan: PeriodPlan, known_types: dict[str, dict[str, str]] | None = None) -> list[DltResource]:
    """One resource per bronze table of the period. dlt only extracts and normalizes them: the period's rows replace
    the ones bronze held for it when they are published (:mod:`ingestion.pipelines.publish`). ``known_types``:
    table -> column -> dlt type of what bronze holds already (see :func:`conform`)."""
    known_types = known_types or {}
    return [
        dlt.resource(
            _table_rows(plan, table, dict(known_types.get(table.table, {}))),
            name=table.table,
            max_table_nesting=0,
            write_disposition="append",
            columns=METADATA_COLUMNS,
        )
        for table in plan.tables()
    ]


def publication_source(plan: PeriodPlan, known_types: dict[str, dict[str, str]] | None = None) -> dlt.sources.DltSource:
    """The dlt source for one period of one publication; its schema is named after the publication."""
    source = dlt.source(table_resources, name=plan.publication.name, max_table_nesting=0)
    return source(plan, known_types)


__all__ = ["METADATA_COLUMNS", "Part", "PeriodPlan", "conform", "plan_period", "publication_source"]
