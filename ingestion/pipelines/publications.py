"""Load publication periods into bronze with dlt: one load per period, published in one transaction.

Each period is planned (files fetched, fingerprinted, every part classified), extracted and loaded by dlt into the
publication's incoming dataset, then published into bronze by :mod:`ingestion.pipelines.publish`: all its tables,
manifest and quarantine rows and its fingerprint together, or nothing. A bad period never touches another.

dlt keeps a load package on disk until it is loaded. A package left by a killed run is never loaded by the next one:
every run first aborts such leftovers with dlt's ``abort_packages`` and records a ``leftover_discarded`` event
naming the run and period they came from. That period was never published, so it loads again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dlt

from ingestion import paths
from ingestion.errors import ConfigError, IngestionError, NotPublished, describe, find_cause
from ingestion.ledger import SCHEMA as OPS
from ingestion.ledger import Ledger
from ingestion.pipelines.factory import dlt_pipeline
from ingestion.pipelines.leftovers import discard_leftovers
from ingestion.pipelines.publish import PeriodPublication, TableOutcome, publish_period, record_failed_manifest
from ingestion.quality import catalog
from ingestion.quality.catalog import BronzeTable
from ingestion.sources.publications import PeriodPlan, plan_period, publication_source
from ingestion.sources.publications.settings import Publication, load_publications
from ingestion.status import Outcome
from ingestion.warehouse import Warehouse, WarehouseUnavailable, find_unavailable

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


def incoming_dataset(publication: Publication) -> str:
    """Where dlt lands a period before it is published into ``publication.dataset``."""
    return f"{publication.dataset}_incoming"


def pipeline_for(publication: Publication, warehouse: Warehouse) -> dlt.Pipeline:
    """The publication's dlt pipeline, ``publications_<name>_<target>``, landing in its incoming dataset."""
    return dlt_pipeline(f"publications_{publication.name}", warehouse, incoming_dataset(publication))


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
        for (subject,) in ledger.query(f"select subject from {OPS}.period_loads where source = ?", (publication.name,))
    ]
    return sorted(p for p in published if _starts_after(publication, p, start))


def _starts_after(publication: Publication, period: str, start: dt.date) -> bool:
    try:
        return publication.calendar.start(period) > start
    except ValueError:  # a period loaded under another calendar declaration
        return False


def _known_types(warehouse: Warehouse, publication: Publication, table: str) -> dict[str, str]:
    """Column -> dlt type the period's rows must keep: bronze's, and for a column only the incoming table has (a
    load whose publish was rolled back), dlt's type there, so a value of another type lands as a variant column
    instead of being cast into it."""
    incoming = catalog.columns(warehouse, BronzeTable(incoming_dataset(publication), table, (), None))
    bronze = catalog.columns(warehouse, BronzeTable(publication.dataset, table, (), None))
    return {**{c: t for c, t in incoming.items() if not c.startswith("_dlt")}, **bronze}


def load_period(
    pipeline: dlt.Pipeline, publication: Publication, period: str, ledger: Ledger, force: bool = False
) -> PeriodResult:
    """Discover, extract, load and publish one period as ledger stages. An unchanged period is skipped (NO_WORK)
    unless ``force``; on failure nothing of this period changes and the error says where. Raises
    WarehouseUnavailable when the warehouse went away (the run cannot go on)."""
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
        if not force and ledger.loaded_fingerprint(publication.name, subject) == print_:
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
        with ledger.stage("extract", **where) as stage:
            known = {
                spec.table: _known_types(ledger.warehouse, publication, spec.table) for spec in publication.tables()
            }
            extract = pipeline.extract(publication_source(plan, known_types=known), loader_file_format="parquet")
            result.load_id = stage.correlation_id = extract.loads_ids[-1] if extract.loads_ids else None
        with ledger.stage("load", **where) as stage:
            stage.correlation_id = result.load_id
            pipeline.normalize()
            pipeline.load()
            outcomes = _publish(ledger, publication, plan, result.load_id or "", print_)
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
    ledger: Ledger, publication: Publication, plan: PeriodPlan, load_id: str, print_: str
) -> dict[str, TableOutcome]:
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
    return publish_period(
        ledger.warehouse,
        PeriodPublication(
            publication=publication.name,
            dataset=publication.dataset,
            incoming=incoming_dataset(publication),
            period=plan.period,
            load_id=load_id,
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
        ),
    )


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
    """The failed period's files and parts in the manifest (status failed); best effort, the error is what counts."""
    if plan is None or ledger.unavailable is not None:
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
) -> PublicationRun:
    """Load each period from ``first`` to ``last``; a failed period is reported and the others still load.
    Periods whose files are unchanged since their last load are skipped unless ``force``."""
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
        progress(f"[{index}/{len(periods)}] {publication.name} {period}: loading ...")
        result = load_period(pipeline, publication, period, ledger, force)
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
