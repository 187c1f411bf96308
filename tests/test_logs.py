"""Verbosity and the log file: -v reasons, -vv debug lines, -vvv HTTP lines from a real S3
server, --log-file with timestamps (replaced or appended), and silence from the Python API."""

from __future__ import annotations

import json
import re

import fsspec
import pytest

import fssync
from fssync.cli.main import main

from .helpers import make_tree, s3_args
from .test_reporting import FlakyFS

STAMP = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (INFO|DEBUG|WARNING|ERROR) "
)


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    fsspec.register_implementation("flaky", FlakyFS, clobber=True)


@pytest.fixture
def src(tmp_path):
    make_tree(tmp_path / "s", {"a.txt": b"alpha", "dir/b.txt": b"bravo!"})
    return tmp_path / "s"


def test_default_and_v_lines(src, tmp_path, capsys):
    assert main(["sync", str(src), str(tmp_path / "d")]) == 0
    out, err = capsys.readouterr()
    assert "+ a.txt\n" in out and "new file" not in out and err == ""
    (src / "a.txt").write_bytes(b"alpha, longer")
    assert main(["sync", str(src), str(tmp_path / "d"), "-v"]) == 0
    out, err = capsys.readouterr()
    assert "* a.txt  (size differs)" in out and err == ""


def test_vv_adds_debug_lines_on_stderr_only(src, tmp_path, capsys):
    assert main(["sync", str(src), str(tmp_path / "d"), "-vv", "--json"]) == 0
    out, err = capsys.readouterr()
    assert all(json.loads(line) for line in out.splitlines())  # stdout stays pure JSON
    assert "fssync.run: plan: 2 to copy" in err
    assert "fssync.run: start copy dir/b.txt (6 bytes; new file)" in err
    assert "copied" not in err  # info lines are the console reporter's, not repeated


def test_log_file_has_a_timestamp_on_every_line_and_is_replaced_or_appended(src, tmp_path, capsys):
    log = tmp_path / "run.log"
    assert main(["sync", str(src), str(tmp_path / "d"), "-q", "--log-file", str(log)]) == 0
    lines = log.read_text().splitlines()
    assert all(STAMP.match(line) for line in lines), lines
    text = log.read_text()
    assert "copied a.txt (new file; 5 bytes)" in text and "copied dir/b.txt" in text
    assert "2 copied, 0 updated" in text and lines[-1].endswith("exit code 0")
    assert "DEBUG" not in text  # debug lines only with -vv
    assert capsys.readouterr().out == ""  # -q silences the terminal, not the log

    assert main(["sync", str(src), str(tmp_path / "d"), "--log-file", str(log)]) == 0
    assert log.read_text().count(f"fssync {fssync.__version__}: sync") == 1  # replaced
    assert (
        main(["sync", str(src), str(tmp_path / "d"), "--log-file", str(log), "--log-file-append"])
        == 0
    )
    assert log.read_text().count(f"fssync {fssync.__version__}: sync") == 2


def test_log_file_records_retries_and_failures(tmp_path):
    fs = FlakyFS()
    fs.pipe_file("/logsrc/ok.txt", b"fine")
    fs.pipe_file("/logsrc/bad.txt", b"never")
    log = tmp_path / "run.log"
    report = fssync.sync(
        "flaky:///logsrc", str(tmp_path / "d"), retries=1, retries_sleep=0.001, log_file=str(log)
    )
    assert report.failed == 1
    text = log.read_text()
    assert re.search(r"WARNING +retry 1 of 1 for ok.txt in [\d.]+ s: .*connection reset", text)
    assert re.search(r"ERROR +failed to copy bad.txt: .*connection reset", text)
    assert re.search(r"ERROR +failure: bad.txt: ", text)
    assert text.rstrip().endswith("exit code 3")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--log-file", "{tmp}/no/such/folder/x.log"], "does not exist"),
        (["--log-file", "{tmp}"], "is a folder"),
        (["--log-file-append"], "needs --log-file"),
    ],
)
def test_bad_log_file_is_a_usage_error(args, words, src, tmp_path, capsys):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["sync", str(src), str(tmp_path / "d"), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_python_api_is_silent_even_when_files_fail(tmp_path, capsys):
    fs = FlakyFS()
    fs.pipe_file("/quiet/bad.txt", b"x")
    report = fssync.sync("flaky:///quiet", str(tmp_path / "d"), retries=0)
    assert report.failed == 1
    assert capsys.readouterr() == ("", "")


def test_vvv_shows_each_http_request_and_response_without_secrets(
    moto, src, tmp_path, capsys, s3_backend
):
    """Each S3 store (the fast path and s3fs) logs its own requests at -vvv."""
    ep = moto.assume_role()  # temporary credentials: a session token to keep out of the logs
    name = moto.endpoint.make_bucket()
    log = tmp_path / "http.log"
    args = [
        "sync",
        str(src),
        f"s3://{name}/up",
        "-vvv",
        "--log-file",
        str(log),
        *s3_args(ep),  # with its session token
    ]
    assert main(args) == 0
    out, err = capsys.readouterr()
    url = re.escape(ep.url)
    assert re.search(rf"fssync.http: > GET {url}/{name}\?\S*list-type=2", err), err
    assert re.search(rf"fssync.http: > PUT {url}/{name}/up/dir/b.txt", err)
    assert re.search(rf"fssync.http: < 200 PUT {url}/{name}/up/a.txt \(attempt 1\)", err)
    text = log.read_text()
    assert re.search(rf"DEBUG +< 200 PUT {url}/{name}/up/a.txt", text)
    for secret in (ep.secret_key, ep.session_token):
        assert secret not in out + err + text
