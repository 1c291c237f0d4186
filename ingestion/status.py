"""The one vocabulary for how a run ended, shared by the CLI, ``runs`` and, through ``seeds/run_statuses.csv``, dbt.

The ledger's ``run_completed`` / ``run_failed`` events hold an outcome in lower case (``success``, ``no_work``,
``failed``); a run with no end event still has its ``run_started`` status, ``running``. :class:`RunStatus` is what
people and ``fct_runs.run_status`` read. The seed is written from :data:`BY_OUTCOME` by ``make schema`` and a test
checks that the two agree.
"""

from __future__ import annotations

import csv
import io
from enum import StrEnum
from pathlib import Path

from ingestion import paths


class Outcome(StrEnum):
    """What a run's last run-level event records in ``ops.run_events.status``."""

    SUCCESS = "success"
    NO_WORK = "no_work"
    FAILED = "failed"
    RUNNING = "running"  # only ``run_started`` so far: still running, or killed


class RunStatus(StrEnum):
    """How a run ended, as ``ingestion runs``, the command summaries and ``fct_runs.run_status`` say it."""

    SUCCESS = "SUCCESS"
    NO_WORK = "NO_WORK"
    FAILED = "FAILED"
    INCOMPLETE = "INCOMPLETE"  # no end event and no live process holds the run: killed, or the machine went down
    RUNNING = "RUNNING"  # no end event and the process that holds the run is alive (dbt cannot tell: INCOMPLETE)

    @classmethod
    def of(cls, outcome: str | None, *, alive: bool = False) -> RunStatus:
        """The status of a run whose last run-level event holds ``outcome`` (None: no event at all)."""
        if outcome in (None, Outcome.RUNNING):
            return cls.RUNNING if alive else cls.INCOMPLETE
        known = {member.value: member for member in Outcome}
        return BY_OUTCOME[known.get(outcome or "", Outcome.FAILED)]

    @property
    def exit_code(self) -> int:
        return 0 if self in (RunStatus.SUCCESS, RunStatus.NO_WORK) else 1


BY_OUTCOME: dict[Outcome, RunStatus] = {
    Outcome.SUCCESS: RunStatus.SUCCESS,
    Outcome.NO_WORK: RunStatus.NO_WORK,
    Outcome.FAILED: RunStatus.FAILED,
    Outcome.RUNNING: RunStatus.INCOMPLETE,
}

MEANINGS: dict[RunStatus, str] = {
    RunStatus.SUCCESS: "the run did its work and every stage succeeded",
    RunStatus.NO_WORK: "nothing new to load, so nothing was built",
    RunStatus.FAILED: "a stage failed; ingestion runs show RUN_ID says which and how to resume",
    RunStatus.INCOMPLETE: "the run never recorded its end: it was killed or its machine went down",
}


def seed_path() -> Path:
    return paths.PROJECT_ROOT / "seeds" / "run_statuses.csv"


def render_seed() -> str:
    """``seeds/run_statuses.csv``: one row per ledger outcome and the run status dbt shows for it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["outcome", "run_status", "meaning"])
    for outcome, status in BY_OUTCOME.items():
        writer.writerow([outcome.value, status.value, MEANINGS[status]])
    return out.getvalue()


def write_seed() -> Path:
    path = seed_path()
    path.write_text(render_seed(), encoding="utf-8")
    return path
