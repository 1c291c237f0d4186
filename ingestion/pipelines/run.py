"""The whole pipeline as one run: ingest both source families, validate bronze, transform, export.

Every stage is a ledger stage, so ``runs show`` can say where a run stopped. Stages are idempotent: unchanged
publication periods are skipped, the service desk resumes from its cursor, dbt rebuilds from bronze.

Validation comes first among the dbt-facing stages: the Great Expectations suites (``expectations/``) check the
periods just loaded, and each table's latest period, before anything reads bronze. Drift their policy fails stops
the run there, so silver and gold keep what they held; the next run validates again, and goes on to build once the
drift is fixed at the source or accepted into the suite (``ingestion drift --accept``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ingestion.ledger import Ledger
from ingestion.pipelines.publications import PublicationRun, ingest_publication
from ingestion.pipelines.servicedesk import ServiceDeskRun, ingest_servicedesk
from ingestion.quality.validate import ValidationReport, docs_dir, validate_bronze
from ingestion.sources.publications.settings import load_publications
from ingestion.transform import DbtResult, run_dbt
from ingestion.warehouse import Warehouse

Progress = Callable[[str], None]


class StageFailed(Exception):
    """A stage failed; the run stops before the stages that depend on it."""


@dataclass
class RunOutcome:
    publications: list[PublicationRun] = field(default_factory=list)
    servicedesk: ServiceDeskRun | None = None
    dbt: list[DbtResult] = field(default_factory=list)
    validation: ValidationReport | None = None
    status: str = "success"  # success | no_work | failed
    error: str | None = None

    def rows_loaded(self) -> int:
        desk = sum(f.inserted + f.updated for f in self.servicedesk.figures) if self.servicedesk else 0
        return sum(run.rows_loaded() for run in self.publications) + desk


def _dbt_stage(ledger: Ledger, stage: str, args: list[str], warehouse: Warehouse, outcome: RunOutcome,
               echo: bool) -> None:
    with ledger.stage(stage, source="dbt") as handle:
        result = run_dbt(args, warehouse, echo=echo)
        outcome.dbt.append(result)
        handle.correlation_id = result.invocation_id
        handle.details = {"command": "dbt " + " ".join(args), "statuses": {
            f"{kind} {status}": count for (kind, status), count in result.statuses.items()}}
        ledger.dbt_results(stage, result, parent=handle.event_id)
        if not result.ok:
            raise StageFailed(f"dbt {' '.join(args)} failed: " + "; ".join(result.failures[:5]))


def _validate_stage(ledger: Ledger, warehouse: Warehouse, outcome: RunOutcome, unbuilt: list[tuple[str, str]],
                    progress: Progress) -> None:
    """Validate the periods loaded now and those loaded since the last build (and each table's latest period)."""
    declared = load_publications()
    loaded: dict[str, set[str]] = {}
    for run in outcome.publications:
        periods = {p.period for p in run.periods if p.status == "loaded"}
        loaded.setdefault(declared[run.publication].dataset, set()).update(periods)
    for source, subject in unbuilt:
        if source in declared and subject:
            loaded.setdefault(declared[source].dataset, set()).add(subject.rsplit("/", 1)[-1])
    with ledger.stage("validate", source="great_expectations") as handle:
        report = validate_bronze(warehouse, loaded=loaded, ledger=ledger, docs=docs_dir(), progress=progress)
        outcome.validation = report
        handle.details = report.details()
        progress(report.summary())
        if not report.ok:
            failures = [text for check in report.failed for text in check.failures]
            raise StageFailed("bronze failed validation, so silver and gold were left as they are: "
                              + "; ".join(failures[:5]) + (f" (and {len(failures) - 5} more)" if len(failures) > 5
                                                           else ""))


def run_pipeline(warehouse: Warehouse, ledger: Ledger, *, force: bool = False,
                 servicedesk: dict | None = None, echo_dbt: bool = True, progress: Progress = print) -> RunOutcome:
    """Ingest, validate, transform, export. ``servicedesk`` holds base_url/token overrides (else dlt config)."""
    outcome = RunOutcome()
    for publication in load_publications().values():
        outcome.publications.append(ingest_publication(publication, warehouse, ledger.run_id, progress=progress,
                                                       ledger=ledger, force=force))
    outcome.servicedesk = ingest_servicedesk(warehouse, ledger.run_id, ledger=ledger, progress=progress,
                                             **(servicedesk or {}))
    failed = [p for run in outcome.publications for p in run.failed]
    if failed or outcome.servicedesk.status != "success":
        outcome.status = "failed"
        outcome.error = "; ".join([p.error or "" for p in failed] + [outcome.servicedesk.error or ""]).strip("; ")
        return outcome  # silver is not touched on top of a failed load
    try:
        unbuilt = ledger.unbuilt_loads()
        _validate_stage(ledger, warehouse, outcome, unbuilt, progress)
        if not force and not unbuilt:
            ledger.event("transform", "stage_skipped", "no_work", message="nothing new was loaded; --force rebuilds")
            outcome.status = "no_work"
            return outcome
        _dbt_stage(ledger, "validate", ["test", "--select", "source:*"], warehouse, outcome, echo_dbt)
        _dbt_stage(ledger, "transform", ["build", "--exclude", "source:*"], warehouse, outcome, echo_dbt)
        _dbt_stage(ledger, "export", ["docs", "generate", "--static"], warehouse, outcome, echo_dbt)
        _dbt_stage(ledger, "export", ["source", "freshness"], warehouse, outcome, echo_dbt)
    except StageFailed as error:
        outcome.status, outcome.error = "failed", str(error)
    return outcome
