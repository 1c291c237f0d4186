"""Run the local service-desk API until interrupted."""

from __future__ import annotations

import argparse
import datetime as dt

from ingestion.devtools.local_api.data import FIXED_CLOCK
from ingestion.devtools.local_api.server import ServiceDeskAPI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingestion.devtools.local_api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="dev-token", help="the bearer token clients must send")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--clock-start",
        default="fixed",
        help="'fixed' (2025-06-01, the default: repeatable data), 'now', or an ISO timestamp",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    clock = {"fixed": FIXED_CLOCK, "now": dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)}.get(
        args.clock_start
    ) or dt.datetime.fromisoformat(args.clock_start)
    api = ServiceDeskAPI(args.host, args.port, args.token, args.seed, clock, args.verbose)
    print(f"service-desk API at {api.base_url} (control: {api.control_url}); Ctrl-C stops it", flush=True)
    try:
        api.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        api.httpd.server_close()
    print("service-desk API stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
