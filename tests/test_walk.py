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


def test_a_webdav_listing_names_the_properties_it_needs_and_answers_as_ls(webdav_server):
    """Against wsgidav: each folder is one PROPFIND that names four properties (a bodiless
    one asks for all of them, which costs the server and the client), and the entries are the
    ones webdav4's own ``ls`` gives."""
    import fsspec

    from fssync.stores.webdav_list import LISTING_PROPS, lister

    login = webdav_server.login
    disk = webdav_server.root / "walk-props"
    for folder in ("a", "b/c"):
        (disk / folder).mkdir(parents=True)
        (disk / folder / "f.txt").write_bytes(b"x" * len(folder))
    fs = fsspec.filesystem(
        "webdav",
        base_url=f"http://{login.address}",
        auth=(login.user, login.password),
        skip_instance_cache=True,
    )
    bodies: list[bytes] = []
    fs.client.http.event_hooks["request"].append(
        lambda r: bodies.append(r.read()) if r.method == "PROPFIND" else None
    )
    found = parallel_find(fs, "walk-props", ls=lister(fs))
    assert sorted(found) == ["walk-props/a/f.txt", "walk-props/b/c/f.txt"]
    assert len(bodies) == 4 and set(bodies) == {LISTING_PROPS.encode()}  # one per folder
    for folder in ("walk-props", "walk-props/b"):
        mine = sorted(lister(fs)(folder), key=lambda i: i["name"])
        theirs = sorted(fs.ls(folder, detail=True), key=lambda i: i["name"])
        fields = ("name", "type", "size", "modified", "etag")
        assert [[i.get(k) for k in fields] for i in mine] == [
            [i.get(k) for k in fields] for i in theirs
        ]
