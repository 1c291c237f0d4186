"""A publication whose files live behind an http(s) URL loads exactly like one in a local folder."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestion.sources.publications import settings

from workspace import Workspace


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def file_server(duckdb_workspace: Workspace) -> Iterator[str]:
    """The workspace's data folder served on a free loopback port, like a statistics website."""
    handler = functools.partial(_QuietHandler, directory=str(duckdb_workspace.data_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _config_with_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    text = settings.DEFAULT_CONFIG.read_text().replace(  # the monthly publication; the annual one's names are
        'location: "{data_dir}/publications/{publication}/{period}"',  # globs, which need a folder to list
        'location: "${RELEASES_BASE_URL}/publications/{publication}/{period}"',
        1,
    )
    config = tmp_path / "publications-over-http.yml"
    config.write_text(text)
    monkeypatch.setenv("PUBLICATIONS_CONFIG", str(config))
    monkeypatch.setenv("RELEASES_BASE_URL", base_url)


def test_periods_load_from_an_http_location(
    duckdb_workspace: Workspace, file_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    duckdb_workspace.generate(("2025-05", "2025-06"), practices=10)
    _config_with_url(tmp_path, monkeypatch, file_server)

    run = duckdb_workspace.ingest("2025-05", "2025-06")

    assert not run.failed, [p.error for p in run.failed]
    # ten practices on the register, one of which closed in 2025-04
    assert duckdb_workspace.counts_by_period("practice_summary") == {"2025-05": 9, "2025-06": 9}
    locations = duckdb_workspace.query(
        "select distinct file_location from bronze_publications.publication_manifest "
        "where publication = 'practice_submissions'"
    )
    assert locations and all(row[0].startswith(file_server + "/publications/") for row in locations)


def test_a_missing_url_fails_naming_file_and_status_and_a_release_not_out_yet_waits(
    duckdb_workspace: Workspace, file_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    duckdb_workspace.generate(("2025-05", "2025-06"), practices=10)
    (duckdb_workspace.release_root / "2025-06" / "practice-submissions-2025-06.xlsx").unlink()
    _config_with_url(tmp_path, monkeypatch, file_server)

    run = duckdb_workspace.ingest("2025-06", "2025-06")

    assert len(run.failed) == 1  # the other files of the release are there: this one is missing
    assert "practice-submissions-2025-06.xlsx" in run.failed[0].error and "HTTP 404" in run.failed[0].error

    for path in (duckdb_workspace.release_root / "2025-06").iterdir():
        path.unlink()
    waiting = duckdb_workspace.ingest("2025-06", "2025-06")  # none of them: not published yet, not a failure
    assert not waiting.failed and [p.status for p in waiting.periods] == ["not_published"]
