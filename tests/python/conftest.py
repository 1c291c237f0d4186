"""Fixtures: a fresh workspace per test, on each engine (see workspace.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from workspace import ENGINES, Workspace


@pytest.fixture(params=ENGINES)
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    with Workspace(request.param, tmp_path) as ws:
        yield ws


@pytest.fixture
def duckdb_workspace(tmp_path: Path) -> Iterator[Workspace]:
    with Workspace("duckdb", tmp_path) as ws:
        yield ws
