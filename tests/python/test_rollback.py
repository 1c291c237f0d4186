"""``ingestion rollback``: one loaded period out of every bronze table, its manifest and its fingerprint in one
transaction, recorded in the ledger; ``--dry-run`` changes nothing; the next load brings the period back."""

from __future__ import annotations

from workspace import Workspace

PERIODS = ("2025-02", "2025-03")
TABLES = ("national_summary", "practice_summary", "practice_detail", "regional_extracts", "publication_manifest")


def held(ws: Workspace) -> dict[tuple[str, str], int]:
    """(table, period) -> rows, for every bronze table of the publication and its manifest."""
    counts = {}
    for table in TABLES:
        column = "period" if table == "publication_manifest" else "_period"
        for period, rows in ws.query(f"select {column}, count(*) from bronze_publications.{table} group by 1"):
            counts[(table, period)] = rows
    return counts


def test_a_rolled_back_period_leaves_every_table_at_once_and_the_next_run_loads_it_again(workspace: Workspace) -> None:
    workspace.generate(periods=PERIODS, practices=8)
    loaded = workspace.command("publications", "--publication", "practice_submissions")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    before = held(workspace)
    load_id = workspace.query("select load_id from ops.period_loads where subject = 'practice_submissions/2025-03'")[0][
        0
    ]

    dry = workspace.command("rollback", "--publication", "practice_submissions", "--period", "2025-03", "--dry-run")
    after_dry = held(workspace)
    done = workspace.command("rollback", "--load-id", load_id)
    after = held(workspace)

    expected = sum(rows for (table, period), rows in before.items() if period == "2025-03")
    assert dry.returncode == 0 and f"would remove {expected + 1:,} rows" in dry.stdout, dry.stdout + dry.stderr
    assert after_dry == before
    assert done.returncode == 0 and "rollback: SUCCESS" in done.stdout, done.stdout + done.stderr
    assert after == {key: rows for key, rows in before.items() if key[1] != "2025-03"}
    assert workspace.query("select count(*) from ops.period_loads where subject = 'practice_submissions/2025-03'") == [
        (0,)
    ]
    stage = workspace.query(
        "select status, row_count from ops.run_events where stage = 'rollback' and event_type = 'stage_completed'"
    )
    assert stage == [("success", expected + 1)]  # the period's rows, its manifest rows and its periods row

    again = workspace.command("publications", "--publication", "practice_submissions")

    assert again.returncode == 0 and "1 loaded" in again.stdout and "1 unchanged" in again.stdout, again.stdout
    assert held(workspace) == before
