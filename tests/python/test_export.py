"""Gold as Parquet by period: the export equals gold row for row, read by DuckDB and by pandas; a revised release
rewrites exactly the partitions whose rows changed, and a run that changed nothing rewrites no file."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from workspace import Workspace

pytestmark = [pytest.mark.slow]

MONTHLY = "fct_practice_submissions_monthly"


def _files(root: Path) -> dict[str, tuple[str, int]]:
    """Every exported file: relative path -> (sha256, mtime in ns)."""
    return {
        str(path.relative_to(root)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*.parquet"))
    }


def _revise_detail(ws: Workspace, period: str) -> None:
    """A revised practice-detail CSV for ``period``: every paper submission withdrawn."""
    path = ws.release_root / period / f"practice-detail-{period}.csv"
    original = path.with_suffix(".orig")
    shutil.copy(path, original)
    duckdb.sql(f"copy (select * from read_csv('{original}') where channel <> 'Paper') to '{path}' (header)")
    original.unlink()


def _value(value: object) -> object:
    """A cell as each reader gives it, made comparable: a date, a timestamp, a Decimal, an int or a float, a null."""
    if pd.isna(value):  # type: ignore[call-overload]
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if hasattr(value, "isoformat"):
        return pd.Timestamp(value).isoformat()  # type: ignore[arg-type]
    try:  # numbers however typed (a DuckDB frame gives a DECIMAL as text): compared as numbers on every side
        return round(float(value), 6)  # type: ignore[arg-type]
    except ValueError:
        return str(value)


def _rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return sorted((tuple(_value(v) for v in row) for row in frame[columns].itertuples(index=False)), key=repr)


def _gold(ws: Workspace, model: str) -> pd.DataFrame:
    return pd.DataFrame(ws.query(f"select * from gold.{model}"), columns=ws.columns("gold", model))


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_export_follows_gold_period_by_period(engine: str, tmp_path: Path) -> None:
    with Workspace(engine, tmp_path) as ws:
        root = tmp_path / "export"
        ws.generate(practices=8)
        first = ws.command("run", "--local-api")
        exported = _files(root)
        [(code, submissions)] = ws.query(
            f"select practice_code, submission_count from gold.{MONTHLY} where period_month = '2025-03-01' "
            "and submission_count is not null order by practice_code limit 1"
        )
        traced = ws.command("trace", MONTHLY, f"practice_code={code}", "period_month=2025-03-01")
        again = ws.command("export")
        unchanged = _files(root)

        _revise_detail(ws, "2025-05")
        revised = ws.command("run", "--local-api")
        after = _files(root)
        blocked = tmp_path / "not-a-folder"
        blocked.write_text("a file where the export folder should be")
        with pytest.MonkeyPatch.context() as env:
            env.setenv("ANALYTICS_EXPORT_DIR", str(blocked / "export"))
            failed = ws.command("export")
        kept = _files(root)
        rolled_back = ws.command("rollback", "--publication", "practice_submissions", "--period", "2025-02")
        rebuilt = ws.dbt("build")
        pruned = ws.command("export")
        left = _files(root)
        catalog = json.loads((root / "datapackage.json").read_text())
        gold = _gold(ws, MONTHLY)
        validated = subprocess.run(
            [str(Path(sys.executable).parent / "frictionless"), "validate", str(root / "datapackage.json")],
            capture_output=True,
            text=True,
        )

    assert first.returncode == 0, first.stdout + first.stderr
    assert "export: 7 models" in first.stdout, first.stdout
    assert f"{MONTHLY}/period=2025-02-01/part-0.parquet" in exported and "dim_practices/part-0.parquet" in exported
    assert again.returncode == 0 and "0 written" in again.stdout and "NO_WORK" in again.stdout, again.stdout
    assert unchanged == exported  # same bytes, same mtimes: nothing rewritten
    assert revised.returncode == 0, revised.stdout + revised.stderr
    changed = {path for path in after if after[path] != exported.get(path)}
    # the period's practice rows and the region totals summed from them; no other period, no other model
    assert changed == {
        f"{model}/period=2025-05-01/part-0.parquet" for model in (MONTHLY, "fct_region_submissions_monthly")
    }, changed

    # a gold figure traced to the release file's cells: the workbook's practice row and the detail CSV's lines
    assert traced.returncode == 0, traced.stdout + traced.stderr
    shown = traced.stdout
    assert re.search(r"release     practice-submissions-2025-03\.xlsx, sheet Table 2, row \d+", shown), shown
    assert f"Practice code: {code} |" in shown and f"| Submissions: {submissions} |" in shown, shown
    assert re.search(r"release     practice-detail-2025-03\.csv, file, row \d+", shown), shown
    assert re.search(rf"as published: practice_code: {code} \| submission_date: 2025-03-", shown), shown

    # an export that cannot write fails its stage and the run, and leaves the files as they were
    assert failed.returncode == 1 and "export failed: NotADirectoryError" in failed.stderr, (
        failed.stdout + failed.stderr
    )
    assert "Traceback" not in failed.stdout + failed.stderr
    assert kept == after

    # a month gold no longer holds leaves the export, and the catalog
    assert rolled_back.returncode == 0 and rebuilt.ok and pruned.returncode == 0, pruned.stdout + pruned.stderr
    gone = {path for path in after if path not in left}
    assert gone == {f"{m}/period=2025-02-01/part-0.parquet" for m in (MONTHLY, "fct_region_submissions_monthly")}
    assert not (root / MONTHLY / "period=2025-02-01").exists()
    assert not [r for r in catalog["resources"] if r.get("period") == "2025-02-01"]

    # the export equals gold, read as a user reads it
    with_duckdb = duckdb.sql(
        f"select * exclude (period) from read_parquet('{root}/{MONTHLY}/*/*.parquet', hive_partitioning = true)"
    ).df()
    with_pandas = pd.read_parquet(root / MONTHLY).drop(columns=["period"])
    columns = list(gold.columns)
    assert _rows(with_duckdb, columns) == _rows(with_pandas, columns) == _rows(gold, columns)
    assert set(with_duckdb.columns) == set(columns)  # nothing more, nothing less

    # the catalog: a valid Data Package whose files are the export's, with each model's lineage
    assert validated.returncode == 0, validated.stdout + validated.stderr
    monthly = [r for r in catalog["resources"] if r["model"] == MONTHLY]
    assert sum(r["rows"] for r in monthly) == len(gold)
    assert {r["path"]: r["hash"] for r in monthly} == {
        path: f"sha256:{sha}" for path, (sha, _) in left.items() if path.startswith(MONTHLY)
    }
    assert monthly[0]["schema"]["primaryKey"] == ["practice_code", "period_month"]
    described = catalog["models"][MONTHLY]
    assert described["periods"] == {"first": "2025-03-01", "last": "2025-06-01"}
    assert "bronze_publications.practice_summary" in described["lineage"]["bronze_tables"]
    assert "practice-detail-2025-05.csv" in {f["file"] for f in described["lineage"]["release_files"]}
