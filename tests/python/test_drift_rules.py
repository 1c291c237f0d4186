"""The drift rules on their own, without Great Expectations, dlt or a warehouse: what the schema checks found becomes
added, removed and retyped columns; a suite's policy warns about, fails or ignores each; the ledger's JSON and the
`ingestion drift` listing read the same changes."""

from __future__ import annotations

import pytest

from ingestion.quality.rules import (
    DEFAULT_POLICY,
    Action,
    ChangeKind,
    ColumnChange,
    Drift,
    PolicyError,
    SchemaFindings,
    classify,
    first_changes,
    judge,
    resolve_policy,
)

ADDED, REMOVED, RETYPED = ChangeKind.ADDED, ChangeKind.REMOVED, ChangeKind.RETYPED
WARN, FAIL, IGNORE = Action.WARN, Action.FAIL, Action.IGNORE

EXPECTED = ("practice_code", "submission_date", "mean_days", "_period")
SUITE_TYPES = {"practice_code": "text", "submission_date": "date", "mean_days": "double", "_period": "text"}
PRESENT = {"practice_code": "text", "submission_date": "date", "mean_days": "bigint", "_period": "text"}
FIRST_SEEN = {"staff_role": "2025-06", "submission_date__v_text": "2025-05", "mean_days": "2025-01"}


def _classify(findings: SchemaFindings, period: str | None = "2025-06") -> Drift:
    return classify(
        findings,
        expected=EXPECTED,
        suite_types=SUITE_TYPES,
        present=PRESENT,
        first_seen=FIRST_SEEN,
        period=period,
    )


def _retyped(
    column: str, expected: str, found: str, landed: str, first: str | None, period: str | None
) -> ColumnChange:
    return ColumnChange(column, RETYPED, expected, found, landed, first, period)


@pytest.mark.parametrize(
    ("findings", "changes"),
    [
        pytest.param(SchemaFindings(), (), id="nothing found, no drift"),
        pytest.param(
            SchemaFindings(unexpected=("staff_role", "urgent_count")),
            (
                ColumnChange("staff_role", ADDED, first_seen="2025-06", period="2025-06"),
                ColumnChange("urgent_count", ADDED, period="2025-06"),  # no first seen known
            ),
            id="added, with and without a first period",
        ),
        pytest.param(
            SchemaFindings(missing=("submission_date", "mean_days")),
            (
                ColumnChange("mean_days", REMOVED, period="2025-06"),  # sorted, like GX's own list
                ColumnChange("submission_date", REMOVED, period="2025-06"),
            ),
            id="removed, in name order",
        ),
        pytest.param(
            SchemaFindings(unexpected=("submission_date__v_text",)),
            (_retyped("submission_date", "date", "text", "submission_date__v_text", "2025-05", "2025-06"),),
            id="variant of an expected column: retyped",
        ),
        pytest.param(
            SchemaFindings(unexpected=("submission_date__v_text",), missing=("submission_date",)),
            (_retyped("submission_date", "date", "text", "submission_date__v_text", "2025-05", "2025-06"),),
            id="variant of an expected column the period did not bring: retyped, not removed",
        ),
        pytest.param(
            SchemaFindings(unexpected=("staff_role__v_bigint", "mean_days__v_Text")),
            (
                ColumnChange("staff_role__v_bigint", ADDED, period="2025-06"),  # staff_role is not expected
                ColumnChange("mean_days__v_Text", ADDED, period="2025-06"),  # not dlt's variant name
            ),
            id="variant of an unexpected column, or not a variant name: added",
        ),
        pytest.param(
            SchemaFindings(mistyped=("mean_days",)),
            (_retyped("mean_days", "double", "bigint", "mean_days", "2025-01", "2025-06"),),
            id="type check failed: retyped in place",
        ),
        pytest.param(
            SchemaFindings(mistyped=("unlisted",)),
            (_retyped("unlisted", "?", "?", "unlisted", None, "2025-06"),),
            id="type check failed on a column neither side types",
        ),
        pytest.param(
            SchemaFindings(
                unexpected=("staff_role", "submission_date__v_text"),
                missing=("practice_code", "submission_date"),
                mistyped=("mean_days",),
            ),
            (
                ColumnChange("staff_role", ADDED, first_seen="2025-06", period="2025-06"),
                ColumnChange("practice_code", REMOVED, period="2025-06"),
                _retyped("submission_date", "date", "text", "submission_date__v_text", "2025-05", "2025-06"),
                _retyped("mean_days", "double", "bigint", "mean_days", "2025-01", "2025-06"),
            ),
            id="all at once: added, removed, then retyped (variants first)",
        ),
    ],
)
def test_classify(findings: SchemaFindings, changes: tuple[ColumnChange, ...]) -> None:
    assert _classify(findings).changes == changes


def test_a_table_without_periods_has_changes_without_a_period() -> None:
    drift = _classify(SchemaFindings(unexpected=("staff_role",), missing=("mean_days",)), period=None)
    assert [change.period for change in drift.changes] == [None, None]


@pytest.mark.parametrize(
    ("change", "since"),
    [
        (ColumnChange("c", ADDED, first_seen="2025-06", period="2025-07"), "2025-06"),
        (ColumnChange("c", ADDED, period="2025-07"), "2025-07"),
        (ColumnChange("c", ADDED, first_seen="2025-06-01 10:00"), "2025-06-01 10:00"),  # a date, without periods
        (ColumnChange("c", ADDED), "-"),
        (ColumnChange("c", REMOVED, first_seen="2025-01", period="2025-07"), "2025-07"),  # the first period without it
        (ColumnChange("c", REMOVED), "-"),
        (_retyped("c", "date", "text", "c__v_text", "2025-05", "2025-07"), "2025-05"),
        (_retyped("c", "date", "text", "c__v_text", None, "2025-07"), "2025-07"),
    ],
)
def test_since_is_when_the_change_began(change: ColumnChange, since: str) -> None:
    assert change.since == since


def test_a_tables_drift_over_its_periods_keeps_each_change_as_first_found() -> None:
    may = _classify(SchemaFindings(unexpected=("submission_date__v_text",), missing=("mean_days",)), "2025-05")
    june = _classify(
        SchemaFindings(unexpected=("staff_role", "submission_date__v_text"), missing=("mean_days",)), "2025-06"
    )
    july = _classify(SchemaFindings(unexpected=("staff_role",), mistyped=("mean_days",)), "2025-07")

    merged = first_changes([may, june, july])

    assert [(c.column, c.kind, c.period) for c in merged.changes] == [
        ("mean_days", REMOVED, "2025-05"),
        ("submission_date", RETYPED, "2025-05"),
        ("staff_role", ADDED, "2025-06"),
        ("mean_days", RETYPED, "2025-07"),  # the same column, another kind of change: listed as well
    ]
    assert [c.column for c in merged.added] == ["staff_role"]
    assert [c.column for c in merged.removed] == ["mean_days"]
    assert [c.column for c in merged.retyped] == ["submission_date", "mean_days"]
    assert not first_changes([Drift(), Drift()])


def test_the_ledger_form_of_a_drift() -> None:
    drift = _classify(
        SchemaFindings(
            unexpected=("staff_role", "urgent_count", "submission_date__v_text"),
            missing=("practice_code",),
            mistyped=("mean_days",),
        )
    )

    assert drift.details() == {
        "added": ["staff_role", "urgent_count"],
        "removed": ["practice_code"],
        "retyped": [
            {
                "column": "submission_date",
                "expected": "date",
                "found": "text",
                "bronze_column": "submission_date__v_text",
            },
            {"column": "mean_days", "expected": "double", "found": "bigint", "bronze_column": "mean_days"},
        ],
        "first_seen": {
            "staff_role": "2025-06",
            "urgent_count": None,
            "submission_date__v_text": "2025-05",
            "mean_days": "2025-01",
        },
    }
    assert drift.summary() == (
        "added staff_role, urgent_count; removed practice_code; retyped submission_date date->text, "
        "mean_days double->bigint"
    )
    assert Drift().details() == {"added": [], "removed": [], "retyped": [], "first_seen": {}}
    assert Drift().summary() == ""


WHERE = "bronze_publications.practice_detail, period 2025-06"
ADDED_ONE = _classify(SchemaFindings(unexpected=("staff_role",)))
ADDED_TWO = _classify(SchemaFindings(unexpected=("staff_role", "urgent_count")))
REMOVED_ONE = _classify(SchemaFindings(missing=("mean_days",)))
REMOVED_TWO = _classify(SchemaFindings(missing=("mean_days", "practice_code")))
RETYPED_TWO = _classify(SchemaFindings(unexpected=("submission_date__v_text",), mistyped=("mean_days",)))


@pytest.mark.parametrize(
    ("drift", "texts"),
    [
        (Drift(), []),
        (
            ADDED_ONE,
            [f"{WHERE}: new column not in the suite, kept in bronze: staff_role (first seen 2025-06)"],
        ),
        (
            ADDED_TWO,
            [f"{WHERE}: new columns not in the suite, kept in bronze: staff_role (first seen 2025-06), urgent_count"],
        ),
        (REMOVED_ONE, [f"{WHERE}: column missing from this period's files: mean_days"]),
        (REMOVED_TWO, [f"{WHERE}: columns missing from this period's files: mean_days, practice_code"]),
        (
            RETYPED_TWO,  # one finding per retyped column
            [
                f"{WHERE}: column submission_date changed type: date in the suite, text now "
                "(landed in bronze as submission_date__v_text)",
                f"{WHERE}: column mean_days changed type: double in the suite, bigint now",
            ],
        ),
    ],
)
def test_each_finding_is_worded_for_the_table_and_period(drift: Drift, texts: list[str]) -> None:
    judged = judge(drift, resolve_policy({}), WHERE)
    assert [finding.text for finding in judged.findings] == texts
    assert [change for finding in judged.findings for change in finding.changes] == list(drift.changes)


EVERYTHING = _classify(SchemaFindings(unexpected=("staff_role", "submission_date__v_text"), missing=("practice_code",)))


@pytest.mark.parametrize(
    ("declared", "warned", "failed"),
    [
        ({}, [ADDED], [REMOVED, RETYPED]),  # the default
        ({"added": "fail"}, [], [ADDED, REMOVED, RETYPED]),
        ({"removed": "warn", "retyped": "warn"}, [ADDED, REMOVED, RETYPED], []),
        ({"added": "ignore"}, [], [REMOVED, RETYPED]),
        ({"added": "ignore", "removed": "ignore", "retyped": "ignore"}, [], []),
        ({"removed": "ignore", "retyped": "warn"}, [ADDED, RETYPED], []),
    ],
)
def test_the_policy_warns_fails_or_ignores_each_kind(
    declared: dict[str, str], warned: list[ChangeKind], failed: list[ChangeKind]
) -> None:
    judged = judge(EVERYTHING, resolve_policy(declared), WHERE)

    texts = {finding.kind: finding.text for finding in judged.findings}
    assert judged.warnings == [texts[kind] for kind in warned]
    assert judged.failures == [texts[kind] for kind in failed]
    assert judged.reported == [texts[kind] for kind in texts if kind in warned + failed]  # in order, ignored left out
    assert judged.failed == bool(failed)
    assert len(judged.findings) == 3  # an ignored change is still part of the drift


def test_a_policy_that_fails_a_kind_not_present_does_not_fail() -> None:
    judged = judge(ADDED_ONE, resolve_policy({}), WHERE)
    assert not judged.failed and judged.warnings and not judged.failures
    assert not judge(Drift(), resolve_policy({"added": "fail"}), WHERE).failed


@pytest.mark.parametrize(
    ("declared", "policy"),
    [
        ({}, {ADDED: WARN, REMOVED: FAIL, RETYPED: FAIL}),
        ({"added": "fail"}, {ADDED: FAIL, REMOVED: FAIL, RETYPED: FAIL}),
        ({"retyped": "ignore", "removed": "warn"}, {ADDED: WARN, REMOVED: WARN, RETYPED: IGNORE}),
    ],
)
def test_a_suites_policy_is_the_default_with_its_own_entries_over_it(
    declared: dict[str, str], policy: dict[ChangeKind, Action]
) -> None:
    assert resolve_policy(declared) == policy
    assert resolve_policy({}) == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("declared", "wrong"),
    [
        ({"added": "fial"}, {"added": "fial"}),
        ({"renamed": "warn"}, {"renamed": "warn"}),
        ({"removed": True, "retyped": "FAIL"}, {"removed": True, "retyped": "FAIL"}),
    ],
)
def test_a_policy_entry_not_understood_is_refused(declared: dict[str, object], wrong: dict[str, object]) -> None:
    with pytest.raises(PolicyError) as refused:
        resolve_policy(declared)
    assert refused.value.wrong == wrong
