"""dlt's run context for this project: what lets dlt's own CLI (``dlt pipeline ...``), run from the project root,
see the project's pipelines and act on the warehouse the ingestion loads.

A dlt plugin (the ``dlt`` entry point in ``pyproject.toml``; dlt's documented run-context hook,
``plug_run_context``): when dlt's run folder is the project root, its context is dlt's own, with two settings of
the project's:

* its working folder (dlt's "data dir") is ``.state/dlt`` (``ANALYTICS_STATE_DIR``), so pipelines live in
  ``.state/dlt/pipelines/<pipeline>``, where the ingestion makes them (``DLT_DATA_DIR`` still wins);
* destination credentials for ``duckdb`` and ``postgres`` come from the same variables as the ingestion's and
  dbt's (``DUCKDB_PATH``; ``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGDATABASE``, ``PGPASSWORD``), after dlt's own
  environment variables and ``.dlt/*.toml``, so ``dlt pipeline <name> drop ...`` acts on the project's warehouse,
  never on a ``<pipeline>.duckdb`` file of dlt's default.

Elsewhere dlt's default context applies. Importing this module does no work.
"""

from __future__ import annotations

import os
from typing import Any

from dlt.common.configuration import plugins
from dlt.common.configuration.providers import ConfigProvider
from dlt.common.configuration.providers.dictionary import DictionaryProvider
from dlt.common.configuration.specs.pluggable_run_context import RunContextBase
from dlt.common.runtime.run_context import RunContext

from ingestion import paths


def dlt_data_dir() -> str:
    """dlt's working folder for the project: its pipelines are in ``pipelines/`` under it."""
    return os.environ.get("DLT_DATA_DIR") or str(paths.state_dir() / "dlt")


class WarehouseProvider(DictionaryProvider):
    """The warehouses' credentials, from the variables the ingestion and ``profiles.yml`` read."""

    NAME = "The project's warehouses (DUCKDB_PATH, PG* variables)"

    def __init__(self) -> None:
        super().__init__()
        from ingestion.warehouse import Warehouse

        duckdb, postgres = Warehouse("duckdb"), Warehouse("postgres")
        self._config_doc = {
            "destination": {
                "duckdb": {"credentials": str(duckdb.duckdb_path)},
                "postgres": {
                    "credentials": {
                        "host": postgres.host,
                        "port": int(postgres.port),
                        "username": postgres.user,
                        "database": postgres.database,
                        "password": postgres.password,  # empty for trust or peer authentication
                    }
                },
            }
        }


class ProjectRunContext(RunContext):
    """dlt's own run context with the project's working folder and warehouse credentials."""

    @property
    def data_dir(self) -> str:
        return dlt_data_dir()

    def initial_providers(self) -> list[ConfigProvider]:
        return [*super().initial_providers(), WarehouseProvider()]


@plugins.hookimpl(specname="plug_run_context")
def plug_project_run_context(run_dir: str | None, runtime_kwargs: dict[str, Any] | None) -> RunContextBase | None:
    """The project's context when dlt runs in the project root (or ``DLT_PROJECT_DIR`` names it)."""
    folder = os.path.abspath(os.environ.get("DLT_PROJECT_DIR") or run_dir or ".")
    if folder != str(paths.PROJECT_ROOT) or (runtime_kwargs or {}).get("_required"):
        return None
    return ProjectRunContext(run_dir)
