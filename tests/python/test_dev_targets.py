"""Dev and prod like dbt users expect: on a dev target (``postgres_dev``) every schema the project writes, bronze
and the ledger included, carries the developer's prefix (``ANALYTICS_DEV_SCHEMA``), so two people build side by
side on one PostgreSQL without touching each other or the canonical prod schemas."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion import paths
from ingestion.devtools.sample import payments
from ingestion.devtools.sample import publications as sample

from workspace import Workspace

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def run_as(person: str, data: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANALYTICS_DEV_SCHEMA": person, "ANALYTICS_DATA_DIR": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "ingestion", *args], cwd=paths.PROJECT_ROOT, env=env, capture_output=True, text=True
    )


def schemas(ws: Workspace) -> set[str]:
    return {
        name
        for (name,) in ws.query("select schema_name from information_schema.schemata")
        if not name.startswith("pg_") and name not in ("information_schema", "public")
    }


def test_two_dev_targets_build_side_by_side_on_one_postgresql(tmp_path: Path) -> None:
    with Workspace("postgres", tmp_path) as ws:
        for person, periods in (("alice", sample.DEFAULT_PERIODS[:3]), ("bob", sample.DEFAULT_PERIODS[:2])):
            sample.generate(tmp_path / person / "publications", periods, 8)
            payments.generate(tmp_path / person / "publications", practice_count=8)

        alice = run_as("alice", tmp_path / "alice", "run", "--local-api", "--target", "postgres_dev")
        bob = run_as("bob", tmp_path / "bob", "run", "--local-api", "--target", "postgres_dev")
        alice_again = run_as("alice", tmp_path / "alice", "publications", "--target", "postgres_dev")

        assert alice.returncode == 0, alice.stdout + alice.stderr
        assert bob.returncode == 0, bob.stdout + bob.stderr
        layers = ("bronze_publications", "bronze_servicedesk", "ops", "silver", "gold", "snapshots", "reference")
        assert schemas(ws) >= {f"{person}_{layer}" for person in ("alice", "bob") for layer in layers}, schemas(ws)
        assert not schemas(ws) & set(layers), "a dev run wrote a prod schema"
        months = "select count(distinct period_month) from {}_gold.fct_practice_submissions_monthly"
        assert ws.query(months.format("alice")) == [(3,)] and ws.query(months.format("bob")) == [(2,)]
        assert ws.query("select count(distinct run_id) from alice_ops.run_events") == [(2,)]  # run, and again
        assert ws.query("select count(distinct run_id) from bob_ops.run_events") == [(1,)]
        assert "NO_WORK" in alice_again.stdout, alice_again.stdout + alice_again.stderr  # bob's run is not hers
