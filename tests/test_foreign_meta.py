"""Other tools' metadata conventions on S3, read and written as they are (both S3 paths, moto and
SeaweedFS): exact nanosecond mtimes, every tool's stored mtime and MD5."""

from __future__ import annotations

import os

import pytest

import fssync

from .helpers import make_tree
from .helpers import s3_opts as opts

pytestmark = pytest.mark.usefixtures("s3_backend")

NS = 1_700_000_000_123_456_789  # a float holds this to ~240 ns only


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def _ns_tree(root, files, ns):
    make_tree(root, files, mtime=None)
    for key in files:
        os.utime(root / key, ns=(ns, ns))


def test_mtime_keeps_nanoseconds_up_and_down(bucket, tmp_path):
    """Uploaded as rclone writes it ('seconds.nnnnnnnnn', exact), and restored exactly."""
    ep, name = bucket
    client = ep.client()
    src = tmp_path / "s"
    files = {"small.txt": b"x" * 10, "big.bin": os.urandom((16 << 20) + 5)}
    _ns_tree(src, files, NS)
    fssync.sync(str(src), f"s3://{name}/n", **opts(ep))
    for key in files:
        meta = client.head_object(Bucket=name, Key=f"n/{key}")["Metadata"]
        assert meta["mtime"] == "1700000000.123456789"
    back = tmp_path / "b"
    fssync.sync(f"s3://{name}/n", str(back), **opts(ep))
    for key in files:
        assert (back / key).stat().st_mtime_ns == NS


def test_rclone_mtime_restored_to_the_nanosecond(bucket, tmp_path):
    ep, name = bucket
    ep.client().put_object(
        Bucket=name, Key="r/a.txt", Body=b"rclone", Metadata={"mtime": "1700000000.987654321"}
    )
    fssync.sync(f"s3://{name}/r", str(tmp_path / "b"), **opts(ep))
    assert (tmp_path / "b" / "a.txt").stat().st_mtime_ns == 1_700_000_000_987_654_321


@pytest.mark.parametrize(
    ("meta", "ns"),
    [
        ({"s3cmd-attrs": "atime:1/ctime:2/gid:0/mode:33188/mtime:1600000000/uid:0"}, 1600 * 10**15),
        ({"local-date-modified": "2023-11-14T22:13:20.250000Z"}, 1_700_000_000_250_000_000),
        ({"local-date-modified": "Tue, 14 Nov 2023 22:13:20 GMT"}, 1_700_000_000 * 10**9),
    ],
    ids=["s3cmd", "s3sync-iso", "s3sync-http-date"],
)
def test_download_restores_every_stored_mtime_convention(bucket, tmp_path, meta, ns):
    """The compare reads s3cmd's and S3 Sync's stored mtimes; a download restores them too."""
    ep, name = bucket
    ep.client().put_object(Bucket=name, Key="o/f.txt", Body=b"other tool", Metadata=meta)
    report = fssync.sync(f"s3://{name}/o", str(tmp_path / "b"), **opts(ep))
    assert report.copied == 1
    assert (tmp_path / "b" / "f.txt").stat().st_mtime_ns == ns
