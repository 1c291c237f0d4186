"""Gold as Parquet files, by period: what analysts hand to other teams and tools.

Every gold model whose dbt config says ``meta: {export: ...}`` is written under the export folder (``export/``, or
``ANALYTICS_EXPORT_DIR``):

* ``export: {period: <column>}``: one Hive partition per value of that column,
  ``export/<model>/period=<value>/part-0.parquet`` (the value in the folder's name, as readers' Hive partitioning
  reads it back: ``read_parquet('export/<model>/*/*.parquet', hive_partitioning = true)``);
* ``export: true``: the whole model in ``export/<model>/part-0.parquet``.

Files come from the warehouse's own writer: DuckDB's ``COPY ... (FORMAT parquet, PARTITION_BY ...)``; on
PostgreSQL the binary COPY through the ADBC driver, batch by batch into pyarrow's writer (a table is never held in
memory whole). Zstd, row groups of 122,880 rows, rows in a fixed order.

Only what changed is written. Each partition's fingerprint (its row count and the sum of a hash of every row,
computed in the warehouse by one grouped query, with the model's columns and types) is kept in the catalog
(``export/datapackage.json``) beside its file's size and sha256; a partition whose fingerprint is unchanged and
whose file is still there as written is left alone, so a run that changed nothing rewrites no file. A changed
partition is written under ``export/.staging/`` and moved into place with one rename, which replaces the old file
at once: a reader sees the old file or the new one, never half of one. A period gold no longer holds leaves the
export.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestion import paths
from ingestion.errors import ConfigError
from ingestion.sources.publications.files import sha256_of
from ingestion.warehouse import Warehouse

PARTITION = "period"  # the Hive key of a partitioned export
FILE = "part-0.parquet"
STAGING = ".staging"


def export_dir() -> Path:
    return paths.resolve(os.environ.get("ANALYTICS_EXPORT_DIR", "export"))


@dataclass(frozen=True)
class ExportModel:
    """A gold model declared for export: where the warehouse holds it and the column that partitions it."""

    name: str
    schema: str
    table: str
    period: str | None  # the gold column whose values name the partitions; None: one file
    node: dict = field(hash=False, compare=False, repr=False)  # its node in dbt's manifest
    key: tuple[str, ...] = ()  # the columns its uniqueness test holds unique (its primary key)

    @property
    def relation(self) -> str:
        return f"{Warehouse.quote(self.schema)}.{Warehouse.quote(self.table)}"


def declared_models(manifest: dict) -> list[ExportModel]:
    """The models of dbt's ``manifest.json`` whose config says ``meta: {export: true}`` or ``{export: {period:
    <column>}}``, by name. Anything else there is refused, naming the model."""
    models = []
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        declared = (node.get("config", {}).get("meta") or {}).get("export")
        if declared in (None, False):
            continue
        if declared is True:
            period = None
        elif isinstance(declared, dict) and set(declared) <= {"period"}:
            period = declared.get("period")
        else:
            raise ConfigError(
                f"model {node['name']} ({node.get('original_file_path')}): meta.export is {declared!r}; it is true "
                "or {period: <column>}"
            )
        key = _unique_key(manifest, node["unique_id"])
        models.append(ExportModel(node["name"], node["schema"], node.get("alias") or node["name"], period, node, key))
    return sorted(models, key=lambda model: model.name)


def _unique_key(manifest: dict, unique_id: str) -> tuple[str, ...]:
    """The columns a model's data test holds unique together (``unique_combination_of_columns``) or alone
    (``unique``): the first such test, the combination first."""
    found: list[tuple[str, ...]] = []
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "test" or node.get("attached_node") != unique_id:
            continue
        test = node.get("test_metadata") or {}
        kwargs = test.get("kwargs", {})
        if test.get("name") == "unique_combination_of_columns":
            found.insert(0, tuple(kwargs.get("combination_of_columns", [])))
        elif test.get("name") == "unique" and kwargs.get("column_name"):
            found.append((kwargs["column_name"],))
    return found[0] if found else ()


@dataclass
class Partition:
    """One exported file: its period (None for a model in one file), path in the export folder, and what it holds."""

    period: str | None
    path: str
    rows: int
    bytes: int
    sha256: str
    fingerprint: str


@dataclass
class ModelExport:
    model: ExportModel
    partitions: list[Partition] = field(default_factory=list)  # every partition now exported, by period
    written: list[str] = field(default_factory=list)  # paths written in this export
    removed: list[str] = field(default_factory=list)  # paths removed (periods gold no longer holds)
    skipped: str | None = None  # why the model was not exported (not built): its files stay as they were

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions)

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.partitions)

    def details(self) -> dict[str, Any]:
        """What the ``export`` ledger stage records for the model."""
        return {
            "rows": self.rows,
            "files": len(self.partitions),
            "bytes": self.bytes,
            "written": len(self.written),
            "removed": len(self.removed),
            **({"skipped": self.skipped} if self.skipped else {}),
        }


def _fingerprints(warehouse: Warehouse, model: ExportModel, columns: dict[str, str]) -> dict[str | None, tuple]:
    """Period (None: the whole model) -> (rows, fingerprint), from one grouped query."""
    shape = hashlib.sha256(json.dumps(list(columns.items())).encode()).hexdigest()[:16]
    period = f"cast({Warehouse.quote(model.period)} as varchar)" if model.period else "cast(null as varchar)"
    rows = warehouse.query(
        f"select {period}, count(*), cast(sum({warehouse.row_hash('t')}) as varchar) "
        f"from {model.relation} as t group by 1"
    )
    found: dict[str | None, tuple] = {value: (count, f"{shape}:{count}:{total}") for value, count, total in rows}
    if model.period is None and not found:  # an empty model is still one (empty) file
        found[None] = (0, f"{shape}:0:")
    return found


def _path(model: ExportModel, period: str | None) -> str:
    return f"{model.name}/{PARTITION}={period}/{FILE}" if model.period else f"{model.name}/{FILE}"


def export_model(warehouse: Warehouse, model: ExportModel, root: Path, previous: dict[str, Partition]) -> ModelExport:
    """Write what changed of ``model`` since ``previous`` (path -> the partition as last exported)."""
    done = ModelExport(model)
    connection = warehouse.connect()
    try:
        columns = warehouse.column_types(connection, model.schema, model.table)
    finally:
        connection.close()
    if not columns:  # never built (its source failed before its first build): its files, if any, stay
        done.partitions = sorted(previous.values(), key=lambda p: p.path)
        done.skipped = f"{model.relation} does not exist in {warehouse.describe()} (not built yet)"
        return done
    if model.period is not None and model.period not in columns:
        raise ConfigError(f"model {model.name}: meta.export.period {model.period!r} is not one of its columns")
    if model.period is not None and PARTITION in columns:
        raise ConfigError(f"model {model.name}: a column named {PARTITION!r} would clash with the partition key")
    current = _fingerprints(warehouse, model, columns)
    if model.period is not None and None in current:
        raise ConfigError(
            f"model {model.name}: {current[None][0]:,} rows have no {model.period}, which names their partition"
        )
    changed = []
    for period, (_, fingerprint) in sorted(current.items(), key=lambda item: str(item[0])):
        path = _path(model, period)
        before = previous.get(path)
        on_disk = root / path
        if (
            before is not None
            and before.fingerprint == fingerprint
            and on_disk.exists()
            and on_disk.stat().st_size == before.bytes
        ):
            done.partitions.append(before)
        else:
            changed.append(period)
    if changed:
        done.partitions += _write(warehouse, model, root, columns, changed, {p: current[p] for p in changed})
        done.written = [_path(model, period) for period in changed]
    kept = {p.path for p in done.partitions}
    for path in sorted(set(previous) - kept):
        (root / path).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # a folder not empty (a reader's own file in it) stays
            (root / path).parent.rmdir()  # the period's folder, now empty
        done.removed.append(path)
    done.partitions.sort(key=lambda p: p.path)
    return done


def _write(
    warehouse: Warehouse,
    model: ExportModel,
    root: Path,
    columns: dict[str, str],
    periods: list[str | None],
    current: dict[str | None, tuple],
) -> list[Partition]:
    """The changed partitions, written under the staging folder by the warehouse's writer, then each moved into
    place with one rename."""
    staging = root / STAGING / f"{model.name}-{uuid.uuid4().hex[:8]}"
    order = ", ".join(str(i) for i in range(1, len(columns) + 1))
    if model.period is None:
        query = f"select * from {model.relation} order by {order}"
    else:
        values = ", ".join("'" + str(p).replace("'", "''") + "'" for p in periods)
        key = f"cast({Warehouse.quote(model.period)} as varchar)"
        query = (
            f"select *, {key} as {PARTITION} from {model.relation} where {key} in ({values}) "
            f"order by {len(columns) + 1}, {order}"
        )
    try:
        warehouse.write_parquet(query, staging, PARTITION if model.period else None)
        written = []
        for period in periods:
            path = _path(model, period)
            staged = staging / path.split("/", 1)[1]
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            size, digest = staged.stat().st_size, sha256_of(staged)
            os.replace(staged, target)  # the old file, or the new one: never part of either
            rows, fingerprint = current[period]
            written.append(Partition(period, path, rows, size, digest, fingerprint))
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):  # another export's staging is still there
            staging.parent.rmdir()
