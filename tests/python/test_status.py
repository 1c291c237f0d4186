"""One status vocabulary: RunStatus says how a run ended, and dbt reads the same map from seeds/run_statuses.csv."""

from __future__ import annotations

import csv
import io

import pytest

from ingestion.status import RunStatus, render_seed, seed_path


def test_the_committed_seed_is_in_step_with_the_status_vocabulary() -> None:
    assert seed_path().read_text(encoding="utf-8") == render_seed(), (
        "seeds/run_statuses.csv differs from ingestion/status.py: run `make schema` and commit the seed"
    )


def test_the_seed_maps_every_ledger_outcome_dbt_can_see() -> None:
    rows = list(csv.DictReader(io.StringIO(render_seed())))
    assert {row["outcome"]: row["run_status"] for row in rows} == {
        "success": "SUCCESS",
        "no_work": "NO_WORK",
        "failed": "FAILED",
        "running": "INCOMPLETE",
    }
    assert all(row["meaning"] for row in rows)


@pytest.mark.parametrize(
    ("outcome", "alive", "expected"),
    [
        ("success", False, RunStatus.SUCCESS),
        ("no_work", False, RunStatus.NO_WORK),
        ("failed", False, RunStatus.FAILED),
        ("running", True, RunStatus.RUNNING),
        ("running", False, RunStatus.INCOMPLETE),
        (None, True, RunStatus.RUNNING),
        (None, False, RunStatus.INCOMPLETE),
        ("cancelled", False, RunStatus.FAILED),  # an outcome the vocabulary does not know
        ("cancelled", True, RunStatus.FAILED),
    ],
)
def test_a_runs_status_follows_from_its_outcome(outcome: str | None, alive: bool, expected: RunStatus) -> None:
    assert RunStatus.of(outcome, alive=alive) is expected


def test_only_success_and_no_work_exit_zero() -> None:
    assert {status for status in RunStatus if status.exit_code == 0} == {RunStatus.SUCCESS, RunStatus.NO_WORK}
