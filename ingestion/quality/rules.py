"""Schema drift as data, and the rules that decide it: no Great Expectations, dlt or warehouse here.

* :class:`ColumnChange` is one column that differs from its suite (added, removed or retyped) in one period, and
  :class:`Drift` holds a table's changes; its :meth:`Drift.details` is the JSON form the run ledger keeps.
* :func:`classify` turns what the schema checks found (columns the suite does not expect, columns it expects that
  did not arrive, columns whose type check failed) into changes, pairing a variant column (``<column>__v_<type>``,
  dlt's name for values that changed type) with the expected column it replaces.
* :func:`judge` applies a suite's policy (``warn``, ``fail`` or ``ignore`` per kind of change) and words each
  finding in the user's terms; :func:`resolve_policy` reads the policy a suite file declares.
* :func:`first_changes` merges a table's periods into the drift ``ingestion drift`` lists and accepts.

``validate`` runs the checks and records the drift of each period; ``drift`` lists and accepts the same drift.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypedDict

VARIANT = re.compile(r"^(?P<column>.+)__v_(?P<type>[a-z]+)$")  # dlt's name for a value that changed type
UNKNOWN_TYPE = "?"  # a type neither the suite nor the table names


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    RETYPED = "retyped"


class Action(StrEnum):
    """What a suite's ``drift_policy`` does with a kind of change."""

    WARN = "warn"  # reported; the run goes on
    FAIL = "fail"  # reported; the table fails validation and its source is left out of the build
    IGNORE = "ignore"  # accepted: kept in the drift record, neither warned about nor failed


Policy = Mapping[ChangeKind, Action]
# as a suite file spells it (plain strings: a policy error names the entries as the file has them)
DEFAULT_POLICY: dict[str, str] = {
    ChangeKind.ADDED.value: Action.WARN.value,
    ChangeKind.REMOVED.value: Action.FAIL.value,
    ChangeKind.RETYPED.value: Action.FAIL.value,
}


class PolicyError(ValueError):
    """A ``drift_policy`` entry that is not one of the kinds, or whose action is not one of the actions."""

    def __init__(self, wrong: dict[str, object]) -> None:
        self.wrong = wrong
        super().__init__(f"drift_policy {wrong} not understood")


def resolve_policy(declared: Mapping[str, object]) -> dict[ChangeKind, Action]:
    """The default policy with a suite's own entries over it; anything not understood is refused, never dropped,
    so that a typo cannot turn a check off."""
    merged: dict[str, object] = {**DEFAULT_POLICY, **declared}
    wrong = {
        kind: action
        for kind, action in merged.items()
        if kind not in tuple(ChangeKind) or not isinstance(action, str) or action not in tuple(Action)
    }
    if wrong:
        raise PolicyError(wrong)
    return {ChangeKind(kind): Action(str(action)) for kind, action in merged.items()}


# -- the model -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnChange:
    """One column that differs from the suite in one period (``None`` for a table loaded without periods)."""

    column: str  # the suite's name for it: a retyped column by the name the suite expects
    kind: ChangeKind
    expected_type: str | None = None  # retyped: the type the suite expects
    found_type: str | None = None  # retyped: the type the values arrive in
    bronze_column: str | None = None  # retyped: where the values landed, the column itself or its variant
    first_seen: str | None = None  # added, retyped: when the bronze column first appeared (period or date), if known
    period: str | None = None

    @property
    def landed(self) -> str:
        """The bronze column holding the change: the variant of a retyped column, else the column itself."""
        return self.bronze_column or self.column

    @property
    def since(self) -> str:
        """When the change began: the first period without a removed column; for an added or retyped one when its
        bronze column first appeared, else the period it was found in; ``-`` when neither is known."""
        if self.kind is ChangeKind.REMOVED:
            return self.period or "-"
        return self.first_seen or self.period or "-"


class RetypedDetail(TypedDict):
    column: str
    expected: str | None
    found: str | None
    bronze_column: str


class DriftDetails(TypedDict):
    """The drift part of the ledger's ``validation_result`` and ``schema_drift`` details."""

    added: list[str]
    removed: list[str]
    retyped: list[RetypedDetail]
    first_seen: dict[str, str | None]


@dataclass(frozen=True)
class Drift:
    """A table's changes against its suite: for one period, or (see :func:`first_changes`) over all of them."""

    changes: tuple[ColumnChange, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.changes)

    def of(self, kind: ChangeKind) -> tuple[ColumnChange, ...]:
        return tuple(change for change in self.changes if change.kind is kind)

    @property
    def added(self) -> tuple[ColumnChange, ...]:
        return self.of(ChangeKind.ADDED)

    @property
    def removed(self) -> tuple[ColumnChange, ...]:
        return self.of(ChangeKind.REMOVED)

    @property
    def retyped(self) -> tuple[ColumnChange, ...]:
        return self.of(ChangeKind.RETYPED)

    def details(self) -> DriftDetails:
        """The JSON form the run ledger keeps (``ingestion runs show`` and the tests read it)."""
        return {
            "added": [change.column for change in self.added],
            "removed": [change.column for change in self.removed],
            "retyped": [
                {
                    "column": change.column,
                    "expected": change.expected_type,
                    "found": change.found_type,
                    "bronze_column": change.landed,
                }
                for change in self.retyped
            ],
            "first_seen": {change.landed: change.first_seen for change in self.added + self.retyped},
        }

    def summary(self) -> str:
        """One line: ``added a, b; removed c; retyped d date->text``."""
        parts = []
        if self.added:
            parts.append("added " + ", ".join(change.column for change in self.added))
        if self.removed:
            parts.append("removed " + ", ".join(change.column for change in self.removed))
        if self.retyped:
            parts.append(
                "retyped "
                + ", ".join(f"{change.column} {change.expected_type}->{change.found_type}" for change in self.retyped)
            )
        return "; ".join(parts)


# -- classification --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SchemaFindings:
    """What one period's schema checks found, as column names: the suite checks the column set and types."""

    unexpected: tuple[str, ...] = ()  # the period brought them; the suite does not expect them
    missing: tuple[str, ...] = ()  # the suite expects them; the period did not bring them
    mistyped: tuple[str, ...] = ()  # expected and brought, but their type check failed


def classify(
    findings: SchemaFindings,
    *,
    expected: Collection[str],
    suite_types: Mapping[str, str],
    present: Mapping[str, str],
    first_seen: Mapping[str, str],
    period: str | None,
) -> Drift:
    """The changes behind one period's findings. ``expected`` are the columns the suite expects in the period,
    ``suite_types`` and ``present`` map columns to types as the suite expects them and as the table holds them,
    ``first_seen`` maps bronze columns to when they first appeared.

    An unexpected variant column (``<column>__v_<type>``) of an expected column is that column retyped, not a new
    one, and the column is then not missing either: its values of the old type stay where they were."""
    missing = set(findings.missing)
    added: list[ColumnChange] = []
    retyped: list[ColumnChange] = []
    for column in findings.unexpected:
        variant = VARIANT.match(column)
        if variant and variant["column"] in expected:
            original = variant["column"]
            retyped.append(
                ColumnChange(
                    original,
                    ChangeKind.RETYPED,
                    expected_type=suite_types.get(original, UNKNOWN_TYPE),
                    found_type=variant["type"],
                    bronze_column=column,
                    first_seen=first_seen.get(column),
                    period=period,
                )
            )
            missing.discard(original)
        else:
            added.append(ColumnChange(column, ChangeKind.ADDED, first_seen=first_seen.get(column), period=period))
    removed = [ColumnChange(column, ChangeKind.REMOVED, period=period) for column in sorted(missing)]
    retyped += [
        ColumnChange(
            column,
            ChangeKind.RETYPED,
            expected_type=suite_types.get(column, UNKNOWN_TYPE),
            found_type=present.get(column, UNKNOWN_TYPE),
            bronze_column=column,
            first_seen=first_seen.get(column),
            period=period,
        )
        for column in findings.mistyped
    ]
    return Drift((*added, *removed, *retyped))


def first_changes(drifts: Iterable[Drift]) -> Drift:
    """A table's drift over its periods, given in order: each change once, as it was first found."""
    first: dict[tuple[ChangeKind, str], ColumnChange] = {}
    for drift in drifts:
        for change in drift.changes:
            first.setdefault((change.kind, change.column), change)
    return Drift(tuple(first.values()))


# -- policy ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """What the policy makes of some changes of one kind, in words: added columns are reported together, and so are
    removed ones; each retyped column is reported on its own."""

    kind: ChangeKind
    action: Action
    text: str
    changes: tuple[ColumnChange, ...]


@dataclass(frozen=True)
class Judgement:
    """A period's drift under its suite's policy."""

    findings: tuple[Finding, ...] = ()

    def _texts(self, *actions: Action) -> list[str]:
        return [finding.text for finding in self.findings if finding.action in actions]

    @property
    def failures(self) -> list[str]:
        return self._texts(Action.FAIL)

    @property
    def warnings(self) -> list[str]:
        return self._texts(Action.WARN)

    @property
    def reported(self) -> list[str]:
        """Every finding the policy does not ignore, in order."""
        return self._texts(Action.FAIL, Action.WARN)

    @property
    def failed(self) -> bool:
        """The policy fails this drift (as opposed to a row check failing)."""
        return any(finding.action is Action.FAIL for finding in self.findings)


def judge(drift: Drift, policy: Policy, where: str) -> Judgement:
    """Each change under ``policy``, worded for ``where`` (``table, period P`` or the table)."""
    findings: list[Finding] = []
    if drift.added:
        findings.append(
            Finding(ChangeKind.ADDED, policy[ChangeKind.ADDED], _added_text(drift.added, where), drift.added)
        )
    if drift.removed:
        findings.append(
            Finding(ChangeKind.REMOVED, policy[ChangeKind.REMOVED], _removed_text(drift.removed, where), drift.removed)
        )
    findings += [
        Finding(ChangeKind.RETYPED, policy[ChangeKind.RETYPED], _retyped_text(change, where), (change,))
        for change in drift.retyped
    ]
    return Judgement(tuple(findings))


def _plural(changes: tuple[ColumnChange, ...]) -> str:
    return "s" * (len(changes) > 1)


def _added_text(changes: tuple[ColumnChange, ...], where: str) -> str:
    columns = ", ".join(
        change.column + (f" (first seen {change.first_seen})" if change.first_seen is not None else "")
        for change in changes
    )
    return f"{where}: new column{_plural(changes)} not in the suite, kept in bronze: {columns}"


def _removed_text(changes: tuple[ColumnChange, ...], where: str) -> str:
    columns = ", ".join(change.column for change in changes)
    return f"{where}: column{_plural(changes)} missing from this period's files: {columns}"


def _retyped_text(change: ColumnChange, where: str) -> str:
    landed = f" (landed in bronze as {change.landed})" if change.landed != change.column else ""
    return (
        f"{where}: column {change.column} changed type: {change.expected_type} in the suite, "
        f"{change.found_type} now{landed}"
    )
