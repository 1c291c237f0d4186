"""The generic tests we wrote in place of dbt_utils catch the bad data they are named for, on both engines."""

from __future__ import annotations

import pytest

from workspace import Workspace

FACT = "gold.fct_practice_submissions_monthly"


@pytest.fixture
def built(workspace: Workspace) -> Workspace:
    workspace.generate(("2025-02", "2025-03"), practices=10)
    assert not workspace.ingest("2025-02", "2025-03").failed
    assert workspace.dbt("build", "--select", "tag:publications").ok
    return workspace


def _failing_tests(ws: Workspace, select: str) -> set[str]:
    return {node.split(".")[2] for node in ws.dbt("test", "--select", select).failed_nodes}


def _execute(ws: Workspace, statement: str) -> None:
    connection = ws.warehouse.connect()
    try:
        connection.cursor().execute(statement)
        connection.commit()
    finally:
        connection.close()


def test_generic_tests_pass_on_good_data_and_fail_on_bad(built: Workspace) -> None:
    assert _failing_tests(built, "fct_practice_submissions_monthly dim_practices") == set()

    # a duplicated practice-month, a negative count, and an emptied dimension
    _execute(
        built,
        f"insert into {FACT} select * from {FACT} where period_month = date '2025-02-01' "
        "and practice_code = (select min(practice_code) from gold.dim_practices)",
    )
    _execute(
        built,
        f"update {FACT} set submission_count = -1 where practice_code = "
        "(select max(practice_code) from gold.dim_practices)",
    )
    _execute(built, "delete from gold.dim_practices")

    failing = _failing_tests(built, "fct_practice_submissions_monthly dim_practices")
    assert any(name.startswith("unique_combination_of_columns_fct_practice") for name in failing)
    assert any(name.startswith("accepted_range_fct_practice_submissions_monthly_submission_count") for name in failing)
    assert any(name.startswith("at_least_one_dim_practices") for name in failing)
    assert any(name.startswith("relationships_fct_practice") for name in failing)


def test_expression_is_true_fails_on_a_row_that_breaks_the_rule(built: Workspace) -> None:
    _execute(
        built,
        f"update {FACT} set is_submission_count_suppressed = true, submission_count = 5 "
        "where practice_code = (select min(practice_code) from gold.dim_practices)",
    )
    failing = _failing_tests(built, "fct_practice_submissions_monthly")
    assert any(name.startswith("expression_is_true_fct_practice") for name in failing)
