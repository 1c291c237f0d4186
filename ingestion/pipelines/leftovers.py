"""Load packages a killed or failed run left behind are handled on purpose, never loaded by the next run.

dlt keeps a package on disk from extract until it is loaded, and its ``run``/``load`` load every pending package
first. A package left by a run that was killed between extract and load would so end up in another run, or (for a
publication) under another period's name. Every pipeline therefore aborts such leftovers when it starts, with dlt's
own ``abort_packages`` (which also rewinds the pipeline's local state and schema to where the package began), and
records one ``leftover_discarded`` event per package naming the run and subject it came from. Nothing of such a
package was published, so its period (or the service desk's cursor) is loaded again by the normal flow. A package
whose period was published (the run died between the commit and marking the package loaded) is only marked loaded.
"""

from __future__ import annotations

import dlt

from ingestion.ledger import Ledger


def complete_package(pipeline: dlt.Pipeline, load_id: str) -> None:
    """Mark a published package loaded, as dlt's loader does once its jobs are in, and drop its data files (the
    rows are in bronze; the package's record stays for ``dlt pipeline ... load-package``)."""
    storage = pipeline._get_load_storage()  # dlt's loader's own calls; no public API completes a package
    storage.complete_load_package(load_id, aborted=False)
    storage.loaded_packages.remove_completed_jobs(load_id)


def discard_leftovers(pipeline: dlt.Pipeline, ledger: Ledger, source: str) -> list[str]:
    """Abort load packages a killed or failed run left behind, recording for each the run and subject it came from.
    Returns their load ids."""
    pending = [*pipeline.list_extracted_load_packages(), *pipeline.list_normalized_load_packages()]
    published = set(ledger.published_loads(pending))
    for load_id in published:  # a run died after publishing its period, before marking the package loaded
        complete_package(pipeline, load_id)
        ledger.event(
            "load",
            "leftover_completed",
            "success",
            source=source,
            correlation_id=load_id,
            message=f"marked the dlt load package {load_id} loaded: its period was published before the run that "
            "loaded it stopped",
        )
    pending = [load_id for load_id in pending if load_id not in published]
    if not pending:
        return []
    owners = ledger.owners(pending)
    pipeline.abort_packages()
    for load_id in pending:
        run_id, subject = owners.get(load_id, (None, None))
        origin = f"run {run_id}" if run_id else "a run that stopped before recording it"
        ledger.event(
            "load",
            "leftover_discarded",
            "warn",
            source=source,
            subject=subject,
            correlation_id=load_id,
            message=f"discarded the unfinished dlt load package {load_id} left by {origin}"
            f"{f' for {subject}' if subject else ''}: it was never published, so bronze kept what "
            "it had, and what it held is loaded again by the normal flow",
            details={"left_by_run": run_id},
        )
    return pending
