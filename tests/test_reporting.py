"""The reporting API plugin authors build on: events in order, the final report's statistics,
`capture_events()`, reports of runs that stop early, and redacted options."""

from __future__ import annotations

import json
import os

import attrs
import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

import fssync
from fssync.cli.main import main
from fssync.report.tally import TIMELINE_POINTS, Tally
from fssync.settings.secrets import redact_options, register
from fssync.testing import Captured, capture_events

from .helpers import make_tree


class FlakyFS(MemoryFileSystem):
    """A memory filesystem whose every file fails its first read, and whose `bad*` files
    always fail: real retries and real failures without touching the network."""

    protocol = "flaky"
    store: dict = {}  # noqa: RUF012 - its own store, apart from memory://
    pseudo_dirs = [""]  # noqa: RUF012
    failed_once: set = set()  # noqa: RUF012

    def _open(self, path, mode="rb", **kwargs):
        f = super()._open(path, mode, **kwargs)
        if "r" not in mode:
            return f
        real = f.read
        name = path.rsplit("/", 1)[-1]

        def read(n=-1):
            if name.startswith("bad") or path not in FlakyFS.failed_once:
                FlakyFS.failed_once.add(path)
                raise ConnectionResetError("connection reset by peer")
            return real(n)

        f.read = read
        return f


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    fsspec.register_implementation("flaky", FlakyFS, clobber=True)


def test_capture_events_records_a_run_in_order(tmp_path):
    make_tree(tmp_path / "s", {"a.txt": b"a" * 10, "b/c.txt": b"c" * 2000, "d.bin": b"d" * 500})
    with capture_events() as captured:
        report = fssync.sync(str(tmp_path / "s"), str(tmp_path / "d"))
    names = captured.names()
    assert names[:2] == ["listing", "listing"] and names.count("listed") == 2
    assert names.index("plan") < names.index("start") < names.index("copy")
    assert names.count("start") == names.count("copy") == 3
    plan = captured.of("plan")[0]
    assert (plan["copy"], plan["bytes"]) == (3, 2510)
    start = next(e for e in captured.of("start") if e["key"] == "b/c.txt")
    assert start == {
        "event": "start",
        "key": "b/c.txt",
        "kind": "copy",
        "size": 2000,
        "reason": "new file",
    }
    assert captured.report is report
    assert [t.key for t in report.largest] == ["b/c.txt", "d.bin", "a.txt"]
    assert [t.bytes for t in report.largest] == [2000, 500, 10]
    assert (report.planned_files, report.planned_bytes) == (3, 2510)
    assert report.timeline[0].bytes == 0 and report.timeline[-1].bytes == 2510
    assert report.timeline[-1].files == 3
    assert report.started is not None and report.exit_code == 0


def test_capture_events_sees_command_line_runs_and_stops_at_the_block_end(tmp_path, capsys):
    make_tree(tmp_path / "s", {"a.txt": b"a"})
    with capture_events() as captured:
        assert main(["sync", str(tmp_path / "s"), str(tmp_path / "d")]) == 0
    assert captured.names().count("copy") == 1
    fssync.sync(str(tmp_path / "s"), str(tmp_path / "e"))  # outside the block
    assert len(captured.reports) == 1
    assert captured.config.get("console") is True


def test_retries_and_failures_are_events_with_their_reasons(tmp_path):
    fs = FlakyFS()
    fs.pipe_file("/src/ok.txt", b"fine")
    fs.pipe_file("/src/bad.txt", b"never")
    with capture_events() as captured:
        report = fssync.sync(
            "flaky:///src", str(tmp_path / "d"), retries=2, retries_sleep=0.001, retry_passes=0
        )
    retries = captured.of("retry")
    assert {(r["key"], r["attempt"]) for r in retries} == {
        ("ok.txt", 1),
        ("bad.txt", 1),
        ("bad.txt", 2),
    }
    assert all(r["of"] == 2 and "connection reset" in r["error"] for r in retries)
    [failed] = captured.of("failed")
    assert failed["key"] == "bad.txt" and failed["kind"] == "copy"
    assert failed["reason"] == "new file" and "connection reset" in failed["error"]
    assert (report.copied, report.failed, report.retries) == (1, 1, 3)
    assert report.exit_code == 3


def test_large_transfers_report_bytes_as_they_go(tmp_path):
    data = os.urandom(20 << 20)  # read in 8 MiB pieces
    make_tree(tmp_path / "s", {"big.bin": data, "small.txt": b"x"})
    with capture_events() as captured:
        fssync.sync(str(tmp_path / "s"), "memory://progress-test/d")
    progress = captured.of("progress")
    assert [p["bytes"] for p in progress] == [8 << 20, 16 << 20]
    assert all(p["key"] == "big.bin" and p["size"] == len(data) for p in progress)
    order = [(e.name, e.fields.get("key")) for e in captured.events]
    assert order.index(("start", "big.bin")) < order.index(("progress", "big.bin"))
    assert order.index(("progress", "big.bin")) < order.index(("copy", "big.bin"))


def test_long_listings_report_progress(tmp_path):
    make_tree(tmp_path / "s", {f"f{i:04}.txt": b"x" for i in range(1200)}, mtime=None)
    with capture_events() as captured:
        fssync.plan(str(tmp_path / "s"), str(tmp_path / "d"))
    [src_url] = [e["url"] for e in captured.of("listed") if e["files"] == 1200]
    progress = [e for e in captured.of("listing_progress") if e["url"] == src_url]
    assert progress and all(1000 <= e["files"] <= 1200 for e in progress)
    assert {e["files"] for e in captured.of("listed")} == {1200, 0}


def test_a_run_that_cannot_start_still_reports_why(tmp_path, capsys):
    with capture_events() as captured:
        code = main(["sync", str(tmp_path / "missing"), str(tmp_path / "d"), "--json"])
    assert code == 2
    report = captured.report
    assert "does not exist" in (report.error or "") and report.exit_code == 2
    assert not report.ok
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[-2]["event"] == "stopped" and lines[-2]["exit_code"] == 2
    assert lines[-1]["event"] == "summary"
    assert len(err.strip().splitlines()) == 1


def test_json_stream_has_starts_and_only_with_v_byte_progress(tmp_path, capsys):
    make_tree(tmp_path / "s", {"big.bin": os.urandom(9 << 20)})
    assert main(["sync", str(tmp_path / "s"), str(tmp_path / "d"), "--json"]) == 0
    names = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    assert "start" in names and "progress" not in names and names[-1] == "summary"
    assert main(["sync", str(tmp_path / "s"), str(tmp_path / "e"), "--json", "-v"]) == 0
    names = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    assert "progress" in names


def test_timeline_stays_short_however_many_files():
    now = [0.0]
    tally = Tally(clock=lambda: now[0])
    for i in range(5000):
        now[0] += 0.5
        tally.observe(fssync.Event("copy", {"key": f"k{i}", "bytes": 10}))
    timeline = tally.timeline
    assert len(timeline) <= TIMELINE_POINTS + 2
    assert [s.bytes for s in timeline] == sorted(s.bytes for s in timeline)
    assert timeline[-1].bytes == 50_000 and timeline[-1].files == 5000
    assert timeline[-1].seconds == pytest.approx(2500.0)


def test_a_long_transfer_is_spread_over_its_own_time_on_the_timeline():
    """A 1 GiB multipart upload running for the whole 10 s beside small files: the chart
    must show about 100 MiB/s throughout, not a spike of 1 GiB in the last step."""
    from fssync_plugins.report_html import _rates

    now = [0.0]
    tally = Tally(clock=lambda: now[0])
    tally.observe(fssync.Event("start", {"key": "big"}))
    for i in range(20):
        now[0] += 0.5
        tally.observe(fssync.Event("start", {"key": f"s{i}"}))
        tally.observe(fssync.Event("copy", {"key": f"s{i}", "bytes": 1000}))
    tally.observe(fssync.Event("copy", {"key": "big", "bytes": 1 << 30}))
    timeline = tally.timeline
    assert [s.bytes for s in timeline] == sorted(s.bytes for s in timeline)
    assert timeline[-1].bytes == (1 << 30) + 20_000 and timeline[-1].files == 21
    rates = [r for _, r in _rates([attrs.asdict(s) for s in timeline])]
    average = timeline[-1].bytes / 10
    assert max(rates) < 1.1 * average and min(rates) > 0.9 * average


def test_options_are_redacted_by_registration_and_by_name():
    register("hunter2-very-secret-value")
    options = {
        "secret_access_key": "hunter2-very-secret-value",
        "smtp_password": "pw-not-registered-12345",
        "endpoint_url": "http://127.0.0.1:9/?x=hunter2-very-secret-value",
        "transfers": 4,
        "email_to": ["a@example.org"],
        "_hooks": object(),
        "anonymous": False,
    }
    safe = redact_options(options)
    text = json.dumps(safe)
    assert "hunter2-very-secret-value" not in text and "pw-not-registered" not in text
    assert safe["smtp_password"] == "****2345" and safe["transfers"] == 4
    assert safe["email_to"] == ["a@example.org"] and "_hooks" not in safe
    assert safe["anonymous"] is False


class Boom:
    """A plugin that breaks in the middle of a run."""

    @fssync.hookimpl
    def fssync_transfer_options(self, action, location, config):
        raise RuntimeError("plugin bug")


def test_an_unexpected_error_still_ends_every_reporter(tmp_path, capsys):
    import sys

    from fssync.hooks.manager import registered

    make_tree(tmp_path / "s", {"a.txt": b"a"})
    stdout = sys.stdout
    with capture_events() as captured, registered(Boom()):
        code = main(["sync", str(tmp_path / "s"), str(tmp_path / "d"), "--progress"])
    assert code == 4
    assert sys.stdout is stdout  # the progress display gave the terminal back
    report = captured.report
    assert report.exit_code == 4 and "unexpected error" in (report.error or "")
    err = capsys.readouterr().err
    assert "fssync: unexpected error" in err and len(err.strip().splitlines()) == 1


def test_replay_inside_a_capture_block_records_nothing_twice(tmp_path):
    make_tree(tmp_path / "s", {"a.txt": b"a"})
    with capture_events() as captured:
        fssync.sync(str(tmp_path / "s"), str(tmp_path / "d"))
        seen = len(captured.events)
        other = Captured()  # a plain recorder to replay into
        captured.replay(other)
    assert len(captured.events) == seen and other.names() == captured.names()


def test_a_failure_line_names_its_file_once(tmp_path, capsys):
    from fssync.cli.main import main

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x").write_bytes(b"a file")
    (tmp_path / "dst" / "x").mkdir(parents=True)
    (tmp_path / "dst" / "x" / "y").write_bytes(b"a folder is in the way")
    assert main(["sync", str(tmp_path / "src"), str(tmp_path / "dst")]) == 3
    lines = [line for line in capsys.readouterr().err.splitlines() if "! x:" in line]
    assert len(lines) == 2  # as it happens, and in the list at the end
    assert all(line.count("x:") == 1 and "in the way" in line for line in lines)


def test_the_tally_is_the_one_source_of_the_counts():
    """Counts, bytes and failures come from the events, finished or stopped: moves and
    mtime-only updates included."""
    from fssync import Event

    tally = Tally()
    for name, fields in [
        ("plan", {"copy": 2, "update": 1, "delete": 1, "move": 1, "skip": 5, "exclude": 1}),
        ("start", {"key": "a"}),
        ("copy", {"key": "a", "bytes": 10}),
        ("move", {"key": "m", "bytes": 0}),
        ("mtime", {"key": "t"}),
        ("failed", {"key": "b", "kind": "copy", "error": "b: refused"}),
        ("delete", {"key": "d"}),
    ]:
        tally.observe(Event(name, fields))
    done = tally.report(dry_run=False, skipped=5, excluded=1)
    stopped = tally.stopped("interrupted", 130, dry_run=False)
    for report in (done, stopped):
        got = (report.copied, report.renamed, report.deleted, report.skipped, report.failed)
        assert got == (1, 1, 1, 6, 1) and report.bytes == 10
        assert report.timeline[-1].files == 1  # a move writes no file
    assert stopped.error == "interrupted" and stopped.exit_code == 130 and done.ok is False
