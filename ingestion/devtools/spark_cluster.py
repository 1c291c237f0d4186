"""A standalone Spark cluster on this machine, for the tests and the benchmark: a master, workers and a history
server on 127.0.0.1, each a process started from pyspark's own launcher (``bin/spark-class``, the jars the package
ships; Java from the machine).

The dbt runs pointed at it (``SPARK_MASTER=spark://127.0.0.1:<port>``) write Spark's event log
(``SPARK_EVENT_LOG_DIR``), which the history server reads: its REST API (``/api/v1/applications``) says, after
an application ended, how many tasks each executor ran, and each executor's log links name the worker it ran on.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

START_SECONDS = 60


def spark_home() -> Path:
    """Where pyspark's scripts and jars are (the package folder holds ``bin/`` and ``jars/``)."""
    import pyspark

    return Path(pyspark.__file__).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@dataclass
class SparkCluster:
    """``with SparkCluster(folder) as cluster:`` a running cluster; stopped (every process) on leaving."""

    root: Path
    workers: int = 2
    cores: int = 1
    memory: str = "1g"
    master_port: int = field(default_factory=free_port)
    master_ui: int = field(default_factory=free_port)
    history_ui: int = field(default_factory=free_port)
    worker_uis: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    @property
    def event_log_dir(self) -> Path:
        return self.root / "events"

    def env(self) -> dict[str, str]:
        """What points dbt's Spark session at the cluster and has it write its event log."""
        return {
            "SPARK_MASTER": self.url,
            "SPARK_EVENT_LOG_DIR": str(self.event_log_dir),
            "SPARK_EXECUTOR_MEMORY": self.memory,
            "SPARK_LOCAL_IP": "127.0.0.1",
        }

    def __enter__(self) -> SparkCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        self.event_log_dir.mkdir(exist_ok=True)
        try:
            self._start(
                "master",
                "org.apache.spark.deploy.master.Master",
                ["--host", "127.0.0.1", "--port", str(self.master_port), "--webui-port", str(self.master_ui)],
            )
            for number in range(1, self.workers + 1):
                port = free_port()
                self.worker_uis.append(port)
                work = self.root / f"worker-{number}"
                work.mkdir(exist_ok=True)
                self._start(
                    f"worker-{number}",
                    "org.apache.spark.deploy.worker.Worker",
                    [
                        *("--host", "127.0.0.1", "--cores", str(self.cores), "--memory", self.memory),
                        *("--webui-port", str(port), "--work-dir", str(work), self.url),
                    ],
                )
            self._start(
                "history",
                "org.apache.spark.deploy.history.HistoryServer",
                [],
                {
                    "SPARK_HISTORY_OPTS": f"-Dspark.history.fs.logDirectory={self.event_log_dir} "
                    f"-Dspark.history.ui.port={self.history_ui} -Dspark.history.fs.update.interval=1s"
                },
            )
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self, name: str, main_class: str, args: list[str], extra_env: dict[str, str] | None = None) -> None:
        log = (self.root / f"{name}.log").open("ab")
        env = {
            **os.environ,
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(self.root),
            **(extra_env or {}),
        }
        self.processes.append(
            subprocess.Popen(
                [str(spark_home() / "bin" / "spark-class"), main_class, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a Spark process ({process.args!r}) exited; its log is under {self.root}")
            try:
                alive = [
                    w for w in _json(f"http://127.0.0.1:{self.master_ui}/json/")["workers"] if w["state"] == "ALIVE"
                ]
                _json(f"http://127.0.0.1:{self.history_ui}/api/v1/applications")
                if len(alive) == self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the Spark cluster did not come up in {START_SECONDS}s; its logs are under {self.root}")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    # -- what ran where ------------------------------------------------------------------------------------------
    def master_state(self) -> dict[str, Any]:
        """The master's own JSON (``/json/``): workers, running and completed applications."""
        state: dict[str, Any] = _json(f"http://127.0.0.1:{self.master_ui}/json/")
        return state

    def applications(self, wait: float = 30.0) -> list[dict[str, Any]]:
        """The completed applications the history server has read from the event log (it polls every second)."""
        expected = len(self.master_state().get("completedapps", []))
        deadline = time.monotonic() + wait
        while True:
            apps: list[dict[str, Any]] = _json(
                f"http://127.0.0.1:{self.history_ui}/api/v1/applications?status=completed"
            )
            if len(apps) >= expected or time.monotonic() > deadline:
                return apps
            time.sleep(1)

    def tasks_by_worker(self) -> Counter[str]:
        """Tasks each worker's executors ran, over every completed application (from the history server's REST
        API: ``allexecutors``, the worker told by the web UI port in the executor's log links)."""
        workers = {port: f"worker-{number}" for number, port in enumerate(self.worker_uis, start=1)}
        tasks: Counter[str] = Counter()
        for app in self.applications():
            executors = _json(f"http://127.0.0.1:{self.history_ui}/api/v1/applications/{app['id']}/allexecutors")
            for executor in executors:
                if executor["id"] == "driver":
                    continue
                logs = executor.get("executorLogs", {})
                port = urlparse(next(iter(logs.values()), "")).port
                tasks[workers.get(port or 0, f"port {port}")] += int(executor.get("totalTasks", 0))
        return tasks
