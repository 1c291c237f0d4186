"""Schema drift against the Great Expectations suites in expectations/: warned, or stopped before silver.

The committed suites describe the release as it was up to 2025-05; the 2025-06 release adds five practice-level
columns. New columns warn and the run goes on; a column removed or retyped in a release stops the run at
validation, leaves silver and gold as they were, and the ledger says why.

The story is told once per engine (the ``story`` fixture): run, revise a release, run again, list and accept the
drift, tighten a policy, write first suites. Each step depends on the one before, so the fixture records what each
step left behind and every test reads one of those records.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from filelock import FileLock, Timeout

from ingestion import cli, runs
from ingestion.ledger import Ledger
from ingestion.quality import catalog, drift, suites

from workspace import ENGINES, Workspace

ADDED_DETAIL = ["is_extended_hours", "median_wait_days", "routine_count", "staff_role", "urgent_count"]


# -- the story, told once per engine ---------------------------------------------------------------------------------
@dataclass
class Step:
    """A command's exit code and the run the ledger recorded for it."""

    code: int
    run: runs.RunView


@dataclass
class Story:
    """What each step left behind, in order."""

    # 2025-06 adds five columns
    added: Step
    bronze_detail_columns: list[str]
    data_docs_built: bool
    built: dict[str, object]
    # a revised 2025-05 without a column
    removed: Step
    built_after_removed: dict[str, object]
    removed_shown: str
    # 2025-05 revised again, its dates published as ISO weeks
    retyped: Step
    variant_values: object
    built_after_retyped: dict[str, object]
    # `ingestion drift`
    listed: drift.TableDrift
    # the publisher corrects 2025-05; a person accepts the new columns
    fixed: Step
    accept_code: int
    accepted_suite: dict
    validated: Step
    # practice_summary's suite fails new columns
    refused: Step
    # `ingestion expectations init` into an empty folder
    init_code: int
    written: suites.Suite | None
    written_files: int
    clean: Step
    # GX Data Docs after the first run (warned drift) and after the second (removed column): the status of each
    # validation in the index by (suite, run name), and the status on the warned validation's own page
    docs_after_added: dict[tuple[str, str], str]
    docs_after_removed: dict[tuple[str, str], str]
    warned_page_status: str


def _run(ws: Workspace) -> Step:
    code = cli.main(["run", "--local-api", "--target", ws.engine])
    return Step(code, runs.list_runs(Ledger(ws.warehouse, "-"), limit=1)[0])


def _command(ws: Workspace, *argv: str) -> Step:
    code = cli.main([*argv, "--target", ws.engine])
    return Step(code, runs.list_runs(Ledger(ws.warehouse, "-"), limit=1)[0])


def _built_layers(ws: Workspace) -> dict[str, object]:
    """Row counts of every silver and gold table, and a figure from the practice fact."""
    tables = ws.query(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('silver', 'gold') and table_type = 'BASE TABLE' order by 1, 2"
    )
    state: dict[str, object] = {f"{s}.{t}": ws.scalar(f"select count(*) from {s}.{t}") for s, t in tables}
    state["submissions"] = ws.scalar("select sum(submission_count) from gold.fct_practice_submissions_monthly")
    return state


def _docs_index(ws: Workspace) -> dict[tuple[str, str, str], str]:
    """(suite, batch, run name) -> the status the GX Data Docs index shows (Success, Warning, Failed)."""
    index = (ws.root / "target" / "gx_docs" / "index.html").read_text()
    rows = re.findall(
        r"'run_name': '([^']*)'.*?'_batch_identifier_sort': '([^']*)'.*?'_expectation_suite_name_sort': '([^']*)'"
        r".*?'_validation_success_text': '(\w+)'",
        index,
    )
    return {(suite, batch, run): status for run, batch, suite, status in rows}


def _page_status(ws: Workspace, table: str, period: str, run_id: str) -> str:
    """The status on one validation's own page."""
    [page] = (ws.root / "target" / "gx_docs" / "validations" / "bronze_publications").glob(
        f"{table}/{run_id}/*/bronze-bronze_publications.{table}-period_{period}.html"
    )
    found = re.search(r"Status:</span>\s*<i[^>]*></i>\s*(\w+)", page.read_text())
    return found.group(1) if found else ""


def _revise_detail(ws: Workspace, period: str, select: str) -> None:
    """Publish a revised practice-detail CSV for ``period``: ``select`` over the original file's columns."""
    path = ws.release_root / period / f"practice-detail-{period}.csv"
    original = path.with_suffix(".orig")
    if not original.exists():
        shutil.copy(path, original)
    duckdb.sql(f"copy (select {select} from read_csv('{original}')) to '{path}' (header)")


def _tell(engine: str, root: Path) -> Story:
    with Workspace(engine, root) as ws, pytest.MonkeyPatch.context() as env:
        own_suites = root / "expectations"  # a copy: accepting drift must not touch the project's suites
        shutil.copytree(suites.suites_dir(), own_suites)
        env.setenv("ANALYTICS_EXPECTATIONS_DIR", str(own_suites))
        ws.generate()

        added = _run(ws)
        bronze_detail_columns = ws.columns("bronze_publications", "practice_detail")
        data_docs_built = (ws.root / "target" / "gx_docs" / "index.html").exists()
        docs_after_added = _docs_index(ws)
        warned_page_status = _page_status(ws, "practice_detail", "2025-06", added.run.run_id)
        built = _built_layers(ws)

        _revise_detail(ws, "2025-05", "* exclude (mean_processing_days)")
        removed = _run(ws)
        built_after_removed = _built_layers(ws)
        docs_after_removed = _docs_index(ws)
        shown = runs.view(Ledger(ws.warehouse, "-"), removed.run.run_id)
        assert shown is not None

        _revise_detail(ws, "2025-05", "* replace (strftime(submission_date, '%G-W%V-%u') as submission_date)")
        retyped = _run(ws)
        variant_values = ws.scalar(
            "select count(submission_date__v_text) from bronze_publications.practice_detail where _period = '2025-05'"
        )
        built_after_retyped = _built_layers(ws)

        [listed] = drift.table_drift(ws.warehouse, [catalog.find_table("practice_detail")])[0]

        shutil.copy(
            ws.release_root / "2025-05" / "practice-detail-2025-05.orig",
            ws.release_root / "2025-05" / "practice-detail-2025-05.csv",
        )
        fixed = _run(ws)
        accept_code = cli.main(["drift", "--accept", "practice_detail", "--target", ws.engine])
        accepted_suite = json.loads((own_suites / "bronze_publications" / "practice_detail.json").read_text())
        validated = _command(ws, "validate", "--all-periods")

        summary_suite = own_suites / "bronze_publications" / "practice_summary.json"
        strict = json.loads(summary_suite.read_text())
        strict["meta"]["drift_policy"]["added"] = "fail"
        summary_suite.write_text(json.dumps(strict))
        refused = _command(ws, "validate")

        fresh = root / "fresh_suites"
        env.setenv("ANALYTICS_EXPECTATIONS_DIR", str(fresh))
        init_code = cli.main(["expectations", "init", "--target", ws.engine])
        written = suites.Suite.load(catalog.find_table("practice_detail"))
        written_files = len(list(fresh.rglob("*.json")))
        clean = _command(ws, "validate", "--all-periods")

        return Story(
            added,
            bronze_detail_columns,
            data_docs_built,
            built,
            removed,
            built_after_removed,
            runs.render_show(shown),
            retyped,
            variant_values,
            built_after_retyped,
            listed,
            fixed,
            accept_code,
            accepted_suite,
            validated,
            refused,
            init_code,
            written,
            written_files,
            clean,
            docs_after_added,
            docs_after_removed,
            warned_page_status,
        )


def _told(engine: str, wanted: list[str], factory: pytest.TempPathFactory) -> Story:
    """The story on ``engine``, told once per test session. Under xdist, workers share what was told: the first to
    need an engine tells it; one that needs an engine another worker is telling tells one nobody has started
    meanwhile (so that both engines are told side by side), then reads its own."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return _tell(engine, factory.mktemp(f"drift-{engine}"))
    shared = factory.getbasetemp().parent  # the session's folder, above each worker's own

    def story_file(name: str) -> Path:
        return shared / f"drift-story-{name}.pickle"

    def tell_once(name: str) -> None:
        if not story_file(name).exists():
            story_file(name).write_bytes(pickle.dumps(_tell(name, factory.mktemp(f"drift-{name}"))))

    def taken(lock: FileLock) -> bool:
        try:
            lock.acquire(blocking=False)
        except Timeout:
            return False
        return True

    own = FileLock(shared / f"drift-story-{engine}.lock")
    if not taken(own):
        for other in wanted:
            lock = FileLock(shared / f"drift-story-{other}.lock")
            if other == engine or not taken(lock):
                continue
            try:  # if it cannot be told here (no server, a failure), its own tests tell it again and say why
                with contextlib.suppress(Exception, pytest.skip.Exception, pytest.fail.Exception):
                    tell_once(other)
            finally:
                lock.release()
        own.acquire()
    try:
        tell_once(engine)
        story: Story = pickle.loads(story_file(engine).read_bytes())
        return story
    finally:
        own.release()


@pytest.fixture(scope="module", params=ENGINES)
def story(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Story:
    selected = (getattr(getattr(item, "callspec", None), "params", {}) for item in request.session.items)
    wanted = sorted({params["story"] for params in selected if "story" in params})  # the engines this session runs
    return _told(request.param, wanted, tmp_path_factory)


def _events(run: runs.RunView, event_type: str, subject: str | None = None) -> list[dict]:
    return [e for e in run.events if e["event_type"] == event_type and (subject is None or e["subject"] == subject)]


# -- 2025-06 adds five columns: the run warns, records the drift, and completes with the columns in bronze ----------
def test_a_release_that_adds_columns_completes(story: Story) -> None:
    assert story.added.code == 0 and story.added.run.status == "SUCCESS"


def test_added_columns_are_a_warning_that_names_each_of_them(story: Story) -> None:
    [added] = _events(story.added.run, "schema_drift", "practice_detail/2025-06")
    assert added["status"] == "warn"
    assert all(column in added["message"] for column in ADDED_DETAIL)
    assert _events(story.added.run, "schema_drift", "practice_summary/2025-06")[0]["status"] == "warn"


def test_the_drift_event_says_where_a_column_first_appeared(story: Story) -> None:
    [added] = _events(story.added.run, "schema_drift", "practice_detail/2025-06")
    assert json.loads(added["details"])["first_seen"]["staff_role"] == "2025-06"


def test_added_columns_are_kept_in_bronze(story: Story) -> None:
    assert set(ADDED_DETAIL) <= set(story.bronze_detail_columns)


def test_validation_builds_data_docs(story: Story) -> None:
    assert story.data_docs_built


# -- a revised 2025-05 without a column: loaded into bronze, stopped at validation, silver and gold untouched --------
def test_a_removed_column_stops_the_run_at_validation(story: Story) -> None:
    assert story.removed.code == 1 and story.removed.run.status == "FAILED"
    failure = story.removed.run.failure()
    assert failure is not None and failure["stage"] == "validate"


def test_a_removed_column_is_recorded_as_failed_drift(story: Story) -> None:
    [removed] = _events(story.removed.run, "schema_drift", "practice_detail/2025-05")
    assert removed["status"] == "failed" and "removed mean_processing_days" in removed["message"]
    [result] = _events(story.removed.run, "validation_result", "practice_detail/2025-05")
    assert result["status"] == "failed" and json.loads(result["details"])["removed"] == ["mean_processing_days"]


def test_only_the_source_that_failed_validation_is_left_out_of_the_build(story: Story) -> None:
    run = story.removed.run
    assert not _events(run, "stage_started") or all(
        e["stage"] != "transform" for e in _events(run, "stage_started")
    )  # nothing new elsewhere to build
    excluded = {e["source"]: e["message"] for e in _events(run, "build_excluded")}
    assert "bronze failed validation" in excluded["practice_submissions"]  # left out; the other sources were not
    assert "servicedesk" not in excluded and "practice_payments" not in excluded


def test_silver_and_gold_keep_what_they_held_while_validation_fails(story: Story) -> None:
    assert story.built_after_removed == story.built
    assert story.built_after_retyped == story.built


def test_runs_show_names_the_column_and_the_drift_command(story: Story) -> None:
    assert "mean_processing_days" in story.removed_shown and "ingestion drift" in story.removed_shown


# -- dates now published as ISO weeks: the values land beside the column, and validation stops the run --------------
def test_a_retyped_column_stops_the_run(story: Story) -> None:
    assert story.retyped.code == 1 and story.retyped.run.status == "FAILED"
    [retyped] = _events(story.retyped.run, "schema_drift", "practice_detail/2025-05")
    assert "retyped submission_date date->text" in retyped["message"]


def test_retyped_values_land_beside_the_column(story: Story) -> None:
    assert isinstance(story.variant_values, int) and story.variant_values > 0


# -- `drift` lists each difference with the period it first appeared in ----------------------------------------------
def test_drift_lists_each_difference_with_the_period_it_first_appeared_in(story: Story) -> None:
    listed = story.listed.drift
    assert {change.column: change.since for change in listed.added} == dict.fromkeys(ADDED_DETAIL, "2025-06")
    [retyped] = [change for change in listed.retyped if change.column == "submission_date"]
    assert (retyped.expected_type, retyped.found_type) == ("date", "text")
    assert "submission_date" not in [change.column for change in listed.removed]


def test_the_drift_listing_shows_each_change_on_a_line(story: Story) -> None:
    lines = story.listed.lines()
    assert any(line.startswith("  + staff_role") and line.endswith("first seen 2025-06") for line in lines)
    assert any(
        line.startswith("  ~ submission_date")
        and "date -> text from" in line
        and line.endswith("(bronze column submission_date__v_text)")
        for line in lines
    )


# -- the publisher corrects 2025-05: reloaded without --force, validated, built ----------------------------------------
def test_a_corrected_release_is_reloaded_validated_and_built(story: Story) -> None:
    assert story.fixed.code == 0 and story.fixed.run.status == "SUCCESS"
    assert not _events(story.fixed.run, "schema_drift", "practice_detail/2025-05")
    assert any(e["stage"] == "transform" and e["event_type"] == "stage_completed" for e in story.fixed.run.events)


# -- a person accepts the new columns, and validation has no drift left to report for the table -----------------------
def test_accepting_drift_expects_each_new_column_from_its_first_period(story: Story) -> None:
    assert story.accept_code == 0
    assert story.accepted_suite["meta"]["columns_since"] == dict.fromkeys(ADDED_DETAIL, "2025-06")
    assert story.accepted_suite["meta"]["columns_retired"] == {}


def test_once_accepted_only_the_other_tables_drift_is_reported(story: Story) -> None:
    assert story.validated.code == 0 and story.validated.run.status == "SUCCESS"
    assert [e["subject"] for e in _events(story.validated.run, "schema_drift")] == ["practice_summary/2025-06"]


# -- the policy is each suite's own: with new columns set to fail, the same 2025-06 drift fails validation ------------
def test_a_suite_that_fails_new_columns_fails_validation(story: Story) -> None:
    assert story.refused.code == 1 and story.refused.run.status == "FAILED"
    [event] = _events(story.refused.run, "schema_drift", "practice_summary/2025-06")
    assert event["status"] == "failed" and "pcn_code" in event["message"]


# -- a first suite written from the tables as they are now: keys, bounds and codes, each column from the period it
# -- arrived in, and nothing of columns no release brings any more (the ISO-week variant). It holds everywhere. -------
def test_a_first_suite_expects_each_column_from_the_period_it_arrived_in(story: Story) -> None:
    assert story.init_code == 0
    assert story.written is not None
    assert story.written.meta["columns_since"] == dict.fromkeys(ADDED_DETAIL, "2025-06")


def test_a_first_suite_leaves_out_columns_no_release_brings_any_more(story: Story) -> None:
    written = story.written
    assert written is not None
    assert "submission_date__v_text" not in written.column_set and "staff_role" in written.column_set
    assert written.column_types()["submission_date"] == "date"


def test_a_first_suite_checks_keys_and_codes(story: Story) -> None:
    assert story.written is not None
    kinds = {
        (e["type"], str(e["kwargs"].get("column") or e["kwargs"].get("column_list")))
        for e in story.written.expectations
    }
    assert ("expect_column_values_to_not_be_null", "practice_code") in kinds
    assert ("expect_compound_columns_to_be_unique", "['practice_code', 'submission_date', 'channel']") in kinds
    assert ("expect_column_values_to_be_in_set", "channel") in kinds


def test_first_suites_are_written_for_every_bronze_table(story: Story) -> None:
    assert story.written_files == 11  # per bronze table: 7 publications, 4 desk


def test_first_suites_hold_everywhere(story: Story) -> None:
    assert story.clean.code == 0
    assert story.clean.run.status == "SUCCESS" and not _events(story.clean.run, "schema_drift")


def test_gx_data_docs_show_warned_drift_as_a_warning_and_keep_earlier_runs(story: Story) -> None:
    first, second = story.added.run.run_id, story.removed.run.run_id
    suite = "bronze_publications.practice_detail"  # one suite per bronze table; the period is the batch's
    added, earlier = (f"bronze-{suite}-period_{period}" for period in ("2025-06", "2025-02"))

    assert story.docs_after_added[(suite, added, first)] == "Warning", story.docs_after_added
    assert story.warned_page_status == "Warning"
    assert story.docs_after_added[(suite, earlier, first)] == "Success"
    assert story.docs_after_removed[(suite, added, first)] == "Warning"  # the first run's results are still listed
    removed = f"bronze-{suite}-period_2025-05"
    assert story.docs_after_removed[(suite, removed, second)] == "Failed", story.docs_after_removed
    listed = {name for name, _, _ in story.docs_after_removed}
    assert suite in listed and listed <= {table.name for table in catalog.declared_tables()}, listed
