"""The local service-desk API behaves like the real one: pagination, filtering, auth, changes and faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from ingestion.devtools.local_api import ServiceDeskAPI, start_server

TOKEN = "local-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api() -> Iterator[ServiceDeskAPI]:
    with start_server(port=0, token=TOKEN) as server:
        yield server


def walk(api: ServiceDeskAPI, resource: str, **params: object) -> list[dict]:
    records, url = [], f"{api.base_url}/{resource}"
    first = True
    while url:
        page = requests.get(url, headers=AUTH, params=params if first else None, timeout=10).json()
        records, url, first = records + page["data"], page["links"]["next"], False
    return records


def test_pagination_returns_every_record_once(api: ServiceDeskAPI) -> None:
    tickets = walk(api, "tickets", per_page=7)
    assert len(tickets) == 120 == len({t["id"] for t in tickets})
    assert [t["updated_at"] for t in tickets] == sorted(t["updated_at"] for t in tickets)


def test_updated_since_is_inclusive(api: ServiceDeskAPI) -> None:
    tickets = walk(api, "tickets", per_page=200)
    boundary = tickets[60]["updated_at"]
    since = walk(api, "tickets", per_page=200, updated_since=boundary)
    assert since == [t for t in tickets if t["updated_at"] >= boundary]


def test_a_missing_or_wrong_token_is_refused(api: ServiceDeskAPI) -> None:
    assert requests.get(f"{api.base_url}/users", timeout=10).status_code == 401
    wrong = requests.get(f"{api.base_url}/users", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"


def test_timesheets_have_no_id_and_exact_duplicates(api: ServiceDeskAPI) -> None:
    rows = walk(api, "timesheets", per_page=200)
    assert all("id" not in row for row in rows)
    assert len({tuple(sorted(row.items())) for row in rows}) < len(rows)


def test_mutate_changes_records_that_a_later_query_returns(api: ServiceDeskAPI) -> None:
    last = walk(api, "tickets", per_page=200)[-1]["updated_at"]
    result = api.mutate(tickets=3, comments=2)
    changed = walk(api, "tickets", per_page=200, updated_since=result["clock"])
    assert sorted(t["id"] for t in changed) == sorted(result["changed"]["tickets"])
    assert result["clock"] > last

    same = api.mutate(tickets=1, same_timestamp=True)
    ticket = next(t for t in walk(api, "tickets", per_page=200) if t["id"] == same["changed"]["tickets"][0])
    assert ticket["updated_at"] == result["clock"]


def test_faults_are_served_in_order_then_normal_answers_resume(api: ServiceDeskAPI) -> None:
    api.add_faults(
        [
            {"path": "/api/v1/users", "status": 500, "count": 2},
            {"path": "/api/v1/users", "status": 429, "retry_after": 3},
            {"path": "/api/v1/users", "malformed": True},
        ]
    )
    answers = [requests.get(f"{api.base_url}/users", headers=AUTH, timeout=10) for _ in range(5)]
    assert [a.status_code for a in answers] == [500, 500, 429, 200, 200]
    assert answers[2].headers["Retry-After"] == "3"
    with pytest.raises(requests.JSONDecodeError):
        answers[3].json()
    assert answers[4].json()["meta"]["total"] == 25
    assert api.stats()["faults_served"] == 4 and api.stats()["faults_pending"] == 0


def test_same_seed_same_data_and_reset_restores_it() -> None:
    with start_server(token=TOKEN) as one, start_server(token=TOKEN) as two:
        assert walk(one, "comments", per_page=200) == walk(two, "comments", per_page=200)
        before = walk(one, "tickets", per_page=200)
        one.mutate(tickets=5)
        one.reset()
        assert walk(one, "tickets", per_page=200) == before
