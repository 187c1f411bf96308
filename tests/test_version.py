"""One version: written in ``fssync._version`` and read from there by the distribution's
metadata, ``fssync.__version__``, ``fssync --version``, the run report and the log."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import fssync
from fssync import _version
from fssync.cli.main import main

from .helpers import make_tree

ROOT = Path(__file__).resolve().parents[1]
VERSION = _version.__version__


def test_the_version_is_a_release_number_and_fssync_re_exports_it():
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?:\.dev\d+)?", VERSION)
    assert fssync.__version__ is VERSION


def test_the_build_reads_the_version_from_the_module():
    from setuptools.config.pyprojecttoml import read_configuration

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # setuptools calls [tool.setuptools] beta
        static = read_configuration(ROOT / "pyproject.toml", expand=False)["project"]
        expanded = read_configuration(ROOT / "pyproject.toml")["project"]
    assert "version" not in static and "version" in static["dynamic"]
    assert expanded["version"] == VERSION


def test_no_other_file_writes_the_version():
    literal = re.compile(rf"""["']{re.escape(VERSION)}["']""")
    files = [*ROOT.joinpath("src").rglob("*.py"), *ROOT.joinpath("plugins").rglob("*.py")]
    found = [p for p in files if p.name != "_version.py" and literal.search(p.read_text())]
    assert not found


def test_cli_version_report_and_log_say_the_version(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"fssync {VERSION}\n"

    make_tree(tmp_path / "s", {"a.txt": b"a"})
    report, log = tmp_path / "run.json", tmp_path / "run.log"
    argv = ["sync", str(tmp_path / "s"), str(tmp_path / "d"), "-q"]
    assert main([*argv, "--report", str(report), "--log-file", str(log)]) == 0
    assert json.loads(report.read_text())["fssync_version"] == VERSION
    assert f"fssync {VERSION}: sync" in log.read_text()
