"""--notify-url: the JSON report POSTed to a real HTTP server on 127.0.0.1, only when asked, only
to that URL (no redirects), and a failed delivery is a warning, not a failed run."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import jsonschema
import pytest

import fssync
from fssync.cli.main import main

from .helpers import make_tree
from .notify_servers import Receiver
from .test_report_file import SCHEMA
from .test_reporting import FlakyFS


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    fsspec.register_implementation("flaky", FlakyFS, clobber=True)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    make_tree(tmp_path / "s", {"a.txt": b"alpha", "b.txt": b"bravo"})
    return tmp_path / "s"


def test_the_report_is_posted(receiver, src, tmp_path, capsys):
    url = receiver.url + "/hooks/fssync-night-run"
    assert main(["sync", str(src), str(tmp_path / "d"), "--notify-url", url]) == 0
    [(method, path, headers, body)] = receiver.requests
    assert (method, path) == ("POST", "/hooks/fssync-night-run")
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"fssync/{fssync.__version__}"
    document = json.loads(body)
    jsonschema.validate(document, SCHEMA)
    assert document["counts"]["copied"] == 2 and document["exit_code"] == 0
    assert url not in body.decode()  # the webhook URL is a secret: redacted in the options
    assert capsys.readouterr().err == ""


def test_on_error_posts_only_for_failed_runs(receiver, src, tmp_path):
    url = receiver.url + "/x"
    fssync.sync(str(src), str(tmp_path / "d"), notify_url=url, notify_on="error")
    assert receiver.requests == []
    fs = FlakyFS()
    fs.pipe_file("/hooksrc/bad.txt", b"never")
    fssync.sync(
        "flaky:///hooksrc", str(tmp_path / "e"), retries=0, notify_url=url, notify_on="error"
    )
    [(_, _, _, body)] = receiver.requests
    document = json.loads(body)
    assert document["exit_code"] == 3 and document["failures"][0]["key"] == "bad.txt"
    fssync.sync(
        "flaky:///hooksrc", str(tmp_path / "f"), retries=0, notify_url=url, notify_on="never"
    )
    assert len(receiver.requests) == 1


def test_redirects_are_not_followed_and_failures_only_warn(receiver, src, tmp_path, capsys):
    receiver.status = 307
    url = receiver.url + "/first"
    assert main(["sync", str(src), str(tmp_path / "d"), "--notify-url", url]) == 0
    assert [r[1] for r in receiver.requests] == ["/first"]  # never /elsewhere
    err = capsys.readouterr().err
    assert "webhook not delivered: HTTP 307" in err
    receiver.status = 500
    assert main(["sync", str(src), str(tmp_path / "d"), "--notify-url", url]) == 0
    assert "webhook not delivered: HTTP 500" in capsys.readouterr().err


def test_unreachable_receiver_is_a_warning(src, tmp_path, capsys):
    receiver = Receiver()
    url = receiver.url + "/gone"
    receiver.server_close()  # nothing listens there now
    assert main(["sync", str(src), str(tmp_path / "d"), "--notify-url", url]) == 0
    err = capsys.readouterr().err
    assert "webhook not delivered" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "127.0.0.1:8080/x", "http:///nohost"])
def test_bad_url_is_a_usage_error(url, src, tmp_path, capsys):
    assert main(["sync", str(src), str(tmp_path / "d"), "--notify-url", url]) == 2
    assert "--notify-url" in capsys.readouterr().err
