"""Load the service desk with dlt and record load figures for every resource, failed loads included.

Inserted and updated rows are told apart without reading the data twice: merge never deletes, so
``inserted = rows after - rows before``, and ``updated`` = rows this load wrote with a cursor past the previous one,
minus the inserted ones (boundary rows re-read unchanged are not updates). The cursor of each resource is the one
its YAML declares (``updated_at`` for the local API, ``updated_on`` for Redmine): no system's column is in code.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import dlt
import requests
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.extract.exceptions import PipeException

from ingestion import paths
from ingestion.errors import find_cause
from ingestion.ledger import Ledger
from ingestion.pipelines.leftovers import discard_leftovers
from ingestion.redact import redact
from ingestion.sources.servicedesk import cursor_columns, load_config, servicedesk_source
from ingestion.sources.servicedesk.http import RequestStats
from ingestion.warehouse import Warehouse, find_unavailable, quote

Progress = Callable[[str], None]
OPS_DATASET = "ops"


@dataclass
class ResourceFigures:
    resource: str
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    retries: int = 0
    status: str = "success"
    error_message: str | None = None


@dataclass
class ServiceDeskRun:
    run_id: str
    status: str = "success"  # success | failed
    error: str | None = None
    load_id: str | None = None
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    ended_at: dt.datetime | None = None
    figures: list[ResourceFigures] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return ((self.ended_at or self.started_at) - self.started_at).total_seconds()

    def table(self) -> str:
        """The figures as a fixed-width table for the terminal."""
        lines = [f"  {'resource':<12}{'fetched':>9}{'inserted':>10}{'updated':>9}{'rejected':>10}{'retries':>9}"
                 f"  status"]
        for f in self.figures:
            lines.append(f"  {f.resource:<12}{f.fetched:>9,}{f.inserted:>10,}{f.updated:>9,}{f.rejected:>10,}"
                         f"{f.retries:>9,}  {f.status}")
        return "\n".join(lines)


def pipeline_for(warehouse: Warehouse, dataset: str) -> dlt.Pipeline:
    os.environ.setdefault("DLT_PROJECT_DIR", str(paths.PROJECT_ROOT))
    return dlt.pipeline(pipeline_name=f"servicedesk_{warehouse.target}", destination=warehouse.dlt_destination(),
                        dataset_name=dataset, pipelines_dir=str(paths.state_dir() / "dlt"))


def _table_state(warehouse: Warehouse, dataset: str, cursors: dict[str, str | None]) -> dict[str, tuple[int, object]]:
    """(row count, latest cursor value) per table, the cursor as declared; (0, None) for a table not created yet."""
    state = {}
    for table, cursor_column in cursors.items():
        if not warehouse.table_exists(dataset, table):
            state[table] = (0, None)
            continue
        latest = f"max({quote(cursor_column)})" if cursor_column else "null"
        state[table] = tuple(warehouse.query(f"select count(*), {latest} from {quote(dataset)}.{quote(table)}")[0])
    return state


def _rewritten(warehouse: Warehouse, dataset: str, table: str, load_id: str, newer_than: object,
               cursor_column: str | None) -> int:
    """Rows this load wrote whose cursor is past the previous cursor: inserted or really changed. Rows on the
    cursor boundary, re-read by the inclusive incremental, are rewritten unchanged and not counted."""
    placeholder = "?" if warehouse.target == "duckdb" else "%s"
    if cursor_column is None:
        newer_than = None  # no cursor column to compare: every row this load wrote
    condition = f" and {quote(cursor_column)} > {placeholder}" if newer_than is not None else ""
    parameters = (load_id, newer_than) if newer_than is not None else (load_id,)
    return int(warehouse.query(f"select count(*) from {quote(dataset)}.{quote(table)} where _dlt_load_id = "
                               f"{placeholder}"
                               f"{condition}", parameters)[0][0])


def describe_failure(error: BaseException) -> tuple[str, str | None]:
    """The failure in one line, every secret masked, and the resource it happened in."""
    text, resource = _describe_failure(error)
    return redact(text) or text, resource


def _describe_failure(error: BaseException) -> tuple[str, str | None]:
    """(message, resource) in the user's terms: the endpoint and status, or what is missing from the config."""
    resource = getattr(find_cause(error, PipeException) or error, "pipe_name", None)
    http = find_cause(error, requests.HTTPError)
    if isinstance(http, requests.HTTPError) and http.response is not None:
        response = http.response
        kind = "transient, retries exhausted" if response.status_code in (429, 500, 502, 503, 504) else "permanent"
        hint = "; check sources.servicedesk.token" if response.status_code in (401, 403) else ""
        return (f"servicedesk {resource or ''}: GET {response.request.path_url} answered {response.status_code} "
                f"{response.reason} ({kind}){hint}", resource)
    decode = find_cause(error, json.JSONDecodeError) or find_cause(error, requests.JSONDecodeError)
    if decode is not None:
        return f"servicedesk {resource or ''}: malformed JSON page ({decode}) (permanent)", resource
    timeout = find_cause(error, requests.Timeout) or find_cause(error, requests.ConnectionError)
    if timeout is not None:
        return f"servicedesk {resource or ''}: {type(timeout).__name__} after all retries: {timeout}", resource
    missing = find_cause(error, ConfigFieldMissingException)
    if missing is not None:
        return ("servicedesk: base_url or token not configured: set SOURCES__SERVICEDESK__BASE_URL and "
                "SOURCES__SERVICEDESK__TOKEN, or .dlt/secrets.toml (see .dlt/secrets.toml.example)", None)
    text = str(error).strip().splitlines()
    return f"servicedesk {resource or ''}: {text[-1] if text else type(error).__name__}", resource


def ingest_servicedesk(warehouse: Warehouse, run_id: str, *, full_refresh: bool = False,
                       base_url: str | None = None, token: str | None = None,
                       request_settings: dict | None = None, progress: Progress = print,
                       ledger: Ledger | None = None) -> ServiceDeskRun:
    """One incremental load of every resource (or all of it again with ``full_refresh``), then its figures,
    written to the run ledger as they happen."""
    config = load_config()
    dataset, tables = config["dataset"], [r["name"] for r in config["resources"]]
    cursors = cursor_columns(config)  # the declared cursor of each resource: no system's column names in code
    if ledger is None:
        ledger = Ledger(warehouse, run_id)
        ledger.ensure_schema()
    stage_event = ledger.event("load", "stage_started", "running", source="servicedesk",
                               details={"full_refresh": full_refresh})
    pipeline = pipeline_for(warehouse, dataset)
    for load_id in discard_leftovers(pipeline, ledger, "servicedesk"):
        progress(f"servicedesk: discarded an unfinished load package ({load_id}) left by an earlier run; its records "
                 "are fetched again from the last committed cursor")
    before = {t: (0, None) for t in tables} if full_refresh else _table_state(warehouse, dataset, cursors)
    stats, run = RequestStats(), ServiceDeskRun(run_id)
    credentials = {key: value for key, value in (("base_url", base_url), ("token", token)) if value}
    progress(f"servicedesk: loading {', '.join(tables)} into {warehouse.describe()}"
             f"{' (full refresh)' if full_refresh else ''} ...")
    failed_resource = None
    try:
        source = servicedesk_source(stats=stats, request_settings=request_settings, **credentials)
        pipeline.run(source, refresh="drop_sources" if full_refresh else None)
        load_info = pipeline.last_trace.last_load_info
        run.load_id = load_info.loads_ids[-1] if load_info and load_info.loads_ids else None
    except Exception as error:  # recorded as a failed load, with its figures
        unavailable = find_unavailable(error)
        if unavailable is not None:  # the run cannot go on; its package is discarded by the next run
            raise unavailable from error
        run.status = "failed"
        run.error, failed_resource = describe_failure(error)
    run.ended_at = dt.datetime.now(dt.UTC)
    after = _table_state(warehouse, dataset, cursors)
    for table in tables:
        inserted = max(after[table][0] - before[table][0], 0) if run.status == "success" else 0
        written = _rewritten(warehouse, dataset, table, run.load_id, before[table][1], cursors[table]) \
            if run.load_id else 0
        figures = ResourceFigures(table, fetched=stats.fetched[table], inserted=inserted,
                                  updated=max(written - inserted, 0), rejected=stats.rejected[table],
                                  retries=stats.transient[table], status=run.status)
        if run.status == "failed":
            figures.error_message = run.error if failed_resource in (None, table) else "not loaded: run failed"
        run.figures.append(figures)
    run.rejections = stats.rejections
    record_figures(warehouse, run)
    _record_events(ledger, run, stage_event)
    return run


def _record_events(ledger: Ledger, run: ServiceDeskRun, stage_event: str) -> None:
    for f in run.figures:
        where = {"source": "servicedesk", "subject": f.resource, "parent": stage_event}
        if f.retries:
            ledger.event("load", "retry", "success" if run.status == "success" else "failed", retries=f.retries,
                         error_class="retryable", message=f"{f.retries} transient failures retried", **where)
        ledger.event("load", "load_completed", f.status, correlation_id=run.load_id, rows=f.inserted + f.updated,
                     retries=f.retries, message=f.error_message,
                     details={k: getattr(f, k) for k in ("fetched", "inserted", "updated", "rejected")}, **where)
    permanent = run.error and "permanent" in run.error
    ledger.event("load", "stage_completed" if run.status == "success" else "stage_failed", run.status,
                 source="servicedesk", parent=stage_event, correlation_id=run.load_id, duration=run.seconds,
                 rows=sum(f.inserted + f.updated for f in run.figures), retries=sum(f.retries for f in run.figures),
                 error_class=None if run.status == "success" else "permanent" if permanent else "retryable",
                 message=run.error)


def record_figures(warehouse: Warehouse, run: ServiceDeskRun) -> None:
    """Append the figures to ``ops.servicedesk_load_figures``, where the run ledger picks them up."""
    rows = [asdict(f) | {"run_id": run.run_id, "load_id": run.load_id, "started_at": run.started_at,
                         "ended_at": run.ended_at, "duration_seconds": run.seconds} for f in run.figures]
    pipeline = dlt.pipeline(pipeline_name=f"ops_{warehouse.target}", destination=warehouse.dlt_destination(),
                            dataset_name=OPS_DATASET, pipelines_dir=str(paths.state_dir() / "dlt"))
    pipeline.run(rows, table_name="servicedesk_load_figures", write_disposition="append",
                 columns={"error_message": {"data_type": "text"}, "load_id": {"data_type": "text"}})
