"""HTTP plumbing for the service-desk source: dlt's retrying client, with every attempt counted per endpoint."""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

import requests
from dlt.sources.helpers.requests import Client
from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter

TRANSIENT_STATUS = {429, 500, 502, 503, 504}


@dataclass
class RequestStats:
    """What happened on the wire and in the records, per resource: fed into the load figures."""

    fetched: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)  # records that are not the entity (journals without notes)
    rejected: Counter = field(default_factory=Counter)
    transient: Counter = field(default_factory=Counter)  # 5xx, 429 and timeouts seen: each one was retried
    deleted: Counter = field(default_factory=Counter)  # records a deletion check found gone
    recovered: Counter = field(default_factory=Counter)  # records a deletion check found missing from bronze
    seen: defaultdict = field(default_factory=lambda: defaultdict(set))  # keys the incremental read brought
    rejections: list[str] = field(default_factory=list)
    endpoints: list[tuple[re.Pattern[str], str]] = field(default_factory=list)  # (path pattern, resource)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def declare(self, resource: str, path: str) -> None:
        """The resource an endpoint path belongs to (``issues/{issue_id}.json`` matches ``issues/19.json``), so that
        retries are counted under the declared resource, not a URL's last segment."""
        pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path.strip("/")))
        self.endpoints.append((re.compile(f"(^|/){pattern}$"), resource))

    def resource_of(self, url: str) -> str:
        path = urlparse(url).path.rstrip("/")
        for pattern, resource in self.endpoints:
            if pattern.search(path):
                return resource
        return path.rsplit("/", 1)[-1]

    def reject(self, resource: str, why: str) -> None:
        self.rejected[resource] += 1
        self.rejections.append(why)

    def count_transient(self, url: str) -> None:
        with self._lock:
            self.transient[self.resource_of(url)] += 1


class _CountingAdapter(HTTPAdapter):
    """Sees every attempt (dlt's retry wraps the session around it) and counts the transient failures."""

    def __init__(self, stats: RequestStats, pool_maxsize: int = DEFAULT_POOLSIZE) -> None:
        self.stats = stats
        super().__init__(pool_maxsize=pool_maxsize)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        try:
            response = super().send(request, stream, timeout, verify, cert, proxies)
        except (requests.Timeout, requests.ConnectionError):
            self.stats.count_transient(request.url or "")
            raise
        if response.status_code in TRANSIENT_STATUS:
            self.stats.count_transient(request.url or "")
        return response


def retrying_session(stats: RequestStats, settings: dict) -> requests.Session:
    """A session with dlt's retry policy (exponential backoff, Retry-After honoured) from the config's settings."""
    client = Client(
        request_timeout=float(settings.get("timeout_seconds", 15)),
        request_max_attempts=int(settings.get("max_attempts", 6)),
        request_backoff_factor=float(settings.get("backoff_factor", 0.5)),
        request_max_retry_delay=float(settings.get("max_retry_delay_seconds", 20)),
        status_codes=sorted(TRANSIENT_STATUS),
        respect_retry_after_header=True,
        raise_for_status=False,  # dlt's RESTClient checks each answer itself (and warns about a session that does)
    )
    client._adapter = _CountingAdapter(stats, pool_maxsize=8)  # the one seam in dlt's client
    return client.session
