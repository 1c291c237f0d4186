"""``make bench TARGET=spark``: the spark target at full size, on one machine, for the README's "Scaling out".

Four full-size periods of the monthly publication (about 1.4 million detail CSV rows each; ``--rows``), generated
once and cached under ``.bench/spark/``, are loaded into a fresh lake (``ingestion publications --target spark``);
then ``dbt build --full-refresh`` builds silver and gold from them on Spark, on ``local[2]`` (the default: Spark in
dbt's own process) and on a standalone cluster of two one-core workers on 127.0.0.1 (:mod:`spark_cluster`), the two
interleaved ``--rounds`` times (2). Beside them, the same build over the demo-size sample: what every build pays
whatever the data (the JVM, the session, the sources made by on-run-start, one Spark job per model and test).

Printed as a table (median, min, max seconds; rows; the full-size build as a multiple of the demo-size one) and
written to ``.bench/spark/latest.json``. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ingestion import paths

PERIODS = ("2025-02", "2025-03", "2025-04", "2025-05")


def _env(root: Path, name: str) -> dict[str, str]:
    """A workspace of its own: data, state, lake, ledger and Spark folders in the bench folder's ``work/<name>``."""
    work = root / "work" / name
    return {
        **os.environ,
        "ANALYTICS_DATA_DIR": str(root / ("data" if name != "demo" else "demo-data")),
        "ANALYTICS_STATE_DIR": str(work / "state"),
        "ANALYTICS_LOG_DIR": str(work / "logs"),
        "ANALYTICS_EXPORT_DIR": str(work / "export"),
        "ANALYTICS_LAKE_URL": str(work / "lake"),
        "SPARK_LEDGER_PATH": str(work / "ledger.duckdb"),
        "SPARK_WAREHOUSE_DIR": str(work / "warehouse"),
        "SPARK_METASTORE_DIR": str(work / "metastore"),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs" / "dbt"),
    }


def _run(args: list[str], env: dict[str, str], what: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=paths.PROJECT_ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-8:]
        raise SystemExit(f"bench: {what} failed:\n  " + "\n  ".join(tail))
    return time.perf_counter() - started


def _generate(root: Path, rows: int) -> None:
    from ingestion.devtools.sample import payments
    from ingestion.devtools.sample import publications as sample

    practices = sample.practices_for_rows(rows)
    marker = root / "data" / f".generated-{practices}-{len(PERIODS)}"
    if not marker.exists():
        print(f"bench: generating {', '.join(PERIODS)}, {practices:,} practices (~{rows:,} detail rows each) ...")
        shutil.rmtree(root / "data", ignore_errors=True)
        sample.generate(root / "data" / "publications", PERIODS, practices)
        payments.generate(root / "data" / "publications")
        marker.touch()
    if not (root / "demo-data" / "publications").is_dir():
        sample.generate(root / "demo-data" / "publications")
        payments.generate(root / "demo-data" / "publications")


def _load(root: Path, name: str) -> dict[str, Any]:
    """The four periods (or the demo sample) into a fresh lake; seconds and rows from the run."""
    shutil.rmtree(root / "work" / name, ignore_errors=True)
    env = _env(root, name)
    seconds = _run(
        [sys.executable, "-m", "ingestion", "publications", "--target", "spark"], env, f"the {name} lake load"
    )
    _run([sys.executable, "-m", "ingestion", "init", "--target", "spark"], env, f"init of the {name} lake")
    import duckdb

    with duckdb.connect(env["SPARK_LEDGER_PATH"], read_only=True) as ledger:
        rows = ledger.execute("select coalesce(sum(row_count), 0) from ops.period_loads").fetchall()[0][0]
    return {"seconds": seconds, "rows": int(rows)}


def _build(root: Path, name: str, extra: dict[str, str]) -> float:
    env = {**_env(root, name), **extra}
    dbt = str(Path(sys.executable).with_name("dbt"))
    return _run(
        [dbt, "build", "--full-refresh", "--target", "spark", "--exclude", "resource_type:snapshot"],
        env,
        f"dbt build on {extra.get('SPARK_MASTER', 'local[2]')} ({name})",
    )


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    from ingestion.devtools.spark_cluster import SparkCluster

    parser = argparse.ArgumentParser(prog="bench_spark", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_400_000, help="detail CSV rows per period (about)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the builds (default 2)")
    parser.add_argument("--root", type=Path, default=paths.PROJECT_ROOT / ".bench" / "spark")
    args = parser.parse_args(argv)
    root: Path = args.root
    _generate(root, args.rows)
    print(f"bench: loading {len(PERIODS)} periods into a fresh lake ...", flush=True)
    full, demo = _load(root, "full"), _load(root, "demo")
    builds: dict[str, list[float]] = {"local[2]": [], "cluster (2 workers)": [], "local[2], demo size": []}
    with SparkCluster(root / "work" / "cluster", workers=2, cores=1, memory="2g") as cluster:
        for number in range(1, args.rounds + 1):
            print(f"bench: round {number} of {args.rounds}: dbt build on local[2], on the cluster, demo size ...")
            builds["local[2]"].append(_build(root, "full", {}))
            builds["cluster (2 workers)"].append(_build(root, "full", cluster.env()))
            builds["local[2], demo size"].append(_build(root, "demo", {}))
        tasks = dict(cluster.tasks_by_worker())
    table = {
        "lake load (4 periods)": {**_spread([full["seconds"]]), "rows": full["rows"]},
        "lake load (demo sample)": {**_spread([demo["seconds"]]), "rows": demo["rows"]},
        **{f"dbt build, {name}": {**_spread(values), "rows": full["rows"]} for name, values in builds.items()},
    }
    table["dbt build, local[2], demo size"]["rows"] = demo["rows"]
    print(f"\n{'measure':<36}{'median s':>10}{'min s':>9}{'max s':>9}{'rows':>12}")
    for name, figures in table.items():
        print(f"{name:<36}{figures['median']:>10.1f}{figures['min']:>9.1f}{figures['max']:>9.1f}{figures['rows']:>12,}")
    fixed = table["dbt build, local[2], demo size"]["median"]
    for name in ("local[2]", "cluster (2 workers)"):
        multiple = table[f"dbt build, {name}"]["median"] / fixed
        print(f"bench: the full-size build on {name} is {multiple:.1f}x the demo-size one")
    print(f"bench: tasks per worker on the cluster: {tasks}")
    print(f"bench: lake load: {full['rows'] / full['seconds']:,.0f} rows/s")
    (root / "latest.json").write_text(json.dumps({"table": table, "tasks_by_worker": tasks}, indent=2))
    print(f"bench: written to {paths.shown(root / 'latest.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
