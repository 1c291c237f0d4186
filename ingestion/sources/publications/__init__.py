"""dlt source for file-based statistical publications (XLSX, CSV, ZIP of CSVs), one period at a time.

:func:`plan_period` finds a period's files, fingerprints them and classifies every sheet and member (table, cover,
notes, ignored, junk) before anything is read, so that a missing sheet or member fails early with its file named.
:func:`publication_source` then reads the planned parts into one dlt resource per bronze table, with load metadata
on every row. dlt lands them in the publication's incoming dataset (replaced by each load); the period is then
published into bronze in one transaction (:mod:`ingestion.pipelines.publish`). Rows a reader cannot take (a value
that does not fit its column, a ragged row) and spreadsheet error cells are collected in ``PeriodPlan.quarantine``
with file, sheet or member, row, column, value and reason.

A column whose values arrive in another type than bronze holds it in (a retyped column, schema drift) is not cast
into the old type, which could fail the load or round values silently: it lands beside it as
``<column>__v_<type>``, dlt's own name for a variant column, where the validation stage reports it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from ingestion.errors import FileMissing, IngestionError, NotPublished
from ingestion.sources.publications import files, readers
from ingestion.sources.publications.settings import FileSpec, PartSpec, Publication, TableSpec

# Metadata columns on every bronze row, with their dlt types.
METADATA_COLUMNS = {
    "_period": {"data_type": "text", "nullable": False},
    "_source_file": {"data_type": "text", "nullable": False},
    "_source_sheet": {"data_type": "text"},
    "_source_member": {"data_type": "text"},
    "_file_sha256": {"data_type": "text", "nullable": False},
    "_source_row": {"data_type": "bigint", "nullable": False},
    "_loaded_at": {"data_type": "timestamp", "nullable": False},
}


@dataclass
class Part:
    """One readable unit of a release: a CSV file, a sheet of a workbook, or a member of an archive."""

    file: files.ReleaseFile
    kind: str  # file | sheet | member
    name: str  # sheet or member name; the file name for a CSV
    classification: str  # table | cover | notes | ignored | junk
    spec: TableSpec | None = None
    file_spec: FileSpec | None = None
    rows: int = 0
    header: list[str] = field(default_factory=list)

    def manifest_row(self, run_id: str, publication: str, period: str, status: str) -> dict:
        return {
            "run_id": run_id, "publication": publication, "period": period, "file_name": self.file.name,
            "file_location": self.file.location, "file_sha256": self.file.sha256,
            "file_size_bytes": self.file.size_bytes, "part_kind": self.kind, "part_name": self.name,
            "classification": self.classification, "bronze_table": self.spec.table if self.spec else None,
            "row_count": self.rows if self.spec else None, "columns": ",".join(self.header) or None,
            "status": status,
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
        return list({part.file.name: part.file for part in self.parts}.values())


def _classify(name: str, declared: tuple[PartSpec, ...], file_spec: FileSpec) -> tuple[str, TableSpec | None]:
    if any(PartSpec(pattern, "junk", None).matches(name) for pattern in file_spec.junk):
        return "junk", None  # before the declared patterns: __MACOSX/._region_1.csv also matches *region_*.csv
    for part in declared:
        if part.matches(name):
            return ("ignored" if part.role == "ignore" else part.role), part.spec
    if any(PartSpec(pattern, "notes", None).matches(name) for pattern in file_spec.notes):
        return "notes", None
    return "ignored", None


def plan_period(publication: Publication, period: str, cache_dir: Path) -> PeriodPlan:
    """Fetch and fingerprint the period's files and classify every sheet and member; fail if a declared one is
    missing. Nothing is loaded here."""
    location = publication.location_for(period)
    parts: list[Part] = []
    fetched: list[tuple[FileSpec, str, files.ReleaseFile]] = []
    missing: list[FileMissing] = []
    for file_spec in publication.files:
        name = file_spec.file_name(period, publication.calendar)
        try:
            fetched.append((file_spec, name, files.fetch(location, name, cache_dir, publication=publication.name,
                                                         period=period)))
        except FileMissing as error:
            missing.append(error)
    if missing and not fetched:
        raise NotPublished(f"none of the period's {len(missing)} declared files is there ({location})",
                           publication=publication.name, period=period)
    if missing:
        raise missing[0]  # some files of the release are there, this one is not: a broken release
    for file_spec, name, release in fetched:
        where = {"publication": publication.name, "period": period, "file": name}
        if file_spec.format == "csv":
            parts.append(Part(release, "file", name, "table", file_spec.spec, file_spec))
            continue
        if file_spec.format == "xlsx":
            kind, names = "sheet", readers.open_workbook(release.path, where).sheet_names
        else:
            with readers.open_zip(release.path, where) as archive:
                kind, names = "member", [info.filename for info in archive.infolist()]
            for member in names:
                readers.check_member_name(member, where)
        found, tables = [], []
        for part_name in names:
            classification, spec = _classify(part_name, file_spec.parts, file_spec)
            parts.append(Part(release, kind, part_name, classification, spec, file_spec))
            found.append(part_name)
            if classification == "table":
                tables.append(part_name)
        for declared in file_spec.parts:  # junk that matches the glob (__MACOSX/._region_1.csv) is no table
            if declared.role == "table" and not any(declared.matches(n) for n in tables):
                listing = ", ".join(found) or "nothing"
                raise IngestionError(f"no {kind} matches {declared.match!r} (declared for table "
                                     f"{declared.spec.table}); the file holds: {listing}", **where)
    declared_names = {spec.file_name(period, publication.calendar) for spec in publication.files}
    unexpected = [n for n in files.local_folder_names(location) if n not in declared_names]
    return PeriodPlan(publication, period, parts, unexpected)


def _with_metadata(table: pa.Table, part: Part, period: str, first_row: int, loaded_at: dt.datetime) -> pa.Table:
    n = table.num_rows
    if "_source_row" in table.column_names:  # the reader's own row numbers, right across rejected rows
        source_row = table.column("_source_row").cast(pa.int64())
        table = table.drop_columns(["_source_row"])
    else:
        source_row = pa.chunked_array([pa.array(range(first_row, first_row + n), type=pa.int64())])
    columns = {
        "_period": pa.repeat(period, n),
        "_source_file": pa.repeat(part.file.name, n),
        "_source_sheet": pa.repeat(part.name if part.kind == "sheet" else None, n).cast(pa.string()),
        "_source_member": pa.repeat(part.name if part.kind == "member" else None, n).cast(pa.string()),
        "_file_sha256": pa.repeat(part.file.sha256, n),
        "_source_row": source_row,
        "_loaded_at": pa.repeat(pa.scalar(loaded_at, type=pa.timestamp("us", tz="UTC")), n),
    }
    for name, values in columns.items():
        nullable = METADATA_COLUMNS[name].get("nullable", True)
        table = table.append_column(pa.field(name, values.type, nullable=nullable), values)
    return table


_ARROW_TYPES = {"text": pa.string(), "bigint": pa.int64(), "double": pa.float64(), "bool": pa.bool_(),
                "date": pa.date32(), "timestamp": pa.timestamp("us", tz="UTC")}
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


def _read_part(part: Part, where: dict, rejections: list[readers.Rejection]) -> Iterator[tuple[pa.Table, int]]:
    spec = part.spec
    assert spec is not None and part.file_spec is not None
    if part.kind == "sheet":
        workbook = readers.open_workbook(part.file.path, where)
        yield from readers.read_xlsx_table(workbook, part.name, spec.header_row, where, path=part.file.path,
                                           rejections=rejections)
    elif part.kind == "member":
        yield from readers.read_zip_member_batches(part.file.path, part.name, part.file_spec.max_member_bytes,
                                                   spec.types, where, encoding=spec.encoding, rejections=rejections)
    else:
        yield from readers.read_csv_batches(part.file.path, spec.types, where, encoding=spec.encoding,
                                            rejections=rejections)


def _table_rows(plan: PeriodPlan, table: TableSpec, loaded_at: dt.datetime,
                known: dict[str, str]) -> Iterator[pa.Table]:
    total = rejected = 0
    for part in plan.table_parts(table.table):
        where = {"publication": plan.publication.name, "period": plan.period, "file": part.file.name}
        rejections: list[readers.Rejection] = []
        for chunk, first_row in _read_part(part, where, rejections):
            chunk = conform(chunk, known)
            part.rows += chunk.num_rows
            part.header = part.header or [c for c in chunk.column_names if c != "_source_row"]
            yield _with_metadata(chunk, part, plan.period, first_row, loaded_at)
        total += part.rows
        rejected += sum(r.disposition == "rejected" for r in rejections)
        plan.quarantine += [asdict(r) | {"bronze_table": table.table, "file_name": part.file.name,
                                         "part_name": part.name, "source_row": r.row, "column_name": r.column,
                                         "raw_value": r.value} for r in rejections]
    if total == 0:
        # A declared table with no rows is almost always a broken release; replacing the period with nothing would
        # delete what was loaded before, so fail and keep it.
        detail = f" ({rejected:,} rows quarantined: none could be taken)" if rejected else ""
        parts = plan.table_parts(table.table)
        files_ = sorted({part.file.name for part in parts})
        named = [part.name for part in parts if part.kind != "file"]
        raise IngestionError(f"table {table.table} got no data rows{detail}; the rows loaded earlier for this period "
                             "are kept", publication=plan.publication.name, period=plan.period,
                             file=", ".join(files_) or None, part=", ".join(named) or None)


def table_resources(plan: PeriodPlan, loaded_at: dt.datetime | None = None,
                    known_types: dict[str, dict[str, str]] | None = None) -> list[DltResource]:
    """One resource per bronze table of the period, each replacing its incoming table (the period is published
    from there). ``known_types``: table -> column -> dlt type of what bronze holds already (see :func:`conform`)."""
    loaded_at, known_types = loaded_at or dt.datetime.now(dt.UTC), known_types or {}
    return [
        dlt.resource(
            _table_rows(plan, table, loaded_at, dict(known_types.get(table.table, {}))), name=table.table,
            max_table_nesting=0,
            write_disposition="replace", columns=METADATA_COLUMNS,
        )
        for table in plan.publication.tables()
    ]


def publication_source(plan: PeriodPlan, loaded_at: dt.datetime | None = None,
                       known_types: dict[str, dict[str, str]] | None = None) -> dlt.sources.DltSource:
    """The dlt source for one period of one publication; its schema is named after the publication."""
    source = dlt.source(table_resources, name=plan.publication.name, max_table_nesting=0)
    return source(plan, loaded_at, known_types)


__all__ = ["METADATA_COLUMNS", "Part", "PeriodPlan", "conform", "plan_period", "publication_source"]
