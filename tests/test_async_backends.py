"""The asyncio backends (SFTP, GCS, Azure) run on fssync's own loop and leave nothing on it;
uploads to every writable backend are whole or absent: a failed one leaves neither a partial
file under the final name nor a visible temporary file, and leftovers are never listed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import fssync
import fssync.execute.loop
from fssync.hooks.manager import make_hooks
from fssync.model import Entry
from fssync.settings.config import Config
from fssync.settings.location import parse
from fssync.settings.options import plugin_option_names
from fssync.settings.remotes import load_remotes
from fssync.stores import Reader, Store, open_store
from fssync.stores.asyncfs import AsyncFsspecStore

from .backend_fixtures import WRITABLE, Place, make_place
from .helpers import make_tree

ASYNC_KINDS = ("sftp", "gcs", "azure")


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def _location(place: Place):
    cfg = Config(command="sync", src=place.url(), dst="", options={"config": str(place.config)})
    return parse(place.url(), load_remotes(cfg, plugin_option_names(make_hooks())))


async def _store(place: Place, is_source: bool = False) -> Store:
    return await open_store(_location(place), {}, transfers=4, is_source=is_source)


@pytest.mark.parametrize("kind", ASYNC_KINDS)
def test_async_backends_run_on_the_run_loop(kind, request, tmp_path, monkeypatch):
    place = make_place(request, kind, tmp_path)

    async def check() -> None:
        store = await _store(place)
        try:
            assert isinstance(store, AsyncFsspecStore)
            assert store.fs.loop is asyncio.get_running_loop()
        finally:
            await store.close()

    asyncio.run(check())

    # A whole run (upload, re-run, download) leaves no task of a client behind on its loop.
    left: list[str] = []
    settle = fssync.execute.loop.settle

    def watch(loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        left.extend(repr(t) for t in asyncio.all_tasks(loop) if not t.done())
        settle(loop, timeout)

    monkeypatch.setattr(fssync.execute.loop, "settle", watch)
    src = tmp_path / "src"
    make_tree(src, {f"f{i}.txt": b"%d" % i for i in range(30)} | {"big.bin": os.urandom(9 << 20)})
    opts = {"config": str(place.config)}
    assert fssync.sync(str(src), place.url(), **opts).copied == 31
    assert fssync.sync(str(src), place.url(), **opts).copied == 0
    assert fssync.sync(place.url(), str(tmp_path / "back"), **opts).copied == 31
    assert left == []


class _Failing(Reader):
    """Gives `good` bytes, then fails the way a source cut off mid-file does (or ends there,
    when `good` is the whole size)."""

    def __init__(self, size: int, good: int) -> None:
        self.size = size
        self._left = good
        self._fails = good < size

    async def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            if not self._fails:
                return b""
            raise ConnectionResetError("the source went away")
        if n < 0 and self._fails:
            raise ConnectionResetError("the source went away")
        take = self._left if n < 0 else min(self._left, n)
        self._left -= take
        return b"x" * take


@pytest.mark.parametrize("size", [1000, 12 << 20], ids=["small", "streamed"])
@pytest.mark.parametrize("kind", WRITABLE)
def test_a_failed_upload_leaves_no_file(kind, size, request, tmp_path):
    place = make_place(request, kind, tmp_path)

    async def attempt() -> tuple[list[str], list[str]]:
        store = await _store(place)
        try:
            entry = Entry(key="dir/new.bin", size=size)
            with pytest.raises(OSError, match="went away"):
                await store.write(entry, _Failing(size, size // 2), {})
            ok = Entry(key="dir/ok.bin", size=size)
            await store.write(ok, _Failing(size, size), {})
            listed = sorted((await store.scan()).entries)
        finally:
            await store.close()
        on_disk = []
        if place.disk is not None:
            on_disk = sorted(p.relative_to(place.disk).as_posix() for p in place.disk.rglob("*"))
        return listed, on_disk

    listed, on_disk = asyncio.run(attempt())
    assert listed == ["dir/ok.bin"]
    if place.disk is not None:  # the server's own folder: no temporary file either
        assert on_disk == ["dir", "dir/ok.bin"]


@pytest.mark.parametrize("kind", ["sftp", "ftp", "webdav"])
def test_leftover_temporary_files_are_not_listed(kind, request, tmp_path):
    place = make_place(request, kind, tmp_path)
    place.seed({"a.txt": b"a", "sub/.b.txt.fssync-tmp-4242-0123abcd": b"half"})
    down = tmp_path / "down"
    report = fssync.sync(place.url(), str(down), config=str(place.config))
    assert report.ok and report.copied == 1, report
    assert sorted(p.name for p in Path(down).rglob("*") if p.is_file()) == ["a.txt"]


def test_sftp_keeps_mtimes(request, tmp_path):
    """SFTP keeps each file's mtime (whole seconds): a download gets the source's time back,
    and a file touched later on the source is found newer."""
    place = make_place(request, "sftp", tmp_path)
    src = tmp_path / "src"
    make_tree(src, {"t.txt": b"time", "u.txt": b"other"}, mtime=1_600_000_000.5)
    opts = {"config": str(place.config)}
    assert fssync.sync(str(src), place.url(), **opts).copied == 2
    assert int((place.disk / "t.txt").stat().st_mtime) == 1_600_000_000
    os.utime(src / "u.txt", (1_600_000_100, 1_600_000_100))
    again = fssync.sync(str(src), place.url(), **opts)
    assert again.updated == 1 and again.copied == 0, again
    down = tmp_path / "down"
    assert fssync.sync(place.url(), str(down), **opts).copied == 2
    assert int((down / "t.txt").stat().st_mtime) == 1_600_000_000
