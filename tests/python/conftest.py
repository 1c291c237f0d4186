"""Fixtures: a fresh workspace per test, on each engine (see workspace.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faultkit import Baseline, build_baseline, drop_baseline
from workspace import ENGINES, Workspace


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist (``--dist loadgroup``), the tests that share a module-scoped fixture (a story told once per
    engine) go to one worker, so that the story is told once, not once per worker that runs one of its tests; the
    engines' stories still run side by side on different workers."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        shared = [name for name, defs in info.name2fixturedefs.items() if defs and defs[-1].scope == "module"]
        if not shared:
            continue
        callspec = getattr(item, "callspec", None)
        params = sorted(f"{name}={callspec.params[name]}" for name in shared if callspec and name in callspec.params)
        # no "]" in a group name: xdist takes the text after the last "@" for the group only when it follows the
        # node id's last "]"
        name = f"{item.module.__name__ if item.module else item.nodeid}:{','.join(params)}".replace("]", ")")
        item.add_marker(pytest.mark.xdist_group(name))


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
