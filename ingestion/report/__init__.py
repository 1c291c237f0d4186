"""The run report: one static page (``target/report/index.html``) with the runs over time, rows per table and
period, schema drift, validation, quarantine and freshness as charts, the latest run's failure point and resume
command, and links to the dbt docs and GX result pages. ``ingestion report`` writes it; so does every ``run``."""

from __future__ import annotations

import os
from pathlib import Path

from ingestion import paths
from ingestion.warehouse import Warehouse


def report_dir() -> Path:
    """Beside the dbt docs and GX Data Docs (``target/``, or ``DBT_TARGET_PATH``), so its links to them hold."""
    return paths.resolve(os.environ.get("DBT_TARGET_PATH", "target")) / "report"


def write_report(warehouse: Warehouse, out: Path | None = None) -> Path:
    """Collect what the runs recorded and write the page; its path. Written to a temporary name and renamed, so
    an open page is never half-written."""
    from ingestion.report.data import collect
    from ingestion.report.page import render

    out = out or report_dir()
    out.mkdir(parents=True, exist_ok=True)
    page = render(collect(warehouse, out.parent))
    partial = out / "index.html.partial"
    partial.write_text(page, encoding="utf-8")
    partial.replace(out / "index.html")
    return out / "index.html"
