"""Names with terminal control sequences are shown escaped in every human output (console,
log file, check, ls, error lines) and exactly in JSON: a hostile key can neither erase nor forge
a line, the warning about itself included."""

from __future__ import annotations

import json
import re

import pytest

from fssync import json_text, printable
from fssync.cli.main import main

from .helpers import make_tree
from .helpers import s3_args as cli_opts

# Erases the line, returns to its start and writes a line of its own; DEL, a C1 CSI, a
# right-to-left override and a newline for good measure.
EVIL = "evil\x1b[2K\rforged \x7f\x9b31m\u202etxt.exe\nfake line.txt"
SHOWN = "evil\\x1b[2K\\x0dforged \\x7f\\x9b31m\\u202etxt.exe\\x0afake line.txt"
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]")  # anything but the line ends themselves


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def lines_of(text: str) -> list[str]:
    assert not RAW.search(text), f"raw control character in {text!r}"
    return text.splitlines()


def test_the_rule():
    assert printable("plain/ünïcode 🙂.txt") == "plain/ünïcode 🙂.txt"
    assert printable(EVIL) == SHOWN
    assert printable("tab\there") == "tab\\x09here"
    assert printable("bad-\udcff-byte") == "bad-\\xff-byte"  # a local name that is not UTF-8
    text = json_text({"key": EVIL + "\udcff"})
    assert not RAW.search(text) and "\n" not in text
    assert json.loads(text) == {"key": EVIL + "\udcff"}
    text.encode("utf-8")  # a lone surrogate raw would not encode


def test_console_and_log_file_show_escapes(tmp_path, capsys):
    make_tree(tmp_path / "s", {EVIL: b"x", "plain.txt": b"y"})
    log = tmp_path / "run.log"
    args = ["sync", str(tmp_path / "s"), str(tmp_path / "d"), "-v", "--log-file", str(log)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    shown = lines_of(out)
    assert f"+ {SHOWN}  (new file)" in shown and "+ plain.txt  (new file)" in shown
    assert lines_of(err) == []
    logged = lines_of(log.read_text())
    assert any(line.endswith(f"copied {SHOWN} (new file; 1 bytes)") for line in logged)
    assert (tmp_path / "d" / EVIL).read_bytes() == b"x"  # the file itself keeps its name


def test_json_stream_stays_exact(tmp_path, capsys):
    make_tree(tmp_path / "s", {EVIL: b"x"})
    assert main(["sync", str(tmp_path / "s"), str(tmp_path / "d"), "--json"]) == 0
    out = capsys.readouterr().out
    events = [json.loads(line) for line in lines_of(out)]
    assert [e["key"] for e in events if e["event"] == "copy"] == [EVIL]


def test_check_and_ls_show_escapes(tmp_path, capsys):
    make_tree(tmp_path / "s", {EVIL: b"x"})
    assert main(["check", str(tmp_path / "s"), str(tmp_path / "d")]) == 1
    out, err = capsys.readouterr()
    assert f"+ {SHOWN}" in lines_of(out)
    lines_of(err)
    assert main(["ls", str(tmp_path / "s")]) == 0
    [row] = lines_of(capsys.readouterr().out)
    assert row.endswith(f"  {SHOWN}")
    assert main(["ls", "--json", str(tmp_path / "s")]) == 0
    [row] = lines_of(capsys.readouterr().out)
    assert json.loads(row)["key"] == EVIL
    assert main(["check", "--json", str(tmp_path / "s"), str(tmp_path / "d")]) == 1
    rows = [json.loads(line) for line in lines_of(capsys.readouterr().out)]
    assert rows[0]["key"] == EVIL


def test_an_error_line_shows_escapes(tmp_path, capsys):
    assert main(["sync", str(tmp_path / EVIL), str(tmp_path / "d")]) == 2
    [line] = lines_of(capsys.readouterr().err)
    assert "does not exist" in line


@pytest.mark.usefixtures("s3_backend")
def test_the_warning_about_a_hostile_key_cannot_forge_lines(moto, tmp_path, capsys):
    ep = moto.endpoint
    name = ep.make_bucket()
    key = "h/esc\x1b[2K\rforged\x7f.txt"  # (a newline cannot be stored on moto's server)
    ep.client().put_object(Bucket=name, Key=key, Body=b"x")
    log = tmp_path / "run.log"
    args = ["sync", f"s3://{name}/h", str(tmp_path / "d"), "--log-file", str(log)]
    main([*args, *cli_opts(ep)])
    err = capsys.readouterr().err
    assert "! h/esc\\x1b[2K\\x0dforged\\x7f.txt: control character in key" in lines_of(err)
    assert any("skipped h/esc\\x1b[2K\\x0dforged\\x7f.txt" in x for x in lines_of(log.read_text()))
    main([*args, "--json", *cli_opts(ep)])
    out = capsys.readouterr().out
    rejected = [e for e in map(json.loads, lines_of(out)) if e["event"] == "rejected"]
    assert [e["key"] for e in rejected] == [key]
