"""The command line as a user meets it: ``--help`` names each command once, every command has its own function,
and a run's last line gives its status from the one status vocabulary."""

from __future__ import annotations

import argparse
import re

import pytest

from ingestion import cli
from ingestion.status import RunStatus

from workspace import Workspace

COMMANDS = (
    "export",
    "trace",
    "init",
    "generate",
    "inspect",
    "publications",
    "servicedesk",
    "run",
    "validate",
    "drift",
    "expectations",
    "runs",
    "rollback",
    "report",
    "demo",
)


def test_help_lists_each_command_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--help"])
    assert stopped.value.code == 0
    shown = capsys.readouterr().out
    for command in COMMANDS:
        assert len(re.findall(rf"^    {command}\b", shown, flags=re.MULTILINE)) == 1, command
    assert "{generate," not in shown  # the choices are not listed a second time


def test_every_command_is_its_own_function() -> None:
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert tuple(subparsers.choices) == COMMANDS
    functions = {name: sub.get_default("func") for name, sub in subparsers.choices.items()}
    assert all(callable(function) for function in functions.values())
    assert len({id(function) for function in functions.values()}) == len(COMMANDS)


def test_a_recorded_run_ends_with_its_status(duckdb_workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    duckdb_workspace.generate(practices=4)
    assert cli.main(["publications", "--publication", "practice_submissions", "--to", "2025-02"]) == 0
    assert cli.main(["publications", "--publication", "practice_submissions", "--to", "2025-02"]) == 0
    last_lines = [out.splitlines()[-1] for out in capsys.readouterr().out.split("details: ingestion runs show")[:2]]
    assert f"publications: {RunStatus.SUCCESS} in " in last_lines[0]
    assert f"publications: {RunStatus.NO_WORK} in " in last_lines[1]
