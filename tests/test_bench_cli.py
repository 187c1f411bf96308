"""The benchmark's ``--fssync-before``: a second fssync row from another interpreter.

No server and no benchmark run: option parsing, the tool list and the probe only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from bench import anchors, cli
from bench.tools import ALL_TOOLS, CLIENTS, FssyncBefore, S3Path


def test_fssync_before_adds_a_row_right_after_fssync() -> None:
    ns = cli.parse_args(["--tools", "s5cmd,fssync,aws", "--fssync-before", sys.executable])
    assert ns.fssync_before == sys.executable
    assert cli.tool_names(ns) == ["s5cmd", "fssync", "fssync-before", "aws"]


def test_fssync_before_runs_even_when_fssync_itself_is_not_asked_for() -> None:
    ns = cli.parse_args(["--tools", "s5cmd", "--fssync-before", sys.executable])
    assert cli.tool_names(ns) == ["fssync-before", "s5cmd"]


def test_without_the_option_the_tools_are_unchanged() -> None:
    ns = cli.parse_args([])
    assert ns.fssync_before is None
    assert cli.tool_names(ns) == list(ALL_TOOLS)
    assert "fssync-before" not in ALL_TOOLS  # never a default row, nor a --tools choice


def test_an_interpreter_that_does_not_exist_is_refused_before_any_run(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["--fssync-before", str(tmp_path / "no-python")])


def test_the_before_row_runs_the_given_interpreter_with_fssyncs_flags(tmp_path: Path) -> None:
    found = anchors.probe_fssync(sys.executable, "fssync-before")
    assert found.ok, found.problem
    assert found.name == "fssync-before"
    assert found.argv == (sys.executable, "-m", "fssync")
    assert found.version.startswith("fssync ")
    assert CLIENTS["fssync-before"] is FssyncBefore
    before = FssyncBefore(installed=found, endpoint=_Endpoint(), confdir=tmp_path)
    after = CLIENTS["fssync"](installed=found, endpoint=_Endpoint(), confdir=tmp_path)
    args = (tmp_path, S3Path("b"))
    assert before.command(*args, delete=True) == after.command(*args, delete=True)
    assert not before.is_anchor


def test_an_interpreter_without_fssync_is_a_missing_row() -> None:
    found = anchors.probe_fssync(sys.executable + "-no-such", "fssync-before")
    assert not found.ok
    assert "does not run" in found.problem


class _Endpoint:
    url = "http://127.0.0.1:1"
