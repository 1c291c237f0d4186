"""Great Expectations in a process of its own: the run's process never imports it.

GX's import takes about 3 s of pure Python (its expectation catalogue, scipy, its pydantic models). Imported in a
thread beside a period's load it held the interpreter lock against the load's own Python work, so it did not overlap
the load: it lengthened it (a full-size first load went from 3.3 s to 5-6 s). In a process of its own it imports on
the other core while the period loads, and the run hands it what to check:

* a schema check gets the column types (the worker builds the zero-row frame);
* a rows check gets the period's rows as an Arrow table (read once by the warehouse's columnar export), which the
  worker turns into the pandas batch GX validates.

It runs at the run's own CPU priority: a lower one gained 0.3 s on an idle machine and starved the validation on a
busy one (a test suite, a shared server).

The worker answers with plain values (:class:`ExpectationOutcome`), builds the Data Docs when asked, and exits when
the run's process closes its end of the pipe (or dies: a ``kill -9`` of the run leaves no worker behind). Requests
and answers are pickled over the worker's stdin and stdout; its own output goes to stderr.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from ingestion.errors import describe

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

MODULE = "ingestion.quality.gx_worker"


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, as plain values."""

    success: bool
    type: str
    kwargs: dict[str, Any]
    severity: str = "critical"
    result: dict[str, Any] = field(default_factory=dict)
    exception: str | None = None  # why the expectation could not run, when it could not

    @property
    def columns(self) -> list[str]:
        return [self.kwargs["column"]] if "column" in self.kwargs else list(self.kwargs.get("column_list", []))

    def describe(self) -> str:
        """What failed, in a sentence: the row count against its bounds, or how many rows and a few of them."""
        target = ", ".join(self.columns) or "table"
        if self.exception:
            return f"{self.type}({target}) could not run: {self.exception}"
        if self.type == "expect_table_row_count_to_be_between":
            return (
                f"{self.result.get('observed_value')} rows, outside the expected "
                f"{self.kwargs.get('min_value')}..{self.kwargs.get('max_value') or 'any'}"
            )
        sample = ", ".join(repr(v) for v in (self.result.get("partial_unexpected_list") or [])[:5])
        return (
            f"{self.type}({target}): {self.result.get('unexpected_count', '?')} of "
            f"{self.result.get('element_count', '?')} rows unexpected" + (f", e.g. {sample}" if sample else "")
        )


@dataclass(frozen=True)
class Part:
    """Expectations of a suite checked on one batch: a zero-row schema frame (``data`` as column -> dlt type) or
    the rows the checks name (an Arrow table); ``parameters`` fill the expectations' ``$PARAMETER`` references."""

    expectations: list[dict]
    data: pa.Table | dict[str, str]
    parameters: dict | None = None


class GxWorkerError(RuntimeError):
    """The worker could not check: GX raised (its traceback is in the message), or the worker died."""


# -- the run's side --------------------------------------------------------------------------------------------------
class GxWorker:
    """A worker process and the calls the validate stage makes to it. One call at a time."""

    def __init__(self) -> None:
        source_root = str(Path(__file__).resolve().parents[2])  # the project, importable in the worker as here
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def open(self, docs: Path | None, run_name: str | None = None) -> None:
        """A fresh GX context for one validation (its Data Docs under ``docs``, none if None; the results kept
        beside them, the newest per suite, each under ``run_name``, the run's id)."""
        self._call("open", str(docs) if docs is not None else None, run_name)

    def validate(
        self, table: str, suite: dict, period: str | None, parts: list[Part]
    ) -> list[list[ExpectationOutcome]]:
        """Validate one table (and period) against its suite: one Great Expectations validation, one result.

        ``suite``: the suite file's document (its name and every expectation: the suite the Data Docs show).
        ``parts``: what to check on which batch; each an :class:`Part` of the suite's expectations that apply,
        the data (rows as an Arrow table, or column -> type for a zero-row schema batch) and the values of its
        ``$PARAMETER`` references. Answers each part's outcomes."""
        outcomes: list[list[ExpectationOutcome]] = self._call("validate", table, suite, period, parts)
        return outcomes

    def judge(self, judgement: str) -> None:
        """Record the run's judgement (pass, warn, fail) of the last validation on its stored result: GX calls
        every failed validation Failed, the drift policy may call it a warning (the Data Docs show which)."""
        self._call("judge", judgement)

    def build_docs(self) -> Path | None:
        built: str | None = self._call("docs")
        return Path(built) if built else None

    def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(OSError):  # a worker that died left a broken pipe
                self.process.stdin.close()  # the worker reads the end of its input and exits
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def _call(self, *request: Any) -> Any:
        with self._lock:
            assert self.process.stdin is not None and self.process.stdout is not None
            try:
                pickle.dump(request, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self.process.stdin.flush()
                status, value = pickle.load(self.process.stdout)
            except (OSError, EOFError, pickle.UnpicklingError) as error:
                code = self.process.poll()
                raise GxWorkerError(
                    f"the Great Expectations worker (pid {self.process.pid}) "
                    + (f"exited with code {code}" if code is not None else f"stopped answering ({describe(error)})")
                    + f" during {request[0]}; its own output is above"
                ) from error
        if status == "error":
            raise GxWorkerError(f"Great Expectations failed in its worker: {value}")
        return value


_shared: GxWorker | None = None
_shared_lock = threading.Lock()


def shared() -> GxWorker:
    """The process's worker, started on first use (or again, if the last one died)."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.alive:
            _shared = GxWorker()
        return _shared


@atexit.register
def _close_shared() -> None:
    if _shared is not None:
        _shared.close()


# -- the worker's side -----------------------------------------------------------------------------------------------
def _quiet_gx() -> None:
    warnings.filterwarnings("ignore", module="great_expectations")
    warnings.filterwarnings("ignore", message=".*great_expectations.*")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)


HISTORY = 50  # validations kept per suite (and shown in the Data Docs)


def results_dir(docs: Path) -> Path:
    """Where validation results are kept between runs: beside the Data Docs built from them."""
    return docs.parent / "gx_results"


class GxRunner:
    """An ephemeral GX context with one pandas datasource: the schema batches and the rows batches of both engines.
    Suites come from the caller; results are kept on disk beside the docs (the newest :data:`HISTORY` per suite),
    so the Data Docs show the runs before this one too."""

    def __init__(self, docs: Path | None, run_name: str | None = None) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False))
        if docs is not None:
            config.stores["validation_results_store"] = {
                "class_name": "ValidationResultsStore",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(results_dir(docs)),
                },
            }
        self.context = gx.get_context(project_config=config, mode="ephemeral")
        self.run_name = run_name or "__none__"
        self._stored: list[tuple[Any, Any]] = []  # (result key, result) of each validation of this run
        self.context.enable_analytics(False)  # nothing phones home (this GX sends nothing anyway; say so for the next)
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        self.docs = docs
        if docs is not None:
            site: dict[str, Any] = {  # GX's own extension points: the classes that show a warned validation
                "class_name": "SiteBuilder",
                "site_index_builder": {
                    "module_name": "ingestion.quality.gx_docs",
                    "class_name": "SiteIndex",
                    "renderer": {"module_name": "ingestion.quality.gx_docs", "class_name": "IndexPage"},
                },
                "site_section_builders": {
                    "validations": {
                        "renderer": {"module_name": "ingestion.quality.gx_docs", "class_name": "ResultsPage"}
                    }
                },
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs)},
            }
            self.context.add_data_docs_site(site_name="bronze", site_config=cast(Any, site))
        self.frames = self.context.data_sources.add_pandas("bronze")
        self._suites: dict[str, Any] = {}

    def validate(
        self, table: str, suite: dict, period: str | None, parts: list[Part]
    ) -> list[list[ExpectationOutcome]]:
        """One validation of the table's suite, stored as one result: the period is a batch parameter of the
        table's asset, not a suite of its own. Its parts run on their own batches (a zero-row schema frame, the
        period's rows) and make one result, under the batch id GX gives a batch parameter."""
        import great_expectations as gx
        from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )
        from great_expectations.validator.validation_statistics import calc_validation_statistics

        name = suite["name"]
        if name not in self._suites:  # the suite as committed, for its Data Docs page
            self._suites[name] = self.context.suites.add(
                gx.ExpectationSuite(name=name, expectations=suite["expectations"], meta=suite.get("meta") or {})
            )
        try:
            frames = self.frames.get_asset(table)
        except LookupError:
            frames = self.frames.add_dataframe_asset(table)
        batches = (
            frames.batch_definitions[0]
            if frames.batch_definitions
            else frames.add_batch_definition_whole_dataframe(table)
        )
        results = []
        answers: list[list[ExpectationOutcome]] = []
        parameters: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        for part in parts:
            frame = schema_frame(part.data) if isinstance(part.data, dict) else part.data.to_pandas()
            batch = batches.get_batch(batch_parameters={"dataframe": frame})
            validated = batch.validate(
                gx.ExpectationSuite(name=name, expectations=part.expectations),
                result_format="SUMMARY",
                expectation_parameters=part.parameters or None,
            )
            results += validated.results
            parameters.update(validated.suite_parameters or {})
            meta = dict(validated.meta)  # the last batch's: GX's version, batch spec and markers, the asset
            answers.append([_outcome(r) for r in validated.results])
        run_id = RunIdentifier(run_name=self.run_name, run_time=dt.datetime.now(dt.UTC))
        batch_id = "-".join(["bronze", table, *([f"period_{period}"] if period else [])])
        meta.update(
            run_id=run_id, validation_time=run_id.run_time, batch_parameters={"period": period} if period else None
        )
        statistics = calc_validation_statistics(results)
        result = ExpectationSuiteValidationResult(
            success=statistics.success,
            results=results,
            suite_name=name,
            suite_parameters=parameters,
            statistics={
                "evaluated_expectations": statistics.evaluated_expectations,
                "successful_expectations": statistics.successful_expectations,
                "unsuccessful_expectations": statistics.unsuccessful_expectations,
                "success_percent": statistics.success_percent,
            },
            meta=meta,
            batch_id=batch_id,
        )
        key = ValidationResultIdentifier(ExpectationSuiteIdentifier(name=name), run_id, batch_id)
        self._stored.append((key, result))
        self.context.validation_results_store.set(key, result)
        return answers

    def judge(self, judgement: str) -> None:
        from ingestion.quality.gx_docs import JUDGEMENT

        if not self._stored:
            raise RuntimeError("judge before any validation")
        key, result = self._stored[-1]
        if result.meta.get(JUDGEMENT) != judgement:
            result.meta[JUDGEMENT] = judgement
            self.context.validation_results_store.set(key, result)

    def build_docs(self) -> str | None:
        """This run's result pages and the index (which lists the kept results of earlier runs too); results
        beyond the newest :data:`HISTORY` of a suite are dropped first, and their pages with the index."""
        if self.docs is None:
            return None
        prune(results_dir(self.docs), HISTORY)
        suites = {key.expectation_suite_identifier for key, _ in self._stored}
        self.context.build_data_docs(
            site_names=["bronze"], resource_identifiers=[*suites, *(key for key, _ in self._stored)]
        )
        return str(self.docs / "index.html")


def prune(results: Path, keep: int) -> None:
    """Keep the newest ``keep`` validation results of each suite under ``results`` (GX's layout:
    ``<suite path>/<run name>/<run time>/<batch>.json``)."""
    if not results.is_dir():
        return
    by_suite: dict[Path, list[Path]] = {}
    for result in results.rglob("*.json"):
        by_suite.setdefault(result.parent.parent.parent, []).append(result)
    for kept in by_suite.values():
        for old in sorted(kept, key=lambda path: path.parent.name, reverse=True)[keep:]:
            old.unlink()


def schema_frame(types: dict[str, str]) -> pd.DataFrame:
    """A zero-row frame with the catalog's types, as pandas dtypes GX can name (see suites.GX_TYPES)."""
    import pandas as pd

    dtypes = {
        "text": pd.StringDtype(),
        "bigint": "Int64",
        "double": "Float64",
        "bool": "boolean",
        "date": "datetime64[s]",
        "timestamp": pd.DatetimeTZDtype("us", "UTC"),
    }
    return pd.DataFrame({c: pd.Series([], dtype=dtypes.get(t, object)) for c, t in types.items()})


def _outcome(result: ExpectationValidationResult) -> ExpectationOutcome:
    config = result.expectation_config
    if config is None:  # GX sets it on every result of a validation run
        raise ValueError(f"a Great Expectations result without its expectation: {result}")
    # numpy and pandas values made plain: the run's process does not import pandas to read them
    plain: Any = result.to_json_dict()
    raised = result.exception_info or {}
    return ExpectationOutcome(
        success=bool(result.success),
        type=config.type,
        kwargs=dict(plain["expectation_config"]["kwargs"]),
        severity=str(getattr(config.severity, "value", "critical")),
        result=dict(plain.get("result") or {}),
        exception=str(raised.get("exception_message")) if raised.get("raised_exception") else None,
    )


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """Answer requests until the run's process closes the pipe."""
    runner: GxRunner | None = None
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        kind, *arguments = request
        try:
            if kind == "open":
                runner = GxRunner(Path(arguments[0]) if arguments[0] else None, *arguments[1:])
                answer: Any = None
            elif runner is None:
                raise RuntimeError(f"{kind} before open")
            elif kind == "validate":
                answer = runner.validate(*arguments)
            elif kind == "docs":
                answer = runner.build_docs()
            elif kind == "judge":
                runner.judge(*arguments)
                answer = None
            else:
                raise RuntimeError(f"unknown request {kind!r}")
            reply: tuple[str, Any] = ("ok", answer)
        except Exception:  # the run reports it; the worker stays up for the next request
            reply = ("error", traceback.format_exc(limit=8))
        pickle.dump(reply, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle; it closes the pipe
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # anything printed goes to stderr, not into the answers
    _quiet_gx()
    import great_expectations  # noqa: F401 (imported now, while the run loads; the first request finds it here)

    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    from ingestion.quality import gx_worker  # under its own name, so that what it pickles unpickles in the run

    gx_worker.main()
