"""--max-transfer, --max-duration and --cutoff-mode (rclone's): a run stops at a size or a time,
with exit code 8 or 10, holds its deletions, and leaves nothing half-written; the next run goes
on from there. Local, and S3 on both paths through a proxy that slows each request."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fssync
from fssync.cli.main import main
from fssync.transfer.cutoff import Cutoff, Limits

from .helpers import make_tree, read_tree, s3_args, s3_opts

KIB = 1024


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def _tree(count: int, size: int) -> dict[str, bytes]:
    return {f"f{i:02}.bin": os.urandom(size) for i in range(count)}


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".fssync-tmp-" in p.name]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cutoff_counts_bytes_and_time_against_the_limits():
    hard = Cutoff(Limits(max_bytes=1000, mode="hard"))
    assert hard.may_start(600) and hard.may_start(600)  # hard and soft start what fits or not
    hard.add(999)
    assert hard.reached is None and not hard.stopped.is_set()
    hard.add(1)
    assert hard.reached == "max-transfer" and hard.stopped.is_set()
    assert not hard.may_start(0) and hard.exit_code == 8

    soft = Cutoff(Limits(max_bytes=1000, mode="soft"))
    soft.add(5000)
    assert soft.reached == "max-transfer" and not soft.stopped.is_set()  # in-flight ones finish

    cautious = Cutoff(Limits(max_bytes=1000, mode="cautious"))
    assert cautious.may_start(400) and cautious.may_start(600)
    assert not cautious.may_start(1)  # 1001 bytes would be started: stop before, not after
    assert cautious.reached == "max-transfer" and not cautious.stopped.is_set()

    clock = Clock()
    timed = Cutoff(Limits(max_seconds=60, mode="soft"), clock=clock)
    clock.now += 59.9
    assert timed.may_start(10**12)
    clock.now += 0.1
    assert not timed.may_start(0) and timed.reached == "max-duration" and timed.exit_code == 10


@pytest.mark.parametrize("mode", ["hard", "soft", "cautious"])
def test_max_transfer_stops_exits_8_holds_deletes_and_the_next_run_goes_on(tmp_path, capsys, mode):
    src, dst = tmp_path / "src", tmp_path / "dst"
    files = _tree(20, 100 * KIB)
    make_tree(src, files)
    make_tree(dst, {"extra.txt": b"only here"})
    code = main(
        ["sync", str(src), str(dst), "--delete", "--max-transfer", "450K"]
        + ["--cutoff-mode", mode, "--transfers", "2"]
    )
    err = capsys.readouterr().err
    assert code == 8, err
    assert "--max-transfer 450.0 KiB reached" in err and "deletions held" in err
    landed = read_tree(dst)
    assert landed.pop("extra.txt") == b"only here"  # --delete held: nothing deleted
    assert all(files[k] == v for k, v in landed.items())  # what landed is whole
    assert _leftovers(dst) == []
    sent = len(landed) * 100 * KIB
    if mode == "cautious":
        assert len(landed) == 4 and sent <= 450 * KIB  # never past the limit
    else:
        assert 5 <= len(landed) < 20  # stopped at the file that crossed it (and those in flight)
    assert main(["sync", str(src), str(dst), "--delete"]) == 0  # no limit: the rest, then delete
    assert read_tree(dst) == files


def test_api_report_of_a_cut_off_run(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src, _tree(6, 100 * KIB))
    report = fssync.sync(str(src), str(dst), max_transfer="250K", cutoff_mode="soft", transfers=1)
    assert report.exit_code == 8 and not report.ok
    assert report.copied == 3 and report.bytes == 300 * KIB
    assert report.error is not None and "3 file(s) left for the next run" in report.error


@pytest.mark.parametrize(
    "args",
    [
        ["--max-transfer", "lots"],
        ["--max-duration", "soon"],
        ["--cutoff-mode", "gentle"],
    ],
)
def test_bad_limits_are_refused_with_exit_2(tmp_path, capsys, args):
    (tmp_path / "src").mkdir()
    assert main(["sync", str(tmp_path / "src"), str(tmp_path / "dst"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_limits_in_the_python_api_are_a_usage_error(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(fssync.UsageError, match="not a size"):
        fssync.sync(str(tmp_path / "src"), str(tmp_path / "dst"), max_transfer="lots")


@pytest.mark.usefixtures("s3_backend")
def test_hard_max_transfer_cancels_a_multipart_upload_in_flight(moto, tmp_path, capsys):
    ep = moto.endpoint
    name = ep.make_bucket()
    src = tmp_path / "src"
    big = os.urandom(20 << 20)
    make_tree(src, {"big.bin": big})
    url = f"s3://{name}/up"
    code = main(["sync", str(src), url, *s3_args(ep), "--max-transfer", "10M"])
    assert code == 8, capsys.readouterr().err
    client = ep.client()
    assert client.list_objects_v2(Bucket=name).get("KeyCount", 0) == 0  # nothing half-made
    assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []  # aborted
    report = fssync.sync(str(src), url, **s3_opts(ep))
    assert report.ok and client.get_object(Bucket=name, Key="up/big.bin")["Body"].read() == big


@pytest.mark.usefixtures("s3_backend")
@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_max_duration_stops_a_slow_upload_with_exit_10(moto, fault_proxy, tmp_path, capsys, mode):
    ep = moto.endpoint
    name = ep.make_bucket()
    src = tmp_path / "src"
    files = {**_tree(20, 10 * KIB), "big.bin": os.urandom(17 << 20)}
    make_tree(src, files)
    # Every PUT is held a second: two at a time, the whole run would take over 12 seconds.
    slow = fault_proxy(ep, rate=1.0, kinds=("delay",), methods=("PUT",), delay=1.0)
    url = f"s3://{name}/up"
    args = ["sync", str(src), url, *s3_args(ep, slow.url), "--transfers", "2"]
    code = main([*args, "--max-duration", "3s", "--cutoff-mode", mode])
    err = capsys.readouterr().err
    assert code == 10, err
    assert "--max-duration 3.00 s reached" in err
    client = ep.client()
    assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    landed = {
        o["Key"]: client.get_object(Bucket=name, Key=o["Key"])["Body"].read()
        for o in client.list_objects_v2(Bucket=name).get("Contents", [])
    }
    assert len(landed) < len(files)  # (on a loaded machine even none may have landed)
    assert all(files[k.removeprefix("up/")] == v for k, v in landed.items())
    assert fssync.sync(str(src), url, **s3_opts(ep)).ok
