"""``ingestion init`` on a fresh server: the database, the ledger and every bronze table, empty, so that a plain
``dbt build`` works before anything is loaded; a first run on it ends where a run on a bare warehouse ends."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workspace import Workspace

pytestmark = [pytest.mark.slow]

BRONZE = ("bronze_publications", "bronze_servicedesk")
# what differs between any two runs: ids and clocks
VOLATILE = re.compile(r"(load_id|run_id|_at|_date_loaded|dbt_)")


def _catalog(ws: Workspace, schemas: tuple[str, ...]) -> dict[str, list[tuple[str, str]]]:
    """Table -> its (column, type) in order, for the tables of ``schemas``."""
    listed = ", ".join(f"'{schema}'" for schema in schemas)
    rows = ws.query(
        "select table_schema || '.' || table_name, column_name, data_type from information_schema.columns "
        f"where table_schema in ({listed}) order by 1, ordinal_position"
    )
    catalog: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        catalog.setdefault(table, []).append((column, kind.lower()))
    return catalog


def _gold(ws: Workspace) -> dict[str, list[tuple]]:
    """Each gold table's rows, sorted, without the columns that name a run, a load or a time."""
    rows = {}
    for table, columns in _catalog(ws, ("gold",)).items():
        kept = [name for name, _ in columns if not VOLATILE.search(name)]
        selected = ", ".join(f"cast({name} as varchar)" for name in kept)
        rows[table] = sorted(ws.query(f"select {selected} from {table}"), key=repr)
    return rows


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_init_lets_dbt_build_a_fresh_warehouse_and_a_first_run_ends_as_on_a_bare_one(
    engine: str, tmp_path: Path
) -> None:
    with Workspace(engine, tmp_path / "bare") as bare:
        bare.generate(practices=8)
        assert (ran := bare.command("run", "--local-api")).returncode == 0, ran.stdout + ran.stderr
        bare_bronze, bare_gold = _catalog(bare, BRONZE), _gold(bare)

    with Workspace(engine, tmp_path / "init") as ws:
        ws.generate(practices=8)
        first, again = ws.command("init"), ws.command("init")
        built = ws.dbt("build")
        empty = {table: ws.scalar(f"select count(*) from {table}") for table in _catalog(ws, ("gold",))}
        ran = ws.command("run", "--local-api")
        init_bronze, init_gold = _catalog(ws, BRONZE), _gold(ws)

    assert first.returncode == 0, first.stdout + first.stderr
    assert f"init {engine}: database" in first.stdout and "11 bronze tables created empty" in first.stdout, first.stdout
    assert "0 bronze tables created empty, 11 already there" in again.stdout, again.stdout  # nothing touched
    assert built.ok, built.output
    assert empty and set(empty.values()) == {0}, empty  # every gold model built, empty
    assert ran.returncode == 0, ran.stdout + ran.stderr
    # bronze as a first load creates it (a table created by init gains nothing but a later release's new columns)
    assert {t: c for t, c in init_bronze.items() if not t.endswith("_dlt_pipeline_state")} == {
        t: c for t, c in bare_bronze.items() if not t.endswith("_dlt_pipeline_state")
    }
    assert init_gold == bare_gold and all(init_gold.values()), {t: len(r) for t, r in init_gold.items()}
