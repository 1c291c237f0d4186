"""The whole pipeline as one run: ingest both source families, validate bronze, transform, document.

Every stage is a ledger stage with a name of its own (``discover``, ``extract``, ``load``, ``validate`` (the Great
Expectations suites), ``source_tests`` (dbt's tests of the sources), ``transform``, ``docs``, ``freshness``), so
``runs show`` can say where a run stopped. Stages are idempotent: unchanged
publication periods are skipped, the service desk resumes from its cursor, dbt rebuilds from bronze.

Validation comes first among the dbt-facing stages: the Great Expectations suites (``expectations/``) check the
periods just loaded, and each table's latest period, before anything reads bronze. A table that fails its suite
(drift the policy fails, a row check) leaves its source out of the build, as a failed load does (below): its silver
and gold keep what they held, the other sources are built, and the run ends FAILED. The next run validates again,
and builds it once the drift is fixed at the source or accepted into the suite (``ingestion drift --accept``).

A failed load does not freeze the other sources. A source whose load failed in this run (a publication with a
failed period, or the service desk) is left out of everything after ingestion: its bronze tables are not validated,
and every dbt node downstream of them (``--exclude source:<source>.<table>+``, the source names read with ``dbt
ls``; a model that also reads a healthy source is downstream of the failed one, so it is left out too) is neither
tested, built nor checked for freshness, so its silver and gold stay as they were. Tables a publication dataset
shares between publications (manifest, quarantine) are left out only while they do not exist (a first load that
failed). The other sources are validated and built as usual, and the run still ends FAILED, its error naming what
failed and saying what was built. Each source left out is recorded (a ``build_excluded`` event, before the
transform starts), so its loads, including periods of it that did load in this run, stay unbuilt
(:meth:`Ledger.unbuilt_loads`) and the next run that loads it cleanly validates and builds them. When every source
failed, nothing after ingestion runs; when none did, the run is as above.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ingestion.errors import describe
from ingestion.exports import ExportReport, export_gold
from ingestion.ledger import Ledger
from ingestion.pipelines.publications import PublicationRun, ingest_publication
from ingestion.pipelines.servicedesk import ServiceDeskRun, ingest_servicedesk
from ingestion.quality import catalog
from ingestion.quality.catalog import BronzeTable
from ingestion.quality.validate import ValidationReport, docs_dir, validate_bronze, warm_up
from ingestion.sources.publications.settings import load_publications
from ingestion.sources.servicedesk import dataset as servicedesk_dataset
from ingestion.sources.servicedesk import declared_systems, select_systems
from ingestion.sources.servicedesk.schema import SystemConfig
from ingestion.status import Outcome
from ingestion.transform import DbtResult, dbt_sources, run_dbt
from ingestion.warehouse import Warehouse

Progress = Callable[[str], None]


class StageFailed(Exception):
    """A stage failed; the run stops before the stages that depend on it."""


class ValidationFailed(StageFailed):
    """Bronze tables failed their suites: their sources are left out of the build, the others go on."""

    def __init__(self, message: str, tables: list[BronzeTable]) -> None:
        super().__init__(message)
        self.tables = tables


@dataclass
class RunOutcome:
    publications: list[PublicationRun] = field(default_factory=list)
    servicedesk: list[ServiceDeskRun] = field(default_factory=list)  # one per system
    dbt: list[DbtResult] = field(default_factory=list)
    validation: ValidationReport | None = None
    status: Outcome = Outcome.SUCCESS
    error: str | None = None

    def rows_loaded(self) -> int:
        desk = sum(f.inserted + f.updated for run in self.servicedesk for f in run.figures)
        return sum(run.rows_loaded() for run in self.publications) + desk


# -- which sources a run builds (pure) -------------------------------------------------------------------------------
SERVICEDESK = "servicedesk"  # the service desk's name as a source in the ledger


@dataclass(frozen=True)
class BuildScope:
    """The sources this run validates and builds, and those whose load failed, which it leaves as they were."""

    failed: dict[str, str]  # source -> what failed, e.g. "period 2025-06 failed"
    healthy: tuple[str, ...]

    def kept(self) -> str:
        names = ", ".join(self.failed)
        return f"{names} kept as {'it was' if len(self.failed) == 1 else 'they were'}"

    def built(self) -> str:
        """What a build that left the failed sources out did, for the run's error."""
        return f"silver and gold were built for {', '.join(self.healthy)}; {self.kept()}"


def build_scope(publications: list[PublicationRun], servicedesk: list[ServiceDeskRun]) -> BuildScope:
    """Every source that ran, split into those whose load failed in this run and the others. The service-desk
    systems share their canonical tables, so one failed system leaves the service desk as it was."""
    failed: dict[str, str] = {}
    healthy: list[str] = []
    for run in publications:
        periods = [p.period for p in run.failed]
        if periods:
            failed[run.publication] = f"period{'s' * (len(periods) > 1)} {', '.join(periods)} failed"
        else:
            healthy.append(run.publication)
    if servicedesk:
        broken = [run.system for run in servicedesk if run.status != "success"]
        if broken:
            failed[SERVICEDESK] = f"the service-desk load of {', '.join(broken)} failed"
        else:
            healthy.append(SERVICEDESK)
    return BuildScope(failed, tuple(healthy))


def excluded_selectors(tables: list[tuple[str, str]], sources: dict[tuple[str, str], str]) -> list[str]:
    """dbt selectors for everything downstream of ``tables`` ((dataset, table) of bronze tables dbt declares as
    sources): the table's source node and every test, model, snapshot and unit test that depends on it, directly or
    not."""
    return [f"source:{sources[table]}+" for table in dict.fromkeys(tables) if table in sources]


def source_tables(source: str) -> list[BronzeTable]:
    """The bronze tables a source writes: a publication's declared tables, or the service desk's resources. (A
    publication dataset's manifest and quarantine tables are shared by its publications and record failed loads
    too: they are no one publication's.)"""
    declared = load_publications()
    if source in declared:
        dataset, names = declared[source].dataset, {spec.table for spec in declared[source].tables()}
        return [table for table in catalog.declared_tables() if table.dataset == dataset and table.table in names]
    return [table for table in catalog.declared_tables() if table.dataset == servicedesk_dataset()]


def _dbt_stage(
    ledger: Ledger,
    stage: str,
    args: list[str],
    warehouse: Warehouse,
    outcome: RunOutcome,
    progress: Progress | None,
    scope: dict[str, Any] | None = None,
) -> None:
    with ledger.stage(stage, source="dbt") as handle:
        result = run_dbt(args, warehouse, progress=progress)
        outcome.dbt.append(result)
        handle.correlation_id = result.invocation_id
        handle.details = {
            "command": "dbt " + " ".join(args),
            "statuses": {f"{kind} {status}": count for (kind, status), count in result.statuses.items()},
            **(scope or {}),
        }
        ledger.dbt_results(stage, result, parent=handle.event_id)
        if not result.ok:
            raise StageFailed(f"dbt {' '.join(args)} failed: " + "; ".join(result.failures[:5]))


def export_stage(ledger: Ledger, warehouse: Warehouse, progress: Progress | None) -> ExportReport:
    """The gold models declared for export, as Parquet by period; rows, files and bytes per model in the ledger."""
    with ledger.stage("export", source="gold") as handle:
        try:
            report = export_gold(warehouse, ledger.run_id, progress=progress or (lambda _: None))
        except Exception as error:  # a full disk, a model not built, a wrong declaration: the run fails, recorded
            raise StageFailed(f"export failed: {describe(error)}") from error
        handle.rows = report.rows_written
        handle.details = report.details()
    if progress is not None:
        progress(f"  {report.summary()}")
    return report


def _validate_stage(
    ledger: Ledger,
    warehouse: Warehouse,
    outcome: RunOutcome,
    unbuilt: list[tuple[str, str]],
    progress: Progress,
    left_out: dict[BronzeTable, str] | None = None,
) -> None:
    """Validate what this run builds: the periods loaded now and those loaded since the last build, and the
    service desk's tables when it brought rows since then (the validation of a period that was built before is not
    repeated); not the tables in ``left_out`` (table -> the source whose load failed). When nothing is unbuilt (a
    ``--full-refresh`` of what was built), each table's latest period."""
    declared = load_publications()
    loaded: dict[str, set[str]] = {}
    for run in outcome.publications:
        periods = {p.period for p in run.periods if p.status == "loaded"}
        if periods:
            loaded.setdefault(declared[run.publication].dataset, set()).update(periods)
    for source, subject in unbuilt:
        if source in declared and subject:
            loaded.setdefault(declared[source].dataset, set()).add(subject.rsplit("/", 1)[-1])
        elif source == SERVICEDESK:
            loaded.setdefault(servicedesk_dataset(), set())
    left_out = left_out or {}
    only = [table for table in catalog.declared_tables() if table not in left_out] if left_out else None
    with ledger.stage("validate", source="great_expectations") as handle:
        report = validate_bronze(
            warehouse, loaded=loaded or None, ledger=ledger, docs=docs_dir(), progress=progress, only=only
        )
        report.skipped += [
            f"{table.name}: not validated, the load of {source} failed in this run"
            for table, source in left_out.items()
        ]
        outcome.validation = report
        handle.details = report.details()
        progress(report.summary())
        if not report.ok:
            failures = [text for check in report.failed for text in check.failures]
            raise ValidationFailed(
                "bronze failed validation: "
                + "; ".join(failures[:5])
                + (f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""),
                [check.table for check in report.failed],
            )


def run_pipeline(
    warehouse: Warehouse,
    ledger: Ledger,
    *,
    force: bool = False,
    full_refresh: bool = False,
    systems: list[SystemConfig] | None = None,
    servicedesk: dict[str, dict] | None = None,
    progress: Progress = print,
) -> RunOutcome:
    """Ingest, validate, transform, export. ``systems``: the service desks to load (default: every enabled
    declared one); ``servicedesk``: per system, base_url / secret overrides (else dlt config and secrets).
    A source whose load failed is left out of validation and dbt, the others are built (see the module doc).
    Incremental work starts over with ``full_refresh``: the service desks are read again in full (merged, nothing
    duplicated) and dbt rebuilds its incremental models from all of bronze (else only the periods loaded since)."""
    outcome = RunOutcome()
    with warehouse.kept_open():  # ingestion's ledger events, catalog queries and dlt's loads open the warehouse once
        for publication in load_publications().values():
            outcome.publications.append(
                ingest_publication(
                    publication,
                    warehouse,
                    ledger.run_id,
                    progress=progress,
                    ledger=ledger,
                    force=force,
                    on_extract=warm_up,  # once a period will load, GX starts in its worker process beside it
                )
            )
        for system in select_systems() if systems is None else systems:
            outcome.servicedesk.append(
                ingest_servicedesk(
                    warehouse,
                    ledger.run_id,
                    system,
                    ledger=ledger,
                    progress=progress,
                    full_refresh=full_refresh,
                    **(servicedesk or {}).get(system.system, {}),
                )
            )
    scope = build_scope(outcome.publications, outcome.servicedesk)
    notes = [p.error or "" for run in outcome.publications for p in run.failed] + (
        [
            run.error or f"the service-desk load of {run.system} failed"
            for run in outcome.servicedesk
            if run.status != "success"
        ]
    )
    if scope.failed:
        outcome.status, outcome.error = Outcome.FAILED, "; ".join(notes)
    if not scope.healthy:
        return outcome  # silver is not touched on top of a failed load
    try:
        left_out = _leave_out(ledger, scope)
        excluded = _excluded(warehouse, left_out) if left_out else []
        if scope.failed:
            progress(
                f"run: {'; '.join(f'{s}: {w}' for s, w in scope.failed.items())}: validating and building "
                f"{', '.join(scope.healthy)} only; {scope.kept()}"
            )
        unbuilt = ledger.unbuilt_loads()
        if not (force or full_refresh) and _nothing_to_build(ledger, outcome, scope, notes, unbuilt):
            return outcome  # nothing is validated either: what was built was validated then
        try:
            _validate_stage(ledger, warehouse, outcome, unbuilt, progress, left_out)
        except ValidationFailed as error:  # leave the sources of the failed tables out, build the others
            invalid = _owners(error.tables, scope)
            notes.append(f"{error}; silver and gold of {', '.join(invalid)} were left as they are")
            outcome.status, outcome.error = Outcome.FAILED, "; ".join(notes)
            scope = BuildScope(
                {**scope.failed, **{source: "bronze failed validation" for source in invalid}},
                tuple(source for source in scope.healthy if source not in invalid),
            )
            if not scope.healthy:
                return outcome
            left_out.update(_leave_out(ledger, BuildScope({s: scope.failed[s] for s in invalid}, scope.healthy)))
            excluded = _excluded(warehouse, left_out)
            progress(
                f"run: {', '.join(invalid)}: bronze failed validation: building {', '.join(scope.healthy)} "
                f"only; {scope.kept()}"
            )
        if not (force or full_refresh) and _nothing_to_build(ledger, outcome, scope, notes, unbuilt):
            return outcome
        details = (
            {"built_sources": list(scope.healthy), "excluded_sources": scope.failed, "excluded": excluded}
            if scope.failed
            else None
        )
        but = ["--exclude", *excluded] if excluded else []
        _dbt_stage(
            ledger, "source_tests", ["test", "--select", "source:*", *but], warehouse, outcome, progress, details
        )
        _dbt_stage(
            ledger,
            "transform",
            ["build", "--exclude", "source:*", *excluded, *(["--full-refresh"] if full_refresh else [])],
            warehouse,
            outcome,
            progress,
            details,
        )
        if scope.failed:
            notes.append(scope.built())
            outcome.error = "; ".join(notes)
            progress(f"run: {scope.built()}")
        export_stage(ledger, warehouse, progress)
        _dbt_stage(ledger, "docs", ["docs", "generate", "--static"], warehouse, outcome, progress)
        _dbt_stage(ledger, "freshness", ["source", "freshness", *but], warehouse, outcome, progress, details)
    except StageFailed as error:
        outcome.status, outcome.error = Outcome.FAILED, "; ".join([*notes, str(error)])
    return outcome


def _nothing_to_build(
    ledger: Ledger, outcome: RunOutcome, scope: BuildScope, notes: list[str], unbuilt: list[tuple[str, str]]
) -> bool:
    """True, with the run's NO_WORK (or, beside a failed source, its error) recorded, when none of the sources this
    run builds loaded anything since its last build."""
    if [load for load in unbuilt if load[0] not in scope.failed]:
        return False
    ledger.event(
        "transform",
        "stage_skipped",
        "no_work",
        message="nothing new was loaded; --force rebuilds" + (f" ({scope.kept()})" if scope.failed else ""),
    )
    if scope.failed:
        outcome.error = "; ".join(
            [*notes, f"nothing new to build for {', '.join(scope.healthy)}, so silver and gold were left as they are"]
        )
    else:
        outcome.status = Outcome.NO_WORK
    return True


def _owners(tables: list[BronzeTable], scope: BuildScope) -> list[str]:
    """The sources (of those this run builds) that write ``tables``; every one of them if none is known, so that
    nothing is built on top of bronze that failed its suites."""
    owners = [source for source in scope.healthy if set(source_tables(source)) & set(tables)]
    return owners or list(scope.healthy)


def _leave_out(ledger: Ledger, scope: BuildScope) -> dict[BronzeTable, str]:
    """Record each source this run leaves out of validation and dbt (before the transform starts, so that its
    loads stay unbuilt even if the run is killed); its bronze tables -> the source."""
    left_out: dict[BronzeTable, str] = {}
    for source, what in scope.failed.items():
        ledger.event(
            "transform",
            "build_excluded",
            "warn",
            source=source,
            message=(
                f"{source}: {what}, so its bronze is not validated and its silver and gold are not built in this run "
                f"(kept as they were); the other sources ({', '.join(scope.healthy)}) go on"
            ),
        )
        left_out.update({table: source for table in source_tables(source)})
    return left_out


def _excluded(warehouse: Warehouse, left_out: dict[BronzeTable, str]) -> list[str]:
    """The selectors of the tables left out and of the tables of their datasets that do not exist yet (the
    manifest, quarantine of a publication whose first load failed): nothing can be tested or built from those."""
    try:
        sources = dbt_sources(warehouse)
    except RuntimeError as error:
        raise StageFailed(f"could not list dbt's sources to leave the failed ones out: {error}") from error
    datasets = {table.dataset for table in left_out}
    missing = [
        (schema, table) for schema, table in sources if schema in datasets and not warehouse.table_exists(schema, table)
    ]
    return excluded_selectors([(t.dataset, t.table) for t in left_out] + missing, sources)


def bronze_counts(warehouse: Warehouse) -> list[tuple[str, str, int, int | None]]:
    """(dataset, table, rows, periods or None) for every declared bronze table that exists."""
    declared = [(p.dataset, spec.table, True) for p in load_publications().values() for spec in p.tables()]
    entities = {r.entity for system in declared_systems().values() for r in system.resources}
    declared += [(servicedesk_dataset(), entity, False) for entity in sorted(entities)]
    counts = []
    for dataset, table, by_period in declared:
        if warehouse.table_exists(dataset, table):
            periods = "count(distinct _period)" if by_period else "null"
            rows, period_count = warehouse.query(f"select count(*), {periods} from {dataset}.{table}")[0]
            counts.append((dataset, table, rows, period_count))
    return counts
