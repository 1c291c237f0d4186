"""Errors that name what failed in the user's terms."""

from __future__ import annotations

from typing import TypedDict


class Where(TypedDict, total=False):
    """Where an input is, in the user's terms: the keyword arguments :class:`IngestionError` takes besides the
    message and the row (``raise IngestionError("...", row=line, **where)``)."""

    publication: str | None
    period: str | None
    file: str | None
    part: str | None


class IngestionError(Exception):
    """A load failed because of its input: says which publication, period, file, sheet or member, and row."""

    def __init__(
        self,
        message: str,
        *,
        publication: str | None = None,
        period: str | None = None,
        file: str | None = None,
        part: str | None = None,
        row: int | None = None,
    ) -> None:
        self.message = message
        self.publication, self.period, self.file, self.part, self.row = publication, period, file, part, row
        super().__init__(self.__str__())

    def where(self) -> str:
        bits = [
            self.publication,
            self.period,
            self.file,
            self.part and f"'{self.part}'",
            (self.row is not None and f"row {self.row}") or None,
        ]
        return ", ".join(bit for bit in bits if bit)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


class FileMissing(IngestionError):
    """A declared release file is not where the config says (no such local file, HTTP 404)."""


class NotPublished(IngestionError):
    """None of a period's declared files exist: the release is not out yet (or the period is a gap)."""


class ConfigError(Exception):
    """The declared configuration is invalid; the message names the file and the setting."""


def find_cause(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of ``kind`` in ``error``'s chain (dlt wraps what a resource raised, twice)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = getattr(current, "exception", None) or current.__cause__ or current.__context__
    return None


def root_cause(error: BaseException) -> BaseException:
    """The innermost exception of ``error``'s chain: what actually went wrong under dlt's "Pipeline execution failed
    at step=..." wrappers."""
    seen: set[int] = set()
    current = error
    while id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "exception", None) or current.__cause__ or current.__context__
        if not isinstance(inner, BaseException):
            break
        current = inner
    return current


def describe(error: BaseException) -> str:
    """The project's own message when there is one (an IngestionError anywhere in the chain), else the innermost
    error's type and first line; never a wrapper's generic text."""
    cause = find_cause(error, IngestionError) or root_cause(error)
    if isinstance(cause, IngestionError):
        return str(cause)
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text.splitlines()[0]}" if text else type(cause).__name__
