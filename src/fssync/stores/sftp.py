"""SFTP on the run's loop, through the SFTP channels sshfs opened (asyncssh underneath).

Listings read folders concurrently. A download is one open file read in order, or in
ranges at offsets for a parallel download. An upload goes to a temporary name in the same
folder, gets the source's mtime, is checked for its size and then renamed over the final
name (POSIX rename: atomic, replacing what was there), so no reader ever sees half a file and
a killed run leaves only a temporary name the listings skip.
"""

from __future__ import annotations

import asyncio
import errno
import posixpath
import stat
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any

import attrs

from fssync.content.integrity import ShortRead
from fssync.model import Entry
from fssync.state.leftovers import temp_name
from fssync.stores.asyncfs import PARALLEL, AsyncFsspecStore, forget_finalizers
from fssync.stores.base import Listing, ListingProgress, RangeSink, Reader, Store, source_mtime_ns

# What one read or write call asks asyncssh for: it splits the call into requests in flight
# at once and holds their packets meanwhile, so the call's size bounds memory (a 256 MiB file:
# 117 MiB of peak memory with 8 MiB calls, 69 MiB with 2 MiB ones, no slower here).
PIECE = 2 << 20


def on_loop(loop: asyncio.AbstractEventLoop, options: Mapping[str, Any]) -> Any:
    """An sshfs filesystem whose connection lives on `loop` (call it from another thread)."""
    from sshfs import SSHFileSystem

    class OnLoop(SSHFileSystem):  # type: ignore[misc]
        # sshfs hands every keyword it does not know to asyncssh, which refuses `loop`: the
        # loop is given through the property fsspec's bridge reads instead.
        @property
        def loop(self) -> asyncio.AbstractEventLoop:
            return loop

    return OnLoop(skip_instance_cache=True, **options)


@asynccontextmanager
async def _mapped(path: str) -> AsyncIterator[None]:
    """asyncssh's SFTP errors as the OSErrors fssync's messages know."""
    import asyncssh

    try:
        yield
    except asyncssh.SFTPNoSuchFile as exc:
        raise FileNotFoundError(errno.ENOENT, exc.reason, path) from exc
    except asyncssh.SFTPPermissionDenied as exc:
        raise PermissionError(errno.EACCES, exc.reason, path) from exc
    except asyncssh.SFTPError as exc:
        raise OSError(errno.EIO, exc.reason, path) from exc


class SftpReader(Reader):
    ranged = True

    def __init__(self, f: Any, release: Any, entry: Entry) -> None:
        self._f = f
        self._release = release
        self.size = entry.size
        self.mtime = entry.mtime

    async def read(self, n: int = -1) -> bytes:
        data: bytes = await self._f.read(n)
        return data

    async def read_range(self, offset: int, length: int) -> bytes | bytearray | None:
        data: bytes = await self._f.read(length, offset)
        return data

    async def copy_range(self, offset: int, length: int, sink: RangeSink) -> None:
        """In pieces of `PIECE`: memory per range stays at one piece."""
        end = offset + length
        while offset < end:
            want = min(PIECE, end - offset)
            data = await self.read_range(offset, want)
            if data:
                await sink(data, offset)
            if not data or len(data) != want:
                return
            offset += want

    async def close(self) -> None:
        try:
            with suppress(Exception):
                await self._f.close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                await release.__aexit__(None, None, None)


class SftpStore(AsyncFsspecStore):
    """See the module's docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._made: set[str] = set()  # folders known to be there (one round trip each saved)

    async def negotiate(self) -> None:
        """Declare server-side copy only when the server offers SFTP's copy-data extension
        (it says so when the session starts): elsewhere a copy goes through fssync."""
        async with self._channel(".") as ch:
            offered = bool(ch.supports_remote_copy)
        if self.operations.server_copy and not offered:
            self.operations = attrs.evolve(self.operations, server_copy=False)

    async def _folder(self, ch: Any, folder: str) -> None:
        if folder and folder not in self._made:
            await ch.makedirs(folder, exist_ok=True)
            self._made.add(folder)

    @asynccontextmanager
    async def _channel(self, path: str) -> AsyncIterator[Any]:
        async with self.fs._pool.get() as channel, _mapped(path):
            yield channel

    async def close(self) -> None:
        fs = self.fs
        with suppress(Exception):
            await fs._pool.close()
        with suppress(Exception):
            await fs._stack.aclose()
        forget_finalizers(fs)

    async def scan(self, progress: ListingProgress | None = None) -> Listing:
        root = self.location.root or "."
        try:
            async with self._channel(root) as ch:
                top = await ch.stat(root)
        except FileNotFoundError:
            if self.is_source:
                await self._missing_source_async(root)
            return Listing(entries={}, exists=False)
        if not stat.S_ISDIR(top.permissions or 0):
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", root)
        found: dict[str, dict[str, Any]] = {}
        slots = asyncio.Semaphore(PARALLEL)

        async def walk(folder: str) -> None:
            async with slots, self._channel(folder) as ch:
                names = await ch.readdir(folder)
            subs = []
            for name in names:
                if name.filename in (".", ".."):
                    continue
                path = posixpath.join(folder, name.filename)
                info = name.attrs
                if stat.S_ISLNK(info.permissions or 0):
                    async with self._channel(path) as ch:
                        try:
                            info = await ch.stat(path)
                        except FileNotFoundError:
                            continue  # a dangling link
                if stat.S_ISDIR(info.permissions or 0):
                    subs.append(walk(path))
                elif stat.S_ISREG(info.permissions or 0):
                    found[path] = {"size": info.size, "mtime": info.mtime, "type": "file"}
            if progress is not None and subs:
                progress(len(found))
            await asyncio.gather(*subs)

        await walk(root)
        strip = len(root.rstrip("/")) + 1
        return self._listing(found, strip)

    async def open(self, entry: Entry) -> Reader:
        path = self._path(entry.key)
        lease = self.fs._pool.get()
        channel = await lease.__aenter__()
        try:
            async with _mapped(path):
                f = await channel.open(path, "rb")
        except BaseException as exc:
            await lease.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        reader = SftpReader(f, lease, entry)
        reader.ranged = self.features.ranged_reads
        return reader

    async def copy_within(
        self, source: Store, entry: Entry, options: Mapping[str, Any]
    ) -> Entry | None:
        """copy-data: the server copies the file into a temporary name beside the final one,
        which then gets the mtime, the size check and the rename an upload gets."""
        if not self.same_server(source):
            return None
        assert isinstance(source, SftpStore)
        path, frm = self._path(entry.key), source._path(entry.key)
        folder, name = posixpath.split(path)
        temp = posixpath.join(folder, temp_name(name))
        mtime_ns = None if entry.mtime is None else round(entry.mtime * 1e9)
        async with self._channel(path) as ch:
            await self._folder(ch, folder)
            try:
                async with ch.open(frm, "rb") as f, ch.open(temp, "wb") as g:
                    await ch.remote_copy(f, g)
                if mtime_ns is not None:
                    await ch.utime(temp, ns=(mtime_ns, mtime_ns))
                there = await ch.stat(temp)
                if there.size != entry.size:
                    raise ShortRead(f"{path}: the server holds {there.size} of {entry.size} bytes")
                await ch.posix_rename(temp, path)
            except BaseException:
                with suppress(Exception):
                    await asyncio.shield(ch.remove(temp))
                raise
        mtime = None if mtime_ns is None else mtime_ns // 1_000_000_000
        return Entry(key=entry.key, size=entry.size, mtime=mtime, stamp=mtime, md5=entry.md5)

    async def write(self, entry: Entry, reader: Reader, options: Mapping[str, Any]) -> Entry:
        path = self._path(entry.key)
        folder, name = posixpath.split(path)
        temp = posixpath.join(folder, temp_name(name))
        mtime_ns = source_mtime_ns(reader, entry)
        async with self._channel(path) as ch:
            await self._folder(ch, folder)
            try:
                size = await self._send(ch, temp, reader)
                await reader.verify()
                if mtime_ns is not None:
                    await ch.utime(temp, ns=(mtime_ns, mtime_ns))
                there = await ch.stat(temp)
                if there.size != size:
                    raise ShortRead(f"{path}: the server holds {there.size} of {size} bytes")
                await ch.posix_rename(temp, path)
            except BaseException:
                with suppress(Exception):
                    await asyncio.shield(ch.remove(temp))
                raise
        mtime = None if mtime_ns is None else mtime_ns // 1_000_000_000
        return Entry(key=entry.key, size=size, mtime=mtime, stamp=mtime)

    @staticmethod
    async def _send(ch: Any, temp: str, reader: Reader) -> int:
        total = 0
        async with ch.open(temp, "wb") as f:
            while chunk := await reader.read(PIECE):
                await f.write(chunk, total)
                total += len(chunk)
        return total

    async def set_mtime(self, entry: Entry, mtime_ns: int) -> Entry | None:
        path = self._path(entry.key)
        async with self._channel(path) as ch:
            await ch.utime(path, ns=(mtime_ns, mtime_ns))
        when = mtime_ns // 1_000_000_000
        return Entry(key=entry.key, size=entry.size, mtime=when, stamp=when, md5=entry.md5)

    async def move(self, old: Entry, key: str) -> Entry | None:
        path = self._path(key)
        async with self._channel(path) as ch:
            await self._folder(ch, posixpath.dirname(path))
            await ch.posix_rename(self._path(old.key), path)
        return Entry(key=key, size=old.size, mtime=old.mtime, stamp=old.stamp, md5=old.md5)

    async def delete(self, keys: list[str]) -> list[tuple[str, str]]:
        slots = asyncio.Semaphore(PARALLEL)
        failed: list[tuple[str, str]] = []

        async def one(key: str) -> None:
            path = self._path(key)
            async with slots:
                try:
                    async with self._channel(path) as ch:
                        await ch.remove(path)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    failed.append((key, str(exc) or type(exc).__name__))

        await asyncio.gather(*(one(k) for k in keys))
        return failed
