"""Interrupted multipart uploads resume from the parts already on the server (both S3 paths,
moto): a run killed mid-upload, then a run that lists the parts, checks each against the local
bytes and sends only the rest; a changed file starts over and the old upload is aborted; a
part the server holds with other bytes is sent again."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import fssync

from .helpers import make_tree, s3_args, s3_opts

MIB = 1 << 20
PART = 5 * MIB
pytestmark = pytest.mark.usefixtures("s3_backend")


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def _uploads(client, name: str) -> list[dict]:
    return client.list_multipart_uploads(Bucket=name).get("Uploads", [])


def _parts(client, name: str, upload: dict) -> int:
    resp = client.list_parts(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    return len(resp.get("Parts", []))


def _kill_mid_upload(ep, slow_url: str, src, url: str, min_parts: int) -> dict:
    """Start a sync whose PUTs go through a slow proxy; kill -9 it once the server holds
    `min_parts` parts of its upload; return that upload."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "fssync", "sync", str(src), url, *s3_args(ep, slow_url)]
    cmd += ["--multipart-chunk-size", "5M", "--multipart-threshold", "5M", "--transfers", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client, name = ep.client(), url.split("/")[2]
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ups = _uploads(client, name)
            if ups and _parts(client, name, ups[0]) >= min_parts:
                proc.kill()
                proc.wait(timeout=30)
                # Parts the proxy was holding still reach the server after the kill: let them
                # land, so that what the server holds is what the next run finds.
                time.sleep(1.0)
                still = [u for u in _uploads(client, name) if u["UploadId"] == ups[0]["UploadId"]]
                assert still, "the upload completed before the kill: nothing to resume"
                return ups[0]
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    raise AssertionError("the upload finished or never started: no interrupted upload to resume")


def test_a_killed_upload_resumes_from_the_parts_on_the_server(moto, fault_proxy, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    data = os.urandom(15 * PART + 12345)  # 16 parts: more than a run sends at once
    make_tree(tmp_path / "src", {"big.bin": data})
    url = f"s3://{name}/up"
    # Every PUT and POST through the proxy is held (logged as a "delay"): the same endpoint
    # for both runs, as a resumed upload belongs to the store it was started on.
    proxy = fault_proxy(ep, rate=1.0, kinds=("delay",), methods=("PUT", "POST"), delay=0.4)
    killed = _kill_mid_upload(ep, proxy.url, tmp_path / "src", url, min_parts=2)
    client = ep.client()
    held = _parts(client, name, killed)
    assert 2 <= held < 16
    proxy.delay, before = 0.0, len(proxy.stats.log)
    opts = {**s3_opts(ep), "endpoint_url": proxy.url}
    report = fssync.sync(
        str(tmp_path / "src"), url, multipart_chunk_size="5M", multipart_threshold="5M", **opts
    )
    assert report.ok and report.copied == 1
    assert client.get_object(Bucket=name, Key="up/big.bin")["Body"].read() == data
    log = proxy.stats.log[before:]
    sent = [p for _, method, p, _ in log if method == "PUT" and "partNumber=" in p]
    assert len(sent) == 16 - held  # only the parts the server did not hold
    assert all(killed["UploadId"] in p for p in sent)  # into the interrupted upload
    assert not any(method == "POST" and p.endswith("?uploads") for _, method, p, _ in log)
    assert _uploads(client, name) == []  # the interrupted upload was completed, not left


def test_a_changed_file_starts_over_and_the_old_upload_is_aborted(moto, fault_proxy, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    make_tree(tmp_path / "src", {"big.bin": os.urandom(16 * PART)})  # more than in flight
    url = f"s3://{name}/up"
    slow = fault_proxy(ep, rate=1.0, kinds=("delay",), methods=("PUT",), delay=0.4)
    killed = _kill_mid_upload(ep, slow.url, tmp_path / "src", url, min_parts=1)
    slow.delay = 0.0
    new = os.urandom(16 * PART)
    (tmp_path / "src" / "big.bin").write_bytes(new)  # edited meanwhile: another mtime too
    report = fssync.sync(
        str(tmp_path / "src"),
        url,
        multipart_chunk_size="5M",
        multipart_threshold="5M",
        **{**s3_opts(ep), "endpoint_url": slow.url},  # the same endpoint: the same store
    )
    client = ep.client()
    assert report.ok and client.get_object(Bucket=name, Key="up/big.bin")["Body"].read() == new
    assert killed["UploadId"] not in {u["UploadId"] for u in _uploads(client, name)}
    assert _uploads(client, name) == []


def test_a_part_held_with_other_bytes_is_sent_again(moto, fault_proxy, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    path = tmp_path / "src" / "big.bin"
    make_tree(tmp_path / "src", {"big.bin": os.urandom(16 * PART)})  # more than in flight
    url = f"s3://{name}/up"
    slow = fault_proxy(ep, rate=1.0, kinds=("delay",), methods=("PUT",), delay=0.4)
    killed = _kill_mid_upload(ep, slow.url, tmp_path / "src", url, min_parts=1)
    slow.delay = 0.0
    client = ep.client()
    listed = client.list_parts(Bucket=name, Key=killed["Key"], UploadId=killed["UploadId"])
    number = listed["Parts"][0]["PartNumber"]
    # The file is rewritten where that part lies, its size and mtime put back (an editor, a
    # restore): the upload is resumed, and the part the server holds no longer matches.
    stat = path.stat()
    with open(path, "r+b") as fh:
        fh.seek((number - 1) * PART)
        fh.write(os.urandom(PART))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    data = path.read_bytes()
    report = fssync.sync(
        str(tmp_path / "src"),
        url,
        multipart_chunk_size="5M",
        multipart_threshold="5M",
        **{**s3_opts(ep), "endpoint_url": slow.url},  # the same endpoint: the same store
    )
    assert report.ok
    assert client.get_object(Bucket=name, Key="up/big.bin")["Body"].read() == data
    assert _uploads(client, name) == []
