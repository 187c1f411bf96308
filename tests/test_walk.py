"""The concurrent folder walk used for one-level-per-request servers (WebDAV): it answers what
``find`` answers, has several folders in flight, and fails whole when one folder fails."""

from __future__ import annotations

import threading
import time

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from fssync.stores.walk import parallel_find


class SlowFolders(MemoryFileSystem):
    """fsspec's memory filesystem, with each folder listing taking a round trip's time."""

    protocol = "slowmem"
    store: dict = {}  # its own, not the memory filesystem's process-wide tree
    pseudo_dirs = [""]

    def __init__(self, *args, fail: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fail = fail
        self.in_flight = 0
        self.most = 0
        self.lock = threading.Lock()

    def ls(self, path, detail=True, **kwargs):
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            time.sleep(0.02)
            if self.fail and path.rstrip("/").endswith(self.fail):
                raise PermissionError(f"{path}: refused")
            return super().ls(path, detail=detail, **kwargs)
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def tree():
    fs = SlowFolders(skip_instance_cache=True)
    fs.store.clear()
    del fs.pseudo_dirs[1:]
    for d in range(12):
        for n in range(3):
            fs.pipe(f"/root/d{d:02}/sub/f{n}.txt", b"x" * n)
        fs.pipe(f"/root/d{d:02}/top.txt", b"t")
    fs.pipe("/root/a.txt", b"a")
    return fs


def test_it_answers_what_find_answers_with_folders_in_flight(tree):
    expected = tree.find("/root", detail=True, withdirs=False)
    tree.most = 0
    found = parallel_find(tree, "/root", workers=8)
    assert found.keys() == expected.keys() and len(found) == 12 * 4 + 1
    assert all(found[k]["size"] == expected[k]["size"] for k in found)
    assert tree.most >= 4  # 12 sibling folders: several are asked for at once


def test_one_refused_folder_fails_the_whole_listing(tree):
    tree.fail = "d07/sub"
    with pytest.raises(PermissionError, match="refused"):
        parallel_find(tree, "/root", workers=4)
