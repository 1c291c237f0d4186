"""Everything the command line prints, in one place: progress and results to stdout, refusals and failures to
stderr. Commands hand their results here; nothing else in the package prints except the progress callbacks that
long work is given (``progress=console.info``)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ingestion import paths
from ingestion.status import Outcome, RunStatus

if TYPE_CHECKING:
    from ingestion.ledger import RunRecord
    from ingestion.pipelines.publications import PublicationRun
    from ingestion.pipelines.rollback import Rollback
    from ingestion.pipelines.run import RunOutcome
    from ingestion.pipelines.servicedesk import ServiceDeskRun
    from ingestion.quality.catalog import BronzeTable
    from ingestion.quality.drift import TableDrift
    from ingestion.quality.suites import Scaffolded
    from ingestion.quality.validate import ValidationReport
    from ingestion.sources.publications.inspect import Inspection
    from ingestion.warehouse import Warehouse


def info(text: str = "") -> None:
    print(text, flush=True)


def error(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def plural(count: int, noun: str) -> str:
    """``1 period``, ``2 periods``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


# -- runs that load -----------------------------------------------------------------------------------------------
def publication_runs(runs: list[PublicationRun]) -> None:
    for run in runs:
        loaded = [p for p in run.periods if p.status == "loaded"]
        skipped = sum(p.status == "skipped" for p in run.periods)
        waiting = f", {len(run.not_published)} not published yet" if run.not_published else ""
        held = f", {run.rows_quarantined():,} rows quarantined" if run.rows_quarantined() else ""
        info(
            f"publications: {run.publication}: {plural(len(run.periods), 'period')}: {len(loaded)} loaded "
            f"({sum(p.files for p in loaded)} files, {run.rows_loaded():,} rows{held}), {skipped} unchanged "
            f"(NO_WORK){waiting}, {len(run.failed)} failed (run {run.run_id})"
        )
        for period in run.failed:
            info(f"  FAILED {period.period}: {period.error}")
            info(
                f"  retry:  ingestion publications --publication {run.publication} "
                f"--from {period.period} --to {period.period}"
            )


def servicedesk_run(run: ServiceDeskRun, retry: str) -> None:
    """A system's load figures; ``retry`` is the command that loads it again."""
    status = run.status if run.status != "success" or run.changed else "nothing new (NO_WORK)"
    info(f"servicedesk {run.system}: {status} in {run.seconds:.1f}s (run {run.run_id}, load {run.load_id or '-'})")
    info(run.table())
    for rejection in run.rejections[:10]:
        info(f"  rejected: {rejection}")
    if run.error:
        info(f"  FAILED: {run.error}")
        info(f"  retry:  {retry}  (incremental: it resumes from the last committed cursor)")
    if run.recovered:
        info(
            f"  recovered: {run.recovered} records the system lists were missing from bronze; the deletion check "
            "loaded them"
        )


def validation(report: ValidationReport) -> None:
    for skipped in report.skipped:
        info(f"  skipped {skipped}")
    info(report.summary())
    if report.docs:
        info(f"GX Data Docs: {report.docs}")


def run_outcome(outcome: RunOutcome, retries: dict[str, str]) -> None:
    """What ``run`` did after its loads: validation, dbt, and why nothing was built when nothing was."""
    publication_runs(outcome.publications)
    for desk in outcome.servicedesk:
        servicedesk_run(desk, retries[desk.system])
    if outcome.validation and outcome.validation.docs:
        info(f"  GX Data Docs: {outcome.validation.docs}")
    for result in outcome.dbt:
        info(f"  {result.summary()}")
        for failure in result.failures[:10]:
            info(f"    {failure}")
    if outcome.status == Outcome.NO_WORK:
        info("run: nothing new was loaded, so silver and gold were left as they are (NO_WORK; --force rebuilds)")


def run_started(command: str, run_id: str, warehouse: Warehouse) -> None:
    info(f"{command}: run {run_id} into {warehouse.describe()}")


def run_ended(command: str, record: RunRecord, mirror: Path) -> None:
    """The last line of a recorded run: its status, time, rows and where to read more."""
    if record.unavailable is not None:
        error(
            f"{command}: FAILED: {record.unavailable} (run {record.run_id}; what it did is recorded in "
            f"{paths.shown(mirror)}; nothing half-loaded is visible: run it again once the warehouse is back)"
        )
        return
    info(
        f"{command}: {RunStatus.of(record.outcome)} in {record.seconds:.1f}s, {record.rows:,} rows loaded "
        f"(run {record.run_id}); details: ingestion runs show {record.run_id}"
    )


def rolled_back(plan: Rollback, target: str, *, dry_run: bool) -> None:
    verb = "would remove" if dry_run else "removed"
    info(f"rollback: {plan.subject} (load {plan.load_id or '-'}): {verb} {plan.total:,} rows")
    for table, rows in plan.rows.items():
        info(f"  {table:<48} {rows:>10,}")
    if dry_run:
        info("rollback: nothing changed (--dry-run)")
    elif plan.total:
        info(
            f"rollback: the next run loads {plan.subject} again (ingestion run --target {target}); silver and gold "
            "keep the period until that build"
        )


# -- bronze and its suites ----------------------------------------------------------------------------------------
def drift_listing(tables: list[TableDrift], skipped: list[str], target: str) -> None:
    drifted = [t for t in tables if t]
    for table in drifted:
        info(f"{table.table.name}:")
        info("\n".join(table.lines()))
    for text in skipped:
        info(f"  not checked: {text}")
    info(
        f"drift: {len(drifted)} of {len(tables)} tables differ from their suites"
        + (f"; accept with: ingestion drift --accept TABLE --target {target}" if drifted else "")
    )


def drift_accepted(table: BronzeTable, changes: list[str], suite: Path, staging_model: Path) -> None:
    if not changes:
        info(f"drift: {table.name} matches its suite; nothing to accept")
        return
    info(f"drift: accepted into {paths.shown(suite)}:")
    for change in changes:
        info(f"  {change}")
    info(
        f"drift: review and commit the suite (git diff {paths.shown(suite)}); then select the new columns in the "
        f"one staging model that reads {table.name}, {paths.shown(staging_model)} (see expectations/README.md)"
    )


def suite_scaffolded(done: Scaffolded) -> None:
    if done.skipped is not None:
        info(f"  skipped {done.table.name}: {done.skipped}")
    elif done.expectations is None:
        info(f"  kept    {done.path} (exists; --overwrite replaces it)")
    else:
        info(f"  wrote   {done.path} ({done.expectations} expectations)")


def suites_written(count: int, warehouse: Warehouse) -> None:
    info(f"expectations: wrote {count} suites from {warehouse.describe()}; review them before committing")


# -- files ---------------------------------------------------------------------------------------------------------
def inspection(found: Inspection, rendered: str) -> None:
    info(rendered)
    tables, unreadable = found.tables, found.unreadable
    info(
        f"\ninspect: {len(found.parts)} part(s), {len(tables) - len(unreadable)} table(s) readable"
        + (f", {len(unreadable)} not: {', '.join(part.name for part in unreadable)}" if unreadable else "")
    )


# -- runs -------------------------------------------------------------------------------------------------------------
def resume(argv: list[str], execute: bool) -> None:
    info(f"resume: ingestion {shlex.join(argv)}")
    if not execute:
        info("runs resume: add --execute to run it")


def demo_summary(warehouse: Warehouse, counts: list[tuple[str, str, int, int | None]], pages: list[str]) -> None:
    info("\n" + "=" * 100 + f"\nSummary of the demo ({warehouse.describe()})")
    info("  bronze tables:")
    for dataset, table, rows, periods in counts:
        info(f"    {dataset + '.' + table:<48} {rows:>10,} rows" + (f"  {periods} periods" if periods else ""))
    for page in pages:
        info(f"  {page}")
    info()
