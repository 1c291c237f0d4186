"""Where the project lives and where it keeps its working files."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Generated sample data and downloaded release files (git-ignored)."""
    return Path(os.environ.get("ANALYTICS_DATA_DIR", PROJECT_ROOT / "data"))


def state_dir() -> Path:
    """dlt pipeline working folders and other local state (git-ignored)."""
    return Path(os.environ.get("ANALYTICS_STATE_DIR", PROJECT_ROOT / ".state"))


def resolve(path: str | Path) -> Path:
    """A path from config: absolute as given, relative to the project root otherwise."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def shown(path: Path) -> str:
    """A path as a user should read it: relative to the project root when it is inside, absolute otherwise."""
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def schema_prefix() -> str:
    """What every schema the project writes starts with: nothing on the prod targets, ``<dev schema>_`` on a dev
    target (``duckdb_dev``, ``postgres_dev``), as dbt's ``generate_schema_name`` does for silver and gold. Set for
    the process from the chosen target (:func:`ingestion.warehouse.use_target`)."""
    return os.environ.get("ANALYTICS_SCHEMA_PREFIX", "")


def schema(name: str) -> str:
    """The schema the project writes for ``name`` (``bronze_publications``, ``ops``) on the current target."""
    return schema_prefix() + name


def logical_schema(name: str) -> str:
    """``name`` without the current target's prefix: how configs and suite files name it."""
    return name.removeprefix(schema_prefix())
