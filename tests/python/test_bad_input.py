"""Broken releases fail with an error that names the file, and never cost a period that was already loaded."""

from __future__ import annotations

import zipfile

import pytest
import xlsxwriter

from ingestion import cli

from workspace import Workspace

TABLES = ("national_summary", "practice_summary", "practice_detail", "regional_extracts")


def _snapshot(ws: Workspace) -> dict:
    """Row counts and load ids per table and period: what a failed load must leave exactly as it was."""
    return {
        table: sorted(
            ws.query(f"select _period, count(*), max(_dlt_load_id) from bronze_publications.{table} group by _period")
        )
        for table in TABLES
    }


@pytest.fixture
def loaded(workspace: Workspace) -> Workspace:
    workspace.generate(practices=12)
    assert not workspace.ingest().failed
    return workspace


def test_corrupt_workbook_fails_naming_the_file_and_keeps_every_period(loaded: Workspace) -> None:
    before = _snapshot(loaded)
    (loaded.release_root / "2025-04" / "practice-submissions-2025-04.xlsx").write_bytes(b"PK\x03\x04 truncated")

    run = loaded.ingest("2025-03", "2025-05")

    assert [p.period for p in run.failed] == ["2025-04"]
    assert "practice-submissions-2025-04.xlsx" in run.failed[0].error
    assert "2025-04" in run.failed[0].error
    after = _snapshot(loaded)
    for table in TABLES:  # 2025-04 keeps its rows and load id; 2025-03 and 2025-05 were reloaded
        assert [row[:2] for row in after[table]] == [row[:2] for row in before[table]]
        assert (
            dict((p, load) for p, _, load in after[table])["2025-04"]
            == dict((p, load) for p, _, load in before[table])["2025-04"]
        )


def test_archive_without_the_declared_extract_fails_naming_the_file(loaded: Workspace) -> None:
    before = _snapshot(loaded)
    archive = loaded.release_root / "2025-03" / "regional-extracts-2025-03.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("readme.txt", "extracts withdrawn")
        zipped.writestr("__MACOSX/._readme.txt", b"\x00")

    run = loaded.ingest("2025-03", "2025-03")

    assert len(run.failed) == 1
    message = run.failed[0].error
    assert "regional-extracts-2025-03.zip" in message and "no member matches '*region_*.csv'" in message
    assert "readme.txt" in message  # says what the archive does hold
    assert _snapshot(loaded) == before


def test_a_table_with_no_rows_fails_instead_of_emptying_the_period(loaded: Workspace) -> None:
    before = _snapshot(loaded)
    workbook_path = loaded.release_root / "2025-05" / "practice-submissions-2025-05.xlsx"
    workbook = xlsxwriter.Workbook(str(workbook_path))
    workbook.add_worksheet("Cover").write(0, 0, "Practice Submissions")
    national = workbook.add_worksheet("Table 1")
    national.write_row(3, 0, ["Measure", "Value", "Unit"])
    national.write_row(4, 0, ["Submissions", 10, "count"])
    workbook.add_worksheet("Table 2").write_row(4, 0, ["Region code", "Practice code", "Submissions"])
    workbook.close()

    run = loaded.ingest("2025-05", "2025-05")

    assert len(run.failed) == 1
    assert "Table 2" in run.failed[0].error or "practice_summary" in run.failed[0].error
    assert _snapshot(loaded) == before


def test_missing_file_fails_and_the_cli_prints_the_retry_command(
    loaded: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(loaded)
    (loaded.release_root / "2025-02" / "practice-detail-2025-02.csv").unlink()

    code = cli.main(["publications", "--target", loaded.engine, "--from", "2025-02", "--to", "2025-03"])

    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED 2025-02" in out and "practice-detail-2025-02.csv" in out and "file not found" in out
    assert "ingestion publications --publication practice_submissions --from 2025-02 --to 2025-02" in out
    assert "2 periods: 0 loaded" in out and "1 unchanged (NO_WORK), 1 failed" in out
    after = _snapshot(loaded)
    assert [row[:2] for row in after["practice_detail"]] == [row[:2] for row in before["practice_detail"]]
