"""``ingestion trace``: where a gold figure comes from, down to the release file's cells.

A row-level gold model declares in its dbt config which silver rows each of its rows is built from::

    meta:
      trace:
        - {model: stg_publications__practice_summary, "on": {practice_code: practice_code, release_period: period}}

(``on``: gold column -> silver column). Every silver model of a publication carries the address of its bronze row
(``load_id``, ``source_part_id``, ``source_row``: the dlt load, the file, sheet or member of that load, and the row
there), and the publication's manifest names that part's file, sheet or member and the file's sha256. The trace
reads each step from the warehouse, then opens the release file where the load read it (its recorded location),
checks its sha256 against the manifest, and shows the row's cells as published, under the sheet's header.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestion.errors import ConfigError
from ingestion.sources.publications.files import sha256_of
from ingestion.warehouse import Warehouse

ADDRESS = ("load_id", "source_part_id", "source_row")  # what a silver row carries to name its bronze row
MANIFEST = "publication_manifest"


@dataclass
class PublishedRow:
    """A row as its release file holds it."""

    file: str
    location: str
    sha256: str
    part: str  # "sheet Table 2", "member extracts/region_E40000003.csv", or "file" for a CSV
    row: int
    cells: dict[str, str] = field(default_factory=dict)
    problem: str | None = None  # why the cells could not be shown (the file moved, or changed since the load)


@dataclass
class BronzeStep:
    table: str
    row: dict[str, Any]
    published: PublishedRow | None


@dataclass
class SilverStep:
    model: str
    relation: str
    on: dict[str, Any]
    rows: list[dict[str, Any]]
    bronze: list[BronzeStep] = field(default_factory=list)  # for the first rows only (``limit``)


@dataclass
class Trace:
    model: str
    relation: str
    keys: dict[str, str]
    gold: list[dict[str, Any]]
    silver: list[SilverStep] = field(default_factory=list)


def _node(manifest: dict, name: str) -> dict:
    found = [n for n in manifest.get("nodes", {}).values() if n.get("name") == name and n["resource_type"] == "model"]
    if not found:
        raise ConfigError(f"no dbt model {name!r} in the last build's manifest")
    return found[0]


def _relation(node: dict) -> str:
    return f"{Warehouse.quote(node['schema'])}.{Warehouse.quote(node.get('alias') or node['name'])}"


def _rows(warehouse: Warehouse, relation: str, where: dict[str, Any], limit: int | None = None) -> list[dict]:
    """Rows of ``relation`` whose columns equal ``where`` (compared as text, so a date is given as 2025-05-01), in
    the order of their source rows where they carry them."""
    condition = " and ".join(
        f"cast({Warehouse.quote(column)} as varchar) = {warehouse.placeholder}" for column in where
    )
    connection = warehouse.connect()
    try:
        run = warehouse.cursor(connection)
        run.execute(
            f"select * from {relation} where {condition}" + (f" limit {limit}" if limit else ""),
            tuple(str(value) for value in where.values()),
        )
        names = [d[0] for d in run.description]
        rows = [dict(zip(names, row, strict=True)) for row in run.fetchall()]
    finally:
        connection.close()
    if all(column in names for column in ADDRESS):
        rows.sort(key=lambda row: tuple(str(row[c]).zfill(24) for c in ADDRESS))
    return rows


def trace(warehouse: Warehouse, manifest: dict, model: str, keys: dict[str, str], limit: int = 3) -> Trace:
    """The path of the gold rows of ``model`` whose columns equal ``keys``: each declared silver step, and for the
    first ``limit`` silver rows of each, the bronze row and the release file's cells."""
    node = _node(manifest, model)
    steps = (node.get("config", {}).get("meta") or {}).get("trace")
    if not steps:
        raise ConfigError(f"model {model} declares no trace (config meta.trace in its YAML)")
    unknown = [k for k in keys if k not in node.get("columns", {})]
    if unknown:
        raise ConfigError(f"{model} has no column {', '.join(unknown)}; its columns: {', '.join(node['columns'])}")
    found = Trace(model, _relation(node), keys, _rows(warehouse, _relation(node), keys))
    for gold in found.gold:
        for step in steps:
            silver_node = _node(manifest, step["model"])
            on = {silver: gold[column] for column, silver in step["on"].items()}
            relation = _relation(silver_node)
            rows = _rows(warehouse, relation, on)
            silver = SilverStep(step["model"], relation, on, rows)
            bronze_table = _bronze_table(manifest, silver_node)
            for row in rows[:limit]:
                if all(row.get(c) is not None for c in ADDRESS) and bronze_table is not None:
                    silver.bronze.append(_bronze(warehouse, bronze_table, row))
            found.silver.append(silver)
    return found


def _bronze_table(manifest: dict, node: dict) -> tuple[str, str] | None:
    """The bronze table (dbt source) a silver model reads its rows from: its one source besides the manifest."""
    sources = manifest.get("sources", {})
    tables = [
        (sources[s]["schema"], sources[s]["identifier"])
        for s in node.get("depends_on", {}).get("nodes", [])
        if s in sources and sources[s]["identifier"] != MANIFEST
    ]
    return tables[0] if len(tables) == 1 else None


def _bronze(warehouse: Warehouse, table: tuple[str, str], silver: dict[str, Any]) -> BronzeStep:
    dataset, name = table
    address = {
        "_dlt_load_id": silver["load_id"],
        "_part": silver["source_part_id"],
        "_source_row": silver["source_row"],
    }
    rows = _rows(warehouse, f"{Warehouse.quote(dataset)}.{Warehouse.quote(name)}", address, limit=1)
    parts = _rows(
        warehouse,
        f"{Warehouse.quote(dataset)}.{MANIFEST}",
        {"_dlt_load_id": silver["load_id"], "part_id": silver["source_part_id"]},
        limit=1,
    )
    published = _published(parts[0], int(silver["source_row"])) if parts else None
    return BronzeStep(f"{dataset}.{name}", rows[0] if rows else {}, published)


def _published(part: dict[str, Any], row: int) -> PublishedRow:
    kind, name = part["part_kind"], part["part_name"]
    shown = PublishedRow(
        part["file_name"],
        part["file_location"],
        part["file_sha256"],
        f"{kind} {name}" if kind != "file" else "file",
        row,
    )
    path = Path(part["file_location"])
    if not path.is_file():
        shown.problem = f"the file is no longer at {part['file_location']}"
        return shown
    if sha256_of(path) != part["file_sha256"]:
        shown.problem = f"{part['file_location']} changed since it was loaded (its sha256 is not the manifest's)"
        return shown
    layout = json.loads(part["layout"]) if part.get("layout") else {}
    if kind == "sheet":
        shown.cells = _sheet_row(path, name, layout.get("header_rows") or [1], row)
    elif kind == "member":
        with zipfile.ZipFile(path) as archive, archive.open(name) as member:
            shown.cells = _csv_row(member, row)
    else:
        with path.open("rb") as handle:
            shown.cells = _csv_row(handle, row)
    return shown


def _text(value: object) -> str:
    """A cell as the sheet shows it (``12.0`` as 12, dates as ISO), as the readers take it."""
    from ingestion.sources.publications.readers.common import cell_text

    return cell_text(value) or ""


def _sheet_row(path: Path, sheet: str, header_rows: list[int], row: int) -> dict[str, str]:
    """Row ``row`` (1-based) of ``sheet`` under its header (rows of a header over several rows joined with " / ")."""
    from python_calamine import CalamineWorkbook

    values = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    header_lines = [values[r - 1] for r in header_rows if 0 < r <= len(values)]
    width = max([len(values[row - 1]) if row <= len(values) else 0, *(len(h) for h in header_lines)])
    cells = values[row - 1] if 0 < row <= len(values) else []
    shown = {}
    for index in range(width):
        label = (
            " / ".join(_text(h[index]) for h in header_lines if index < len(h) and _text(h[index])) or f"#{index + 1}"
        )
        shown[label] = _text(cells[index]) if index < len(cells) else ""
    return shown


def _csv_row(stream: Any, row: int) -> dict[str, str]:
    """The record that starts on line ``row`` (1-based) of a CSV whose header is line 1."""
    from charset_normalizer import from_bytes

    head = stream.read(1 << 16)
    best = from_bytes(head).best()
    encoding = best.encoding if best is not None else "utf-8"
    text = io.TextIOWrapper(io.BufferedReader(_Prefixed(head, stream)), encoding=encoding, newline="")
    reader = csv.reader(text)
    header = next(reader, [])
    for record in _records(reader):
        start, fields = record
        if start == row:
            return dict(zip(header, fields, strict=False))
        if start > row:
            break
    return {}


def _records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on."""
    line = reader.line_num
    for fields in reader:
        yield line + 1, fields
        line = reader.line_num


class _Prefixed(io.RawIOBase):
    """A binary stream with bytes already read put back in front."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            size = min(len(buffer), len(self.head))
            buffer[:size], self.head = self.head[:size], self.head[size:]
            return size
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# -- printing ------------------------------------------------------------------------------------------------------
def _values(row: dict[str, Any]) -> str:
    return ", ".join(f"{k}={'' if v is None else v}" for k, v in row.items())


def lines(found: Trace, limit: int = 3) -> list[str]:
    keys = ", ".join(f"{k}={v}" for k, v in found.keys.items())
    out = [f"trace {found.model} ({keys}): {len(found.gold)} gold row(s) in {found.relation}"]
    for gold in found.gold:
        out.append(f"  gold   {_values(gold)}")
    for step in found.silver:
        where = ", ".join(f"{k}={v}" for k, v in step.on.items())
        out.append(
            f"  silver {step.relation} ({where}): {len(step.rows)} row(s)"
            + (f", the first {limit} traced" if len(step.rows) > limit else "")
        )
        for row, bronze in zip(step.rows, step.bronze, strict=False):
            out.append(f"    silver row  {_values(row)}")
            out.append(f"    bronze row  {bronze.table}: {_values(bronze.row)}")
            published = bronze.published
            if published is None:
                out.append("    release     (no manifest row names this part)")
                continue
            out.append(
                f"    release     {published.file}, {published.part}, row {published.row} "
                f"(sha256 {published.sha256[:12]}..., at {published.location})"
            )
            if published.problem:
                out.append(f"    as published: not shown: {published.problem}")
            else:
                out.append("    as published: " + " | ".join(f"{k}: {v}" for k, v in published.cells.items()))
    return out
