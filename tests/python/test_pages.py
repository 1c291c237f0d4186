"""The pages a person opens, in a real browser: Debian's chromium, headless, driven by Playwright, with every
network request refused (the pages must work offline). One whole run on DuckDB writes them; each test opens one
page and looks for what a person would: the report's charts drawn with data, the dbt docs' overview and lineage
graph. Screenshots go to target/screenshots/ (the project's, for the closing note of a change).

The same run's console output is checked here too: one line per step, no raw dbt log line, no warning."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingestion import paths
from ingestion.transform import run_dbt

from workspace import Workspace

pytestmark = pytest.mark.slow
SCREENSHOTS = paths.PROJECT_ROOT / "target" / "screenshots"
RAW_DBT_LINE = re.compile(r"^(\x1b\[0m)?\d\d:\d\d:\d\d  ")
WARNING = re.compile(r"warning|\bwarn\b", re.IGNORECASE)  # not "0 warned", a count


def chromium() -> str:
    """Debian's chromium (``make test`` installs it); a failure under CI=true, else a skip, when it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "Debian's chromium is not installed (make browser installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires the browser tests to run, but {reason}")
    pytest.skip(reason)


@dataclass
class Built:
    workspace: Workspace
    target: Path
    output: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """One `ingestion run --local-api` over three monthly periods (no drift: the sample's drift is in 2025-06)."""
    root = tmp_path_factory.mktemp("pages")
    with Workspace("duckdb", root) as ws:
        ws.generate(periods=("2025-02", "2025-03", "2025-04"), practices=12)
        output = subprocess.run(
            [sys.executable, "-m", "ingestion", "run", "--local-api", "--target", "duckdb"],
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=900,
            cwd=paths.PROJECT_ROOT,
        )
        assert output.returncode == 0, output.stdout + output.stderr
        yield Built(ws, root / "target", output)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable)
        yield launched
        launched.close()


def offline_page(browser: object, width: int = 1280) -> tuple[object, list[str]]:
    """A page in a context that refuses every http(s) request, and the list of what it refused."""
    refused: list[str] = []
    context = browser.new_context(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
    context.route("http*://**", lambda route: (refused.append(route.request.url), route.abort()))
    return context.new_page(), refused


def screenshot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_a_run_prints_its_steps_and_summary_without_raw_dbt_lines_or_warnings(built: Built) -> None:
    lines = built.output.stdout.splitlines()

    assert not [line for line in lines if RAW_DBT_LINE.match(line)], "raw dbt log lines in the run's output"
    assert not [line for line in lines if WARNING.search(line)], built.output.stdout
    assert built.output.stderr.strip() == "", built.output.stderr
    assert "  dbt build: models (marts): 9 success" in lines, built.output.stdout
    assert "  dbt build: unit tests: 6 pass" in lines, built.output.stdout
    assert any(line.startswith("  export: 7 models, 14 files: 14 written") for line in lines), built.output.stdout
    assert re.search(r"^run: SUCCESS in .*details: ingestion runs show ", built.output.stdout, re.M)
    report = built.target / "report" / "index.html"
    assert lines[-1] == f"report: {report} (open it in a browser; it needs no network)", lines[-1]
    assert (built.workspace.root / "logs" / "dbt" / "dbt.log").stat().st_size > 0  # the full log, for a person


def test_a_failing_dbt_command_names_its_log_file(duckdb_workspace: Workspace) -> None:
    shown: list[str] = []

    result = run_dbt(["run-operation", "no_such_macro"], duckdb_workspace.warehouse, progress=shown.append)

    assert not result.ok
    log = duckdb_workspace.root / "logs" / "dbt" / "dbt.log"
    assert shown[-1] == f"  dbt run-operation: FAILED; dbt's full log: {log}", shown
    assert "no_such_macro" in log.read_text()


def test_the_run_report_shows_every_chart_with_data_offline_and_in_a_narrow_window(
    built: Built, browser: object
) -> None:
    report = built.target / "report" / "index.html"
    page, refused = offline_page(browser)
    page.goto(report.as_uri())  # type: ignore[attr-defined]

    drawn = page.evaluate(  # type: ignore[attr-defined]
        """() => [...document.querySelectorAll('figure[data-chart]')].map(f => [f.dataset.chart,
             Number(f.dataset.rows), f.querySelectorAll('svg path, svg rect, svg line, svg text').length])"""
    )
    status = page.inner_text("#latest-status")  # type: ignore[attr-defined]
    dbt_links = page.locator("a[href^='../static_index.html#!/model/']").count()  # type: ignore[attr-defined]
    exported = page.locator("#exports-table tbody tr").count()  # type: ignore[attr-defined]
    catalog = page.get_attribute("a[href$='datapackage.json']", "href")  # type: ignore[attr-defined]
    screenshot(page, "report")
    narrow, _ = offline_page(browser, width=390)
    narrow.goto(report.as_uri())  # type: ignore[attr-defined]
    overflow = narrow.evaluate("() => document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    screenshot(narrow, "report-narrow")

    charts = {name: (rows, marks) for name, rows, marks in drawn}
    assert set(charts) >= {"runs", "stages", "volumes", "validation", "quarantine", "freshness"}, charts
    assert all(rows > 0 and marks > 10 for rows, marks in charts.values()), charts
    assert charts["volumes"][0] == 3 * 4 + 4 * 3, charts  # 4 monthly tables x 3 periods, 3 annual x 4 years
    assert status == "SUCCESS"
    assert dbt_links >= 20
    assert exported == 7 and catalog and (report.parent / catalog).resolve().is_file(), (exported, catalog)
    assert overflow <= 390, f"the page is {overflow}px wide in a 390px window"
    assert refused == [], refused


def test_the_dbt_docs_open_on_the_projects_overview_and_draw_the_lineage_graph_offline(
    built: Built, browser: object
) -> None:
    page, refused = offline_page(browser)
    page.goto((built.target / "static_index.html").as_uri())  # type: ignore[attr-defined]
    page.wait_for_selector("text=How a row gets here", timeout=30_000)  # type: ignore[attr-defined]
    screenshot(page, "dbt-docs-overview")

    page.goto((built.target / "static_index.html").as_uri() + "#!/overview?g_v=1")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => { const g = angular.element(document.body).injector().get('graph');"
        " return g.graph.elements && g.graph.elements.length > 0 }",
        timeout=30_000,
    )
    nodes = page.evaluate(  # type: ignore[attr-defined]
        "() => angular.element(document.body).injector().get('graph').graph.elements"
        ".filter(e => e.group === 'nodes').map(e => e.data.name)"
    )
    page.click("[title='View Lineage Graph']")  # type: ignore[attr-defined]
    page.wait_for_selector("canvas", state="visible", timeout=30_000)  # type: ignore[attr-defined]
    page.wait_for_timeout(2000)  # the graph's layout animation
    screenshot(page, "dbt-docs-lineage")

    assert {"fct_practice_submissions_monthly", "fct_tickets", "fct_runs", "run_report"} <= set(nodes), nodes
    assert sum(node == "publication_manifest" for node in nodes) == 1, "one publication_manifest source"
    assert refused == [], refused


def test_the_gx_data_docs_index_lists_the_results_offline(built: Built, browser: object) -> None:
    page, refused = offline_page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))  # type: ignore[attr-defined]
    page.goto((built.target / "gx_docs" / "index.html").as_uri())  # type: ignore[attr-defined]
    page.wait_for_selector("table tbody tr", timeout=30_000)  # type: ignore[attr-defined]

    listed = page.locator("table tbody tr").count()  # type: ignore[attr-defined]
    assets = page.inner_text("table tbody")  # type: ignore[attr-defined]
    screenshot(page, "gx-data-docs")

    assert listed >= 10, listed
    assert "bronze_publications." in assets and "bronze_servicedesk.tickets" in assets, assets
    assert refused == [] and errors == [], (refused, errors)
