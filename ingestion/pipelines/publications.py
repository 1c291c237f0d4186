"""Load publication periods into bronze with dlt: one load per period, so a bad period never touches another."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dlt

from ingestion import paths
from ingestion.errors import IngestionError, find_cause
from ingestion.ledger import Ledger
from ingestion.quality import catalog
from ingestion.quality.catalog import BronzeTable
from ingestion.sources.publications import PeriodPlan, manifest_resource, plan_period, publication_source
from ingestion.sources.publications.settings import Publication
from ingestion.warehouse import Warehouse

Progress = Callable[[str], None]


@dataclass
class PeriodResult:
    period: str
    status: str  # loaded | skipped | failed
    rows: dict[str, int] = field(default_factory=dict)
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

    def rows_loaded(self) -> int:
        return sum(sum(p.rows.values()) for p in self.periods)


def pipeline_for(publication: Publication, warehouse: Warehouse) -> dlt.Pipeline:
    os.environ.setdefault("DLT_PROJECT_DIR", str(paths.PROJECT_ROOT))  # finds the committed .dlt/config.toml
    return dlt.pipeline(
        pipeline_name=f"publications_{publication.name}_{warehouse.target}",
        destination=warehouse.dlt_destination(),
        dataset_name=publication.dataset,
        pipelines_dir=str(paths.state_dir() / "dlt"),
    )


def fingerprint(plan: PeriodPlan) -> str:
    """One hash over the period's files (name and sha256): equal fingerprints mean nothing to reload."""
    listing = "\n".join(sorted(f"{f.name}:{f.sha256}" for f in plan.files()))
    return hashlib.sha256(listing.encode()).hexdigest()


def load_period(pipeline: dlt.Pipeline, publication: Publication, period: str, ledger: Ledger,
                force: bool = False) -> PeriodResult:
    """Discover, extract and load one period as ledger stages. An unchanged period is skipped (NO_WORK) unless
    ``force``; on failure nothing of this period is loaded and the error says where."""
    started = time.monotonic()
    plan: PeriodPlan | None = None
    result = PeriodResult(period=period, status="failed")
    subject = f"{publication.name}/{period}"
    where = {"source": publication.name, "subject": subject}
    try:
        with ledger.stage("discover", **where) as stage:
            plan = plan_period(publication, period, paths.data_dir() / "cache")
            result.files = len(plan.files())
            for release in plan.files():
                parts = {p.name: p.classification for p in plan.parts if p.file.name == release.name}
                ledger.event("discover", "file_discovered", "success", parent=stage.event_id, details={
                    "file": release.name, "location": release.location, "sha256": release.sha256,
                    "size_bytes": release.size_bytes, "parts": parts}, **where)
            if plan.unexpected_files:
                ledger.event("discover", "file_discovered", "warn", parent=stage.event_id, **where,
                             message=f"files not declared in the config, ignored: {', '.join(plan.unexpected_files)}")
        print_ = fingerprint(plan)
        if not force and ledger.loaded_fingerprint(publication.name, subject) == print_:
            ledger.event("load", "load_skipped", "no_work", message="files unchanged since the last load; "
                         "--force reloads", fingerprint=print_, **where)
            result.status = "skipped"
            return result
        with ledger.stage("extract", **where) as stage:
            known = {spec.table: catalog.columns(ledger.warehouse, BronzeTable(publication.dataset, spec.table,
                                                                               (), None))
                     for spec in publication.tables()}
            extract = pipeline.extract(publication_source(plan, known_types=known), loader_file_format="parquet")
            stage.correlation_id = extract.loads_ids[-1] if extract.loads_ids else None
        with ledger.stage("load", **where) as stage:
            normalize = pipeline.normalize()
            pipeline.load()
            result.rows = {table: count for table, count in normalize.row_counts.items()
                           if not table.startswith("_dlt")}
            result.load_id = stage.correlation_id = normalize.loads_ids[-1] if normalize.loads_ids else None
            stage.rows, stage.details = sum(result.rows.values()), {"tables": result.rows}
        ledger.event("load", "load_completed", "success", correlation_id=result.load_id, rows=sum(result.rows.values()),
                     fingerprint=print_, details={"tables": result.rows}, **where)
        result.status = "loaded"
    except Exception as error:  # the period fails, the run goes on and reports it
        cause = find_cause(error, IngestionError)
        result.error = str(cause) if cause else f"{publication.name}, {period}: {_first_line(error)}"
    finally:
        result.seconds = time.monotonic() - started
    _record_manifest(pipeline, plan, ledger.run_id, result)
    return result


def _record_manifest(pipeline: dlt.Pipeline, plan: PeriodPlan | None, run_id: str, result: PeriodResult) -> None:
    if plan is None:
        return
    now = dt.datetime.now(dt.UTC)
    rows = [part.manifest_row(run_id, plan.publication.name, plan.period, result.status) | {"recorded_at": now}
            for part in plan.parts]
    rows += [{"run_id": run_id, "publication": plan.publication.name, "period": plan.period, "file_name": name,
              "part_kind": "file", "part_name": name, "classification": "ignored", "status": result.status,
              "recorded_at": now} for name in plan.unexpected_files]
    source = dlt.source(manifest_resource, name=plan.publication.name)  # same schema as the period's tables
    pipeline.run(source(rows))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def ingest_publication(publication: Publication, warehouse: Warehouse, run_id: str,
                       first: str | None = None, last: str | None = None, progress: Progress = print, *,
                       ledger: Ledger | None = None, force: bool = False) -> PublicationRun:
    """Load each period from ``first`` to ``last``; a failed period is reported and the others still load.
    Periods whose files are unchanged since their last load are skipped unless ``force``."""
    periods = publication.periods(first, last)
    if ledger is None:
        ledger = Ledger(warehouse, run_id)
        ledger.ensure_schema()
    pipeline = pipeline_for(publication, warehouse)
    run = PublicationRun(publication.name, run_id)
    for index, period in enumerate(periods, start=1):
        progress(f"[{index}/{len(periods)}] {publication.name} {period}: loading ...")
        result = load_period(pipeline, publication, period, ledger, force)
        run.periods.append(result)
        if result.status == "skipped":
            progress(f"[{index}/{len(periods)}] {publication.name} {period}: unchanged since its last load, "
                     "skipped (NO_WORK; --force reloads)")
        elif result.status == "loaded":
            tables = ", ".join(f"{table} {count:,}" for table, count in sorted(result.rows.items()))
            progress(f"[{index}/{len(periods)}] {publication.name} {period}: loaded {result.files} files "
                     f"({tables}) in {result.seconds:.1f}s")
        else:
            progress(f"[{index}/{len(periods)}] {publication.name} {period}: FAILED: {result.error}")
    return run
