"""`ingestion inspect`: a release file as a load sees it, and a config entry that, pasted unchanged, loads it."""

from __future__ import annotations

import functools
import http.server
import threading
import uuid
from pathlib import Path

import pytest
import yaml

from ingestion import cli
from ingestion.devtools.sample import payments
from ingestion.devtools.sample import publications as sample
from ingestion.pipelines.publications import ingest_publication
from ingestion.sources.publications import inspect
from ingestion.sources.publications.settings import load_publications

from workspace import Workspace

SAMPLE_FILES = [
    ("practice_submissions", "2025-03", "practice-submissions-2025-03.xlsx"),
    ("practice_submissions", "2025-03", "practice-detail-2025-03.csv"),
    ("practice_submissions", "2025-03", "regional-extracts-2025-03.zip"),
    ("practice_payments", "2023-24", "payments-to-general-practice-2324.xlsx"),
    ("practice_payments", "2022-23", "nhs-payment-to-general-practice-2022-23.xlsx"),
    ("practice_payments", "2022-23", "practice-payments-extract-2022-23-revised.zip"),
]


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("releases")
    sample.generate(root, ("2025-03",), 16)
    payments.generate(root, practice_count=16)
    return root


def test_a_presentation_style_sheet_is_described_as_the_loader_reads_it(releases: Path) -> None:
    found = inspect.inspect_file(releases / "practice_payments" / "2023-24" / "payments-to-general-practice-2324.xlsx")
    assert (found.format, found.period, str(found.frequency)) == ("xlsx", "2023-24", "financial_year")
    kinds = {part.name: part.classification for part in found.parts}
    assert kinds == {"Cover": "cover", "Notes": "notes", "Table 1": "table", "Table 2": "table"}
    table = next(part for part in found.parts if part.name == "Table 1")
    assert table.report is not None
    assert (table.report.header_rows, table.report.units_row, table.report.hidden_columns) == ([4], 5, ["F"])
    assert table.rows == 21 and table.settings == {"note_markers": True, "fill_down": ["region"]}
    assert all(row["region"] for row in table.preview)  # shown as it would load: labels carried down
    assert table.columns["practices"] == "integer" and table.columns["total_payments"] == "decimal"
    two_rows = next(part for part in found.parts if part.name == "Table 2")
    assert two_rows.settings == {"header_rows": 2}
    assert two_rows.columns["payments_quality_and_outcomes"] == "decimal with markers"  # [c] cells


@pytest.mark.parametrize(("publication", "period", "name"), SAMPLE_FILES)
def test_the_printed_entry_pasted_unchanged_loads_the_file(
    duckdb_workspace: Workspace,
    releases: Path,
    publication: str,
    period: str,
    name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = releases / publication / period / name
    assert cli.main(["inspect", str(path)]) == 0
    printed = capsys.readouterr().out
    entry_text = printed.split("widen the periods:\n", 1)[1].split("\ninspect: ", 1)[0]
    config = duckdb_workspace.root / "publications.yml"
    config.write_text("publications:\n" + entry_text)  # exactly as printed, indented under publications:
    declared = load_publications(config)
    [(entry_name, declared_publication)] = declared.items()
    assert declared_publication.periods() == [period]
    found = inspect.inspect_file(path)
    run = ingest_publication(
        declared_publication, duckdb_workspace.warehouse, f"test-{uuid.uuid4().hex[:6]}", progress=lambda _: None
    )
    assert [p.status for p in run.periods] == ["loaded"], [p.error for p in run.periods]
    tables = yaml.safe_load(entry_text)[entry_name]["files"][0]
    expected: dict[str, int] = {}
    for part in found.parts:
        if part.classification == "table":
            table = tables.get("table") or next(
                (
                    s["table"]
                    for s in tables.get("sheets", []) + tables.get("members", [])
                    if s.get("table") and (s["match"] == part.name or "*" in s["match"])
                ),
                None,
            )
            expected[table] = expected.get(table, 0) + part.rows
    assert run.periods[0].rows == expected


def test_inspect_names_what_it_cannot_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["inspect", str(tmp_path / "missing.xlsx")]) == 1
    assert "no such file" in capsys.readouterr().err
    broken = tmp_path / "report-2025-03.xlsx"
    broken.write_text("<html><body>not found</body></html>")
    assert cli.main(["inspect", str(broken)]) == 1
    assert "HTML page" in capsys.readouterr().err


def test_a_period_is_read_from_names_in_every_notation() -> None:
    assert inspect.detect_period("x-2016-17.xlsx") == ("2016-17", "financial_year")
    assert inspect.detect_period("x-2025-03.csv") == ("2025-03", "monthly")
    assert inspect.detect_period("x_2025-q2.zip") == ("2025-Q2", "quarterly")
    assert inspect.detect_period("annual-2024.xlsx") == ("2024", "annual")
    assert inspect.detect_period("data.csv") == (None, None)


def test_a_file_behind_a_url_is_fetched_and_inspected(
    releases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))  # the download cache
    handler = functools.partial(_Quiet, directory=str(releases))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = (
            f"http://127.0.0.1:{server.server_address[1]}/practice_payments/2024-25/"
            "payments-to-general-practice-2425.xlsx"
        )
        assert cli.main(["inspect", url]) == 0
        printed = capsys.readouterr().out
        assert "sheet 'Table 1': table" in printed and "name: payments-to-general-practice-{fy_short}.xlsx" in printed
        assert f"location: http://127.0.0.1:{server.server_address[1]}/practice_payments/{{period}}" in printed
        assert cli.main(["inspect", url.replace("2425.xlsx", "2526.xlsx")]) == 1
        assert "HTTP 404" in capsys.readouterr().err
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass
