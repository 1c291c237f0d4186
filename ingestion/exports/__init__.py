"""Gold published as files: Parquet exports by period (:mod:`.parquet`) and their catalog, a Frictionless Data
Package (:mod:`.catalog`, ``export/datapackage.json``), which also keeps what the next export compares with."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestion import paths
from ingestion.exports import catalog
from ingestion.exports.parquet import ModelExport, declared_models, export_dir, export_model
from ingestion.warehouse import Warehouse

Progress = Callable[[str], None]


def manifest_path() -> Path:
    """dbt's ``manifest.json`` of the last build (``target/``, or ``DBT_TARGET_PATH``)."""
    return paths.resolve(os.environ.get("DBT_TARGET_PATH", "target")) / "manifest.json"


@dataclass
class ExportReport:
    root: Path
    models: list[ModelExport] = field(default_factory=list)
    catalog: Path | None = None  # set when the catalog was written (something changed)

    @property
    def written(self) -> int:
        return sum(len(m.written) for m in self.models)

    @property
    def removed(self) -> int:
        return sum(len(m.removed) for m in self.models)

    @property
    def files(self) -> int:
        return sum(len(m.partitions) for m in self.models)

    @property
    def rows_written(self) -> int:
        written = {path for m in self.models for path in m.written}
        return sum(p.rows for m in self.models for p in m.partitions if p.path in written)

    def summary(self) -> str:
        skipped = [m.model.name for m in self.models if m.skipped]
        return (
            f"export: {len(self.models)} models, {self.files} files: {self.written} written, "
            f"{self.files - self.written} unchanged, {self.removed} removed"
            + (f", {len(skipped)} not built ({', '.join(skipped)})" if skipped else "")
            + f" ({paths.shown(self.root)})"
        )

    def details(self) -> dict[str, Any]:
        """What the ``export`` ledger stage records: rows, files and bytes per model."""
        return {
            "folder": str(self.root),
            "catalog": str(self.catalog) if self.catalog else None,
            "models": {m.model.name: m.details() for m in self.models},
        }


def export_gold(
    warehouse: Warehouse, run_id: str, progress: Progress = print, root: Path | None = None
) -> ExportReport:
    """Export every gold model declared for export in dbt's manifest; write the catalog when a file changed."""
    root = root or export_dir()
    manifest = json.loads(manifest_path().read_text())
    report = ExportReport(root)
    before = catalog.read(root)
    for model in declared_models(manifest):
        done = export_model(warehouse, model, root, catalog.recorded_partitions(before, model.name))
        report.models.append(done)
        if done.skipped:
            progress(f"    export {model.name}: skipped: {done.skipped}")
        elif done.written or done.removed:
            progress(
                f"    export {model.name}: {len(done.written)} written, {len(done.removed)} removed, "
                f"{len(done.partitions)} files, {done.rows:,} rows"
            )
    recorded = {r.get("model") for r in before.get("resources", [])}
    if report.written or report.removed or recorded != {m.model.name for m in report.models if m.partitions}:
        report.catalog = catalog.write(root, report.models, before, manifest, warehouse, run_id)
    return report


__all__ = ["ExportReport", "export_gold", "manifest_path"]
