"""Any other fsspec filesystem (memory, SFTP, GCS, ...), driven from worker threads."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

from .. import location as loc
from ..location import Location
from ..model import Entry
from .base import Listing, ListingProgress, Reader, Store

SMALL = 8 << 20


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def entry_from_info(key: str, info: Mapping[str, Any], exact_mtime: bool) -> Entry:
    """The one place that reads a generic fsspec info dict."""
    raw = info.get("mtime", info.get("LastModified", info.get("updated", info.get("created"))))
    when = _timestamp(raw)
    etag = info.get("ETag") or info.get("etag") or info.get("md5Hash")
    return Entry(
        key=key,
        size=int(info.get("size") or 0),
        mtime=when if exact_mtime else None,
        stamp=when,
        etag=str(etag).strip('"') if etag else None,
    )


class FsspecReader(Reader):
    def __init__(self, f: Any, entry: Entry) -> None:
        self._f = f
        self.size = entry.size
        self.mtime = entry.mtime

    async def read(self, n: int = -1) -> bytes:
        data: bytes = await asyncio.to_thread(self._f.read, n)
        return data

    async def close(self) -> None:
        await asyncio.to_thread(self._f.close)


class FsspecStore(Store):
    def __init__(self, location: Location, fs: Any) -> None:
        self.location = location
        self.fs = fs
        self.identity = f"{location.protocol}|{id(fs)}"

    @classmethod
    async def connect(cls, location: Location, options: Mapping[str, Any]) -> FsspecStore:
        import fsspec

        fs = await asyncio.to_thread(
            fsspec.filesystem, location.protocol, skip_instance_cache=True, **options
        )
        return cls(location, fs)

    async def scan(self, progress: ListingProgress | None = None) -> Listing:
        return await asyncio.to_thread(self._scan)  # fsspec's find() answers all at once

    def _scan(self) -> Listing:
        root = self.location.root
        if not self.fs.exists(root):
            return Listing(entries={}, exists=False)
        found = self.fs.find(root, detail=True, withdirs=False)
        strip = len(root.rstrip("/")) + 1
        exact = (
            self.location.capabilities.listing_has_mtime and self.location.capabilities.keeps_mtime
        )
        entries: dict[str, Entry] = {}
        rejected: list[tuple[str, str]] = []
        for path, info in found.items():
            if info.get("type") == "directory" or path.endswith("/"):
                continue
            key = path[strip:]
            reason = loc.unsafe_reason(key)
            if reason:
                rejected.append((path, reason))
                continue
            entries[key] = entry_from_info(key, info, exact)
        return Listing(entries=entries, rejected=tuple(rejected))

    async def open(self, entry: Entry) -> Reader:
        f = await asyncio.to_thread(self.fs.open, self.location.path(entry.key), "rb")
        return FsspecReader(f, entry)

    async def write(self, entry: Entry, reader: Reader, options: Mapping[str, Any]) -> Entry:
        path = self.location.path(entry.key)
        await asyncio.to_thread(self._parent, path)
        if entry.size <= SMALL:
            data = await reader.read(-1)
            await reader.verify()
            await asyncio.to_thread(self.fs.pipe_file, path, data)
            size = len(data)
        else:
            size = await self._stream(path, reader)
        return Entry(key=entry.key, size=size, mtime=None, stamp=None)

    def _parent(self, path: str) -> None:
        parent = path.rsplit("/", 1)[0]
        if parent and parent != path:
            self.fs.makedirs(parent, exist_ok=True)

    async def _stream(self, path: str, reader: Reader) -> int:
        f = await asyncio.to_thread(self.fs.open, path, "wb")
        total = 0
        try:
            while chunk := await reader.read(8 << 20):
                await asyncio.to_thread(f.write, chunk)
                total += len(chunk)
            await reader.verify()
        except BaseException:
            await asyncio.to_thread(getattr(f, "discard", f.close))
            raise
        await asyncio.to_thread(f.close)
        return total

    async def move(self, old: Entry, key: str) -> Entry | None:
        path = self.location.path(key)
        await asyncio.to_thread(self._parent, path)
        await asyncio.to_thread(self.fs.mv, self.location.path(old.key), path)
        return Entry(key=key, size=old.size, md5=old.md5)

    async def delete(self, keys: list[str]) -> list[tuple[str, str]]:
        failed = []
        for key in keys:
            try:
                await asyncio.to_thread(self.fs.rm_file, self.location.path(key))
            except FileNotFoundError:
                pass
            except OSError as exc:
                failed.append((key, str(exc) or type(exc).__name__))
        return failed
