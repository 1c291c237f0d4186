"""What the run report shows, read from where the runs recorded it: the ledger (``ops.run_events``), each
publication dataset's manifest and quarantine, the suites in ``expectations/``, and dbt's ``sources.json`` and
``manifest.json``. Plain rows (dicts) out, one query per figure; nothing here draws."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestion import runs
from ingestion.exports.catalog import CATALOG
from ingestion.exports.parquet import export_dir
from ingestion.ledger import Ledger, ops_schema
from ingestion.quality import catalog
from ingestion.quality.suites import Suite
from ingestion.sources.publications.settings import load_publications
from ingestion.status import RunStatus
from ingestion.warehouse import Warehouse

Rows = list[dict[str, Any]]
RUNS_SHOWN = 30


@dataclass
class LatestRun:
    run_id: str
    status: str
    command: str
    started_at: str
    seconds: float
    failure: str | None = None
    error: str | None = None
    resume: str | None = None


@dataclass
class ReportData:
    target: str
    warehouse: str
    generated_at: str
    latest: LatestRun | None = None
    runs: Rows = field(default_factory=list)  # run_id, label, started_at, status, seconds
    stages: Rows = field(default_factory=list)  # run_id, label, stage, seconds
    volumes: Rows = field(default_factory=list)  # table, period, rows, previous_rows, warning
    drift: Rows = field(default_factory=list)  # table, period, change, columns, column_count
    validation: Rows = field(default_factory=list)  # table, period, status, message
    quarantine: Rows = field(default_factory=list)  # table, disposition, rows
    freshness: Rows = field(default_factory=list)  # source, status, hours, max_loaded_at
    models: Rows = field(default_factory=list)  # name, unique_id, layer, description
    gx_pages: Rows = field(default_factory=list)  # table, title, path (relative to the target folder)
    exports: Rows = field(default_factory=list)  # model, files, rows, periods, last_updated, path, lineage
    export_catalog: str | None = None  # the catalog's path, relative to the target folder's parent


def _iso(moment: object) -> str:
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(moment or "")


def _table_of(subject: str | None) -> tuple[str, str]:
    """``practice_detail/2025-06`` -> (practice_detail, 2025-06); a table checked whole has no period."""
    table, _, period = (subject or "-").partition("/")
    return table, period or "(all)"


def collect(warehouse: Warehouse, target_dir: Path) -> ReportData:
    """Everything the report shows, from ``warehouse`` and dbt's files in ``target_dir``."""
    data = ReportData(warehouse.target, warehouse.describe(), _iso(dt.datetime.now(dt.UTC)))
    ledger = Ledger(warehouse, "-")
    with warehouse.kept_open():  # one connection for every query (DuckDB opens its file once)
        if warehouse.table_exists(ops_schema(), "run_events"):
            _runs(data, ledger, warehouse)
            _validation_and_drift(data, warehouse)
        _volumes(data, warehouse)
        _quarantine(data, warehouse)
    _accepted_drift(data)
    _freshness(data, target_dir / "sources.json")
    _models(data, target_dir / "manifest.json")
    _gx_pages(data, target_dir / "gx_docs")
    _exports(data, export_dir(), target_dir)
    return data


def _exports(data: ReportData, root: Path, target_dir: Path) -> None:
    """The export's catalog (``export/datapackage.json``) as a reader would first ask it: per model its files,
    rows, periods, last update and what it is built from."""
    catalog = root / CATALOG
    if not catalog.exists():
        return
    data.export_catalog = os.path.relpath(catalog, target_dir / "report")
    for name, model in sorted(json.loads(catalog.read_text()).get("models", {}).items()):
        periods = model.get("periods") or {}
        lineage = model.get("lineage") or {}
        data.exports.append(
            {
                "model": name,
                "files": len(model.get("resources", [])),
                "rows": model.get("rows"),
                "periods": f"{periods['first']} .. {periods['last']}" if periods else "(one file)",
                "last_updated": model.get("last_updated"),
                "path": os.path.relpath(root / model["files"].split("/", 1)[0], target_dir / "report"),
                "built_from": ", ".join(lineage.get("bronze_tables", [])),
                "release_files": len(lineage.get("release_files", [])),
            }
        )


def _runs(data: ReportData, ledger: Ledger, warehouse: Warehouse) -> None:
    shown = runs.recent_runs(ledger, RUNS_SHOWN)
    for view in reversed(shown):  # oldest first, as the charts read left to right
        label = f"{view.started_at:%m-%d %H:%M:%S}"
        data.runs.append(
            {
                "run_id": view.run_id,
                "label": label,
                "started_at": _iso(view.started_at),
                "status": str(view.status),
                "seconds": round(view.seconds, 1),
                "command": "ingestion " + shlex.join(view.argv),
                "rows": view.rows,
            }
        )
        for event in view.events:
            if event["event_type"] in ("stage_completed", "stage_failed") and event["stage"] != "run":
                data.stages.append(
                    {
                        "run_id": view.run_id,
                        "label": label,
                        "stage": event["stage"],
                        "seconds": float(event["duration_seconds"] or 0),
                    }
                )
    if shown:
        latest = shown[0]
        failure = latest.failure()
        resume = runs.resume_argv(latest)
        data.latest = LatestRun(
            latest.run_id,
            str(latest.status),
            "ingestion " + shlex.join(latest.argv),
            _iso(latest.started_at),
            round(latest.seconds, 1),
            failure=(
                f"stage {failure['stage']}, {failure['subject'] or failure['source'] or '-'} ({failure['event_type']})"
                if failure
                else None
            ),
            error=(failure or {}).get("message"),
            resume=("ingestion " + shlex.join(resume)) if resume else None,
        )
        if latest.status == RunStatus.INCOMPLETE and not data.latest.error:
            data.latest.error = "the process stopped without recording an end (killed or crashed) during this stage"


def _validation_and_drift(data: ReportData, warehouse: Warehouse) -> None:
    """The latest validation of each table and period, and every drift found (once per table, period, change)."""
    rows = warehouse.query(
        f"select subject, status, message, details, occurred_at, event_type from {ops_schema()}.run_events "
        "where stage = 'validate' and event_type in ('validation_result', 'schema_drift') order by occurred_at"
    )
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    found: dict[tuple[str, str, str], set[str]] = {}
    for subject, status, message, details, _occurred, event_type in rows:
        table, period = _table_of(subject)
        info = json.loads(details or "{}")
        if event_type == "validation_result":
            warnings = [w for w in info.get("warnings") or [] if not info.get("drift_only")]
            latest[(table, period)] = {
                "table": table,
                "period": period,
                "status": {"success": "passed", "warn": "warned", "failed": "failed"}.get(status, status),
                "message": message or "",
                "plausibility": "; ".join(warnings),
            }
            continue
        for change in ("added", "removed", "retyped"):
            columns = info.get(change) or []
            if columns:
                found.setdefault((table, period, change), set()).update(map(str, columns))
    data.validation = sorted(latest.values(), key=lambda r: (r["table"], r["period"]))
    data.drift += [
        {"table": t, "period": p, "change": c, "columns": ", ".join(sorted(cols)), "column_count": len(cols)}
        for (t, p, c), cols in sorted(found.items())
    ]


def _accepted_drift(data: ReportData) -> None:
    """Columns accepted into a suite (``ingestion drift --accept``): the suite remembers since which period."""
    for table in catalog.declared_tables():
        suite = Suite.load(table)
        meta = suite.meta if suite else {}
        by_period: dict[str, list[str]] = {}
        for column, period in (meta.get("columns_since") or {}).items():
            by_period.setdefault(str(period), []).append(column)
        for period, columns in sorted(by_period.items()):
            data.drift.append(
                {
                    "table": table.table,
                    "period": period,
                    "change": "accepted",
                    "columns": ", ".join(sorted(columns)),
                    "column_count": len(columns),
                }
            )


def _datasets() -> list[str]:
    return list(dict.fromkeys(p.dataset for p in load_publications().values()))


def _volumes(data: ReportData, warehouse: Warehouse) -> None:
    """Rows per table and period as the manifest recorded them, beside the previous period's, with the
    plausibility warnings of the validation that checked them."""
    warned = {(r["table"], r["period"]): r["plausibility"] for r in data.validation if r["plausibility"]}
    for dataset in _datasets():
        if not warehouse.table_exists(dataset, "publication_manifest"):
            continue
        rows = warehouse.query(
            f"select bronze_table, period, sum(row_count) from {dataset}.publication_manifest "
            "where status = 'loaded' and bronze_table is not null group by bronze_table, period "
            "order by bronze_table, period"
        )
        previous: dict[str, int] = {}
        for table, period, count in rows:
            data.volumes.append(
                {
                    "table": table,
                    "period": period,
                    "rows": int(count or 0),
                    "previous_rows": previous.get(table),
                    "warning": warned.get((table, period), ""),
                    "warned": bool(warned.get((table, period))),
                }
            )
            previous[table] = int(count or 0)


def _quarantine(data: ReportData, warehouse: Warehouse) -> None:
    """Rows held back (quarantined) or loaded and marked (flagged), per table; every declared publication table
    appears, with 0 when nothing was held."""
    counts: dict[tuple[str, str], int] = {}
    for dataset in _datasets():
        if warehouse.table_exists(dataset, "quarantine"):
            for table, disposition, count in warehouse.query(
                f"select bronze_table, disposition, count(*) from {dataset}.quarantine "
                "group by bronze_table, disposition"
            ):
                counts[(str(table), str(disposition))] = int(count)
    tables = [spec.table for p in load_publications().values() for spec in p.tables()]
    for table in dict.fromkeys(tables):
        for disposition in ("rejected", "flagged"):
            data.quarantine.append(
                {"table": table, "disposition": disposition, "rows": counts.pop((table, disposition), 0)}
            )
    data.quarantine += [{"table": t, "disposition": d, "rows": n} for (t, d), n in sorted(counts.items())]


def _freshness(data: ReportData, sources: Path) -> None:
    """Each source table's age at the last ``dbt source freshness`` (the run's freshness stage)."""
    if not sources.is_file():
        return
    for result in json.loads(sources.read_text()).get("results", []):
        name = ".".join(result.get("unique_id", "").split(".")[-2:])
        age = result.get("max_loaded_at_time_ago_in_s")
        data.freshness.append(
            {
                "source": name,
                "status": result.get("status", "unknown"),
                "hours": round(float(age) / 3600, 2) if age is not None else None,
                "max_loaded_at": str(result.get("max_loaded_at") or ""),
            }
        )


def _models(data: ReportData, manifest: Path) -> None:
    if not manifest.is_file():
        return
    nodes = json.loads(manifest.read_text()).get("nodes", {})
    for unique_id, node in sorted(nodes.items()):
        if node.get("resource_type") in ("model", "snapshot"):
            layer = (node.get("original_file_path") or "").split("/")[1:2]
            data.models.append(
                {
                    "name": node["name"],
                    "unique_id": unique_id,
                    "resource_type": node["resource_type"],
                    "layer": layer[0] if layer and node["resource_type"] == "model" else "snapshots",
                    "description": (node.get("description") or "").strip().split("\n")[0],
                }
            )


def _gx_pages(data: ReportData, docs: Path) -> None:
    """GX Data Docs' result pages: the newest of each table (one suite per table) and period (the batch), as links
    relative to the target folder. GX's layout: ``validations/<dataset>/<table>/<run>/<time>/<batch id>.html``,
    the batch id ending ``-period_<period>`` for a table with periods."""
    validations = docs / "validations"
    if not validations.is_dir():
        return
    pages = sorted(validations.rglob("*.html"), key=lambda p: p.stat().st_mtime, reverse=True)
    seen: set[str] = set()
    for page in pages:
        dataset, table, *_ = page.relative_to(validations).parts
        _, batch_parameter, period = page.stem.rpartition("-period_")
        key = f"{dataset}/{table}" + (f" @ {period}" if batch_parameter else "")
        if key in seen:
            continue
        seen.add(key)
        data.gx_pages.append(
            {"table": key, "title": key, "path": str(page.relative_to(docs.parent)).replace("\\", "/")}
        )
    data.gx_pages.sort(key=lambda r: r["table"])
