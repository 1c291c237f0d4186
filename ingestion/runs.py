"""Reading the run ledger: recent runs, one run stage by stage with its failure point, and how to resume it."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from dataclasses import dataclass
from typing import Any

from ingestion.ledger import EVENT_COLUMNS, Ledger, log_dir, ops_schema
from ingestion.status import RunStatus


@dataclass
class RunView:
    run_id: str
    status: RunStatus
    started_at: dt.datetime
    ended_at: dt.datetime
    rows: int
    argv: list[str]
    events: list[dict[str, Any]]

    @property
    def seconds(self) -> float:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at and self.started_at else 0.0

    def failure(self) -> dict[str, Any] | None:
        """The failure point: the last failed event, or for an interrupted run the stage left in flight."""
        failed = [e for e in self.events if e["status"] == "failed" and e["event_type"] != "run_failed"]
        if failed:
            return failed[-1]
        if self.status == RunStatus.INCOMPLETE:
            open_stages = {e["event_id"]: e for e in self.events if e["event_type"] == "stage_started"}
            for event in self.events:
                open_stages.pop(event.get("parent_event_id") or "", None)
            return list(open_stages.values())[-1] if open_stages else None
        return None


# the ledger's columns a view reads (the run id is the view's own; the fingerprint is the loads')
_COLUMNS = tuple(column for column in EVENT_COLUMNS if column not in ("run_id", "fingerprint"))


def _fetch(ledger: Ledger, run_id: str) -> list[dict[str, Any]]:
    rows = ledger.query(
        f"select {', '.join(_COLUMNS)} from {ops_schema()}.run_events where run_id = ? order by occurred_at, event_id",
        (run_id,),
    )
    return [dict(zip(_COLUMNS, row, strict=True)) for row in rows]


def _details(event: dict[str, Any]) -> dict[str, Any]:
    return json.loads(event["details"] or "{}")


def _mirrored(run_id: str) -> list[dict[str, Any]]:
    """The run's events from its JSONL mirror (``logs/runs/<run_id>.jsonl``), if this machine has it."""
    mirror = log_dir() / f"{run_id}.jsonl"
    if not mirror.is_file():
        return []
    events = []
    for line in mirror.read_text().splitlines():
        try:
            raw = json.loads(line)
        except ValueError:  # a line cut short by a kill
            continue
        if "stage" not in raw:  # the mirror's own notes (ledger_unavailable)
            continue
        event = {column: raw.get(column) for column in EVENT_COLUMNS}
        event["occurred_at"] = dt.datetime.fromisoformat(raw["occurred_at"])
        events.append(event)
    return events


def view_from_mirror(run_id: str) -> RunView | None:
    """A run read from its JSONL mirror alone: what a run recorded while the warehouse was out of reach, or a run
    whose warehouse is gone."""
    events = _mirrored(run_id)
    return _view(run_id, events, holder_alive=False) if events else None


def view(ledger: Ledger, run_id: str) -> RunView | None:
    """A run from the ledger, with any event its mirror holds that the ledger does not: a run killed between
    writing an event to the mirror and to the warehouse, or one whose warehouse went away part way."""
    events = _fetch(ledger, run_id)
    known = {event["event_id"] for event in events}
    missing = [event for event in _mirrored(run_id) if event["event_id"] not in known]
    if missing:
        events = sorted(events + missing, key=lambda e: (_utc(e["occurred_at"]), e["event_id"]))
    if not events:
        return None
    return _view(run_id, events, holder_alive=ledger.lock_holder_alive(run_id))


def _utc(moment: object) -> object:
    """Timestamps from the warehouse and from the mirror compare as UTC (PostgreSQL gives the session's zone)."""
    if isinstance(moment, dt.datetime):
        return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return moment


def _view(run_id: str, events: list[dict[str, Any]], holder_alive: bool) -> RunView:
    end = next((e for e in reversed(events) if e["event_type"] in ("run_completed", "run_failed")), None)
    started = next((e for e in events if e["event_type"] == "run_started"), events[0])
    details = _details(started)
    rows = sum(
        int(e["row_count"] or 0) for e in events if e["event_type"] == "load_completed" and e["status"] == "success"
    )
    return RunView(
        run_id,
        RunStatus.of(end["status"] if end else None, alive=holder_alive),
        started["occurred_at"],
        end["occurred_at"] if end else events[-1]["occurred_at"],
        rows,
        details.get("argv", []),
        events,
    )


def find(ledger: Ledger, run_id: str) -> RunView | None:
    """Run ``run_id`` from the ledger (and its mirror), else from its JSONL mirror alone."""
    return view(ledger, run_id) or view_from_mirror(run_id)


def list_runs(ledger: Ledger, limit: int = 20) -> list[RunView]:
    ids = ledger.query(
        f"select run_id from {ops_schema()}.run_events where event_type = 'run_started' "
        f"order by occurred_at desc limit {int(limit)}"
    )
    return [v for (run_id,) in ids if (v := view(ledger, run_id))]


def recent_runs(ledger: Ledger, limit: int = 30) -> list[RunView]:
    """The newest ``limit`` runs, newest first, from two queries (for the run report): each with its run-level,
    stage-level, load and failed events, enough for its status, stages, rows, failure point and resume command."""
    ids = [
        run_id
        for (run_id,) in ledger.query(
            f"select run_id from {ops_schema()}.run_events where event_type = 'run_started' "
            f"order by occurred_at desc limit {int(limit)}"
        )
    ]
    if not ids:
        return []
    marks = ", ".join(["?"] * len(ids))
    rows = ledger.query(
        f"select run_id, {', '.join(_COLUMNS)} from {ops_schema()}.run_events where run_id in ({marks}) and "
        "(stage = 'run' or event_type in ('stage_started', 'stage_completed', 'stage_failed', 'load_completed') "
        "or status = 'failed') order by occurred_at, event_id",
        tuple(ids),
    )
    by_run: dict[str, list[dict[str, Any]]] = {}
    for run_id, *values in rows:
        by_run.setdefault(run_id, []).append(dict(zip(_COLUMNS, values, strict=True)))
    views = []
    for run_id in ids:
        events = by_run.get(run_id)
        if events:
            ended = any(e["event_type"] in ("run_completed", "run_failed") for e in events)
            views.append(_view(run_id, events, holder_alive=not ended and ledger.lock_holder_alive(run_id)))
    return views


def resume_argv(run: RunView) -> list[str] | None:
    """The command that picks up where ``run`` stopped: the same command, its period range starting at the
    failure point. Loaded periods are skipped anyway (unchanged files), so resuming never loads twice."""
    if run.status in (RunStatus.SUCCESS, RunStatus.NO_WORK, RunStatus.RUNNING) or not run.argv:
        return None
    argv = list(run.argv)
    failure = run.failure()
    subject = (failure or {}).get("subject") or ""
    if argv[0] == "publications" and "/" in subject:
        period = subject.split("/")[1]
        if "--from" in argv:
            argv[argv.index("--from") + 1] = period
        else:
            argv += ["--from", period]
    return argv


def render_list(runs: list[RunView]) -> str:
    lines = [f"{'run id':<26}{'started (UTC)':<21}{'seconds':>9}  {'status':<11}{'rows':>10}  command"]
    for run in runs:
        started = run.started_at.strftime("%Y-%m-%d %H:%M:%S") if run.started_at else "-"
        lines.append(
            f"{run.run_id:<26}{started:<21}{run.seconds:>9.1f}  {run.status:<11}{run.rows:>10,}  {shlex.join(run.argv)}"
        )
    return "\n".join(lines)


def _stage_table(run: RunView) -> list[str]:
    """Each stage the run went through, under its own name, in the order it first started."""
    width = max([len(e["stage"]) for e in run.events] + [10]) + 1
    lines = [
        f"  {'stage':<{width}}{'started':>8}{'completed':>10}{'no work':>8}{'failed':>7}{'rows':>10}{'seconds':>9}"
    ]
    for stage in dict.fromkeys(e["stage"] for e in run.events if e["stage"] != "run"):
        events = [e for e in run.events if e["stage"] == stage]
        ends = [e for e in events if e["event_type"] in ("stage_completed", "stage_failed")]
        lines.append(
            f"  {stage:<{width}}{sum(e['event_type'] == 'stage_started' for e in events):>8}"
            f"{sum(e['event_type'] == 'stage_completed' and e['status'] == 'success' for e in events):>10}"
            f"{sum(e['status'] == 'no_work' for e in events):>8}"
            f"{sum(e['event_type'] == 'stage_failed' for e in events):>7}"
            f"{sum(int(e['row_count'] or 0) for e in ends):>10,}"
            f"{sum(float(e['duration_seconds'] or 0) for e in ends):>9.1f}"
        )
    return lines


def _quarantine_lines(run: RunView) -> list[str]:
    lines = []
    for event in run.events:
        if event["event_type"] != "load_completed" or event["status"] != "success":
            continue
        details = _details(event)
        quarantined, flagged = details.get("quarantined") or {}, details.get("flagged") or {}
        for table in sorted(set(quarantined) | set(flagged)):
            lines.append(
                f"    {event['subject'] or '-'}: {table}: {quarantined.get(table, 0):,} quarantined, "
                f"{flagged.get(table, 0):,} flagged"
            )
    return lines


def _skipped_lines(run: RunView) -> list[str]:
    """Sheet rows each loaded period did not take as data, by reason (the manifest has them per sheet)."""
    lines = []
    for event in run.events:
        if event["event_type"] == "load_completed" and event["status"] == "success":
            skipped = _details(event).get("rows_skipped") or {}
            if skipped:
                lines.append(
                    f"    {event['subject'] or '-'}: "
                    + ", ".join(f"{count:,} {reason}" for reason, count in sorted(skipped.items()))
                )
    return lines


def render_show(run: RunView, errors_only: bool = False) -> str:
    """A run's status, stage breakdown (not with ``errors_only``), failure point, problems and resume command."""
    lines = [
        f"run {run.run_id}: {run.status}",
        f"  command:  ingestion {shlex.join(run.argv)}",
        f"  started:  {run.started_at:%Y-%m-%d %H:%M:%S} UTC   duration: {run.seconds:.1f}s   "
        f"rows loaded: {run.rows:,}",
    ]
    if not errors_only:
        lines += ["", *_stage_table(run)]
    held = _quarantine_lines(run)
    if held:
        lines += ["", "  rows quarantined (not loaded) and flagged (loaded, marked), see the quarantine table:", *held]
    skipped = _skipped_lines(run)
    if skipped and not errors_only:
        lines += [
            "",
            "  sheet rows not taken as data (blank separators, notes, units rows, hidden rows), see "
            "publication_manifest.rows_skipped:",
            *skipped,
        ]
    failure = run.failure()
    if failure:
        lines += [
            "",
            f"  failure point: stage {failure['stage']}, source {failure['source'] or '-'}, "
            f"{failure['subject'] or '-'} ({failure['event_type']})",
        ]
        if failure.get("message"):
            lines.append(f"  error ({failure.get('error_class') or 'unknown'}): {failure['message']}")
        if run.status == RunStatus.INCOMPLETE:
            lines.append("  the process stopped without recording an end (killed or crashed) during this stage")
    problems = [
        e
        for e in run.events
        if e["status"] in ("failed", "warn")
        and e is not failure
        and not (e["event_type"] == "validation_result" and _details(e).get("drift_only"))
    ]
    if problems:
        lines += ["", "  errors and warnings:"]
        lines += [
            f"    {e['occurred_at']:%H:%M:%S} {e['stage']}/{e['event_type']} {e['subject'] or ''}: {e['message']}"
            for e in problems
        ]
    elif errors_only and not failure:
        lines += ["", "  no errors or warnings"]
    resume = resume_argv(run)
    if failure and failure["stage"] == "validate" and failure["source"] == "great_expectations":
        lines += [
            "",
            "  bronze failed its suites: `ingestion drift` lists each table's differences; fix the release",
            "  and load it again, or accept the change with `ingestion drift --accept TABLE`, then resume",
        ]
    if resume:
        lines += [
            "",
            f"  resume with: ingestion {shlex.join(resume)}",
            f"  or:          ingestion runs resume {run.run_id} --execute",
        ]
    return "\n".join(lines)
