"""Ctrl-C and kill -9 in the middle of a sync: the next run converges and nothing is left over.

fssync runs as a subprocess (`python -m fssync`) with `--json -v`, so the test sees each
transfer start. It is stopped at chosen points while small files and 20 MiB multipart files are
in flight; then the tree is compared, temporary files are looked for in the whole destination,
and the server is asked for unfinished multipart uploads.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fssync
from fssync.testing.servers import S3Endpoint

from .helpers import make_tree, read_tree, s3_args, s3_opts

TOTALS = {"sigkill": 0, "sigint": 0, "leftover_uploads": 0, "leftover_temps": 0}


def tree(seed: int, big: int = 2) -> dict[str, bytes]:
    """30 small files and `big` multipart-sized ones (20 MiB, then 17 MiB)."""
    rnd = random.Random(seed)
    files = {f"d{i % 3}/f{i:02}.txt": rnd.randbytes(rnd.randrange(0, 30_000)) for i in range(30)}
    for i, size in enumerate((20 << 20, 17 << 20)[:big]):
        files[f"big/{'ab'[i]}.bin"] = rnd.randbytes(size)
    return files


def start(args: list[str], state: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, FSSYNC_STATE_DIR=str(state), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "fssync", "sync", *args, "--json", "-v", "--transfers", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_starts(proc: subprocess.Popen[str], count: int) -> list[dict]:
    """Read events until `count` transfers have started (or the run ended)."""
    seen: list[dict] = []
    started = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        seen.append(event)
        if event["event"] == "start":
            started += 1
            if started >= count:
                break
    return seen


def open_uploads(ep: S3Endpoint, name: str) -> list[str]:
    return [u["Key"] for u in ep.client().list_multipart_uploads(Bucket=name).get("Uploads", [])]


def until_upload_open(proc: subprocess.Popen[str], ep: S3Endpoint, name: str) -> None:
    """Wait (10 s at most) until a multipart upload is open in the bucket or the run ended."""
    deadline = time.monotonic() + 10
    while not open_uploads(ep, name) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.parent.rglob("*") if ".fssync-tmp-" in p.name]


def bucket_tree(ep: S3Endpoint, name: str, prefix: str) -> dict[str, bytes]:
    client = ep.client()
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"][len(prefix) :]] = client.get_object(Bucket=name, Key=obj["Key"])[
                "Body"
            ].read()
    return out


# Kill points: after the k-th transfer start, plus a pause. The first lands inside the big
# files (they sort first); the others are drawn at random (seeded, so a failure can be rerun;
# set FSSYNC_CRASH_SEED to explore other points).
SEED = int(os.environ.get("FSSYNC_CRASH_SEED", "2026"))
_rnd = random.Random(SEED)
KILLS = [(1, 0.3)] + [(_rnd.randint(2, 20), round(_rnd.uniform(0.0, 0.6), 2)) for _ in range(2)]


def test_kill_9_during_upload_then_rerun_converges(moto, tmp_path, monkeypatch):
    ep = moto.endpoint
    name = ep.make_bucket()
    state = tmp_path / "state"
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(state))
    files = tree(1)
    src = tmp_path / "src"
    make_tree(src, files)
    url = f"s3://{name}/up"
    left = 0
    for starts, pause in KILLS:
        # a fresh source version each round, so every round has work to do
        (src / "d0" / "f00.txt").write_bytes(os.urandom(100 + starts))
        files["d0/f00.txt"] = (src / "d0" / "f00.txt").read_bytes()
        proc = start([str(src), url, *s3_args(ep)], state)
        wait_for_starts(proc, starts)
        if starts == 1:
            # the first point is meant to land inside a big file: wait until its multipart
            # upload is open on the server (a fixed pause raced a quick upload on an idle machine)
            until_upload_open(proc, ep, name)
        time.sleep(pause if starts != 1 else 0.0)
        proc.kill()
        proc.wait(timeout=30)
        TOTALS["sigkill"] += 1
        left += len(open_uploads(ep, name))
        report = fssync.sync(str(src), url, **s3_opts(ep))
        assert report.failed == 0, report.failures
        assert bucket_tree(ep, name, "up/") == files
        assert open_uploads(ep, name) == []  # the killed run's multipart uploads were aborted
    assert left > 0, f"no kill landed inside a multipart upload (seed {SEED}): proved nothing"
    TOTALS["leftover_uploads"] += left


def test_kill_9_during_download_then_rerun_converges(moto, fault_proxy, tmp_path, monkeypatch):
    ep = moto.endpoint
    name = ep.make_bucket()
    state = tmp_path / "state"
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(state))
    files = tree(2)
    client = ep.client()
    for key, data in files.items():
        client.put_object(Bucket=name, Key=f"down/{key}", Body=data)
    dst = tmp_path / "box" / "dst"
    dst.parent.mkdir()
    left = 0
    # Each GET of the killed runs is held a little, so that a kill lands inside a download
    # however fast the machine is; the runs that follow talk to the server directly.
    slow = fault_proxy(ep, rate=1.0, kinds=("delay",), methods=("GET",), delay=0.3)
    for starts, pause in KILLS:
        proc = start([f"s3://{name}/down", str(dst), *s3_args(ep, slow.url)], state)
        wait_for_starts(proc, starts)
        time.sleep(pause)
        proc.kill()
        proc.wait(timeout=30)
        TOTALS["sigkill"] += 1
        left += len(temp_files(dst))
        for path in dst.rglob("*"):
            if path.is_file() and ".fssync-tmp-" not in path.name:
                key = path.relative_to(dst).as_posix()
                assert path.read_bytes() == files[key], f"{key} is torn after kill -9"
        report = fssync.sync(f"s3://{name}/down", str(dst), **s3_opts(ep))
        assert report.failed == 0, report.failures
        assert read_tree(dst) == files
        assert temp_files(dst) == []  # the killed run's temporary files were removed
        for key in files:  # make the next round download everything again
            (dst / key).unlink()
    assert left > 0, f"no kill landed inside a download (seed {SEED}): proved nothing"
    TOTALS["leftover_temps"] += left


def test_ctrl_c_stops_cleanly_and_exits_130(moto, fault_proxy, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    files = tree(3, big=1)
    src = tmp_path / "src"
    make_tree(src, files)
    # Every upload request is held for a second, so the Ctrl-C lands while the multipart upload
    # is in flight, not after a quiet machine has finished it (exit 0), or while the finished
    # process is shutting down (-2).
    slow = fault_proxy(ep, rate=1.0, kinds=("delay",), methods=("PUT", "POST"), delay=1.0)
    proc = start([str(src), f"s3://{name}/up", *s3_args(ep, slow.url)], tmp_path / "state")
    wait_for_starts(proc, 1)  # the big file is in flight
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    TOTALS["sigint"] += 1
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["event"] == "summary"
    assert open_uploads(ep, name) == []  # in-flight multipart uploads were aborted
    done = bucket_tree(ep, name, "up/")
    assert all(files[k] == v for k, v in done.items())  # whatever landed is whole


def test_ctrl_c_during_download_leaves_no_temp_file(moto, fault_proxy, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    files = tree(4, big=1)
    for key, data in files.items():
        ep.client().put_object(Bucket=name, Key=f"d/{key}", Body=data)
    dst = tmp_path / "box" / "dst"
    # Every GET is held for a second, so the Ctrl-C lands while downloads are in flight, not
    # after a fast machine has already finished them (which made this test end with -2).
    slow = fault_proxy(ep, rate=1.0, kinds=("delay",), methods=("GET",), delay=1.0)
    proc = start([f"s3://{name}/d", str(dst), *s3_args(ep, slow.url)], tmp_path / "state")
    wait_for_starts(proc, 2)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    TOTALS["sigint"] += 1
    assert proc.returncode == 130, err
    assert temp_files(dst) == []
    for key, data in read_tree(dst).items():
        assert data == files[key]


def test_ctrl_c_before_the_first_file_is_done_still_prints_the_summary(moto, fault_proxy, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    ep.client().put_object(Bucket=name, Key="d/only.bin", Body=b"x" * 1000)
    # Every GET is held for a while, so the Ctrl-C lands while the one download is in flight.
    slow = fault_proxy(ep, rate=1.0, kinds=("delay",), methods=("GET",), delay=1.0)
    log = tmp_path / "run.log"
    args = [f"s3://{name}/d", str(tmp_path / "dst"), *s3_args(ep, slow.url)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fssync", "sync", *args, "--log-file", str(log), "-vv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, FSSYNC_STATE_DIR=str(tmp_path / "state")),
    )
    for _ in range(600):  # the human output says nothing when a file starts: the log does
        if log.exists() and "start copy only.bin" in log.read_text():
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    TOTALS["sigint"] += 1
    assert proc.returncode == 130, err
    assert "fssync: interrupted" in err
    assert out.splitlines()[-1].startswith("stopped early: 0 copied, 0 updated, 0 deleted"), out


def test_a_second_ctrl_c_quits_at_once(moto, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    src = tmp_path / "src"
    make_tree(src, tree(5, big=1))
    proc = start([str(src), f"s3://{name}/up", *s3_args(ep)], tmp_path / "state")
    wait_for_starts(proc, 2)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    TOTALS["sigint"] += 2
    assert proc.returncode == 130
    assert "Traceback" not in err
    # What a forced quit leaves (multipart uploads) the next run cleans up.
    report = fssync.sync(str(src), f"s3://{name}/up", **s3_opts(ep))
    assert report.failed == 0
    assert open_uploads(ep, name) == []


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
