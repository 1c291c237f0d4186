"""The run report after a failed run: the page names the failure point and the command that resumes the run, and
still charts what did load (the report reads the ledger and bronze, not the models a failed build left behind)."""

from __future__ import annotations

import html
import re

from workspace import Workspace


def test_the_report_of_a_failed_run_shows_its_failure_point_and_how_to_resume_it(
    duckdb_workspace: Workspace,
) -> None:
    ws = duckdb_workspace
    ws.generate(periods=("2025-02", "2025-03", "2025-04"), practices=8)
    (ws.release_root / "2025-03" / "practice-submissions-2025-03.xlsx").write_bytes(b"not a workbook")

    failed = ws.command("publications", "--publication", "practice_submissions")
    written = ws.command("report")

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert written.returncode == 0, written.stdout + written.stderr
    page = (ws.root / "target" / "report" / "index.html").read_text()
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    assert re.search(r"id='latest-status'>FAILED<", page)
    assert re.search(r"Failure point: stage \w+, practice_submissions/2025-03", text), text[:2000]
    assert "practice-submissions-2025-03.xlsx" in text
    resume = re.search(r"Resume with: (ingestion publications [^(]+)", text)
    assert resume and "--from 2025-03" in resume.group(1), text[:2000]
    volumes = re.search(r"data-chart='volumes' data-rows='(\d+)'", page)
    assert volumes and int(volumes.group(1)) == 2 * 4, "two periods of four tables loaded"
