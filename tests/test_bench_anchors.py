"""The benchmark's Python anchors: a missing library is a row that says how to install it.

No server and no benchmark run: the harness's checks and its bookkeeping only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from bench import anchors
from bench.scenarios import Bench, Settings
from bench.tools import CLIENTS


def test_a_missing_library_anchor_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        anchors.PYTHON_ANCHORS, "obstore", ("no_such_module_here", "obstore_copy.py", "obstore")
    )
    found = anchors.probe_python_anchor("obstore")
    assert not found.ok
    assert "no_such_module_here is not installed" in found.problem
    assert "pip install -e '.[bench]'" in found.problem


def test_an_importable_library_anchor_runs_its_script(monkeypatch: pytest.MonkeyPatch) -> None:
    # json stands in for the library: always importable, and its distribution check is skipped
    monkeypatch.setitem(anchors.PYTHON_ANCHORS, "obstore", ("json", "obstore_copy.py", "pip"))
    found = anchors.probe_python_anchor("obstore")
    assert found.ok, found.problem
    assert found.argv == (sys.executable, str(anchors.BENCH_DIR / "obstore_copy.py"))
    assert found.version.startswith("pip ")
    assert Path(found.argv[1]).is_file()


def test_library_anchors_take_part_only_in_their_scenarios(tmp_path: Path) -> None:
    assert CLIENTS["obstore"].scenarios == frozenset({"S1", "S5"})
    assert CLIENTS["boto3-crt"].scenarios == frozenset({"S4", "S6"})
    settings = Settings(
        files=1, file_size=1, large_mib=1, repeat=1, quick=True, timeout_s=1.0, workdir=tmp_path
    )
    unavailable = {"obstore": "not installed", "boto3-crt": "not installed", "aws": "gone"}
    bench = Bench(settings, None, {}, unavailable, lambda _: None)
    for scenario in ("S1", "S2", "S4"):
        bench.run_scenario(scenario)
    rows = sorted((o.scenario, o.tool, o.status) for o in bench.outcomes)
    assert rows == [
        ("S1", "aws", "missing"),
        ("S1", "obstore", "missing"),
        ("S2", "aws", "missing"),
        ("S4", "aws", "missing"),
        ("S4", "boto3-crt", "missing"),
    ]
