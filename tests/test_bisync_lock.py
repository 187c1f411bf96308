"""The two-way sync's lock on each side: two real processes on one pair (as from two
machines, each with its own state folder), stale locks, and the stores' exclusive create."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import fssync
from fssync.cli.main import main
from fssync.twoway.lock import LOCK_KEY, STALE_SECONDS, Holder, stale

from .helpers import read_tree, s3_args, s3_opts

HOLD = """
import json, os, sys, time
import fssync

class Hold:
    @fssync.hookimpl
    def fssync_event(self, event, config):
        if event.name == "plan":
            print("holding", flush=True)
            while not os.path.exists(sys.argv[1]):
                time.sleep(0.05)

args = json.loads(sys.argv[2])
report = fssync.bisync(*args["urls"], plugins=[Hold()], **args["options"])
sys.exit(report.exit_code)
"""


@pytest.fixture(params=["local", "s3"])
def sides(request, tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "f.txt").write_bytes(b"one")
    if request.param == "local":
        b = tmp_path / "b"
        b.mkdir()
        return str(a), str(b), {}, [], (lambda: read_tree(b))
    ep = request.getfixturevalue("seaweed")
    bucket = ep.make_bucket()
    client = ep.client()

    def tree() -> dict[str, bytes]:
        found = client.list_objects_v2(Bucket=bucket, Prefix="side/").get("Contents", [])
        return {
            o["Key"][5:]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            for o in found
        }

    return str(a), f"s3://{bucket}/side", s3_opts(ep), s3_args(ep), tree


def test_two_processes_on_one_pair_one_is_refused(sides, tmp_path, capfd):
    a, b, opts, args, b_tree = sides
    release = tmp_path / "release"
    script = tmp_path / "hold.py"
    script.write_text(textwrap.dedent(HOLD))
    first_state = tmp_path / "state-1"
    payload = json.dumps({"urls": [a, b], "options": {"state_dir": str(first_state), **opts}})
    env = dict(os.environ, FSSYNC_STATE_DIR=str(tmp_path / "cache-1"))
    first = subprocess.Popen(
        [sys.executable, str(script), str(release), payload],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert first.stdout is not None
        assert first.stdout.readline().strip() == "holding"  # it holds both sides' locks
        assert os.path.exists(os.path.join(a, LOCK_KEY))
        # another machine: its own state folder, so only the locks on the sides can stop it
        other = [sys.executable, "-m", "fssync", "bisync", a, b, *args]
        second = subprocess.run(
            [*other, "--state-dir", str(tmp_path / "state-2")],
            capture_output=True,
            text=True,
            env=dict(os.environ, FSSYNC_STATE_DIR=str(tmp_path / "cache-2")),
            timeout=120,
        )
        assert second.returncode == 4
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        line = lines[0]
        assert f"another fssync bisync (pid {first.pid} on {socket.gethostname()} since " in line
        assert LOCK_KEY in line and "--lock-wait" in line
        assert "Traceback" not in second.stderr
        # the same machine and state folder: refused as well
        third = subprocess.run(
            [*other, "--state-dir", str(first_state)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert third.returncode == 4 and "another fssync" in third.stderr
    finally:
        release.touch()
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert not os.path.exists(os.path.join(a, LOCK_KEY))  # released
    assert b_tree() == {"f.txt": b"one"}  # the lock is never synced
    # the pair is free again: the second machine's run goes ahead
    rc = main(["bisync", a, b, *args, "--state-dir", str(tmp_path / "state-2")])
    assert rc == 0
    assert LOCK_KEY not in read_tree(Path(a)) and LOCK_KEY not in b_tree()


def _left_lock(path: Path, holder: Holder) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(holder.encode())


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_stale_lock_is_taken_over_a_live_one_refused(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_bytes(b"1")
    state = str(tmp_path / "state")
    now = time.time()
    # a run killed on this host: its process is gone
    _left_lock(a / LOCK_KEY, Holder(_dead_pid(), socket.gethostname(), now, now, "x1"))
    events: list[str] = []

    class Heard:
        @fssync.hookimpl
        def fssync_event(self, event, config):
            if event.name == "lock_stale":
                events.append(str(event.fields["reason"]))

    assert fssync.bisync(str(a), str(b), state_dir=state, plugins=[Heard()]).exit_code == 0
    assert events and "is gone" in events[0]
    assert not (a / LOCK_KEY).exists() and read_tree(b) == {"f": b"1"}
    # another machine's run, refreshed long ago (it crashed or lost the network)
    old = now - STALE_SECONDS - 60
    _left_lock(b / LOCK_KEY, Holder(1, "elsewhere", old, old, "x2"))
    (a / "g").write_bytes(b"2")
    assert fssync.bisync(str(a), str(b), state_dir=state).exit_code == 0
    assert read_tree(b) == {"f": b"1", "g": b"2"}
    # another machine's run, refreshed just now: refused, nothing changed
    _left_lock(b / LOCK_KEY, Holder(1, "elsewhere", now, time.time(), "x3"))
    (a / "h").write_bytes(b"3")
    assert main(["bisync", str(a), str(b), "--state-dir", state]) == 4
    err = capsys.readouterr().err
    assert "another fssync bisync (pid 1 on elsewhere since " in err
    assert "h" not in read_tree(b)
    assert (b / LOCK_KEY).exists()  # someone else's lock is left alone
    # an unreadable lock is never taken over: the line says what to do
    (b / LOCK_KEY).write_bytes(b"garbage")
    assert main(["bisync", str(a), str(b), "--state-dir", state]) == 4
    assert "cannot be read" in capsys.readouterr().err


def test_stale_rule():
    now = 1_000_000.0
    here = Holder(10, "h", now - 5, now - 5, "t")
    assert stale(here, now, "h", alive=lambda pid: True) == ""
    assert "gone" in stale(here, now, "h", alive=lambda pid: False)
    assert stale(here, now, "other", alive=lambda pid: False) == ""  # cannot ask another host
    old = Holder(10, "other", now - 3600, now - STALE_SECONDS - 1, "t")
    assert "not refreshed" in stale(old, now, "h", alive=lambda pid: True)
    assert Holder.decode(here.encode()) == here
    assert Holder.decode(b"{}") is None and Holder.decode(b"\xff") is None


def test_the_s3_conditional_put_refuses_a_second_create(seaweed):
    from fssync.settings.location import parse
    from fssync.stores.s3.s3fs_path import S3Store

    bucket = seaweed.make_bucket()
    opts = {
        "key": seaweed.access_key,
        "secret": seaweed.secret_key,
        "endpoint_url": seaweed.url,
        "client_kwargs": {"region_name": seaweed.region},
    }

    async def go() -> tuple[bool, bool, bytes | None]:
        store = await S3Store.connect(parse(f"s3://{bucket}/p"), opts, transfers=2)
        try:
            first = await store.create_only("lock", b"mine")
            second = await store.create_only("lock", b"theirs")
            return first, second, await store.read_small("lock")
        finally:
            await store.close()

    assert asyncio.run(go()) == (True, False, b"mine")
