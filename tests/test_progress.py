"""The live progress display: rendered into a captured rich console from events sent through the
hooks, switched on and off by the terminal and the flags, and seen on a real pseudo-terminal."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys

import pytest
from rich.console import Console

import fssync
from fssync.cli.main import main
from fssync.hooks.manager import make_hooks
from fssync.testing import capture_events
from fssync_plugins.report_progress import ProgressDisplay, wanted

from .helpers import make_tree

CONFIG = fssync.Config(command="sync", src="/src", dst="/dst")


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)


def screen(display: ProgressDisplay) -> str:
    """What the display shows now, as plain text."""
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(display.renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


class Feed:
    """Send events to a display through the hooks, with a clock the test moves."""

    def __init__(self, display_rows: int = 5) -> None:
        self.now = 0.0
        self.display = ProgressDisplay(
            terminal(), auto_refresh=False, clock=lambda: self.now, rows=display_rows
        )
        self.hooks = make_hooks(entry_points=False, plugins=[self.display])

    def __call__(self, name: str, **fields) -> None:
        self.hooks.event(fssync.Event(name, fields), CONFIG)


def test_listing_shows_files_found_so_far():
    feed = Feed()
    feed("listing", url="s3://bucket/photos")
    feed("listing_progress", url="s3://bucket/photos", files=2000)
    text = screen(feed.display)
    assert "listing s3://bucket/photos" in text and "2,000 files" in text
    feed("listed", url="s3://bucket/photos", files=2345)
    assert "listing" not in screen(feed.display)
    feed.display.close()


def test_totals_rate_time_left_and_transfers_in_flight():
    feed = Feed()
    feed("plan", copy=3, update=1, delete=1, skip=4, exclude=0, bytes=40 << 20)
    feed("start", key="big/file.bin", kind="copy", size=30 << 20, reason="new file")
    feed("start", key="a.txt", kind="copy", size=5 << 20, reason="new file")
    feed.now += 2
    feed("progress", key="big/file.bin", bytes=8 << 20, size=30 << 20)
    feed.now += 1
    feed("copy", key="a.txt", bytes=5 << 20, reason="new file")
    text = screen(feed.display)
    assert "1/4 files, 1 in flight" in text
    assert "13.0/40.0 MiB" in text  # 8 MiB of the big file + the 5 MiB file
    assert "MiB/s" in text
    assert "0:00:0" in text  # time left at this rate: a few seconds
    assert "big/file.bin" in text and "8.0/30.0 MiB" in text
    assert "a.txt" not in text  # finished transfers leave the list
    feed("failed", key="big/file.bin", kind="copy", size=30 << 20, reason="new", error="x")
    text = screen(feed.display)
    assert "1 failed" in text and "5.0/10.0 MiB" in text  # a failed file leaves the total
    feed.display.close()


def test_only_the_oldest_transfers_get_a_line():
    feed = Feed(display_rows=2)
    feed("plan", copy=4, update=0, delete=0, skip=0, exclude=0, bytes=4000)
    for i in range(4):
        feed("start", key=f"f{i}", kind="copy", size=1000, reason="new file")
    text = screen(feed.display)
    assert "4 in flight" in text and "f0" in text and "f1" in text and "f2" not in text
    feed("copy", key="f0", bytes=1000, reason="new file")
    text = screen(feed.display)
    assert "f2" in text and "f0 " not in text
    feed.display.close()


def test_hostile_names_are_shown_as_text():
    """Control characters escaped; rich markup in a key shown, not obeyed (nor a crash)."""
    feed = Feed()
    feed("listing", url="s3://b/[bold]x")
    assert "listing s3://b/[bold]x" in screen(feed.display)
    feed("plan", copy=2, update=0, delete=0, skip=0, exclude=0, bytes=2000)
    feed("start", key="a[/]b.txt", kind="copy", size=1000, reason="new file")
    feed("start", key="esc\x1b[2K.txt", kind="copy", size=1000, reason="new file")
    text = screen(feed.display)
    assert "a[/]b.txt" in text and "esc\\x1b[2K.txt" in text and "\x1b" not in text
    feed.display.close()


def test_a_retry_takes_back_the_bytes_counted():
    feed = Feed()
    feed("plan", copy=1, update=0, delete=0, skip=0, exclude=0, bytes=20 << 20)
    feed("start", key="big", kind="copy", size=20 << 20, reason="new file")
    feed("progress", key="big", bytes=8 << 20, size=20 << 20)
    assert "8.0/20.0 MiB" in screen(feed.display)
    feed("retry", key="big", attempt=1, of=3, error="reset", delay=0.1)
    assert "0.0/20.0 MiB" in screen(feed.display)
    feed("copy", key="big", bytes=20 << 20, reason="new file")
    assert "20.0/20.0 MiB" in screen(feed.display)
    feed.display.close()


def test_a_real_run_replayed_ends_complete(tmp_path):
    make_tree(tmp_path / "s", {f"d/{i}.txt": b"x" * (i + 1) * 100 for i in range(30)})
    with capture_events() as captured:
        fssync.sync(str(tmp_path / "s"), str(tmp_path / "d"))
    console = terminal()
    display = ProgressDisplay(console, auto_refresh=False)
    captured.replay(display)
    assert not display.live.is_started  # run_finished stopped it
    final = console.file.getvalue().rsplit("syncing", 1)[-1]  # type: ignore[attr-defined]
    assert "30/30 files" in final and "45.4/45.4 KiB" in final  # 46,500 bytes


@pytest.mark.parametrize(
    ("options", "tty", "shown"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"json": True}, True, False),
        ({"quiet": True}, True, False),
        ({"progress": True}, False, True),
        ({"progress": False}, True, False),
        ({"progress": True, "json": True}, True, True),
    ],
)
def test_when_progress_is_shown(options, tty, shown):
    assert wanted(fssync.Config(command="sync", src="a", options=options), tty) is shown


def test_not_a_terminal_means_no_progress_unless_asked(tmp_path, capsys):
    make_tree(tmp_path / "s", {"a.txt": b"a"})
    assert main(["sync", str(tmp_path / "s"), str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "syncing" not in out and "\x1b[" not in out and "+ a.txt" in out
    assert main(["sync", str(tmp_path / "s"), str(tmp_path / "e"), "--progress"]) == 0
    out = capsys.readouterr().out
    assert "syncing" in out and "1/1 files" in out and "+ a.txt" in out


def _run_on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run the command line on a pseudo-terminal, as a person would, and return the screen."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fssync", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**os.environ, **env, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(follower)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                break
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(leader)
        proc.wait(timeout=60)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


def test_a_person_at_a_terminal_sees_progress_and_the_summary(tmp_path):
    make_tree(tmp_path / "s", {f"f{i:04}.txt": b"y" * 1000 for i in range(500)})
    env = {"FSSYNC_STATE_DIR": str(tmp_path / "state")}
    text = _run_on_a_terminal(["sync", str(tmp_path / "s"), str(tmp_path / "d")], env)
    assert "syncing" in text and "500/500 files" in text
    assert len(set(re.findall(r"\+ f\d{4}", text))) == 500  # every line, printed above it
    assert "500 copied" in text  # the summary, after the display
    text = _run_on_a_terminal(
        ["sync", str(tmp_path / "s"), str(tmp_path / "e"), "--no-progress"], env
    )
    assert "syncing" not in text and "500 copied" in text


def test_lines_printed_meanwhile_appear_above_the_display_in_order(capsys):
    console = terminal()
    display = ProgressDisplay(console, auto_refresh=False)
    hooks = make_hooks(entry_points=False, plugins=[display])
    hooks.event(
        fssync.Event(
            "plan", {"copy": 2, "update": 0, "delete": 0, "skip": 0, "exclude": 0, "bytes": 2}
        ),
        CONFIG,
    )
    print("+ first")
    print("! oops", file=sys.stderr)
    display.live.refresh()  # a redraw prints what was written meanwhile, once
    print("+ second", end="")  # a partial line waits for its end
    display.live.refresh()
    print()
    display.close()
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert out.index("+ first") < out.index("! oops") < out.index("+ second")
    assert out.count("+ first") == 1 and out.count("+ second") == 1
    assert sys.stdout is not None and not hasattr(sys.stdout, "take")  # restored


def test_the_display_draws_on_the_terminal_while_the_run_goes_on(capsys):
    display = ProgressDisplay(Console(force_terminal=True, width=100), auto_refresh=False)
    hooks = make_hooks(entry_points=False, plugins=[display])
    plan = {"copy": 1, "update": 0, "delete": 0, "skip": 0, "exclude": 0, "bytes": 10}
    hooks.event(fssync.Event("plan", plan), CONFIG)
    print("+ first")
    display.live.refresh()
    out = capsys.readouterr().out  # before the end of the run, not only after it
    assert "syncing" in out and "0/1 files" in out and "+ first" in out
    display.close()
