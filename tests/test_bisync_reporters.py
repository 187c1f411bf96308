"""A two-way run reaches the same reporters as a one-way sync: the webhook, e-mail and
--report file carry its counts and its conflict lines (real servers on 127.0.0.1)."""

from __future__ import annotations

import json
import os

import jsonschema
import pytest

from fssync.cli.main import main

from .test_report_file import SCHEMA


@pytest.fixture
def conflicted(tmp_path, monkeypatch):
    """Two folders in step, then the same file edited differently on both sides."""
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "cache"))
    for name in ("HOST", "PORT", "TLS", "USER", "PASSWORD"):
        monkeypatch.delenv(f"FSSYNC_SMTP_{name}", raising=False)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f.txt").write_bytes(b"base")
    base = ["bisync", str(a), str(b), "--state-dir", str(tmp_path / "state")]
    assert main(base) == 0
    (a / "f.txt").write_bytes(b"edited on A")
    (b / "f.txt").write_bytes(b"edited on B!")
    os.utime(b / "f.txt", (2_000_000_000, 2_000_000_000))  # B's is the newer
    (a / "new.txt").write_bytes(b"new")
    return base


def test_webhook_email_and_report_file_carry_the_conflict(conflicted, receiver, smtp, tmp_path):
    inbox, port = smtp
    report_file = tmp_path / "report.json"
    args = ["--notify-url", receiver.url + "/hook", "--report", str(report_file)]
    args += ["--email-to", "ops@example.org", "--smtp-host", "127.0.0.1", "--smtp-port", str(port)]
    assert main([*conflicted, *args, "--email-from", "sync@example.org"]) == 0
    [(method, _, _, body)] = receiver.requests
    posted = json.loads(body)
    [(_, _, msg)] = inbox.messages
    [part] = [p for p in msg.iter_attachments() if p.get_filename() == "report.json"]
    mailed = json.loads(part.get_content())
    written = json.loads(report_file.read_text())
    for document in (posted, mailed, written):
        jsonschema.validate(document, SCHEMA)
        assert document["command"] == "bisync"
        assert document["counts"]["copied"] == 1 and document["exit_code"] == 0
        [line] = document["conflicts"]
        assert line.startswith("conflict f.txt: modified on both sides")
        assert "B's keeps the name, A's is kept as f.conflict-a-" in line
    assert method == "POST" and msg["Subject"].startswith("fssync OK: ")


def test_the_progress_display_and_the_log_file_follow_a_two_way_run(conflicted, tmp_path):
    """Both read the plan event: a two-way plan carries the fields a one-way one has."""
    import io

    from rich.console import Console

    from fssync.testing import capture_events
    from fssync_plugins.report_progress import ProgressDisplay

    log = tmp_path / "run.log"
    with capture_events() as captured:
        assert main([*conflicted, "--log-file", str(log), "-vv"]) == 0
    [plan] = [e.fields for e in captured.events if e.name == "plan"]
    assert (plan["copy"], plan["update"], plan["conflict"], plan["skip"]) == (1, 1, 1, 0)
    assert plan["bytes"] == len(b"new") + len(b"edited on B!")
    console = Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)
    display = ProgressDisplay(console, auto_refresh=False)
    captured.replay(display)
    assert not display.live.is_started  # run_finished stopped it
    assert "2/2 files" in console.file.getvalue().rsplit("syncing", 1)[-1]
    text = log.read_text()
    assert "plan: 1 to copy, 1 to update, 0 to delete, 0 unchanged" in text
    assert "conflict f.txt" in text or "f.conflict-a-" in text
