"""Run dbt against the warehouse a run loaded, and read what it did from ``run_results.json``."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingestion import paths
from ingestion.warehouse import Warehouse


@dataclass
class DbtResult:
    command: str
    returncode: int
    seconds: float
    invocation_id: str | None = None
    statuses: Counter = field(default_factory=Counter)  # (resource type, status) -> count
    failures: list[str] = field(default_factory=list)  # readable lines: status, node, message
    failed_nodes: list[str] = field(default_factory=list)  # unique ids of nodes that errored, failed or warned
    nodes: list[dict] = field(default_factory=list)  # run_results.json's per-node results
    output: list[str] = field(default_factory=list)  # what dbt printed, line by line

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def summary(self) -> str:
        by_type: dict[str, list[str]] = {}
        for (kind, status), count in sorted(self.statuses.items()):
            by_type.setdefault(kind, []).append(f"{count} {status}")
        parts = [f"{kind}: {', '.join(counts)}" for kind, counts in by_type.items()]
        return "; ".join([f"dbt {self.command}: {'ok' if self.ok else 'FAILED'} in {self.seconds:.0f}s", *parts])


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def _die_with_parent() -> Callable[[], None] | None:
    """What the dbt child runs before exec: on Linux, ask the kernel to kill it when the run that started it dies
    (a ``kill -9`` of the run must not leave dbt writing to the warehouse after the run's lock is gone). ``prctl``
    is looked up here, in the parent: the child, forked while other threads may hold locks, only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return functools.partial(prctl, 1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_dbt(args: list[str], warehouse: Warehouse, *, echo: bool = True, target_path: Path | None = None) -> DbtResult:
    """``dbt <args> --target <warehouse>`` in the project folder; output is streamed when ``echo``."""
    target_path = target_path or Path(os.environ.get("DBT_TARGET_PATH", paths.PROJECT_ROOT / "target"))
    env = {
        **os.environ,
        **warehouse.dbt_env(),
        "DBT_PROFILES_DIR": str(paths.PROJECT_ROOT),
        "DBT_PROJECT_DIR": str(paths.PROJECT_ROOT),
        "DBT_TARGET_PATH": str(target_path),
        "DBT_LOG_PATH": str(target_path / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    started, started_at = time.monotonic(), time.time()
    process = subprocess.Popen(
        [dbt_executable(), *args, "--target", warehouse.target],
        cwd=paths.PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_die_with_parent(),
    )
    output = []
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        if echo:
            print(line, end="", flush=True)
    returncode = process.wait()
    result = DbtResult(" ".join(args), returncode, time.monotonic() - started, output=output)
    # `source freshness` reports in sources.json; `docs generate` has no per-node results worth counting
    results_file = target_path / ("sources.json" if args[:2] == ["source", "freshness"] else "run_results.json")
    if args[0] not in ("docs", "ls") and results_file.exists() and results_file.stat().st_mtime >= started_at:
        _read_results(result, json.loads(results_file.read_text()))
    if returncode != 0 and not result.failures:
        result.failures = [line.rstrip() for line in output if "Error" in line or "error" in line][-10:]
    return result


def _read_results(result: DbtResult, results: dict) -> None:
    result.invocation_id = results.get("metadata", {}).get("invocation_id")
    result.nodes = results.get("results", [])
    for node in result.nodes:
        kind = node["unique_id"].split(".")[0]
        result.statuses[(kind, node["status"])] += 1
        if node["status"] in ("error", "fail", "runtime error", "warn"):
            result.failed_nodes.append(node["unique_id"])
            message = (node.get("message") or "").strip()
            result.failures.append(f"{node['status']}: {node['unique_id']}" + (f": {message}" if message else ""))


def dbt_sources(warehouse: Warehouse) -> dict[tuple[str, str], str]:
    """(schema, table) -> ``source_name.table`` of every dbt source table, as dbt resolves them (``dbt ls``): how a
    bronze table (dataset, table) is named in a ``source:`` selector."""
    result = run_dbt(
        ["ls", "--resource-type", "source", "--output", "json", "--output-keys", "source_name name schema"],
        warehouse,
        echo=False,
    )
    if not result.ok:
        raise RuntimeError("dbt ls failed: " + "; ".join(result.failures[:5]))
    found = {}
    for line in result.output:
        if line.startswith("{"):
            node = json.loads(line)
            found[(node["schema"], node["name"])] = f"{node['source_name']}.{node['name']}"
    return found
