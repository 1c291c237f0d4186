"""Bronze as a Parquet lake, for an engine that reads files where they lie (the ``spark`` target).

dlt's ``filesystem`` destination writes each table's rows as Parquet files under ``<lake>/<dataset>/<table>/``
(``<load_id>.<file_id>.parquet``, dlt's layout), with its own ``_dlt_loads``, ``_dlt_version`` and
``_dlt_pipeline_state``. The lake is a local folder by default (``data/lake``); a bucket (``s3://``, ``gs://``,
``az://``) is a matter of config: ``ANALYTICS_LAKE_URL``, or dlt's ``[destination.filesystem] bucket_url`` with its
credentials in ``.dlt/secrets.toml``.

Plain Parquet has no transactions, so a publication period is made visible by one file. Its rows (every table),
manifest and quarantine rows are written first, as files named by the period's new load id, which no reader shows
yet; then the period's one row of ``publication_periods`` (``publication_periods/<publication>__<period>.parquet``),
naming that load id, replaces the old one (written under a hidden name, then renamed over it). Readers show a
table's rows of the loads ``publication_periods`` lists and nothing else (dbt's sources on Spark,
``macros/lake_sources.sql``; the DuckDB views :func:`refresh_views` makes for the ingestion's own reads), so a
period's tables change together, at that rename, or not at all, and a period is never shown twice. The files of
the load it replaced, and any a killed run left, are deleted after the switch (:meth:`Lake.vacuum`).

The run ledger (``ops``) stays in a small embedded DuckDB file beside it (``SPARK_LEDGER_PATH``, default
``data/spark/ledger.duckdb``), which also holds the views; dbt reads a copy of the ledger's tables written to
``<lake>/ops/`` before each dbt command (:func:`mirror_ledger`).
"""

from __future__ import annotations

import os
import posixpath
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestion import paths

if TYPE_CHECKING:
    import pyarrow as pa
    from fsspec import AbstractFileSystem  # type: ignore[import-untyped]

DEFAULT_LAKE = "data/lake"
POINTER_TABLE = "publication_periods"  # one file per period, naming its current load
EMPTY_FILE = "empty.parquet"  # a table's columns, no rows: what a table not loaded yet holds (``init``)


def lake_url() -> str:
    """Where the lake is: ``ANALYTICS_LAKE_URL``, else dlt's ``destination.filesystem.bucket_url``, else
    ``data/lake``; a local path made absolute (relative to the project root)."""
    import dlt

    from ingestion.pipelines.factory import use_project_settings

    url = os.environ.get("ANALYTICS_LAKE_URL")
    if not url:
        use_project_settings()
        url = dlt.config.get("destination.filesystem.bucket_url", str) or DEFAULT_LAKE
    if "://" in url and not url.startswith("file://"):
        return url.rstrip("/")
    return str(paths.resolve(url.removeprefix("file://")))


def is_local(url: str) -> bool:
    return "://" not in url


@dataclass(frozen=True)
class Lake:
    url: str

    # -- where things are ------------------------------------------------------------------------------------
    def filesystem(self) -> tuple[AbstractFileSystem, str]:
        """dlt's own fsspec filesystem for the lake, with the credentials dlt's config gives the destination."""
        from dlt.common.configuration import resolve_configuration
        from dlt.common.storages.configuration import FilesystemConfiguration
        from dlt.common.storages.fsspec_filesystem import fsspec_from_config

        config = resolve_configuration(
            FilesystemConfiguration(), sections=("destination", "filesystem"), explicit_value={"bucket_url": self.url}
        )
        fs, root = fsspec_from_config(config)
        return fs, root.rstrip("/")

    def folder(self, dataset: str, table: str) -> str:
        """The folder (URL) of a table's files."""
        return f"{self.url}/{dataset}/{table}"

    def files(self, dataset: str, table: str) -> list[str]:
        """The Parquet files of a table (paths as the filesystem names them); none when it has no folder."""
        fs, root = self.filesystem()
        folder = posixpath.join(root, dataset, table)
        if not fs.exists(folder):
            return []
        return sorted(path for path in fs.ls(folder, detail=False) if _visible(path))

    def tables(self, dataset: str) -> list[str]:
        """The tables of ``dataset`` that have a folder, dlt's own left out."""
        fs, root = self.filesystem()
        folder = posixpath.join(root, dataset)
        if not fs.exists(folder):
            return []
        names = [
            posixpath.basename(item["name"].rstrip("/"))
            for item in fs.ls(folder, detail=True)
            if item["type"] == "directory"
        ]
        return sorted(name for name in names if not name.startswith(("_", ".")))

    # -- writing ---------------------------------------------------------------------------------------------
    def write(self, dataset: str, table: str, name: str, rows: pa.Table) -> str:
        """``rows`` as the Parquet file ``<dataset>/<table>/<name>``, replacing any file of that name in one step:
        written under a hidden name (``.<name>.<uuid>``, which readers skip), then renamed over it."""
        import pyarrow.parquet as pq

        fs, root = self.filesystem()
        folder = posixpath.join(root, dataset, table)
        fs.makedirs(folder, exist_ok=True)
        final = posixpath.join(folder, name)
        hidden = posixpath.join(folder, f".{name}.{uuid.uuid4().hex}")
        try:
            with fs.open(hidden, "wb") as sink:
                pq.write_table(rows, sink, compression="zstd")
            if is_local(self.url):
                os.replace(hidden, final)  # atomic on one filesystem
            else:
                fs.mv(hidden, final)  # an object store's put of the object is atomic for its readers
        finally:
            if fs.exists(hidden):
                fs.rm(hidden)
        return final

    def remove(self, files: Iterable[str]) -> int:
        fs, _ = self.filesystem()
        removed = 0
        for path in files:
            if fs.exists(path):
                fs.rm(path)
                removed += 1
        return removed

    # -- the period switch -----------------------------------------------------------------------------------
    def current_loads(self, dataset: str) -> dict[str, str]:
        """load id -> ``<publication>/<period>`` of every period the lake shows (its ``publication_periods``)."""
        import pyarrow.parquet as pq

        fs, _ = self.filesystem()
        current: dict[str, str] = {}
        for path in self.files(dataset, POINTER_TABLE):
            with fs.open(path, "rb") as source:
                row = pq.read_table(source, columns=["publication", "period", "load_id"]).to_pylist()
            for item in row:
                current[item["load_id"]] = f"{item['publication']}/{item['period']}"
        return current

    def vacuum(self, dataset: str, keep: Iterable[str] = ()) -> int:
        """Delete the files of loads no period shows (a period's replaced load, what a killed run left), except
        those of ``keep``: each data, manifest and quarantine file is named by its load id (``<load_id>.*``). A
        table's empty stand-in (:data:`EMPTY_FILE`) goes once the table has rows of a current load. dlt's own
        tables stay."""
        current = set(self.current_loads(dataset)) | set(keep)
        stale: list[str] = []
        for table in self.tables(dataset):
            if table == POINTER_TABLE:
                continue
            files = self.files(dataset, table)
            loads = [path for path in files if posixpath.basename(path) != EMPTY_FILE]
            shown = [path for path in loads if _load_of(path, current)]
            stale += [path for path in loads if path not in shown]
            if shown:
                stale += [path for path in files if posixpath.basename(path) == EMPTY_FILE]
        return self.remove(stale)

    def ensure_table(self, dataset: str, table: str, schema: pa.Schema) -> bool:
        """Give a table that has no files an empty one (:data:`EMPTY_FILE`, no rows, ``schema``'s columns), so an
        engine can make its source before the first load; True if it was written."""
        if self.files(dataset, table):
            return False
        self.initialize(dataset)
        self.write(dataset, table, EMPTY_FILE, schema.empty_table())
        return True

    def initialize(self, dataset: str) -> None:
        """Make ``dataset``'s folder as dlt's loader does on a first load (with its ``init`` marker, without which
        the loader refuses a folder that exists), by dlt's own filesystem client."""
        import dlt
        from dlt.common.schema import Schema

        fs, root = self.filesystem()
        if fs.exists(posixpath.join(root, dataset, "init")):
            return
        destination = dlt.destinations.filesystem(bucket_url=self.url)
        config = destination.spec()._bind_dataset_name(dataset_name=dataset)  # as a pipeline binds its dataset
        with destination.client(Schema(dataset), config) as client:
            client.initialize_storage()

    def drop(self) -> None:
        """Remove the whole lake (throw-away ones: tests, benchmarks)."""
        fs, root = self.filesystem()
        if fs.exists(root):
            fs.rm(root, recursive=True)


def pointer_name(publication: str, period: str) -> str:
    return f"{publication}__{period}.parquet"


def _load_of(path: str, loads: set[str]) -> bool:
    """Whether the file at ``path`` belongs to one of ``loads`` (a load id holds a dot: ``1796618853.9028196``)."""
    name = posixpath.basename(path)
    return any(name.startswith(f"{load_id}.") for load_id in loads)


def _visible(path: str) -> bool:
    """What readers read: Parquet files not hidden (Spark and Hadoop skip names starting with ``.`` or ``_``)."""
    name = posixpath.basename(path.rstrip("/"))
    return name.endswith(".parquet") and not name.startswith((".", "_"))


# -- the ingestion's own view of the lake -----------------------------------------------------------------------


def source_rules() -> dict[str, dict[str, dict[str, Any]]]:
    """dbt source name -> table -> what its ``meta.lake`` declares (the source's, then the table's own): the rules
    ``macros/lake_sources.sql`` applies on Spark, read here from the same YAML so the ingestion's views agree."""
    import yaml

    rules: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted((paths.PROJECT_ROOT / "models").rglob("_*sources.yml")):
        for source in yaml.safe_load(path.read_text()).get("sources", []):
            shared = (source.get("meta") or {}).get("lake", {})
            rules[source["name"]] = {
                table["name"]: {**shared, **((table.get("meta") or {}).get("lake", {}))}
                for table in source.get("tables", [])
            }
    return rules


def shown_rows(files: str, rule: dict[str, Any], schema: str) -> str:
    """The select that shows a lake table's ``files`` (a relation) as its source: a publication's rows of the
    current loads (``committed_by``), a service desk's latest row per key (``latest_by``: column expressions), or
    every row. Written once for DuckDB and Spark alike."""
    if rule.get("committed_by"):
        column = rule.get("load_column", "_dlt_load_id")
        return f"select * from {files} where {column} in (select load_id from {schema}.{rule['committed_by']})"
    if rule.get("latest_by"):
        keys = ", ".join(rule["latest_by"])
        latest = (
            f"select _dlt_id from (select _dlt_id, row_number() over (partition by {keys} order by _dlt_load_id desc, "
            f"_dlt_id desc) as version from {files}) as versions where version = 1"
        )
        return f"select * from {files} where _dlt_id in ({latest})"
    return f"select * from {files}"


def refresh_views(connection: Any, lake: Lake, datasets: dict[str, str], gold: dict[str, Path] | None = None) -> None:
    """DuckDB views over the lake, for the ingestion's own reads (validation, the report, trace, rollback's
    listing), showing what dbt's sources on Spark show: ``<dataset>.<table>`` for each table with files, by the
    rules of ``datasets``' dbt source (dataset -> source name: ``publications``, ``servicedesk``; see
    :func:`shown_rows`). ``gold``: schema -> the Spark warehouse folder of its tables (``<warehouse>/<schema>.db``),
    shown as views too."""
    if not is_local(lake.url):  # DuckDB reads a bucket only with its httpfs extension, not installed here
        return
    rules = source_rules()
    for dataset, source in datasets.items():
        tables = lake.tables(dataset)
        connection.execute(f"create schema if not exists {_quote(dataset)}")
        # a view names the table its periods are committed by, which must exist first
        tables.sort(key=lambda name: (name != POINTER_TABLE, name))
        for table in tables:
            if not lake.files(dataset, table):
                continue
            files = f"read_parquet('{_literal(lake.folder(dataset, table))}/*.parquet', union_by_name = true)"
            shown = shown_rows(files, rules.get(source, {}).get(table, {}), _quote(dataset))
            connection.execute(f"create or replace view {_quote(dataset)}.{_quote(table)} as {shown}")
    for schema, folder in (gold or {}).items():
        if not folder.is_dir():
            continue
        connection.execute(f"create schema if not exists {_quote(schema)}")
        for built in sorted(p for p in folder.iterdir() if p.is_dir()):
            if not any(built.rglob("*.parquet")):
                continue
            hive = any("=" in part.name for part in built.iterdir())
            connection.execute(
                f"create or replace view {_quote(schema)}.{_quote(built.name)} as select * from "
                f"read_parquet('{_literal(str(built))}/**/*.parquet', hive_partitioning = {str(hive).lower()}, "
                "union_by_name = true)"
            )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return text.replace("'", "''")


def mirror_ledger(connection: Any, lake: Lake) -> None:
    """The ledger's tables (``ops``, in the DuckDB file) as ``<lake>/ops/<table>/ledger.parquet``, each replaced in
    one step: what dbt's ``ops`` sources read on Spark. The ledger stays the truth; this is its copy for dbt."""
    from ingestion.ledger import ops_schema

    schema = ops_schema()
    tables = [
        name
        for (name,) in connection.execute(
            "select table_name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE'",
            (schema,),
        ).fetchall()
        if not name.startswith("_")
    ]
    for table in tables:
        rows = connection.sql(f"select * from {_quote(schema)}.{_quote(table)}").to_arrow_table()
        lake.write(schema, table, "ledger.parquet", rows)
    if FIGURES_TABLE not in tables:  # made by the first service-desk load; dbt's source needs it before
        lake.write(schema, FIGURES_TABLE, "ledger.parquet", _figures_schema().empty_table())


FIGURES_TABLE = "servicedesk_load_figures"


def _figures_schema() -> pa.Schema:
    """The columns of ``ops.servicedesk_load_figures`` that dbt reads (stg_ops__servicedesk_load_figures)."""
    import pyarrow as pa

    text = pa.string()
    return pa.schema(
        [
            ("run_id", text),
            ("source_system", text),
            ("bronze_table", text),
            ("resource", text),
            ("inserted", pa.int64()),
            ("updated", pa.int64()),
            ("ended_at", pa.timestamp("us", tz="UTC")),
            ("status", text),
        ]
    )
