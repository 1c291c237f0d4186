"""What ``ingestion generate`` and ``ingestion demo`` need besides the pipeline: the sample releases and the local
service-desk API, started for one run."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingestion.devtools.local_api import SYSTEM, ServiceDeskAPI, start_server
from ingestion.devtools.sample import payments
from ingestion.devtools.sample import publications as sample


def generate(root: Path, practices: int, rows: int | None, periods: list[str] | None) -> list[str]:
    """Write the sample publications under ``root``; what was written, one line each. ``rows``: about this many
    detail CSV rows per period instead of ``practices``; the annual publication only with the default periods."""
    monthly = sample.practices_for_rows(rows) if rows else practices
    folders = sample.generate(root, tuple(periods or sample.DEFAULT_PERIODS), monthly)
    written = [f"{len(folders)} periods x 3 files of practice_submissions for {monthly:,} practices under {root}"]
    if not periods:  # the annual publication has its own calendar (financial years)
        years = payments.generate(root, practice_count=practices)
        written.append(f"{len(years)} financial years x 2 files of practice_payments under {root}")
    return written


def ensure_samples(root: Path) -> list[str]:
    """Generate the sample monthly and annual publications under ``root`` unless they are there."""
    made = []
    if not (root / "practice_submissions" / sample.DEFAULT_PERIODS[-1]).is_dir():
        sample.generate(root)
        made.append(f"generated the sample monthly publication under {root}")
    if not (root / payments.PUBLICATION / payments.DEFAULT_PERIODS[-1]).is_dir():
        payments.generate(root)
        made.append(f"generated the sample annual publication under {root}")
    return made


@contextmanager
def local_api() -> Iterator[tuple[ServiceDeskAPI, dict[str, dict[str, str]]]]:
    """The project's local service-desk API with a throwaway token, its clock at now so its data is fresh; with
    the settings a run loads it with (system -> base_url and secret)."""
    token = secrets.token_urlsafe(16)
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    with start_server(port=0, token=token, clock_start=now) as api:
        yield api, {SYSTEM: {"base_url": api.base_url, "secret": token}}
