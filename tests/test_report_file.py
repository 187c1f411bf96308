"""--report FILE: one JSON document per run, valid against the documented schema, for finished,
partly failed, dry and stopped runs, with secrets redacted."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import jsonschema
import pytest

import fssync
from fssync.cli.main import main

from .helpers import make_tree
from .test_reporting import FlakyFS

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "docs" / "reference" / "report.schema.json").read_text()
)
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    fsspec.register_implementation("flaky", FlakyFS, clobber=True)


def load(path: Path) -> dict:
    document = json.loads(path.read_text())
    jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)
    return document


def test_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_a_finished_run(tmp_path, capsys):
    make_tree(tmp_path / "s", {"a.txt": b"a" * 100, "b/c.bin": b"c" * 5000})
    out = tmp_path / "run.json"
    args = ["sync", str(tmp_path / "s"), str(tmp_path / "d"), "--report", str(out)]
    args += ["--access-key-id", "AKIAEXAMPLE", "--secret-access-key", SECRET]
    assert main(args) == 0
    doc = load(out)
    assert (doc["command"], doc["exit_code"], doc["ok"], doc["error"]) == ("sync", 0, True, None)
    assert doc["src"] == str(tmp_path / "s") and doc["dst"] == str(tmp_path / "d")
    assert doc["counts"] == {
        "copied": 2,
        "updated": 0,
        "deleted": 0,
        "renamed": 0,
        "skipped": 0,
        "excluded": 0,
        "failed": 0,
    }
    assert doc["bytes"] == 5100 and doc["plan"]["files"] == 2 and doc["plan"]["bytes"] == 5100
    assert doc["bytes_per_second"] > 0 and doc["seconds"] > 0
    assert [t["key"] for t in doc["largest"]] == ["b/c.bin", "a.txt"]
    assert doc["timeline"][-1]["bytes"] == 5100
    assert doc["options"]["secret_access_key"] == "****TKEY"
    assert doc["options"]["access_key_id"] == "AKIAEXAMPLE"
    assert SECRET not in out.read_text()
    assert not list(tmp_path.glob(".fssync-report-*"))  # no temporary file left behind


def test_failures_with_their_errors_and_exit_code_3(tmp_path):
    fs = FlakyFS()
    fs.pipe_file("/repsrc/ok.txt", b"fine")
    fs.pipe_file("/repsrc/bad.txt", b"never")
    out = tmp_path / "run.json"
    fssync.sync(
        "flaky:///repsrc",
        str(tmp_path / "d"),
        retries=1,
        retries_sleep=0.001,
        retry_passes=0,
        report=str(out),
    )
    doc = load(out)
    assert doc["exit_code"] == 3 and doc["ok"] is False
    assert doc["counts"]["failed"] == 1 and doc["retries"] == 2
    [failure] = doc["failures"]
    assert failure["key"] == "bad.txt" and failure["kind"] == "copy"
    assert "connection reset" in failure["error"]


def test_a_dry_run(tmp_path):
    make_tree(tmp_path / "s", {"a.txt": b"a"})
    out = tmp_path / "run.json"
    fssync.sync(str(tmp_path / "s"), str(tmp_path / "d"), dry_run=True, report=str(out))
    doc = load(out)
    assert doc["dry_run"] is True and doc["counts"]["copied"] == 0
    assert doc["plan"] == {"files": 1, "bytes": 1, "copy": 1, "update": 0, "delete": 0, "move": 0}


def test_a_run_that_stops_early_still_writes_its_report(tmp_path, capsys):
    out = tmp_path / "run.json"
    code = main(["sync", str(tmp_path / "nothing"), str(tmp_path / "d"), "--report", str(out)])
    assert code == 2
    doc = load(out)
    assert doc["exit_code"] == 2 and doc["ok"] is False and "does not exist" in doc["error"]


def test_report_to_a_missing_folder_is_refused_before_the_run(tmp_path, capsys):
    make_tree(tmp_path / "s", {"a.txt": b"a"})
    out = tmp_path / "no" / "run.json"
    assert main(["sync", str(tmp_path / "s"), str(tmp_path / "d"), "--report", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_a_rename_is_counted_as_renamed_in_every_report(tmp_path, capsys):
    """--track-renames turns a moved file into a move: the report file, the --json summary and
    the Python report all count it as renamed, and never also as copied or deleted."""
    src, dst = tmp_path / "s", tmp_path / "d"
    make_tree(src, {"old/name.bin": b"n" * 5000, "same.txt": b"x"})
    assert main(["sync", str(src), str(dst), "-q"]) == 0
    (src / "new").mkdir()
    (src / "old" / "name.bin").rename(src / "new" / "name.bin")
    out = tmp_path / "run.json"
    args = ["sync", str(src), str(dst), "--delete", "--track-renames", "--json"]
    assert main([*args, "--report", str(out)]) == 0
    doc = load(out)
    assert doc["schema"] == "fssync-report/2"
    assert doc["counts"] == {
        "copied": 0,
        "updated": 0,
        "deleted": 0,
        "renamed": 1,
        "skipped": 1,
        "excluded": 0,
        "failed": 0,
    }
    assert doc["plan"]["move"] == 1 and doc["bytes"] == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["key"] for e in lines if e["event"] == "move"] == ["new/name.bin"]
    assert lines[-1]["event"] == "summary" and lines[-1]["renamed"] == 1
    assert (dst / "new" / "name.bin").read_bytes() == b"n" * 5000
    assert not (dst / "old" / "name.bin").exists()
