"""The export's catalog: ``export/datapackage.json``, a Frictionless Data Package written and checked with the
``frictionless`` library.

One resource per exported file (a Parquet file is read whole, so a partition is a resource of its own; the
Data Package's multipart paths are byte concatenations, which Parquet is not): its path, format, schema (field
names and types from the file, descriptions from the dbt docs, the primary key from the model's uniqueness test),
``bytes``, ``rows`` and ``hash`` (sha256) that ``frictionless validate`` checks against the file, and, as custom
properties, the model and period it holds, its fingerprint (what the next export compares with), when and by which
run it was written, and the dlt load ids of its rows (a model with a ``load_id`` column).

The package's ``models`` property says per model what a reader asks first: its description, the path pattern of
its files, the period range, rows, last update, and its lineage from dbt's ``manifest.json``: the models, seeds
and snapshots it is built from, the bronze tables at the bottom, and the release files those loads came from
(``publication_manifest``).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestion.exports.parquet import FILE, PARTITION, ModelExport, Partition
from ingestion.pipelines.publish import SIDE_TABLES
from ingestion.warehouse import Warehouse

if TYPE_CHECKING:
    import pyarrow as pa

CATALOG = "datapackage.json"
PACKAGE = "declarative-analytics-gold"
MEDIATYPE = "application/vnd.apache.parquet"


# -- reading what the last export recorded -------------------------------------------------------------------------
def read(root: Path) -> dict[str, Any]:
    """The catalog as written (a plain descriptor), or an empty one."""
    import json

    path = root / CATALOG
    return json.loads(path.read_text()) if path.exists() else {}


def recorded_partitions(catalog: dict[str, Any], model: str) -> dict[str, Partition]:
    """The partitions of ``model`` the catalog records, by path."""
    return {
        r["path"]: Partition(
            r.get("period"), r["path"], r["rows"], r["file_bytes"], r["hash"].split(":", 1)[1], r["fingerprint"]
        )
        for r in catalog.get("resources", [])
        if r.get("model") == model
    }


# -- writing -------------------------------------------------------------------------------------------------------
def write(
    root: Path,
    exports: list[ModelExport],
    before: dict[str, Any],
    manifest: dict[str, Any],
    warehouse: Warehouse,
    run_id: str,
) -> Path:
    """Write the catalog: the resources of files written now described afresh, the others kept as they were.
    Its metadata is checked by frictionless against the Data Package profile before it replaces the last one;
    each file written holds the rows its fingerprint counted (its Parquet footer says, no scan).
    ``frictionless validate`` reads every row of every file: a reader's check, not the export's."""
    import pyarrow.parquet as pq
    from frictionless import Package

    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    kept = {r["path"]: r for r in before.get("resources", [])}
    resources: list[dict[str, Any]] = []
    for done in exports:
        written = set(done.written)
        load_ids = _load_ids(warehouse, done) if written else {}
        for partition in done.partitions:
            if partition.path in written or partition.path not in kept:
                held = pq.ParquetFile(root / partition.path).metadata.num_rows
                if held != partition.rows:
                    raise ValueError(f"{partition.path} holds {held:,} rows; the warehouse counted {partition.rows:,}")
                resources.append(_resource(root, done, partition, load_ids.get(partition.period, []), run_id, now))
            else:
                resources.append(kept[partition.path])
    models = {done.model.name: _model(done, resources, manifest, warehouse) for done in exports}
    descriptor = {
        "name": PACKAGE,
        "title": "Gold models of the declarative analytics project, as Parquet by period",
        "resources": resources,
        "models": models,
        "created": now,
    }
    errors = [error.message for error in Package.metadata_validate(descriptor)]
    if errors:
        raise ValueError(f"the export's catalog is not a valid Data Package: {'; '.join(errors[:5])}")
    package = Package.from_descriptor(descriptor, basepath=str(root))
    path = root / CATALOG
    staged = path.with_name(f".{CATALOG}.tmp")
    package.to_json(str(staged))
    os.replace(staged, path)  # a reader sees the old catalog or the new one
    return path


def _frictionless_type(kind: pa.DataType) -> str:
    import pyarrow.types as t

    if t.is_boolean(kind):
        return "boolean"
    if t.is_integer(kind):
        return "integer"
    if t.is_floating(kind) or t.is_decimal(kind):
        return "number"
    if t.is_date(kind):
        return "date"
    if t.is_timestamp(kind):
        return "datetime"
    if t.is_string(kind) or t.is_large_string(kind):
        return "string"
    return "any"


def _resource(
    root: Path, done: ModelExport, partition: Partition, load_ids: list[str], run_id: str, now: str
) -> dict[str, Any]:
    import pyarrow.parquet as pq

    node = done.model.node
    columns = node.get("columns", {})
    schema = pq.read_schema(root / partition.path)
    fields = [
        {
            "name": f.name,
            "type": _frictionless_type(f.type),
            "description": columns.get(f.name, {}).get("description", ""),
        }
        for f in schema
    ]
    name = done.model.name + (f"-{partition.period}" if partition.period is not None else "")
    resource: dict[str, Any] = {
        "name": name.lower(),
        "type": "table",
        "path": partition.path,
        "scheme": "file",
        "format": "parquet",
        "mediatype": MEDIATYPE,
        "title": done.model.name + (f", {PARTITION} {partition.period}" if partition.period is not None else ""),
        "hash": f"sha256:{partition.sha256}",
        "rows": partition.rows,
        "file_bytes": partition.bytes,  # not "bytes": frictionless's Parquet reader counts none, and would fail it
        "schema": {
            "fields": fields,
            # how a null reaches frictionless's checks: its Parquet reader goes through pandas, which makes a null
            # integer or number NaN and a null timestamp NaT (the files hold real nulls)
            "missingValues": ["", "nan", "NaT"],
            **({"primaryKey": list(done.model.key)} if done.model.key else {}),
        },
        "model": done.model.name,
        "period": partition.period,
        "fingerprint": partition.fingerprint,
        "last_updated": now,
        "run_id": run_id,
        "load_ids": load_ids,
    }
    return resource


def _load_ids(warehouse: Warehouse, done: ModelExport) -> dict[str | None, list[str]]:
    """Per period, the dlt load ids of the model's rows (a model with a ``load_id`` column; else none)."""
    model = done.model
    if "load_id" not in model.node.get("columns", {}):
        return {}
    period = f"cast({Warehouse.quote(model.period)} as varchar)" if model.period else "cast(null as varchar)"
    rows = warehouse.query(f"select distinct {period}, load_id from {model.relation} where load_id is not null")
    found: dict[str | None, list[str]] = {}
    for value, load_id in rows:
        found.setdefault(value, []).append(str(load_id))
    return {value: sorted(ids) for value, ids in found.items()}


def _model(done: ModelExport, resources: list[dict], manifest: dict, warehouse: Warehouse) -> dict[str, Any]:
    own = [r for r in resources if r.get("model") == done.model.name]
    periods = sorted(r["period"] for r in own if r.get("period") is not None)
    load_ids = sorted({i for r in own for i in r.get("load_ids", [])})
    return {
        "description": done.model.node.get("description", ""),
        "files": f"{done.model.name}/{PARTITION}=*/{FILE}" if done.model.period else f"{done.model.name}/{FILE}",
        "partitioned_by": {PARTITION: done.model.period} if done.model.period else None,
        "periods": {"first": periods[0], "last": periods[-1]} if periods else None,
        "rows": sum(r["rows"] for r in own),
        "last_updated": max((r["last_updated"] for r in own), default=None),
        "resources": [r["name"] for r in own],
        "lineage": lineage(manifest, done.model.node["unique_id"], warehouse, load_ids),
    }


def lineage(manifest: dict, unique_id: str, warehouse: Warehouse, load_ids: list[str]) -> dict[str, Any]:
    """What a model is built from, by dbt's manifest: every model, seed and snapshot above it, the bronze tables
    (dbt sources) at the bottom, and the release files the given loads brought into bronze."""
    nodes = {**manifest.get("nodes", {}), **manifest.get("sources", {})}
    seen: set[str] = set()
    stack = [unique_id]
    while stack:
        for parent in nodes.get(stack.pop(), {}).get("depends_on", {}).get("nodes", []):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    upstream = sorted(
        f"{nodes[p]['resource_type']}.{nodes[p]['name']}" for p in seen if p in nodes and not p.startswith("source.")
    )
    sources = sorted(
        {f"{nodes[p]['schema']}.{nodes[p]['identifier']}" for p in seen if p.startswith("source.") and p in nodes}
    )
    parents = sorted(p.split(".", 2)[-1] for p in nodes.get(unique_id, {}).get("depends_on", {}).get("nodes", []))
    return {
        "parents": parents,
        "upstream": upstream,
        "bronze_tables": sources,
        "release_files": _release_files(warehouse, sources, load_ids),
    }


def _release_files(warehouse: Warehouse, sources: list[str], load_ids: list[str]) -> list[dict[str, Any]]:
    """The release files the loads ``load_ids`` published into the bronze tables ``sources``, from each publication
    dataset's manifest; without load ids (a model whose rows do not carry them), the loads those tables hold now."""
    files = []
    for dataset in sorted({s.split(".", 1)[0] for s in sources}):
        if not warehouse.table_exists(dataset, "publication_manifest"):
            continue
        names = [s.split(".", 1)[1] for s in sources if s.startswith(f"{dataset}.")]
        tables = ", ".join(f"'{name}'" for name in names)
        held = load_ids or sorted(
            {
                str(row[0])
                for name in names
                if name not in SIDE_TABLES  # the manifest, periods and quarantine name loads, they are not loaded
                for row in warehouse.query(
                    f"select distinct _dlt_load_id from {Warehouse.quote(dataset)}.{Warehouse.quote(name)}"
                )
            }
        )
        if not held:
            continue
        ids = ", ".join("'" + i.replace("'", "''") + "'" for i in held)
        rows = warehouse.query(  # the files, sheets and members of those loads that filled a table it reads
            f"select distinct publication, period, file_name, file_sha256 from {Warehouse.quote(dataset)}."
            f"publication_manifest where _dlt_load_id in ({ids}) and bronze_table in ({tables}) order by 1, 2, 3"
        )
        files += [{"publication": p, "period": period, "file": f, "sha256": sha} for p, period, f, sha in rows]
    return files
