"""Checksum comparison: same-size edits, multipart ETags, other tools' metadata, the hash cache."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

import fssync
from fssync import Entry, Policy
from fssync.content.hashing import candidate_part_sizes, hash_file, multipart_etag, parts_of
from fssync.content.metadata import read
from fssync.planning.decide import compare_checksum

from .helpers import make_tree, read_tree
from .helpers import s3_opts as opts


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


class Events:
    def __init__(self):
        self.events = []

    @fssync.hookimpl
    def fssync_event(self, event, config):
        self.events.append(event.to_json())

    def named(self, name):
        return [e for e in self.events if e["event"] == name]


# --- pure rules ---------------------------------------------------------------------------------

H1, H2 = "a" * 32, "b" * 32
CASES = [
    (Entry("k", 5, md5=H1), Entry("k", 5, md5=H1), None),
    (Entry("k", 5, md5=H1), Entry("k", 5, md5=H2), "checksum differs"),
    (Entry("k", 5, md5=H1), Entry("k", 6, md5=H1), "size differs"),
    (Entry("k", 5, etag="x-3"), Entry("k", 5, etag="x-3"), None),
    (Entry("k", 5, etag="x-3"), Entry("k", 5, etag="y-3"), "checksum differs"),
    # no common hash: falls back to size and mtime
    (Entry("k", 5, mtime=1.0), Entry("k", 5, mtime=1.0), None),
    (
        Entry("k", 5, mtime=1.0),
        Entry("k", 5, mtime=9.0),
        "modification time differs (no common checksum)",
    ),
]


@pytest.mark.parametrize(("src", "dst", "expected"), CASES)
def test_checksum_rule(src, dst, expected):
    assert compare_checksum(src, dst, Policy()) == expected


def test_multipart_etag_of_a_file(tmp_path):
    data = os.urandom((17 << 20) + 3)
    path = tmp_path / "f"
    path.write_bytes(data)
    md5, etags = hash_file(str(path), [8 << 20, 5 << 20])
    assert md5 == hashlib.md5(data).hexdigest()
    for part in (8 << 20, 5 << 20):
        pieces = [hashlib.md5(data[i : i + part]).digest() for i in range(0, len(data), part)]
        assert etags[part] == multipart_etag(pieces)
    assert parts_of(etags[8 << 20]) == 3
    assert 8 << 20 in candidate_part_sizes(len(data), 3)
    assert 5 << 20 in candidate_part_sizes(len(data), 4)


@pytest.mark.parametrize(
    ("meta", "mtime", "md5"),
    [
        ({"mtime": "1700000000.5", "md5": H1}, 1700000000.5, H1),  # fssync
        (
            {"mtime": "1700000000.25", "md5chksum": base64.b64encode(bytes.fromhex(H2)).decode()},
            1700000000.25,
            H2,
        ),  # rclone
        (
            {"s3cmd-attrs": f"atime:1/ctime:2/gid:0/md5:{H1}/mode:33188/mtime:1600000000/uid:0"},
            1600000000.0,
            H1,
        ),
        (
            {"local-date-modified": "2023-11-14T22:13:20Z", "multipart-etag": H2},
            1700000000.0,
            H2,
        ),  # S3 Sync
        ({"local-date-modified": "Tue, 14 Nov 2023 22:13:20 GMT"}, 1700000000.0, None),
        ({"mtime": "garbage", "md5chksum": "!!"}, None, None),
        ({}, None, None),
    ],
)
def test_foreign_metadata(meta, mtime, md5):
    found = read(meta)
    assert (found.mtime, found.md5) == (mtime, md5)


# --- local end to end ---------------------------------------------------------------------------


def test_same_size_edit_found_by_checksum_missed_by_size(tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    make_tree(src, {"a.txt": b"hello"})
    make_tree(dst, {"a.txt": b"HELLO"})  # same size, same mtime
    assert fssync.sync(str(src), str(dst), compare="size").updated == 0
    assert fssync.sync(str(src), str(dst)).updated == 0  # size-mtime misses it too
    report = fssync.sync(str(src), str(dst), compare="checksum")
    assert report.updated == 1 and read_tree(dst) == {"a.txt": b"hello"}


def test_checksum_rerun_reads_nothing_thanks_to_the_cache(tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    make_tree(src, {f"f{i}.bin": os.urandom(100) for i in range(50)})
    fssync.sync(str(src), str(dst))
    first = Events()
    fssync.sync(str(src), str(dst), compare="checksum", plugins=[first])
    stats = first.named("hashing")[0]
    assert stats["hashed"] == 100 and stats["cached"] == 0  # both sides are local
    again = Events()
    report = fssync.sync(str(src), str(dst), compare="checksum", plugins=[again])
    stats = again.named("hashing")[0]
    assert stats["hashed"] == 0 and stats["cached"] == 100 and stats["bytes_read"] == 0
    assert report.skipped == 50
    (src / "f3.bin").write_bytes(os.urandom(100))  # a change invalidates that entry only
    third = Events()
    report = fssync.sync(str(src), str(dst), compare="checksum", plugins=[third])
    assert third.named("hashing")[0]["hashed"] == 1 and report.updated == 1


def test_cli_checksum_flag(tmp_path, capsys):
    from fssync.cli.main import main

    make_tree(tmp_path / "s", {"a": b"x"})
    make_tree(tmp_path / "d", {"a": b"y"})
    assert main(["check", str(tmp_path / "s"), str(tmp_path / "d"), "-c"]) == 1
    assert main(["check", str(tmp_path / "s"), str(tmp_path / "d")]) == 0


# --- S3 -----------------------------------------------------------------------------------------


def test_checksum_against_s3_single_and_multipart(bucket, tmp_path):
    ep, name = bucket
    src = tmp_path / "s"
    make_tree(src, {"small.txt": b"hello", "big.bin": os.urandom(20 << 20)})
    fssync.sync(str(src), f"s3://{name}/c", **opts(ep))
    report = fssync.sync(str(src), f"s3://{name}/c", compare="checksum", **opts(ep))
    assert report.skipped == 2 and report.updated == 0  # the 20 MiB multipart ETag matched
    (src / "small.txt").write_bytes(b"HELLO")
    os.utime(src / "small.txt", (1_700_000_000, 1_700_000_000))  # same size, same mtime
    assert fssync.sync(str(src), f"s3://{name}/c", **opts(ep)).updated == 0
    report = fssync.sync(str(src), f"s3://{name}/c", compare="checksum", **opts(ep))
    assert report.updated == 1
    body = ep.client().get_object(Bucket=name, Key="c/small.txt")["Body"].read()
    assert body == b"HELLO"


def test_checksum_recognises_another_tools_multipart_upload(bucket, tmp_path):
    ep, name = bucket
    data = os.urandom(12 << 20)
    client = ep.client()
    up = client.create_multipart_upload(Bucket=name, Key="m/x.bin")
    parts = []
    for n, i in enumerate(range(0, len(data), 5 << 20), start=1):
        r = client.upload_part(
            Bucket=name,
            Key="m/x.bin",
            UploadId=up["UploadId"],
            PartNumber=n,
            Body=data[i : i + (5 << 20)],
        )
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    client.complete_multipart_upload(
        Bucket=name, Key="m/x.bin", UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
    )
    make_tree(tmp_path / "s", {"x.bin": data})
    plan = fssync.plan(str(tmp_path / "s"), f"s3://{name}/m", compare="checksum", **opts(ep))
    assert [a.kind.name for a in plan.actions] == ["SKIP"]


def test_bucket_filled_by_other_tools_downloads_without_retransfer(bucket, tmp_path):
    """rclone and s3cmd keep the original mtime in metadata; a folder they synced stays synced."""
    ep, name = bucket
    client = ep.client()
    local = tmp_path / "local"
    make_tree(local, {"r.txt": b"rclone", "c.txt": b"s3cmd", "n.txt": b"none"}, mtime=1_600_000_000)
    client.put_object(Bucket=name, Key="o/r.txt", Body=b"rclone", Metadata={"mtime": "1600000000"})
    client.put_object(
        Bucket=name,
        Key="o/c.txt",
        Body=b"s3cmd",
        Metadata={"s3cmd-attrs": "atime:1/mtime:1600000000/uid:0"},
    )
    client.put_object(Bucket=name, Key="o/n.txt", Body=b"none")  # no metadata: really newer
    events = Events()
    report = fssync.sync(f"s3://{name}/o", str(local), plugins=[events], **opts(ep))
    assert report.updated == 1 and report.skipped == 2
    assert events.named("metadata")[0]["objects"] == 3  # one HEAD each, for the undecided ones
    again = Events()
    report = fssync.sync(f"s3://{name}/o", str(local), plugins=[again], **opts(ep))
    assert report.updated == 0 and not again.named("metadata")  # remembered: no HEAD now


# --- --track-renames ----------------------------------------------------------------------------


def test_track_renames_local(tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    make_tree(src, {"old/name.bin": os.urandom(5000), "same.txt": b"x"})
    fssync.sync(str(src), str(dst))
    (src / "new").mkdir()
    (src / "old" / "name.bin").rename(src / "new" / "name.bin")
    report = fssync.sync(str(src), str(dst), delete=True, track_renames=True)
    assert (report.renamed, report.copied, report.deleted) == (1, 0, 0)
    assert read_tree(dst) == read_tree(src)


def test_track_renames_s3_is_a_server_side_move(bucket, tmp_path):
    ep, name = bucket
    src = tmp_path / "s"
    payload = os.urandom(30_000)
    make_tree(src, {"a/photo.jpg": payload})
    fssync.sync(str(src), f"s3://{name}/r", **opts(ep))
    (src / "b").mkdir()
    (src / "a" / "photo.jpg").rename(src / "b" / "photo.jpg")
    events = Events()
    report = fssync.sync(
        str(src), f"s3://{name}/r", delete=True, track_renames=True, plugins=[events], **opts(ep)
    )
    assert report.renamed == 1 and report.bytes == 0 and report.copied == 0
    assert [e["key"] for e in events.named("move")] == ["b/photo.jpg"]
    keys = [o["Key"] for o in ep.client().list_objects_v2(Bucket=name)["Contents"]]
    assert keys == ["r/b/photo.jpg"]


def test_without_track_renames_a_rename_is_upload_and_delete(tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    make_tree(src, {"x.bin": b"data"})
    fssync.sync(str(src), str(dst))
    (src / "x.bin").rename(src / "y.bin")
    report = fssync.sync(str(src), str(dst), delete=True)
    assert (report.renamed, report.copied, report.deleted) == (0, 1, 1)
