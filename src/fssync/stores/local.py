"""The local disk, through the os module directly: scandir listing, atomic writes, exact mtimes."""

from __future__ import annotations

import asyncio
import os
import stat
import uuid
from collections.abc import Mapping
from typing import Any

from ..errors import LocationError
from ..location import Location
from ..model import Entry
from .base import CHUNK, Listing, Reader, Store

SMALL = 256 * 1024  # below this, file I/O runs inline: a thread hop costs more than the read
TEMP_MARK = ".fssync-tmp-"
RANGE_THRESHOLD = 64 << 20  # download larger files as parallel ranges
RANGE_SIZE = 8 << 20
RANGE_PARALLEL = 4


def walk(root: str) -> tuple[dict[str, Entry], list[tuple[str, str]], list[tuple[str, str]]]:
    """List regular files under root with one scandir per folder (stat comes with the entry)."""
    entries: dict[str, Entry] = {}
    rejected: list[tuple[str, str]] = []
    errors: list[tuple[str, str]] = []
    stack = [("", root)]
    while stack:
        prefix, folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                items = list(it)
        except OSError as exc:
            errors.append((prefix or ".", exc.strerror or str(exc)))
            continue
        for item in items:
            key = prefix + item.name
            try:
                if item.is_symlink():
                    rejected.append((key, "symbolic link (skipped)"))
                    continue
                if item.is_dir():
                    stack.append((key + "/", item.path))
                    continue
                st = item.stat()
            except OSError as exc:
                errors.append((key, exc.strerror or str(exc)))
                continue
            if not stat.S_ISREG(st.st_mode):
                rejected.append((key, "not a regular file (skipped)"))
                continue
            if TEMP_MARK in item.name:
                continue  # a leftover of an interrupted run, never a user file
            mtime = st.st_mtime_ns / 1e9
            entries[key] = Entry(key=key, size=st.st_size, mtime=mtime, stamp=mtime)
    return entries, rejected, errors


class LocalReader(Reader):
    ranged = True
    cheap_ranges = True

    def __init__(self, path: str, entry: Entry) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        st = os.fstat(self._f.fileno())
        self.size = st.st_size
        self.mtime = st.st_mtime_ns / 1e9

    async def read(self, n: int = -1) -> bytes:
        if self.size <= SMALL:
            return self._f.read(n)
        return await asyncio.to_thread(self._f.read, n)

    async def read_range(self, offset: int, length: int) -> bytes | None:
        return await asyncio.to_thread(os.pread, self._f.fileno(), length, offset)

    async def close(self) -> None:
        self._f.close()


class LocalStore(Store):
    def __init__(self, location: Location, *, is_source: bool) -> None:
        self.location = location
        self.identity = "file://"
        self.is_source = is_source

    async def scan(self) -> Listing:
        root = self.location.root
        if not os.path.exists(root):
            if self.is_source:
                raise LocationError(
                    f"source folder {self.location.url!r} does not exist: check the path"
                )
            return Listing(entries={}, exists=False)
        if not os.path.isdir(root):
            raise LocationError(
                f"{self.location.url!r} is a file, not a folder: sync takes folders"
            )
        entries, rejected, errors = await asyncio.to_thread(walk, root)
        return Listing(entries=entries, rejected=tuple(rejected), errors=tuple(errors))

    async def open(self, entry: Entry) -> Reader:
        path = self.location.path(entry.key)
        if entry.size <= SMALL:
            return LocalReader(path, entry)
        return await asyncio.to_thread(LocalReader, path, entry)

    async def write(self, entry: Entry, reader: Reader, options: Mapping[str, Any]) -> Entry:
        final = self.location.path(entry.key)
        folder = os.path.dirname(final)
        temp = os.path.join(
            folder, f".{os.path.basename(final)[:60]}{TEMP_MARK}{uuid.uuid4().hex[:12]}"
        )
        try:
            if entry.size <= SMALL:
                data = await reader.read(-1)
                # After reading: a remote reader learns the stored mtime from its first response.
                mtime = reader.mtime if reader.mtime is not None else entry.mtime or entry.stamp
                # One worker-thread call for the whole small file: a file create costs the event
                # loop as much as a thread hop, and a download of small files does thousands.
                written = await asyncio.to_thread(_write_small, folder, temp, data, final, mtime)
            else:
                await asyncio.to_thread(os.makedirs, folder, exist_ok=True)
                await _write_large(temp, reader, entry.size)
                mtime = reader.mtime if reader.mtime is not None else entry.mtime or entry.stamp
                written = await asyncio.to_thread(_finish, temp, final, mtime)
        except BaseException:
            _discard(temp)
            raise
        return Entry(key=entry.key, size=written, mtime=mtime, stamp=mtime)

    async def move(self, old: Entry, key: str) -> Entry | None:
        final = self.location.path(key)

        def rename() -> None:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            if os.path.exists(final):
                raise FileExistsError(f"{key!r} already exists")
            os.rename(self.location.path(old.key), final)

        await asyncio.to_thread(rename)
        return Entry(key=key, size=old.size, mtime=old.mtime, stamp=old.stamp, md5=old.md5)

    async def delete(self, keys: list[str]) -> list[tuple[str, str]]:
        failed = []
        for key in keys:
            try:
                os.remove(self.location.path(key))
            except FileNotFoundError:
                pass
            except OSError as exc:
                failed.append((key, exc.strerror or str(exc)))
        return failed


def _write_small(folder: str, temp: str, data: bytes, final: str, mtime: float | None) -> int:
    try:
        f = open(temp, "xb")  # noqa: SIM115
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        f = open(temp, "xb")  # noqa: SIM115
    with f:
        f.write(data)
    return _finish(temp, final, mtime)


async def _write_large(temp: str, reader: Reader, size: int) -> None:
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        if size >= RANGE_THRESHOLD and reader.ranged:
            await _write_ranges(fd, reader, size)
        else:
            while chunk := await reader.read(CHUNK * 8):
                await asyncio.to_thread(os.write, fd, chunk)
    finally:
        os.close(fd)


async def _write_ranges(fd: int, reader: Reader, size: int) -> None:
    """Fetch ranges concurrently and write each at its offset: bounded memory, full bandwidth."""
    slots = asyncio.Semaphore(RANGE_PARALLEL)

    async def one(offset: int) -> None:
        async with slots:
            length = min(RANGE_SIZE, size - offset)
            data = await reader.read_range(offset, length)
            if data is None or len(data) != length:
                raise OSError(f"short read at offset {offset}")
            await asyncio.to_thread(os.pwrite, fd, data, offset)

    async with asyncio.TaskGroup() as tg:
        for offset in range(0, size, RANGE_SIZE):
            tg.create_task(one(offset))


def _finish(temp: str, final: str, mtime: float | None) -> int:
    """Set the mtime, then rename into place: the final path never holds a partial file."""
    if mtime is not None:
        ns = int(round(mtime * 1e9))
        os.utime(temp, ns=(ns, ns))
    size = os.stat(temp).st_size
    if os.path.isdir(final):
        raise IsADirectoryError(f"a folder is in the way at {final!r}")
    os.replace(temp, final)
    return size


def _discard(temp: str) -> None:
    try:
        os.remove(temp)
    except OSError:
        pass
