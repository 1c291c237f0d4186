"""Period calendars: how a publication names its periods, how a range of them iterates, and the dates each covers.

Pure rules, no I/O: ``monthly`` (``2025-03``), ``quarterly`` (``2025-Q1``), ``annual`` (``2025``) and
``financial_year`` (``2016-17``, starting in a configurable month, April by default). A period's parts
(``{yyyy}``, ``{yy}``, ``{mm}``, ``{q}``, ``{fy_short}``) fill file name templates.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum


class Frequency(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"
    FINANCIAL_YEAR = "financial_year"


NOTATION = {
    Frequency.MONTHLY: ("YYYY-MM", re.compile(r"^(?P<year>\d{4})-(?P<month>0[1-9]|1[0-2])$")),
    Frequency.QUARTERLY: ("YYYY-Qn", re.compile(r"^(?P<year>\d{4})-Q(?P<quarter>[1-4])$")),
    Frequency.ANNUAL: ("YYYY", re.compile(r"^(?P<year>\d{4})$")),
    Frequency.FINANCIAL_YEAR: ("YYYY-YY", re.compile(r"^(?P<year>\d{4})-(?P<next>\d{2})$")),
}

EXAMPLE = {
    Frequency.MONTHLY: "2025-03",
    Frequency.QUARTERLY: "2025-Q1",
    Frequency.ANNUAL: "2025",
    Frequency.FINANCIAL_YEAR: "2016-17",
}


class PeriodError(ValueError):
    """A period that is not in its calendar's notation; the message says which notation is expected."""


@dataclass(frozen=True)
class Calendar:
    frequency: Frequency = Frequency.MONTHLY
    start_month: int = 4  # the month a financial year starts in

    def __post_init__(self) -> None:
        if not 1 <= self.start_month <= 12:
            raise PeriodError(f"start_month must be a month number from 1 to 12, not {self.start_month!r}")

    @property
    def notation(self) -> str:
        return NOTATION[self.frequency][0]

    def _index(self, period: str) -> int:
        """A period as a number that counts up by one per period (months, quarters or years since year 0)."""
        match = NOTATION[self.frequency][1].match(str(period))
        if not match:
            article = "an" if self.frequency[0] in "aeiou" else "a"
            raise PeriodError(
                f"period {period!r} is not {article} {self.frequency} period of the form {self.notation} "
                f"(for example {EXAMPLE[self.frequency]})"
            )
        year = int(match["year"])
        if self.frequency is Frequency.MONTHLY:
            return year * 12 + int(match["month"]) - 1
        if self.frequency is Frequency.QUARTERLY:
            return year * 4 + int(match["quarter"]) - 1
        if self.frequency is Frequency.FINANCIAL_YEAR and int(match["next"]) != (year + 1) % 100:
            raise PeriodError(
                f"period {period!r} is not a financial year: {year}-{(year + 1) % 100:02d} follows {year}"
            )
        return year

    def label(self, index: int) -> str:
        if self.frequency is Frequency.MONTHLY:
            return f"{index // 12:04d}-{index % 12 + 1:02d}"
        if self.frequency is Frequency.QUARTERLY:
            return f"{index // 4:04d}-Q{index % 4 + 1}"
        if self.frequency is Frequency.FINANCIAL_YEAR:
            return f"{index:04d}-{(index + 1) % 100:02d}"
        return f"{index:04d}"

    def check(self, period: str) -> str:
        """``period`` if it is in this calendar's notation; PeriodError otherwise."""
        self._index(period)
        return str(period)

    def range(self, first: str, last: str) -> list[str]:
        """Every period from ``first`` to ``last`` inclusive."""
        start, end = self._index(first), self._index(last)
        if start > end:
            raise PeriodError(f"--from {first} is after --to {last}")
        return [self.label(index) for index in range(start, end + 1)]

    def start(self, period: str) -> dt.date:
        """The first day the period covers."""
        index = self._index(period)
        if self.frequency is Frequency.MONTHLY:
            return dt.date(index // 12, index % 12 + 1, 1)
        if self.frequency is Frequency.QUARTERLY:
            return dt.date(index // 4, (index % 4) * 3 + 1, 1)
        if self.frequency is Frequency.FINANCIAL_YEAR:
            return dt.date(index, self.start_month, 1)
        return dt.date(index, 1, 1)

    def end(self, period: str) -> dt.date:
        """The last day the period covers."""
        following = self.label(self._index(period) + 1)
        return self.start(following) - dt.timedelta(days=1)

    def parts(self, period: str) -> dict[str, str]:
        """What a file name template may use: ``{yyyy}`` ``{yy}`` ``{mm}`` ``{q}`` ``{fy_short}`` (``1617``)."""
        start = self.start(period)
        parts = {"yyyy": f"{start.year:04d}", "yy": f"{start.year % 100:02d}"}
        if self.frequency is Frequency.MONTHLY:
            parts["mm"] = f"{start.month:02d}"
        if self.frequency is Frequency.QUARTERLY:
            parts["q"] = str((start.month - 1) // 3 + 1)
        if self.frequency is Frequency.FINANCIAL_YEAR:
            parts["fy_short"] = f"{start.year % 100:02d}{(start.year + 1) % 100:02d}"
        return parts
