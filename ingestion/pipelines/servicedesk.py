"""Load one declared service-desk system with dlt and record load figures for every resource, failed loads included.

Each system has its own dlt pipeline (``servicedesk_<system>_<target>``: its own cursors) and writes the canonical
tables of ``bronze_servicedesk``, its rows told apart by ``source_system``. Inserted and updated rows are told
apart without reading the data twice: merge never deletes, so ``inserted = rows after - rows before`` (of this
system), and ``updated`` = rows this load wrote with a cursor past the previous one, minus the inserted ones
(boundary rows re-read unchanged are not updates). The cursor is the one each resource declares, read in the
canonical column it maps to (``updated_at`` for a resource without a cursor of its own): no system's column names
are in code. The figures are taken from what is in bronze
after the run, so they are right even when the run failed part way.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import dlt
import requests
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.extract.exceptions import PipeException
from dlt.pipeline.exceptions import PipelineNeverRan, PipelineStepFailed
from dlt.pipeline.helpers import pipeline_drop

from ingestion import paths
from ingestion.errors import ConfigError, find_cause
from ingestion.ledger import Ledger, Stage
from ingestion.pipelines.factory import dlt_pipeline
from ingestion.pipelines.leftovers import discard_leftovers
from ingestion.redact import redact
from ingestion.sources.servicedesk import (
    DELETIONS,
    SCAN,
    KnownKeys,
    ServiceDeskAuthError,
    check_identity,
    cursor_column,
    dataset,
    declared_systems,
    describe_secret,
    resolve_credentials,
    servicedesk_source,
)
from ingestion.sources.servicedesk.http import RequestStats, retrying_session
from ingestion.sources.servicedesk.mapping import SOURCE_SYSTEM
from ingestion.sources.servicedesk.schema import Resource, SystemConfig, canonical
from ingestion.warehouse import SparkWarehouse, Warehouse, find_unavailable

Progress = Callable[[str], None]
OPS_DATASET = "ops"
SOURCE = "servicedesk"  # the service desk's name as a source in the ledger and in dbt


@dataclass
class ResourceFigures:
    resource: str
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    retries: int = 0
    skipped: int = 0
    deleted: int = 0
    recovered: int = 0  # listed by the system but missing from bronze and the incremental read: loaded now
    status: str = "success"
    error_message: str | None = None
    source_system: str = ""
    bronze_table: str = ""


@dataclass
class ServiceDeskRun:
    run_id: str
    system: str = ""
    status: str = "success"  # success | failed
    error: str | None = None
    load_id: str | None = None
    identity: str | None = None
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    ended_at: dt.datetime | None = None
    figures: list[ResourceFigures] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return ((self.ended_at or self.started_at) - self.started_at).total_seconds()

    @property
    def rows_loaded(self) -> int:
        return sum(f.inserted + f.updated for f in self.figures)

    @property
    def recovered(self) -> int:
        return sum(f.recovered for f in self.figures)

    @property
    def changed(self) -> int:
        """Records written or marked deleted: 0 for a run that found nothing new (NO_WORK)."""
        return sum(f.inserted + f.updated + f.deleted + f.recovered for f in self.figures)

    def table(self) -> str:
        """The figures as a fixed-width table for the terminal."""
        lines = [
            f"  {'resource':<14}{'fetched':>9}{'skipped':>9}{'inserted':>10}{'updated':>9}{'rejected':>10}"
            f"{'deleted':>9}{'retries':>9}  status"
        ]
        for f in self.figures:
            lines.append(
                f"  {f.resource:<14}{f.fetched:>9,}{f.skipped:>9,}{f.inserted:>10,}{f.updated:>9,}"
                f"{f.rejected:>10,}{f.deleted:>9,}{f.retries:>9,}  {f.status}"
            )
        return "\n".join(lines)


def pipeline_for(warehouse: Warehouse, system: str) -> dlt.Pipeline:
    """The system's own dlt pipeline (its own cursors), ``servicedesk_<system>_<target>``."""
    return dlt_pipeline(f"servicedesk_{system}", warehouse, dataset())


def change_column(system: SystemConfig, resource: Resource) -> str | None:
    """The column that tells a changed record from one re-read unchanged: the canonical column the resource's cursor
    fills, else the entity's ``updated_at`` (a child resource, such as Redmine's journals, has no cursor of its
    own)."""
    column = cursor_column(system, resource)
    if column is None and "updated_at" in canonical().entities[resource.entity].columns:
        column = "updated_at"
    return column


def _system_filter(warehouse: Warehouse) -> str:
    return f"{warehouse.quote(SOURCE_SYSTEM)} = ?"


def _table_state(warehouse: Warehouse, system: SystemConfig) -> dict[str, tuple[int, object]]:
    """(this system's row count, its latest cursor value) per resource's table; (0, None) before its first load."""
    state: dict[str, tuple[int, object]] = {}
    for resource in system.resources:
        if not warehouse.table_exists(dataset(), resource.entity):
            state[resource.name] = (0, None)
            continue
        column = change_column(system, resource)
        latest = f"max({warehouse.quote(column)})" if column else "null"
        rows = warehouse.query(
            f"select count(*), {latest} from {warehouse.quote(dataset())}.{warehouse.quote(resource.entity)} "
            f"where {_system_filter(warehouse)}",
            (system.system,),
        )
        state[resource.name] = (int(rows[0][0]), rows[0][1])
    return state


def _rewritten(
    warehouse: Warehouse, system: SystemConfig, entity: str, load_id: str, newer_than: object, column: str | None
) -> int:
    """Rows of this system the load wrote whose cursor is past the previous cursor: inserted or really changed.
    Rows on the cursor boundary, re-read by the inclusive incremental, are rewritten unchanged and not counted."""
    if column is None:
        newer_than = None  # no cursor column to compare: every row this load wrote
    condition = f" and {warehouse.quote(column)} > ?" if newer_than is not None and column else ""
    parameters = (system.system, load_id, newer_than) if condition else (system.system, load_id)
    if not warehouse.table_exists(dataset(), entity):
        return 0
    return int(
        warehouse.query(
            f"select count(*) from {warehouse.quote(dataset())}.{warehouse.quote(entity)} where "
            f"{_system_filter(warehouse)} and _dlt_load_id = ?{condition}",
            parameters,
        )[0][0]
    )


def _legacy_tables(warehouse: Warehouse, system: SystemConfig) -> list[str]:
    """Tables of this dataset written before systems were declared (no source_system column)."""
    found = []
    for entity in {resource.entity for resource in system.resources}:
        if warehouse.table_exists(dataset(), entity):
            connection = warehouse.connect()
            try:
                columns = warehouse.column_types(connection, dataset(), entity)
            finally:
                connection.close()
            if SOURCE_SYSTEM not in columns:
                found.append(f"{dataset()}.{entity}")
    return sorted(found)


def known_keys(warehouse: Warehouse, system: SystemConfig) -> KnownKeys:
    """For a deletion check: (keys of this system's records of an entity in bronze, keys earlier scans missed ->
    in how many scans in a row; a marked deletion included)."""

    def read(entity: str, key: str) -> tuple[set[str], dict[str, int]]:
        present: set[str] = set()
        if warehouse.table_exists(dataset(), entity):
            present = {
                str(value)
                for (value,) in warehouse.query(
                    f"select {warehouse.quote(key)} from {warehouse.quote(dataset())}.{warehouse.quote(entity)} "
                    f"where {_system_filter(warehouse)}",
                    (system.system,),
                )
            }
        missed: dict[str, int] = {}
        if warehouse.table_exists(dataset(), DELETIONS):
            missed = {
                value: int(count)
                for value, count in warehouse.query(
                    f"select record_key, missed_scans from {warehouse.quote(dataset())}.{DELETIONS} where "
                    f"{_system_filter(warehouse)} and entity = ? and missed_scans > 0",
                    (system.system, entity),
                )
            }
        return present, missed

    return read


def _deleted(warehouse: Warehouse, system: SystemConfig, load_id: str | None) -> dict[str, int]:
    """Entity -> records this load marked deleted (read back from bronze: right even if a later step failed)."""
    if not load_id or not warehouse.table_exists(dataset(), DELETIONS):
        return {}
    return dict(
        warehouse.query(
            f"select entity, count(*) from {warehouse.quote(dataset())}.{DELETIONS} where "
            f"{_system_filter(warehouse)} and _dlt_load_id = ? and is_deleted "
            "group by entity",
            (system.system, load_id),
        )
    )


def describe_failure(error: BaseException, system: SystemConfig | None = None) -> tuple[str, str | None]:
    """The failure in one line, every secret masked, and the resource it happened in."""
    text, resource = _describe_failure(error, system)
    return redact(text) or text, resource


def _describe_failure(error: BaseException, system: SystemConfig | None) -> tuple[str, str | None]:
    """(message, resource) in the user's terms: the endpoint and status, or what is missing from the config."""
    name = f"servicedesk {system.system}" if system else "servicedesk"
    resource = getattr(find_cause(error, PipeException) or error, "pipe_name", None)
    if resource and SCAN in resource:  # a deletion check's own resources: named as the check of the resource
        resource = resource.split(SCAN)[0]
        where = f"{name} {resource} (its deletion check, deletions: full_scan)"
    else:
        where = f"{name} {resource}" if resource else name
    for stop in (ServiceDeskAuthError, ConfigError):
        cause = find_cause(error, stop)
        if cause is not None:
            return f"{cause} (permanent)", resource
    http = find_cause(error, requests.HTTPError)
    if isinstance(http, requests.HTTPError) and http.response is not None:
        response = http.response
        kind = "transient, retries exhausted" if response.status_code in (429, 500, 502, 503, 504) else "permanent"
        hint = f"; check {describe_secret(system)}" if response.status_code in (401, 403) and system else ""
        return (
            f"{where}: GET {response.request.path_url} answered {response.status_code} {response.reason} "
            f"({kind}){hint}",
            resource,
        )
    decode = find_cause(error, json.JSONDecodeError) or find_cause(error, requests.JSONDecodeError)
    if decode is not None:
        return f"{where}: malformed JSON page ({decode}) (permanent)", resource
    timeout = find_cause(error, requests.Timeout) or find_cause(error, requests.ConnectionError)
    if timeout is not None:
        return f"{where}: {type(timeout).__name__} after all retries: {timeout}", resource
    missing = find_cause(error, ConfigFieldMissingException)
    if missing is not None:
        return f"{name}: a setting is not configured: {missing} (permanent)", None
    text = str(error).strip().splitlines()
    return f"{where}: {text[-1] if text else type(error).__name__}", resource


def _system(system: SystemConfig | str) -> SystemConfig:
    if isinstance(system, SystemConfig):
        return system
    declared = declared_systems()
    if system not in declared:
        raise ConfigError(f"no service-desk system {system!r}; declared: {', '.join(declared) or 'none'}")
    return declared[system]


def _reset_cursors(pipeline: dlt.Pipeline, system: SystemConfig) -> None:
    """A full refresh reads every record again: the resources' cursors are reset (dlt's state-only drop), the
    tables are kept (other systems' rows are in them; every record read is merged on its key)."""
    try:
        pipeline.sync_destination()
        pipeline_drop(pipeline, resources=[resource.name for resource in system.resources], state_only=True)()
    except PipelineNeverRan:
        pass  # nothing loaded yet: every record is read anyway


def ingest_servicedesks(
    warehouse: Warehouse,
    ledger: Ledger,
    systems: list[SystemConfig],
    *,
    full_refresh: bool = False,
    progress: Progress = print,
) -> list[ServiceDeskRun]:
    """One load of each system in ``systems`` (see :func:`ingest_servicedesk`); a ConfigError if there is none."""
    if not systems:
        raise ConfigError("no service-desk system is enabled: give --system NAME or --config FILE")
    return [
        ingest_servicedesk(
            warehouse, ledger.run_id, system, full_refresh=full_refresh, ledger=ledger, progress=progress
        )
        for system in systems
    ]


def retry_hint(system: str) -> str:
    """How to load ``system`` again: by name if it is declared, else from its file."""
    how = f"--system {system}" if system in declared_systems() else "--config <its file>"
    return f"ingestion servicedesk {how}"


def ingest_servicedesk(
    warehouse: Warehouse,
    run_id: str,
    system: SystemConfig | str,
    *,
    full_refresh: bool = False,
    base_url: str | None = None,
    secret: str | None = None,
    username: str | None = None,
    request_settings: dict[str, Any] | None = None,
    progress: Progress = print,
    ledger: Ledger | None = None,
) -> ServiceDeskRun:
    """One incremental load of every resource of ``system`` (or all of it again with ``full_refresh``), then its
    figures, written to the run ledger as they happen. ``base_url`` / ``secret`` / ``username`` override dlt's
    config and secrets."""
    system = _system(system)
    if ledger is None:
        ledger = Ledger(warehouse, run_id)
        ledger.ensure_schema()
    with ledger.stage(
        "load",
        source=SOURCE,
        subject=system.system,
        details={"system": system.system, "full_refresh": full_refresh},
    ) as stage:
        run = _load(
            warehouse,
            run_id,
            system,
            stage,
            ledger,
            full_refresh=full_refresh,
            base_url=base_url,
            secret=secret,
            username=username,
            request_settings=request_settings,
            progress=progress,
        )
        stage.correlation_id, stage.rows = run.load_id, run.rows_loaded
        stage.retries = sum(f.retries for f in run.figures)
        stage.details = {"system": run.system, "identity": run.identity}
        if run.status != "success":
            permanent = run.error and "permanent" in run.error
            stage.fail(run.error, "permanent" if permanent else "retryable")
    return run


def _load(
    warehouse: Warehouse,
    run_id: str,
    system: SystemConfig,
    stage: Stage,
    ledger: Ledger,
    *,
    full_refresh: bool,
    base_url: str | None,
    secret: str | None,
    username: str | None,
    request_settings: dict[str, Any] | None,
    progress: Progress,
) -> ServiceDeskRun:
    """The load inside its ledger stage: the figures of every resource, failed loads included."""
    pipeline = pipeline_for(warehouse, system.system)
    for load_id in discard_leftovers(pipeline, ledger, SOURCE):
        progress(
            f"servicedesk {system.system}: discarded an unfinished load package ({load_id}) left by an earlier "
            "run; its records are fetched again from the last committed cursor"
        )
    stats, run = RequestStats(), ServiceDeskRun(run_id, system=system.system)
    names = ", ".join(f"{r.name} -> {r.entity}" if r.name != r.entity else r.name for r in system.resources)
    progress(
        f"servicedesk {system.system}: loading {names} into {warehouse.describe()}"
        f"{' (full refresh)' if full_refresh else ''} ..."
    )
    whole = [r.name for r in system.resources if r.full_reread]
    if whole:
        progress(
            f"servicedesk {system.system}: {', '.join(whole)}: the API has no filter for changed records, so "
            "every record is read and only the changed ones are written (full_reread)"
        )
    before: dict[str, tuple[int, object]] = {r.name: (0, None) for r in system.resources}
    failed_resource, legacy = None, _legacy_tables(warehouse, system)
    try:
        if legacy:
            raise ConfigError(
                f"{', '.join(legacy)} {'was' if len(legacy) == 1 else 'were'} written by a version of the project "
                "before several service desks could be declared (no source_system column); drop them once, with "
                "the snapshots built on them (for example `drop schema "
                f"{dataset()} cascade; drop table snapshots.snap_servicedesk__tickets; drop table "
                "snapshots.snap_servicedesk__users`), and load again: the API still holds every record"
            )
        before = _table_state(warehouse, system)
        credentials = resolve_credentials(system, base_url=base_url, secret=secret, username=username)
        settings = system.requests.model_dump() | (request_settings or {})
        run.identity = check_identity(system, credentials, retrying_session(stats, settings))
        if run.identity:
            progress(f"servicedesk {system.system}: signed in as {run.identity}")
        if full_refresh:
            _reset_cursors(pipeline, system)
        source = servicedesk_source(
            system,
            credentials,
            stats=stats,
            request_settings=request_settings,
            known_keys=known_keys(warehouse, system),
        )
        lake = warehouse if isinstance(warehouse, SparkWarehouse) else None
        if lake:  # a lake has no merge: readers show each record's latest version (macros/lake_sources.sql)
            for resource in source.resources.values():
                resource.apply_hints(write_disposition="append")
        try:
            if lake:  # the lake's files are Parquet, as the readers on Spark and DuckDB expect
                pipeline.run(source, loader_file_format="parquet")
            else:
                pipeline.run(source)
        finally:
            if lake:
                lake.refresh_views()
        load_info = pipeline.last_trace.last_load_info if pipeline.last_trace else None
        run.load_id = load_info.loads_ids[-1] if load_info and load_info.loads_ids else None
    except Exception as error:  # recorded as a failed load, with its figures
        unavailable = find_unavailable(error)
        if unavailable is not None:  # the run cannot go on; its package is discarded by the next run
            raise unavailable from error
        run.status = "failed"
        run.error, failed_resource = describe_failure(error, system)
        failed_step = find_cause(error, PipelineStepFailed)
        if isinstance(failed_step, PipelineStepFailed) and failed_step.step == "load":
            run.load_id = failed_step.load_id  # some tables may have been merged: counted from bronze below
    run.ended_at = dt.datetime.now(dt.UTC)
    after = before if legacy else _table_state(warehouse, system)
    deleted = {} if legacy else _deleted(warehouse, system, run.load_id)
    for resource in system.resources:
        name = resource.name
        inserted = max(after[name][0] - before[name][0], 0)
        written = (
            _rewritten(
                warehouse, system, resource.entity, run.load_id, before[name][1], change_column(system, resource)
            )
            if run.load_id
            else 0
        )
        figures = ResourceFigures(
            name,
            fetched=stats.fetched[name],
            inserted=inserted,
            updated=max(written - inserted, 0),
            rejected=stats.rejected[name],
            retries=stats.transient[name],
            skipped=stats.skipped[name],
            deleted=deleted.get(resource.entity, 0) if resource.deletions else 0,
            recovered=stats.recovered[name] if run.status == "success" else 0,
            status=run.status,
            source_system=system.system,
            bronze_table=resource.entity,
        )
        if run.status == "failed":
            figures.error_message = run.error if failed_resource in (None, name) else "not loaded: run failed"
        run.figures.append(figures)
    run.rejections = stats.rejections
    record_figures(warehouse, run)
    _record_events(ledger, run, stage.event_id)
    return run


def _record_events(ledger: Ledger, run: ServiceDeskRun, stage_event: str) -> None:
    for f in run.figures:
        where: dict[str, Any] = {"source": SOURCE, "subject": f"{run.system}.{f.resource}", "parent": stage_event}
        if f.retries:
            ledger.event(
                "load",
                "retry",
                "success" if run.status == "success" else "failed",
                retries=f.retries,
                error_class="retryable",
                message=f"{f.retries} transient failures retried",
                **where,
            )
        ledger.event(
            "load",
            "load_completed",
            f.status,
            correlation_id=run.load_id,
            rows=f.inserted + f.updated,
            retries=f.retries,
            message=f.error_message,
            details={
                k: getattr(f, k)
                for k in ("fetched", "skipped", "inserted", "updated", "rejected", "deleted", "recovered")
            }
            | {"system": run.system},
            **where,
        )
        if f.recovered:
            ledger.event(
                "load",
                "records_recovered",
                "warn",
                rows=f.recovered,
                message=(
                    f"{run.system} {f.resource}: {f.recovered} records the system lists were in neither bronze nor "
                    "this run's incremental read (a page shifted under a concurrent change); the deletion check "
                    "loaded them"
                ),
                **where,
            )


def record_figures(warehouse: Warehouse, run: ServiceDeskRun) -> None:
    """Append the figures to ``ops.servicedesk_load_figures``, where the run ledger picks them up."""
    rows = [
        asdict(f)
        | {
            "run_id": run.run_id,
            "load_id": run.load_id,
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "duration_seconds": run.seconds,
        }
        for f in run.figures
    ]
    for row in rows:
        row["error_message"] = redact(row["error_message"])
    pipeline = dlt_pipeline("ops", warehouse, paths.schema(OPS_DATASET), destination=warehouse.ledger_destination())
    pipeline.run(
        rows,
        table_name="servicedesk_load_figures",
        write_disposition="append",
        columns={
            "error_message": {"data_type": "text"},
            "load_id": {"data_type": "text"},
            "source_system": {"data_type": "text"},
        },
    )
