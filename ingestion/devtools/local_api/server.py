"""A local HTTP server that behaves like the service-desk API, faults included, for the demo and the tests.

``/api/v1/<resource>``: paginated (``page``, ``per_page``, ``links.next``), filtered by ``updated_since``
(inclusive), bearer-token protected; ``/api/v1/me``: who the token belongs to. ``/_control``: change records
(``mutate``), queue faults, read request statistics, reset. Standard library only; every request is served on
its own thread.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from ingestion.devtools.local_api.data import FIXED_CLOCK, Store, parse_ts, ts

RESOURCES = ("users", "tickets", "comments", "timesheets")
PREFIX = "/api/v1/"


class ServiceDeskAPI:
    """The server, its data and its fault queue; start with :func:`start_server`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "dev-token",
        seed: int = 7,
        clock_start: dt.datetime = FIXED_CLOCK,
        verbose: bool = False,
    ) -> None:
        self.token, self.seed, self.clock_start, self.verbose = token, seed, clock_start, verbose
        self.lock = threading.Lock()
        self._reset_state(seed)
        self.httpd = _Server((host, port), _Handler, self)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="servicedesk-api", daemon=True)

    def _reset_state(self, seed: int) -> None:
        self.store = Store(seed=seed, clock=self.clock_start)
        self.faults: list[dict] = []
        self.requests: dict[str, int] = {}
        self.faults_served = 0

    @property
    def root_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        assert isinstance(host, str)  # bound from the str host above (socketserver also takes bytes)
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.root_url + PREFIX.rstrip("/")

    @property
    def control_url(self) -> str:
        return self.root_url + "/_control"

    # -- control, in-process ---------------------------------------------------------------------------------
    def mutate(self, **changes: Any) -> dict:
        with self.lock:
            return self.store.mutate(**changes)

    def add_faults(self, faults: list[dict]) -> None:
        with self.lock:
            self.faults += [dict(fault, count=int(fault.get("count", 1))) for fault in faults]

    def stats(self) -> dict:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "faults_served": self.faults_served,
                "faults_pending": sum(f["count"] for f in self.faults),
                "clock": ts(self.store.clock),
            }

    def reset(self, seed: int | None = None) -> None:
        with self.lock:
            self._reset_state(self.seed if seed is None else seed)

    def take_fault(self, path: str, page: int) -> dict | None:
        with self.lock:
            for fault in self.faults:
                if fault.get("path", path) == path and fault.get("page", page) == page:
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        self.faults.remove(fault)
                    self.faults_served += 1
                    return fault
        return None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> ServiceDeskAPI:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> ServiceDeskAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    port: int = 0,
    token: str = "dev-token",
    seed: int = 7,
    host: str = "127.0.0.1",
    clock_start: dt.datetime = FIXED_CLOCK,
    verbose: bool = False,
) -> ServiceDeskAPI:
    """Start the API on a daemon thread (``port=0``: any free port) and return it; ``with`` stops it."""
    return ServiceDeskAPI(host, port, token, seed, clock_start, verbose).start()


class _Server(ThreadingHTTPServer):
    """The HTTP server, holding the API its handlers serve."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], api: ServiceDeskAPI) -> None:
        super().__init__(address, handler)
        self.api = api


class _Handler(BaseHTTPRequestHandler):
    server_version = "LocalServiceDesk/1.0"
    server: _Server

    @property
    def api(self) -> ServiceDeskAPI:
        return self.server.api

    def log_message(self, format: str, *args: Any) -> None:
        if self.api.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> None:
        payload = raw if raw is not None else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout, or a killed process): nothing to tell it

    def _error(self, status: int, error: str, message: str) -> None:
        self._send(status, {"error": error, "message": message})

    # -- routing -----------------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/_control/stats":
            return self._send(200, self.api.stats())
        if not url.path.startswith(PREFIX):
            return self._error(404, "not_found", f"no such path {url.path}")
        with self.api.lock:
            self.api.requests[url.path] = self.api.requests.get(url.path, 0) + 1
        if url.path == PREFIX + "me":
            return self._me()
        return self._list(url.path, parse_qs(url.query))

    def do_POST(self) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            return self._error(400, "bad_request", "body is not JSON")
        if url.path == "/_control/mutate":
            return self._send(200, self.api.mutate(**body))
        if url.path == "/_control/faults":
            self.api.add_faults(body.get("faults", []))
            return self._send(200, {"queued": len(body.get("faults", []))})
        if url.path == "/_control/reset":
            self.api.reset(body.get("seed"))
            return self._send(200, {"reset": True})
        return self._error(404, "not_found", f"no such path {url.path}")

    def _me(self) -> None:
        """Who the bearer token belongs to (the client's identity check)."""
        if self.headers.get("Authorization") != f"Bearer {self.api.token}":
            return self._error(401, "unauthorized", "missing or invalid bearer token")
        return self._send(200, {"data": {"name": "api-client", "scopes": ["read"]}})

    def _list(self, path: str, query: dict[str, list[str]]) -> None:
        resource = path[len(PREFIX) :].strip("/")
        if resource not in RESOURCES:
            return self._error(404, "not_found", f"no such resource {resource!r}")
        try:
            page = int(query.get("page", ["1"])[0])
            per_page = min(int(query.get("per_page", ["50"])[0]), 200)
            since = parse_ts(query["updated_since"][0]) if "updated_since" in query else None
            if page < 1 or per_page < 1:
                raise ValueError
        except (ValueError, KeyError):
            return self._error(400, "bad_request", "page, per_page or updated_since is not valid")
        fault = self.api.take_fault(path, page)
        if fault and "delay" in fault:
            time.sleep(float(fault["delay"]))
        elif fault and fault.get("malformed"):
            return self._send(200, None, raw=b'{"data": [{"id": 1, "updated_at": "2025-')
        elif fault and "status" in fault:
            status = int(fault["status"])
            headers = {"Retry-After": str(fault.get("retry_after", 1))} if status == 429 else {}
            return self._send(status, {"error": f"http_{status}", "message": "injected fault"}, headers)
        if self.headers.get("Authorization") != f"Bearer {self.api.token}":
            return self._error(401, "unauthorized", "missing or invalid bearer token")
        with self.api.lock:
            rows = [r for r in self.api.store.records(resource) if since is None or r["updated_at"] >= since]
            window = [_serialise(r) for r in rows[(page - 1) * per_page : page * per_page]]
        more = page * per_page < len(rows)
        params = {key: values[0] for key, values in query.items()} | {"page": page + 1}
        host = self.headers.get("Host") or self.api.root_url.split("//", 1)[1]
        next_url = f"http://{host}{path}?{urlencode(params)}" if more else None
        self._send(
            200,
            {
                "data": window,
                "meta": {"page": page, "per_page": per_page, "total": len(rows)},
                "links": {"next": next_url},
            },
        )


def _serialise(record: dict) -> dict:
    return {key: ts(value) if isinstance(value, dt.datetime) else value for key, value in record.items()}
