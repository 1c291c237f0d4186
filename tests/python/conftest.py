"""Fixtures: a fresh workspace per test, on each engine (see workspace.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faultkit import Baseline, build_baseline, drop_baseline
from workspace import ENGINES, Workspace


@pytest.fixture(params=ENGINES)
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    with Workspace(request.param, tmp_path) as ws:
        yield ws


@pytest.fixture
def duckdb_workspace(tmp_path: Path) -> Iterator[Workspace]:
    with Workspace("duckdb", tmp_path) as ws:
        yield ws


@pytest.fixture(scope="session", params=ENGINES)
def baseline(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Baseline]:
    """Three periods loaded once per engine (and test process), copied by each fault case (faultkit)."""
    built = build_baseline(request.param, tmp_path_factory.mktemp(f"baseline-{request.param}"))
    yield built
    drop_baseline(built)
