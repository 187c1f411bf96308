"""A file rewritten while it is read, by a writer that puts the mtime back after each write
(some editors, rsync --inplace, backup agents), is never stored torn: the reader compares the
change time (ctime, which no writer can set back) and the size after reading, not only the
mtime, and reads the file again.

The writer is deterministic: a plugin that hears the first progress event of the file (sent
after its first block was read, before the rest is) and rewrites the whole file in place with
other bytes of the same size, then restores the mtime."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fssync

from .helpers import make_tree
from .helpers import s3_opts as opts

SIZE = 20 << 20  # more than one read (and, to S3, a multipart upload)


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


class Rewriter:
    """Rewrites `path` with `data` in place at the first progress event, mtime restored."""

    def __init__(self, path: Path, data: bytes) -> None:
        self.path = path
        self.data = data
        self.done = 0

    @fssync.hookimpl
    def fssync_event(self, event: fssync.Event, config: fssync.Config) -> None:
        if event.name != "progress" or self.done:
            return
        self.done += 1
        before = os.stat(self.path)
        with open(self.path, "r+b") as f:
            for at in range(0, len(self.data), 1 << 20):  # block by block, mtime put back
                f.write(self.data[at : at + (1 << 20)])
                f.flush()
                os.utime(f.fileno(), ns=(before.st_atime_ns, before.st_mtime_ns))
        # The kernel stamps ctime at its clock tick; a fast writer can land in the same tick
        # as the reader's open. Touch again until the tick has moved (no writer can avoid it).
        while os.stat(self.path).st_ctime_ns == before.st_ctime_ns:
            os.utime(self.path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert os.stat(self.path).st_mtime_ns == before.st_mtime_ns


def versions(tmp_path: Path) -> tuple[Path, bytes, bytes]:
    old, new = os.urandom(SIZE), os.urandom(SIZE)
    make_tree(tmp_path / "src", {"big.bin": old})
    return tmp_path / "src" / "big.bin", old, new


def test_a_torn_local_copy_is_read_again(tmp_path):
    path, old, new = versions(tmp_path)
    writer = Rewriter(path, new)
    dst = tmp_path / "dst"
    report = fssync.sync(str(tmp_path / "src"), str(dst), plugins=[writer])
    assert writer.done == 1
    assert report.failed == 0 and report.copied == 1
    assert (dst / "big.bin").read_bytes() == new
    again = fssync.sync(str(tmp_path / "src"), str(dst))
    assert again.copied + again.updated == 0


@pytest.mark.usefixtures("s3_backend")
def test_a_torn_upload_is_read_again(tmp_path, moto):
    ep = moto.endpoint
    name = ep.make_bucket()
    path, old, new = versions(tmp_path)
    writer = Rewriter(path, new)
    report = fssync.sync(str(tmp_path / "src"), f"s3://{name}/t", plugins=[writer], **opts(ep))
    assert writer.done == 1
    assert report.failed == 0 and report.copied == 1
    body = ep.client().get_object(Bucket=name, Key="t/big.bin")["Body"].read()
    assert body == new  # the whole new version, not a mix and not the old one
    again = fssync.sync(str(tmp_path / "src"), f"s3://{name}/t", **opts(ep))
    assert again.copied + again.updated == 0
