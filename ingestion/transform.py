"""Run dbt against the warehouse a run loaded, and read what it did from ``run_results.json``."""

from __future__ import annotations

import functools
import json
import os
import re
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


def dbt_log_dir() -> Path:
    """Where dbt writes its full log (``dbt.log``, dbt's own file, rotated by dbt): ``logs/dbt`` unless
    ``DBT_LOG_PATH`` says otherwise. The console shows one line per group of nodes; this file has every line."""
    return Path(os.environ.get("DBT_LOG_PATH") or paths.PROJECT_ROOT / "logs" / "dbt")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_DONE = {"success", "pass", "fail", "error", "warn", "skipped", "runtime error", "no-op", "reused"}


@dataclass
class _Progress:
    """What dbt's JSON log says while it runs, turned into a few lines: its warnings and errors as they come, a
    count of finished nodes at most every ``every`` seconds, and one line per group of nodes at the end."""

    progress: Callable[[str], None] | None
    label: str
    every: float = 15.0
    done: Counter = field(default_factory=Counter)  # (group, status) -> nodes, in the order first seen
    finished: int = 0
    total: int = 0
    last: float = field(default_factory=time.monotonic)

    def event(self, event: dict) -> str:
        info, data = event.get("info", {}), event.get("data", {})
        text = _ANSI.sub("", info.get("msg") or "").rstrip()
        node, name = data.get("node_info") or {}, str(info.get("name") or "")
        status = str(node.get("node_status") or "")
        if status in ("", "None"):  # a unit test's result has its status beside the node, not in it
            status = str(data.get("status") or "")
        status = status.lower()
        if node and name.startswith("Log") and name.endswith("Result") and status in _DONE:  # LogTestResult, ...
            self.done[(_group(node), status)] += 1
            self.finished += 1
            self.total = max(self.total, int(data.get("total") or 0))
            if self.progress and time.monotonic() - self.last >= self.every:
                self.last = time.monotonic()
                self.progress(f"  {self.label}: {self.finished} of {self.total or '?'} nodes done")
        if self.progress and info.get("level") in ("warn", "error") and text:
            self.progress(f"  {self.label}: {info['level']}: {text}")
        return text

    def groups(self) -> list[str]:
        """One line per group of nodes: ``models (marts): 12 success``."""
        by_group: dict[str, list[str]] = {}  # in the order dbt finished them: seeds and staging first
        for (group, status), count in self.done.items():
            by_group.setdefault(group, []).append(f"{count} {status}")
        return [f"{group}: {', '.join(counts)}" for group, counts in by_group.items()]


def _group(node: dict) -> str:
    """A node's group in progress lines: its resource type, and for models the layer folder (staging, marts)."""
    kind = str(node.get("resource_type") or "node")
    plural = {"unit_test": "unit tests", "source": "sources", "test": "tests"}.get(kind, kind + "s")
    if kind == "model" and "/" in str(node.get("node_path") or ""):
        return f"{plural} ({node['node_path'].split('/', 1)[0]})"
    return plural


def run_dbt(
    args: list[str],
    warehouse: Warehouse,
    *,
    progress: Callable[[str], None] | None = None,
    target_path: Path | None = None,
) -> DbtResult:
    """``dbt <args> --target <warehouse>`` in the project folder. dbt's full log goes to :func:`dbt_log_dir`; with
    ``progress``, its warnings and errors are shown as they come, then one line per group of nodes."""
    target_path = target_path or Path(os.environ.get("DBT_TARGET_PATH", paths.PROJECT_ROOT / "target"))
    env = {
        **os.environ,
        **warehouse.dbt_env(),
        "DBT_PROFILES_DIR": str(paths.PROJECT_ROOT),
        "DBT_PROJECT_DIR": str(paths.PROJECT_ROOT),
        "DBT_TARGET_PATH": str(target_path),
        "DBT_LOG_PATH": str(dbt_log_dir()),
        "DBT_LOG_FORMAT": "json",  # the console: read here, event by event
        "DBT_LOG_FORMAT_FILE": "text",  # the file: what dbt would have printed, for a person
        "DBT_USE_COLORS_FILE": "false",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    if args[0] != "ls":
        warehouse.before_dbt()
    label = "dbt " + " ".join(args[:2] if args[:2] in (["docs", "generate"], ["source", "freshness"]) else args[:1])
    watch = _Progress(progress, label)
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
        try:
            event = json.loads(line)
        except ValueError:  # not one of dbt's events: a crash's traceback, a library printing on its own
            output.append(line.rstrip())
            continue
        output.append(watch.event(event) if isinstance(event, dict) else line.rstrip())
    returncode = process.wait()
    if args[0] != "ls":
        warehouse.after_dbt()
    result = DbtResult(" ".join(args), returncode, time.monotonic() - started, output=output)
    # `source freshness` reports in sources.json; `docs generate` has no per-node results worth counting
    results_file = target_path / ("sources.json" if args[:2] == ["source", "freshness"] else "run_results.json")
    if args[0] not in ("docs", "ls") and results_file.exists() and results_file.stat().st_mtime >= started_at:
        _read_results(result, json.loads(results_file.read_text()))
    if returncode != 0 and not result.failures:
        result.failures = [line for line in output if "Error" in line or "error" in line][-10:]
    if progress:
        for line in watch.groups():
            progress(f"  {label}: {line}")
        if args[0] == "build" and (disabled := disabled_snapshots(target_path)):
            progress(
                f"  {label}: snapshots: {len(disabled)} disabled on {warehouse.target} ({', '.join(disabled)}): "
                "they need a table format that updates rows in place (README, Scaling out)"
            )
        if not result.ok:
            progress(f"  {label}: FAILED; dbt's full log: {paths.shown(dbt_log_dir() / 'dbt.log')}")
    return result


def disabled_snapshots(target_path: Path) -> list[str]:
    """The snapshots the project's config disables on this target (on Spark over Parquet: all), from the manifest
    dbt just wrote."""
    manifest = target_path / "manifest.json"
    if not manifest.exists():
        return []
    disabled = json.loads(manifest.read_text()).get("disabled", {})
    return sorted(
        node["name"] for nodes in disabled.values() for node in nodes if node.get("resource_type") == "snapshot"
    )


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
    )
    if not result.ok:
        raise RuntimeError("dbt ls failed: " + "; ".join(result.failures[:5]))
    found = {}
    for line in result.output:
        if line.startswith("{"):
            node = json.loads(line)
            found[(node["schema"], node["name"])] = f"{node['source_name']}.{node['name']}"
    return found
