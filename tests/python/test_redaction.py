"""Secrets never in text: masked in the console, the run ledger and its JSONL mirror, and the load figures."""

from __future__ import annotations

import socket
import uuid

import pytest

from ingestion import redact
from ingestion.ledger import Ledger, log_dir
from ingestion.pipelines.servicedesk import ingest_servicedesk

from workspace import Workspace

TOKEN = "s3cret-token-7f1c9e"
QUERY_KEY = "q-key-0b5d2a"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET http://desk/users.json?key=abcdef123&limit=25 failed",
            "GET http://desk/users.json?key=***&limit=25 failed",
        ),
        ("https://x/api?page=2&api_key=zz99zz", "https://x/api?page=2&api_key=***"),
        ("{'Authorization': 'Bearer eyJhbGciOi.xyz'}", "{'Authorization': 'Bearer ***'}"),
        ("X-Redmine-API-Key: 9f8e7d6c5b", "X-Redmine-API-Key: ***"),
        ("password=hunter22 in the url", "password=*** in the url"),
        ("no secret here: key people, token economy", "no secret here: key people, token economy"),
    ],
)
def test_common_secret_forms_are_masked(text: str, expected: str) -> None:
    assert redact.redact(text) == expected


def test_a_registered_secret_is_masked_wherever_it_appears() -> None:
    redact.register("registered-9c2f")
    assert redact.redact("connect with registered-9c2f failed") == "connect with *** failed"
    redact.register("Zx9+Qw/Er7=Ty5+Ui3")  # as a URL carries it: percent-encoded
    assert (
        redact.redact("GET /t.json?access_key=Zx9%2BQw%2FEr7%3DTy5%2BUi3 answered 404 (Zx9+Qw/Er7=Ty5+Ui3)")
        == "GET /t.json?access_key=*** answered 404 (***)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /x?apiToken=abc123&private_token=zzz9&limit=2", "GET /x?apiToken=***&private_token=***&limit=2"),
        (
            "headers {'X-Desk-Auth': 'abcdef12'} and ?sess=ff00aa11&page=2",
            "headers {'X-Desk-Auth': '***'} and ?sess=***&page=2",
        ),
    ],
)
def test_the_parameter_or_header_a_system_declares_for_its_key_is_masked(text: str, expected: str) -> None:
    redact.register_parameter("X-Desk-Auth", header=True)
    redact.register_parameter("sess")
    assert redact.redact(text) == expected


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_failing_service_desk_run_writes_its_secrets_nowhere(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    base_url = f"http://127.0.0.1:{_closed_port()}/api/v1?key={QUERY_KEY}"  # a key in the URL, as Redmine allows
    run_id = f"test-{uuid.uuid4().hex[:6]}"
    ledger = Ledger(workspace.warehouse, run_id)
    ledger.ensure_schema()
    run = ingest_servicedesk(
        workspace.warehouse,
        run_id,
        "local",
        base_url=base_url,
        secret=TOKEN,
        ledger=ledger,
        request_settings={"max_attempts": 1, "timeout_seconds": 2},
    )
    assert run.status != "success" and run.error
    printed = capsys.readouterr()
    texts = {"console": printed.out + printed.err, "error": run.error}
    texts["ledger"] = "\n".join(
        str(row) for row in workspace.query(f"select message, details from ops.run_events where run_id = '{run_id}'")
    )
    texts["load figures"] = "\n".join(str(row) for row in workspace.query("select * from ops.servicedesk_load_figures"))
    mirror = log_dir() / f"{run_id}.jsonl"
    texts["jsonl mirror"] = mirror.read_text()
    assert texts["ledger"] and texts["jsonl mirror"]
    for where, text in texts.items():
        assert TOKEN not in text and QUERY_KEY not in text, f"a secret in the {where}: {text[:500]}"
