"""kill -9 in the middle of a two-way sync, then a plain run: it converges with nothing lost,
no conflict and no resync, because each path is recorded as its change lands."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

import pytest

import fssync

from .helpers import read_tree, s3_args, s3_opts

SEED = int(os.environ.get("FSSYNC_CRASH_SEED", "2026"))
_rnd = random.Random(SEED)
KILLS = [(_rnd.randint(1, 25), round(_rnd.uniform(0.0, 0.2), 2)) for _ in range(3)]


def bucket_tree(ep, name: str, prefix: str) -> dict[str, bytes]:
    client = ep.client()
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=name, Key=obj["Key"])["Body"].read()
            out[obj["Key"][len(prefix) :]] = body
    return out


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fssync", "bisync", *args, "--json", "-v", "--transfers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("other", ["s3", "local"])
def test_kill_9_mid_run_then_a_plain_run_converges(request, tmp_path, other):
    a = tmp_path / "a"
    a.mkdir()
    state = tmp_path / "state"
    env = dict(os.environ, FSSYNC_STATE_DIR=str(tmp_path / "cache"), PYTHONUNBUFFERED="1")
    if other == "s3":
        ep = request.getfixturevalue("seaweed")
        name = ep.make_bucket()
        url, more, opts = f"s3://{name}/b", s3_args(ep), s3_opts(ep)
        client = ep.client()

        def put_b(key: str, data: bytes) -> None:
            client.put_object(Bucket=name, Key=f"b/{key}", Body=data)

        def tree_b() -> dict[str, bytes]:
            return bucket_tree(ep, name, "b/")

    else:
        b = tmp_path / "b"
        url, more, opts = str(b), [], {}

        def put_b(key: str, data: bytes) -> None:
            (b / key).write_bytes(data)

        def tree_b() -> dict[str, bytes]:
            return read_tree(b)

    common = {"state_dir": str(state), **opts}
    # local writes are quick: larger files and no pause, so the kill lands in the run
    biggest = 20_000 if other == "s3" else 2_000_000
    rnd = random.Random(SEED)
    for i in range(40):
        (a / f"f{i:02}").write_bytes(rnd.randbytes(rnd.randrange(1, biggest)))
    assert fssync.bisync(str(a), url, **common).exit_code == 0
    kills_in_flight = 0
    for round_, (starts, pause) in enumerate(KILLS):
        edits: set[bytes] = set()
        for i in range(0, 40, 2):  # A edits the even files, B the odd ones
            data = f"a{round_}-{i}".encode() + rnd.randbytes(rnd.randrange(1, biggest))
            (a / f"f{i:02}").write_bytes(data)
            edits.add(data)
            data = f"b{round_}-{i}".encode() + rnd.randbytes(rnd.randrange(1, biggest))
            put_b(f"f{i + 1:02}", data)
            edits.add(data)
        proc = start([str(a), url, "--state-dir", str(state), *more], env)
        seen = 0
        assert proc.stdout is not None
        for line in proc.stdout:
            if json.loads(line)["event"] == "start":
                seen += 1
                if seen >= starts:
                    break
        time.sleep(pause if other == "s3" else 0.0)
        proc.kill()
        proc.wait(timeout=30)
        kills_in_flight += proc.returncode == -9
        report = fssync.bisync(str(a), url, **common)
        assert report.exit_code == 0, report.failures
        assert report.conflicts == ()  # what landed before the kill is recognised as equal
        here, there = read_tree(a), tree_b()
        assert here == there
        assert edits <= set(here.values())
        assert not [p for p in a.rglob("*") if ".fssync-tmp-" in p.name]
        assert ".fssync-bisync.lock" not in here  # the killed run's lock was taken over
    assert kills_in_flight, "no kill landed before the run ended: proved nothing"
