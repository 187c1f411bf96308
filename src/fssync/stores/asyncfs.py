"""fsspec's asyncio filesystems (sshfs, gcsfs, adlfs, HTTP) driven on fssync's own event loop.

These clients are coroutines underneath; run through their blocking wrappers, every call would
hop to a worker thread, then to fsspec's private loop thread and back. Here the filesystem is
made with ``asynchronous=True`` on the run's loop and its ``_``-methods are awaited directly, so
a thousand small transfers cost a thousand awaits, not two thousand thread hops. The run closes
the client's connections itself (`close`), so nothing of it is left on the loop at the end.

What each backend adds (a channel-level SFTP reader and writer, streamed uploads to GCS and
Azure) lives in `asyncput` and `sftp`; this module holds what they share.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

import attrs

from fssync.errors import LocationError, MissingBucketError
from fssync.model import Entry
from fssync.settings import location as loc
from fssync.settings.location import Location
from fssync.state.leftovers import is_temp
from fssync.stores.base import Listing, ListingProgress, RangeSink, Reader, Store, source_mtime_ns
from fssync.stores.generic import BUCKETS, SMALL, FsspecStore, entry_from_info, server_of
from fssync.stores.s3.meta import stored_mtime_ns

# Protocols whose fsspec class is an AsyncFileSystem fssync drives on its loop.
ASYNC = frozenset({"sftp", "gs", "abfs", "http"})
PIECE = 2 << 20  # a ranged read fetches at most this much per request (memory per range)
PARALLEL = 8  # deletions and stats in flight at once


class CatReader(Reader):
    """A remote object read by byte ranges (``_cat_file(path, start, end)``): sequential reads
    ask for the next piece, parallel downloads ask for ranges of their own."""

    ranged = True

    def __init__(self, fs: Any, path: str, entry: Entry) -> None:
        self._fs = fs
        self._path = path
        self._at = 0
        self.size = entry.size
        self.mtime = entry.mtime
        self.expected_md5 = entry.md5  # the listed content MD5 (GCS, Azure): checked on arrival

    async def read(self, n: int = -1) -> bytes:
        left = self.size - self._at
        if left <= 0:
            return b""
        want = left if n < 0 else min(n, left)
        if n < 0 and want > SMALL:
            want = PIECE  # a caller asking for "all" of a large file gets it piece by piece
        data = await self._get(self._at, want)
        self._at += len(data)
        return data

    async def _get(self, offset: int, length: int) -> bytes:
        if offset == 0 and length == self.size:
            data: bytes = await self._fs._cat_file(self._path)
        else:
            data = await self._fs._cat_file(self._path, start=offset, end=offset + length)
        return data

    async def read_range(self, offset: int, length: int) -> bytes | bytearray | None:
        return await self._get(offset, min(length, self.size - offset))

    async def copy_range(self, offset: int, length: int, sink: RangeSink) -> None:
        """In pieces of `PIECE`: a client reads a whole answer into memory before it returns
        it, so the piece size, not the range's, bounds what a range holds."""
        end = offset + length
        while offset < end:
            want = min(PIECE, end - offset)
            data = await self._get(offset, want)
            if data:
                await sink(data, offset)
            if len(data) != want:
                return
            offset += want


class StreamReader(Reader):
    """A web server's file read as one streamed GET (``open_async``); a server need not
    honour ranges, so none are asked for."""

    def __init__(self, f: Any, entry: Entry) -> None:
        self._f = f
        self.size = entry.size
        self.mtime = entry.mtime

    async def read(self, n: int = -1) -> bytes:
        data: bytes = await self._f.read(n)
        return data

    async def close(self) -> None:
        await self._f.close()


def forget_finalizers(fs: Any) -> None:
    """Detach the clean-ups a client registered for when it is collected (adlfs, sshfs, HTTP):
    fssync closed it on its loop already, and run later (at exit) they would call into that
    loop once it is closed and print a traceback."""
    import weakref

    registry = getattr(weakref.finalize, "_registry", {})
    for finalizer in list(registry):
        found = finalizer.peek()
        if found is not None and found[0] is fs:
            finalizer.detach()


class AsyncFsspecStore(FsspecStore):
    """An fsspec AsyncFileSystem on the run's loop (see the module's docstring)."""

    @classmethod
    async def connect(
        cls, location: Location, options: Mapping[str, Any], *, is_source: bool = False
    ) -> FsspecStore:
        import fsspec

        from fssync.settings.backends import storage_options

        given = storage_options(location.protocol, location.url, location.remote, os.environ)
        loop = asyncio.get_running_loop()
        merged = {**given, **options}

        def make() -> Any:
            # In a worker thread, bound to this run's loop: the constructors that connect at
            # once (sshfs logs in, HTTP opens its session) go through fsspec's blocking bridge,
            # which hands the coroutine to `loop` and waits for it. Their blocking methods are
            # never called afterwards (on the loop they would wait for themselves).
            if location.protocol == "sftp":
                from fssync.stores.sftp import on_loop

                return on_loop(loop, merged)
            return fsspec.filesystem(
                location.protocol, skip_instance_cache=True, loop=loop, **merged
            )

        fs = await asyncio.to_thread(make)
        server = server_of(location.protocol, merged)
        if location.protocol == "sftp":
            from fssync.stores.sftp import SftpStore

            store = SftpStore(location, fs, is_source=is_source, server=server)
            await store.negotiate()
            return store
        return cls(location, fs, is_source=is_source, server=server)

    async def close(self) -> None:
        """Close the client's connections on this loop (a client left to its finalizer would
        schedule its close on a loop that is about to end)."""
        fs = self.fs
        try:
            if self.location.protocol == "abfs":
                await fs.service_client.close()
                credential = getattr(fs, "credential", None)
                if credential is not None and hasattr(credential, "close"):
                    await credential.close()
            else:
                session = getattr(fs, "_session", None)
                if session is not None and not session.closed:
                    await session.close()
        except Exception:  # noqa: BLE001, S110 - the run's work is done; a close may fail
            pass
        forget_finalizers(fs)

    async def scan(self, progress: ListingProgress | None = None) -> Listing:
        fs = self.fs
        root = self.location.root
        if not await self._exists_async(root):
            if self.is_source:
                await self._missing_source_async(root)
            return Listing(entries={}, exists=False)
        found = await fs._find(root, detail=True, withdirs=False)
        if self.location.protocol == "http":
            await self._sizes(found)
        strip = len(root.rstrip("/")) + 1 if root.strip("/") else len(root)
        return self._listing(found, strip)

    def _listing(self, found: Mapping[str, Mapping[str, Any]], strip: int) -> Listing:
        caps = self.location.capabilities
        # GCS and Azure list each object's metadata, where fssync keeps the source's mtime;
        # their listed time is the write time, never taken for the file's mtime.
        in_meta = self.location.protocol in BUCKETS
        exact = caps.listing_has_mtime and caps.keeps_mtime and not in_meta
        entries: dict[str, Entry] = {}
        rejected: list[tuple[str, str]] = []
        for path, info in found.items():
            if info.get("type") == "directory" or path.endswith("/"):
                continue
            key = self._key(path[strip:])
            if is_temp(key.rsplit("/", 1)[-1]):
                continue  # an upload in progress (or one a killed run left)
            reason = loc.unsafe_reason(key)
            if reason:
                rejected.append((path, reason))
                continue
            entry = entry_from_info(key, info, exact)
            if in_meta:
                kept = stored_mtime_ns(info.get("metadata"))
                if kept is not None:
                    entry = attrs.evolve(entry, mtime=kept / 1e9)
            entries[key] = entry
        return Listing(entries=entries, rejected=tuple(rejected))

    async def _sizes(self, found: dict[str, Any]) -> None:
        """A web server's folder page shows names only: each file's size comes from a HEAD."""
        slots = asyncio.Semaphore(PARALLEL)

        async def one(path: str) -> None:
            async with slots:
                found[path] = {**found[path], **await self.fs._info(path)}

        await asyncio.gather(*(one(p) for p, i in found.items() if i.get("size") is None))

    async def _exists_async(self, root: str) -> bool:
        if self.location.protocol == "http" or not root.strip("/"):
            return bool(await self.fs._exists(root))
        try:
            await self.fs._info(root)
        except FileNotFoundError:
            return False
        return True

    async def _missing_source_async(self, root: str) -> None:
        url = self.location.url
        if self.location.protocol in BUCKETS:
            bucket = root.strip("/").split("/", 1)[0]
            if bucket and not await self.fs._exists(bucket):
                raise MissingBucketError(
                    f"{url}: the bucket or container {bucket!r} does not exist; create it or "
                    "check the name"
                )
            return
        raise LocationError(f"source folder {url!r} does not exist: check the path")

    async def open(self, entry: Entry) -> Reader:
        path = self._path(entry.key)
        if self.location.protocol == "http":
            if entry.size <= SMALL:
                return _Whole(await self.fs._cat_file(path), entry)
            return StreamReader(await self.fs.open_async(path, "rb", size=entry.size), entry)
        reader = CatReader(self.fs, path, entry)
        reader.ranged = self.features.ranged_reads  # parallel ranges only where declared
        return reader

    async def write(self, entry: Entry, reader: Reader, options: Mapping[str, Any]) -> Entry:
        from fssync.stores.asyncput import put

        path = self._path(entry.key)
        mtime_ns = source_mtime_ns(reader, entry)
        size, md5 = await put(self.location.protocol, self.fs, path, reader, mtime_ns)
        mtime = None if mtime_ns is None else mtime_ns / 1e9
        return Entry(key=entry.key, size=size, mtime=mtime, stamp=None, md5=md5)

    async def copy_within(
        self, source: Store, entry: Entry, options: Mapping[str, Any]
    ) -> Entry | None:
        """GCS's rewrite, Azure's copy from URL: the object, its metadata (the kept mtime)
        and its MD5 copied on the server, no byte through fssync. None for another server."""
        if not self.same_server(source):
            return None
        assert isinstance(source, FsspecStore)
        await self._server_copy(source._path(entry.key), self._path(entry.key))
        return Entry(key=entry.key, size=entry.size, mtime=entry.mtime, md5=entry.md5)

    async def _server_copy(self, frm: str, to: str) -> None:
        if self.location.protocol == "abfs":
            await _azure_copy(self.fs, frm, to)
        else:
            await self.fs._cp_file(frm, to)

    async def move(self, old: Entry, key: str) -> Entry | None:
        """A bucket store has no rename: a server-side copy, then a delete of the old name."""
        await self._server_copy(self._path(old.key), self._path(key))
        await self.fs._rm_file(self._path(old.key))
        return Entry(key=key, size=old.size, mtime=old.mtime, md5=old.md5)

    async def delete(self, keys: list[str]) -> list[tuple[str, str]]:
        slots = asyncio.Semaphore(PARALLEL)
        failed: list[tuple[str, str]] = []

        async def one(key: str) -> None:
            async with slots:
                try:
                    await self.fs._rm_file(self._path(key))
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    failed.append((key, str(exc) or type(exc).__name__))

        await asyncio.gather(*(one(k) for k in keys))
        return failed


class _Whole(Reader):
    """A small file fetched in one request when it was opened."""

    def __init__(self, data: bytes, entry: Entry) -> None:
        self._data: bytes | None = data
        self.size = entry.size
        self.mtime = entry.mtime

    async def read(self, n: int = -1) -> bytes:
        data, self._data = self._data or b"", None
        if 0 <= n < len(data):
            self._data = data[n:]
            data = data[:n]
        return data


async def _azure_copy(fs: Any, frm: str, to: str) -> None:
    """Copy one blob on the service and wait until the copy is done (a copy the service runs
    in the background answers "pending" first)."""
    container1, blob1, _ = fs.split_path(frm)
    container2, blob2, _ = fs.split_path(to)
    source = fs.service_client.get_blob_client(container=container1, blob=blob1)
    target = fs.service_client.get_blob_client(container=container2, blob=blob2)
    async with source, target:
        answer = await target.start_copy_from_url(source.url)
        status = answer.get("copy_status")
        while status == "pending":
            await asyncio.sleep(0.2)
            status = (await target.get_blob_properties()).copy.status
        if status != "success":
            raise OSError(f"{to}: the service's copy from {frm} ended {status!r}")
