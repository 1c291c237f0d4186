"""The one place a dlt pipeline is made: every pipeline of the project is named ``<name>_<target>``, writes to the
run's warehouse and keeps its working folder under ``.state/dlt/pipelines`` (``ANALYTICS_STATE_DIR``), where dlt's
own CLI finds it from the project root (:mod:`ingestion.pipelines.dlt_context`).

dlt reads its settings (``.dlt/config.toml``, committed; ``.dlt/secrets.toml``, git-ignored) from the project it
runs in. A command may be started from any folder, so the project's own settings folder is made dlt's run context
here, once, instead of relying on the working directory (``DLT_PROJECT_DIR`` set by a user still wins).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext
from dlt.common.runtime.run_context import switch_context

from ingestion import paths
from ingestion.pipelines.dlt_context import dlt_data_dir
from ingestion.warehouse import Warehouse


def use_project_settings() -> None:
    """Make the project's ``.dlt`` folder the one dlt reads config and secrets from, if it is not already."""
    context = Container()[PluggableRunContext].context
    if context.settings_dir != str(paths.PROJECT_ROOT / ".dlt"):
        switch_context(str(paths.PROJECT_ROOT))


def dlt_pipeline(name: str, warehouse: Warehouse, dataset: str, destination: Any = None) -> dlt.Pipeline:
    """The dlt pipeline ``<name>_<target>`` loading ``dataset`` of ``warehouse`` (or of ``destination``)."""
    use_project_settings()
    return dlt.pipeline(
        pipeline_name=f"{name}_{warehouse.target}",
        destination=destination or warehouse.dlt_destination(),
        dataset_name=dataset,
        pipelines_dir=str(Path(dlt_data_dir()) / "pipelines"),
    )
