"""Load publication periods into bronze with dlt: one load per period, published in one transaction.

Each period is planned (files fetched, fingerprinted, every part classified), then extracted and normalized by dlt
into a load package of parquet files (dlt's schema, its load id on every row). :mod:`ingestion.pipelines.publish`
writes those files straight into bronze in one transaction: all the period's tables, manifest and quarantine rows,
dlt's ``_dlt_loads`` row and the period's fingerprint together, or nothing; then the package is marked loaded in
dlt's pipeline folder, as dlt's own loader does. Each row is written once. A bad period never touches another.

dlt keeps a load package on disk until it is loaded. A package left by a killed run is never loaded by the next one:
every run first aborts such leftovers with dlt's ``abort_packages`` and records a ``leftover_discarded`` event
naming the run and period they came from. That period was never published, so it loads again. (A package whose
period was published before the run died is only marked loaded.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt

from ingestion import paths
from ingestion.errors import ConfigError, IngestionError, NotPublished, describe, find_cause
from ingestion.ledger import Ledger, ops_schema
from ingestion.pipelines.factory import dlt_pipeline
from ingestion.pipelines.lake_publish import publish_to_lake
from ingestion.pipelines.leftovers import complete_package, discard_leftovers
from ingestion.pipelines.publish import (
    MANIFEST_TABLE,
    PERIOD_COLUMN,
    PeriodPublication,
    TableOutcome,
    publish_period,
    record_failed_manifest,
)
from ingestion.quality import catalog
from ingestion.quality.catalog import BronzeTable
from ingestion.sources.publications import PeriodPlan, plan_period, publication_source
from ingestion.sources.publications.settings import Publication, load_publications
from ingestion.status import Outcome
from ingestion.warehouse import SparkWarehouse, Warehouse, WarehouseUnavailable, find_unavailable

Progress = Callable[[str], None]


@dataclass
class PeriodResult:
    period: str
    status: str  # loaded | skipped | not_published | failed
    rows: dict[str, int] = field(default_factory=dict)  # published rows per table
    quarantined: dict[str, int] = field(default_factory=dict)  # rows not loaded, per table
    flagged: dict[str, int] = field(default_factory=dict)  # rows loaded with a marked cell, per table
    skipped: dict[str, int] = field(default_factory=dict)  # sheet rows not data, by reason (blank, notes, units ...)
    files: int = 0
    load_id: str | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class PublicationRun:
    publication: str
    run_id: str
    periods: list[PeriodResult] = field(default_factory=list)

    @property
    def failed(self) -> list[PeriodResult]:
        return [p for p in self.periods if p.status == "failed"]

    @property
    def not_published(self) -> list[PeriodResult]:
        return [p for p in self.periods if p.status == "not_published"]

    def rows_loaded(self) -> int:
        return sum(sum(p.rows.values()) for p in self.periods)

    def rows_quarantined(self) -> int:
        return sum(sum(p.quarantined.values()) for p in self.periods)


def pipeline_for(publication: Publication, warehouse: Warehouse) -> dlt.Pipeline:
    """The publication's dlt pipeline, ``publications_<name>_<target>``, for its bronze dataset."""
    return dlt_pipeline(f"publications_{publication.name}", warehouse, publication.dataset)


@dataclass
class LoadPackage:
    """What dlt normalized for one period: parquet files and, per table, the SQL type of each column they hold."""

    load_id: str
    files: dict[str, list[Path]]
    column_types: dict[str, dict[str, str]]
    schema_name: str
    schema_hash: str
    schema_version: int = 0
    schema_json: str = "{}"  # dlt's schema as dlt stores it in _dlt_version


def normalized_package(pipeline: dlt.Pipeline, load_id: str) -> LoadPackage:
    """The normalized package ``load_id``: its parquet files by table (dlt's own tables left out) and the columns
    they hold, typed by dlt's schema through the destination's own type mapper (what dlt's loader would create)."""
    import pyarrow.parquet as pq

    info = pipeline.get_load_package_info(load_id)
    files: dict[str, list[Path]] = {}
    for job in info.jobs["new_jobs"]:
        table, kind = job.job_file_info.table_name, job.job_file_info.file_format
        if table.startswith("_dlt"):
            continue
        if kind != "parquet":
            raise IngestionError(f"dlt wrote {kind} load files for table {table}, parquet was asked for")
        files.setdefault(table, []).append(Path(job.file_path))
    schema = pipeline.default_schema
    capabilities = pipeline.destination.capabilities()
    if capabilities.type_mapper is None:  # a lake (filesystem destination): typed as the DuckDB reading it
        capabilities = dlt.destinations.duckdb().capabilities()
    mapper = capabilities.get_type_mapper()
    column_types: dict[str, dict[str, str]] = {}
    for table, paths_ in files.items():
        held = {name for path in paths_ for name in pq.read_schema(path).names}
        declared = schema.get_table_columns(table)
        prepared: Any = {"name": table, "columns": declared}
        column_types[table] = {
            name: mapper.to_destination_type(column, prepared) for name, column in declared.items() if name in held
        }
    return LoadPackage(
        load_id, files, column_types, schema.name, schema.version_hash, schema.version, json.dumps(schema.to_dict())
    )


def missing_from_bronze(warehouse: Warehouse, publication: Publication, period: str) -> list[str]:
    """The tables that should hold rows of ``period`` (its manifest says it loaded rows there) and hold none: a
    table dropped or emptied outside a run (``dlt pipeline <name> drop TABLE``, a ``drop table``). A period whose
    manifest rows are gone is missing as a whole. Its published fingerprint alone would call it unchanged."""
    dataset, quoted = publication.dataset, warehouse.quote(publication.dataset)
    if not warehouse.table_exists(dataset, MANIFEST_TABLE):
        return [MANIFEST_TABLE]
    expected = warehouse.query(
        f"select bronze_table from {quoted}.{MANIFEST_TABLE} where publication = ? and period = ? "
        "and status = 'loaded' and bronze_table is not null group by bronze_table having sum(row_count) > 0",
        (publication.name, period),
    )
    if not expected:
        return [MANIFEST_TABLE]
    return [
        table
        for (table,) in expected
        if not warehouse.table_exists(dataset, table)
        or not warehouse.query(
            f"select 1 from {quoted}.{warehouse.quote(table)} where {PERIOD_COLUMN} = ? limit 1", (period,)
        )
    ]


def fingerprint(plan: PeriodPlan) -> str:
    """One hash over the period's files (name and sha256) and how they are read (the declared files, sheets and
    tables: types, keys, limits): equal fingerprints mean nothing to reload. A changed declaration reloads."""
    listing = "\n".join(sorted(f"{f.name}:{f.sha256}" for f in plan.files()))
    declared = repr(plan.publication.files)
    return hashlib.sha256(f"{listing}\n{declared}".encode()).hexdigest()


def _published_after(ledger: Ledger, publication: Publication, period: str) -> list[str]:
    """The periods of ``publication`` published in bronze that come after ``period``."""
    start = publication.calendar.start(period)
    published = [
        subject.rsplit("/", 1)[-1]
        for (subject,) in ledger.query(
            f"select subject from {ops_schema()}.period_loads where source = ?", (publication.name,)
        )
    ]
    return sorted(p for p in published if _starts_after(publication, p, start))


def _starts_after(publication: Publication, period: str, start: dt.date) -> bool:
    try:
        return publication.calendar.start(period) > start
    except ValueError:  # a period loaded under another calendar declaration
        return False


def _known_types(warehouse: Warehouse, publication: Publication, table: str) -> dict[str, str]:
    """Column -> dlt type the period's rows must keep: bronze's, so a value of another type lands as a variant
    column instead of being cast into it."""
    return catalog.columns(warehouse, BronzeTable(publication.dataset, table, (), None))


def load_period(
    pipeline: dlt.Pipeline,
    publication: Publication,
    period: str,
    ledger: Ledger,
    force: bool = False,
    on_extract: Callable[[], object] | None = None,
) -> PeriodResult:
    """Discover, extract, load and publish one period as ledger stages. An unchanged period is skipped (NO_WORK)
    unless ``force``; on failure nothing of this period changes and the error says where. Raises
    WarehouseUnavailable when the warehouse went away (the run cannot go on). ``on_extract`` is called when the
    period is about to be extracted (it will be loaded)."""
    with ledger.warehouse.kept_open():  # a period's ledger events and catalog queries open the warehouse once
        return _load_period(pipeline, publication, period, ledger, force, on_extract)


def _load_period(
    pipeline: dlt.Pipeline,
    publication: Publication,
    period: str,
    ledger: Ledger,
    force: bool,
    on_extract: Callable[[], object] | None,
) -> PeriodResult:
    started = time.monotonic()
    plan: PeriodPlan | None = None
    result = PeriodResult(period=period, status="failed")
    subject = f"{publication.name}/{period}"
    where: dict[str, Any] = {"source": publication.name, "subject": subject}
    try:
        with ledger.stage("discover", **where) as stage:
            try:
                plan = plan_period(publication, period, paths.data_dir() / "cache")
            except NotPublished as missing:
                later = _published_after(ledger, publication, period)
                if later:  # a hole between loaded periods is a broken backfill, not a release still to come
                    raise IngestionError(
                        f"{missing.message}, yet later periods are loaded ({', '.join(later)}): a "
                        "gap in the release's periods",
                        publication=publication.name,
                        period=period,
                    ) from None
                stage.status = "no_work"
                ledger.event(
                    "discover",
                    "not_published",
                    "warn",
                    parent=stage.event_id,
                    **where,
                    message=f"{missing.message}: not published yet, skipped (a later run loads it once "
                    "its files are there)",
                )
        if plan is None:
            result.status = "not_published"
            return result
        result.files = len(plan.files())
        for release in plan.files():
            parts = {p.name: p.classification for p in plan.parts if p.file.name == release.name}
            rule = next((p.rule for p in plan.parts if p.file.name == release.name), None)
            ledger.event(
                "discover",
                "file_discovered",
                "success",
                parent=stage.event_id,
                details={
                    "file": release.name,
                    "location": release.location,
                    "sha256": release.sha256,
                    "size_bytes": release.size_bytes,
                    "name_rule": rule,
                    "parts": parts,
                },
                **where,
            )
        absent = [p.name for p in plan.parts if p.classification == "absent"]
        if absent:
            ledger.event(
                "discover",
                "file_absent",
                "success",
                parent=stage.event_id,
                **where,
                message=f"optional files not in this release: {', '.join(absent)}",
            )
        if plan.unexpected_files:
            ledger.event(
                "discover",
                "file_discovered",
                "warn",
                parent=stage.event_id,
                **where,
                message=f"files not declared in the config, ignored: {', '.join(plan.unexpected_files)}",
            )
        print_ = fingerprint(plan)
        unchanged = not force and ledger.loaded_fingerprint(publication.name, subject) == print_
        gone = missing_from_bronze(ledger.warehouse, publication, period) if unchanged else []
        if gone:
            ledger.event(
                "load",
                "bronze_missing",
                "success",
                message=f"files unchanged, but bronze no longer holds the period in {', '.join(gone)} (dropped or "
                "emptied outside a run, e.g. `dlt pipeline ... drop`): loading it again",
                fingerprint=print_,
                **where,
            )
        if unchanged and not gone:
            ledger.event(
                "load",
                "load_skipped",
                "no_work",
                message="files unchanged since the last load; --force reloads",
                fingerprint=print_,
                **where,
            )
            result.status = "skipped"
            return result
        if on_extract is not None:
            on_extract()
        with ledger.stage("extract", **where) as stage:
            known = {
                spec.table: _known_types(ledger.warehouse, publication, spec.table) for spec in publication.tables()
            }
            extract = pipeline.extract(publication_source(plan, known_types=known), loader_file_format="parquet")
            result.load_id = stage.correlation_id = extract.loads_ids[-1] if extract.loads_ids else None
        with ledger.stage("load", **where) as stage:
            stage.correlation_id = result.load_id
            pipeline.normalize()
            package = normalized_package(pipeline, result.load_id or "")
            outcomes = _publish(ledger, publication, plan, package, print_, pipeline)
            result.rows = {t: o.rows for t, o in outcomes.items()}
            result.quarantined = {t: o.rejected for t, o in outcomes.items() if o.rejected}
            result.flagged = {t: o.flagged for t, o in outcomes.items() if o.flagged}
            for part in plan.parts:
                for reason, count in part.report.skipped.items() if part.report else ():
                    result.skipped[reason] = result.skipped.get(reason, 0) + count
            stage.rows = sum(result.rows.values())
            stage.details = {
                "tables": result.rows,
                "quarantined": result.quarantined,
                "flagged": result.flagged,
                "rows_skipped": result.skipped,
            }
        ledger.event(
            "load",
            "load_completed",
            "success",
            correlation_id=result.load_id,
            rows=sum(result.rows.values()),
            fingerprint=print_,
            details={
                "tables": result.rows,
                "quarantined": result.quarantined,
                "flagged": result.flagged,
                "rows_skipped": result.skipped,
            },
            **where,
        )
        result.status = "loaded"
    except Exception as error:  # the period fails, the run goes on and reports it
        unavailable = find_unavailable(error)
        if unavailable is not None:
            raise unavailable from error
        cause = find_cause(error, IngestionError)
        result.error = str(cause) if cause else f"{publication.name}, {period}: {describe(error)}"
        discard_leftovers(pipeline, ledger, publication.name)
        _record_failure(ledger, publication, plan, result)
    finally:
        result.seconds = time.monotonic() - started
    return result


def _publish(
    ledger: Ledger,
    publication: Publication,
    plan: PeriodPlan,
    package: LoadPackage,
    print_: str,
    pipeline: dlt.Pipeline,
) -> dict[str, TableOutcome]:
    """Publish the period into the warehouse in one transaction, or into the lake (the spark target) by dlt's
    loader and one switch file; then the package is done."""
    manifest = [part.manifest_row(ledger.run_id, publication.name, plan.period, "loaded") for part in plan.parts]
    manifest += _unexpected_rows(plan, ledger.run_id, "loaded")
    read_rows: dict[str, int] = {}
    units: dict[str, dict[str, str]] = {}
    for part in plan.parts:
        if part.spec is not None:
            read_rows[part.spec.table] = read_rows.get(part.spec.table, 0) + part.rows
            if part.report is not None:
                units.setdefault(part.spec.table, {}).update(part.report.units)
    held = {spec.table for spec in plan.tables()}
    calendar = publication.calendar
    period = PeriodPublication(
        publication=publication.name,
        dataset=publication.dataset,
        period=plan.period,
        load_id=package.load_id,
        load_files=package.files,
        column_types=package.column_types,
        schema_name=package.schema_name,
        schema_hash=package.schema_hash,
        schema_version=package.schema_version,
        schema_json=package.schema_json,
        run_id=ledger.run_id,
        fingerprint=print_,
        tables=plan.tables(),
        read_rows=read_rows,
        manifest=manifest,
        quarantine=plan.quarantine,
        frequency=str(calendar.frequency),
        period_start=calendar.start(plan.period),
        period_end=calendar.end(plan.period),
        units=units,
        cleared=[spec.table for spec in publication.tables() if spec.table not in held],
    )
    if isinstance(ledger.warehouse, SparkWarehouse):
        return publish_to_lake(ledger.warehouse, pipeline, period)
    outcomes = publish_period(ledger.warehouse, period)
    complete_package(pipeline, package.load_id)
    return outcomes


def _unexpected_rows(plan: PeriodPlan, run_id: str, status: str) -> list[dict]:
    return [
        {
            "run_id": run_id,
            "publication": plan.publication.name,
            "period": plan.period,
            "file_name": name,
            "part_kind": "file",
            "part_name": name,
            "classification": "ignored",
            "status": status,
        }
        for name in plan.unexpected_files
    ]


def _record_failure(ledger: Ledger, publication: Publication, plan: PeriodPlan | None, result: PeriodResult) -> None:
    """The failed period's files and parts in the manifest (status failed); best effort, the error is what counts.
    Not on the lake (spark): its manifest shows the published loads only, each under its load id; a failed
    period's files and parts are in the run's ``discover`` events (``file_discovered``) there as everywhere."""
    if plan is None or ledger.unavailable is not None or isinstance(ledger.warehouse, SparkWarehouse):
        return
    now = dt.datetime.now(dt.UTC)
    rows = [
        part.manifest_row(ledger.run_id, publication.name, plan.period, "failed") | {"recorded_at": now}
        for part in plan.parts
    ]
    rows += [row | {"recorded_at": now} for row in _unexpected_rows(plan, ledger.run_id, "failed")]
    try:
        record_failed_manifest(ledger.warehouse, publication.dataset, rows)
    except WarehouseUnavailable as error:
        ledger.went_away(error)
    except Exception as error:  # the period's own error is what the run reports; this one goes to the ledger
        ledger.event(
            "load",
            "manifest_not_recorded",
            "warn",
            source=publication.name,
            subject=f"{publication.name}/{plan.period}",
            message=f"the failed period's manifest rows could not be written: {describe(error)}",
        )


def ingest_publication(
    publication: Publication,
    warehouse: Warehouse,
    run_id: str,
    first: str | None = None,
    last: str | None = None,
    progress: Progress = print,
    *,
    ledger: Ledger | None = None,
    force: bool = False,
    on_extract: Callable[[], object] | None = None,
) -> PublicationRun:
    """Load each period from ``first`` to ``last``; a failed period is reported and the others still load.
    Periods whose files are unchanged since their last load are skipped unless ``force``. ``on_extract``: called
    before each period that will be loaded is extracted."""
    periods = publication.periods(first, last)
    if ledger is None:
        ledger = Ledger(warehouse, run_id)
        ledger.ensure_schema()
    pipeline = pipeline_for(publication, warehouse)
    for load_id in discard_leftovers(pipeline, ledger, publication.name):
        progress(
            f"{publication.name}: discarded an unfinished load package ({load_id}) left by an earlier run; "
            "see `ingestion runs show` for the run it came from"
        )
    run = PublicationRun(publication.name, run_id)
    for index, period in enumerate(periods, start=1):
        result = load_period(pipeline, publication, period, ledger, force, on_extract)
        run.periods.append(result)
        if result.status == "skipped":
            progress(
                f"[{index}/{len(periods)}] {publication.name} {period}: unchanged since its last load, "
                "skipped (NO_WORK; --force reloads)"
            )
        elif result.status == "not_published":
            progress(
                f"[{index}/{len(periods)}] {publication.name} {period}: not published yet (none of its files "
                "is there), skipped"
            )
        elif result.status == "loaded":
            tables = ", ".join(f"{table} {count:,}" for table, count in sorted(result.rows.items()))
            held = sum(result.quarantined.values()) + sum(result.flagged.values())
            note = (
                (
                    f"; {sum(result.quarantined.values()):,} rows quarantined, {sum(result.flagged.values()):,} "
                    f"flagged ({publication.dataset}.quarantine)"
                )
                if held
                else ""
            )
            skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(result.skipped.items()))
            note += f"; sheet rows skipped: {skipped} (publication_manifest.rows_skipped)" if skipped else ""
            progress(
                f"[{index}/{len(periods)}] {publication.name} {period}: loaded {result.files} files "
                f"({tables}) in {result.seconds:.1f}s{note}"
            )
        else:
            progress(f"[{index}/{len(periods)}] {publication.name} {period}: FAILED: {result.error}")
    return run


def ingest_publications(
    warehouse: Warehouse,
    ledger: Ledger,
    publication: str | None = None,
    first: str | None = None,
    last: str | None = None,
    *,
    force: bool = False,
    progress: Progress = print,
) -> list[PublicationRun]:
    """Load the periods ``first`` to ``last`` of one declared publication, or of every one."""
    declared = load_publications()
    if publication and publication not in declared:
        raise ConfigError(f"no publication {publication!r}; declared: {', '.join(declared)}")
    chosen = [declared[publication]] if publication else list(declared.values())
    return [
        ingest_publication(p, warehouse, ledger.run_id, first, last, progress, ledger=ledger, force=force)
        for p in chosen
    ]


def outcome_of(runs: list[PublicationRun]) -> Outcome:
    """failed if a period failed, success if one loaded, no_work otherwise."""
    if any(run.failed for run in runs):
        return Outcome.FAILED
    loaded = any(p.status == "loaded" for run in runs for p in run.periods)
    return Outcome.SUCCESS if loaded else Outcome.NO_WORK
