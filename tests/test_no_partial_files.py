"""A transfer that fails half-way leaves nothing at the destination path."""

from __future__ import annotations

import os

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

import fssync

from .helpers import read_tree


class BrokenReadFS(MemoryFileSystem):
    """A memory filesystem whose files break after the first megabyte is read."""

    protocol = "brokenread"
    store: dict = {}  # noqa: RUF012 - its own store, apart from memory://
    pseudo_dirs = [""]  # noqa: RUF012

    def _open(self, path, mode="rb", **kwargs):
        f = super()._open(path, mode, **kwargs)
        if "r" not in mode:
            return f
        real = f.read

        def read(n=-1):
            if f.tell() >= 1 << 20:
                raise ConnectionResetError("connection reset by peer")
            return real(min(n, 1 << 20) if n >= 0 else 1 << 20)

        f.read = read
        return f


@pytest.fixture(autouse=True)
def _register(monkeypatch, tmp_path):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    fsspec.register_implementation("brokenread", BrokenReadFS, clobber=True)


def test_failed_download_leaves_no_file_and_no_temp(tmp_path):
    fs = BrokenReadFS()
    fs.pipe_file("/src/big.bin", os.urandom(12 << 20))
    fs.pipe_file("/src/small.txt", b"fine")
    dst = tmp_path / "dst"
    report = fssync.sync("brokenread:///src", str(dst), retries=1, retries_sleep=0.01)
    assert report.failed == 1 and report.copied == 1
    assert report.failures[0].key == "big.bin"
    assert "connection reset" in report.failures[0].error
    assert read_tree(dst) == {"small.txt": b"fine"}  # no partial big.bin, no temp file


def test_failed_run_holds_deletes(tmp_path):
    fs = BrokenReadFS()
    fs.pipe_file("/src2/big.bin", os.urandom(12 << 20))
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "stale.txt").write_bytes(b"x")
    report = fssync.sync("brokenread:///src2", str(dst), delete=True, retries=0)
    assert report.failed == 1 and report.deleted == 0
    assert report.deletes_held == "some transfers failed"
    assert (dst / "stale.txt").exists()
