"""``python -m benchmarks`` gives each benchmark of a whole run a process of its own.

Run one after another in the driver's process, a benchmark paid for the heap
the ones before it left (the collector walks it at every full collection) and
reported the run's peak RSS as its own. The children are replaced here by a
recorder: what is checked is which commands the driver starts, in which order,
and what it makes of their exit status.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import benchmarks.__main__ as driver
import pytest
from benchmarks.common import ROOT


def _record(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, failing: str = "") -> list[list[str]]:
    commands: list[list[str]] = []

    def run(command: list[str], **kwargs: Any) -> SimpleNamespace:
        assert kwargs.get("cwd") == ROOT
        commands.append(command)
        return SimpleNamespace(returncode=1 if command[2] == failing else 0)

    monkeypatch.setattr(driver.subprocess, "run", run)
    # No results file there: the driver prints no table.
    monkeypatch.setattr(driver, "RESULTS_DIR", tmp_path)
    return commands


@pytest.mark.parametrize("quick", [False, True])
def test_each_benchmark_runs_in_a_process_of_its_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, quick: bool
) -> None:
    commands = _record(monkeypatch, tmp_path)
    assert driver.main(["--quick"] if quick else []) == 0
    whole_run = [name for name in driver.RUNNERS if name not in driver.ON_DEMAND]
    assert [command[:3] for command in commands] == [
        [sys.executable, "-m", driver.RUNNERS[name].__module__] for name in whole_run
    ]
    for name, command in zip(whole_run, commands, strict=True):
        assert command[3:] == (driver.QUICK[name] if quick else [])


def test_a_diagnostic_runs_only_when_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    commands = _record(monkeypatch, tmp_path)
    assert "breakdown" in driver.ON_DEMAND
    assert driver.main([]) == 0
    assert "benchmarks.breakdown" not in {command[2] for command in commands}
    called: list[list[str]] = []
    monkeypatch.setitem(
        driver.RUNNERS, "breakdown", lambda args: called.append(list(args or [])) or 0
    )
    assert driver.main(["--quick", "breakdown"]) == 0
    assert called == [driver.QUICK["breakdown"]]


def test_a_failing_benchmark_fails_the_run_and_the_others_still_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    commands = _record(monkeypatch, tmp_path, failing="benchmarks.parse")
    assert driver.main([]) == 1
    assert len(commands) == len(set(driver.RUNNERS) - driver.ON_DEMAND)


def test_one_named_benchmark_runs_in_the_driver(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    commands = _record(monkeypatch, tmp_path)
    called: list[list[str]] = []
    monkeypatch.setitem(driver.RUNNERS, "parse", lambda args: called.append(list(args or [])) or 0)
    assert driver.main(["parse", "--rounds", "2"]) == 0
    assert called == [["--rounds", "2"]]
    assert commands == []
