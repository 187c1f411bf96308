"""Any other fsspec filesystem (memory, SFTP, GCS, ...), driven from worker threads."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, unquote

from fssync.errors import LocationError, MissingBucketError
from fssync.model import Entry
from fssync.settings import location as loc
from fssync.settings.location import Location
from fssync.state.leftovers import is_temp, temp_name
from fssync.stores import features
from fssync.stores.base import Listing, ListingProgress, Reader, Store
from fssync.stores.walk import parallel_find

SMALL = 8 << 20  # read whole and written in one request up to this size
CHUNK = 8 << 20  # larger files stream in pieces of this size (a progress event each)
SLICE = 1 << 20  # and are handed to the client in views of this size
WRITE_BLOCK = 8 << 20  # what a buffered client may hold before it sends a part


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
        if len(value) >= 14 and value[:14].isdigit():  # FTP's MLSD: YYYYMMDDHHMMSS[.sss], UTC
            stamp = dt.datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
            return stamp.timestamp()
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


_WHEN = ("mtime", "modify", "LastModified", "last_modified", "modified", "updated", "created")


def _md5(info: Mapping[str, Any]) -> str | None:
    """The hex MD5 a listing states: GCS's base64 md5Hash, Azure's content_md5 bytes."""
    raw = info.get("md5Hash")
    if isinstance(raw, str) and raw:
        try:
            return base64.b64decode(raw, validate=True).hex()
        except ValueError:
            return None
    settings = info.get("content_settings")
    # adlfs lists the SDK's ContentSettings (attributes, not a Mapping), or a plain dict
    if isinstance(settings, Mapping):
        digest = settings.get("content_md5")
    else:
        digest = getattr(settings, "content_md5", None)
    if isinstance(digest, bytes | bytearray) and len(digest) == 16:
        return bytes(digest).hex()
    return None


def entry_from_info(key: str, info: Mapping[str, Any], exact_mtime: bool) -> Entry:
    """The one place that reads a generic fsspec info dict."""
    when = next((_timestamp(info[k]) for k in _WHEN if info.get(k) is not None), None)
    etag = info.get("ETag") or info.get("etag")
    return Entry(
        key=key,
        size=int(info.get("size") or 0),
        mtime=when if exact_mtime else None,
        stamp=when,
        etag=str(etag).strip('"') if etag else None,
        md5=_md5(info),
    )


class FsspecReader(Reader):
    def __init__(
        self, f: Any, entry: Entry, release: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._f = f
        self._release = release
        self.size = entry.size
        self.mtime = entry.mtime

    async def read(self, n: int = -1) -> bytes:
        data: bytes = await asyncio.to_thread(self._f.read, n)
        return data

    async def close(self) -> None:
        try:
            await asyncio.to_thread(self._f.close)
        finally:
            release, self._release = self._release, None
            if release is not None:
                await release()


class WebdavReader(Reader):
    """A plain GET of a WebDAV file: webdav4's own open looks the name up in a PROPFIND answer
    by its escaped form and fails for names with '#', '%' or spaces."""

    def __init__(self, client: Any, path: str, entry: Entry) -> None:
        self._cm = client.http.stream("GET", client.join_url(path))
        self._response: Any = None
        self._chunks: Any = None
        self._left = b""
        self.size = entry.size
        self.mtime = entry.mtime

    def _start(self) -> None:
        self._response = self._cm.__enter__()
        self._response.raise_for_status()
        self._chunks = self._response.iter_bytes(1 << 20)

    def _read(self, n: int) -> bytes:
        if self._chunks is None:
            self._start()
        out = bytearray(self._left)
        while n < 0 or len(out) < n:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            out += chunk
        if n >= 0:
            self._left = bytes(out[n:])
            del out[n:]
        else:
            self._left = b""
        return bytes(out)

    async def read(self, n: int = -1) -> bytes:
        return await asyncio.to_thread(self._read, n)

    async def close(self) -> None:
        if self._response is not None:
            await asyncio.to_thread(self._cm.__exit__, None, None, None)
            self._response = None


# Object stores: their root is bucket/prefix, and a prefix with nothing under it is empty.
BUCKETS = frozenset({"gs", "abfs", "s3"})

# Filesystems that hold one control connection and cannot serve two threads at once (ftplib):
# each concurrent operation leases its own instance, up to this many.
# An archive's filesystem reads every member through one open file: two threads reading two
# members interleave their seeks (a tar member came back as zeros), so archives are pooled too.
SINGLE_CONNECTION = frozenset({"ftp", "tar", "zip"})
POOL_SIZE = 4


class _Pool:
    """Instances of a single-connection filesystem, made as needed and reused."""

    def __init__(self, first: Any, make: Callable[[], Any], size: int) -> None:
        self._free = [first]
        self._made = 1
        self._size = size
        self._make = make
        self._ready = asyncio.Condition()

    async def take(self) -> Any:
        async with self._ready:
            while not self._free and self._made >= self._size:
                await self._ready.wait()
            if self._free:
                return self._free.pop()
            self._made += 1
        try:
            return await asyncio.to_thread(self._make)
        except BaseException:
            async with self._ready:
                self._made -= 1
                self._ready.notify()
            raise

    async def give(self, fs: Any) -> None:
        async with self._ready:
            self._free.append(fs)
            self._ready.notify()


# Servers with a rename: an upload goes to a temporary name in the same folder and is renamed
# over the final name once it is whole and its size checked, so no reader sees half a file.
RENAMES = frozenset({"ftp", "webdav"})


def _temp_key(key: str) -> str:
    folder, _, name = key.rpartition("/")
    temp = temp_name(name)
    return f"{folder}/{temp}" if folder else temp


def _abandon(f: Any) -> None:
    """Drop a half-written file object: what it buffered is not sent, and it is marked closed
    so its finalizer does not try to send it later (FTP's would fail on a dead transfer)."""
    discard = getattr(f, "discard", None)
    try:
        if discard is not None:
            discard()
        else:
            f.close()
    except Exception:  # noqa: BLE001, S110 - the upload failed already; the temp is removed
        pass
    try:
        f.closed = True
    except AttributeError:
        pass


def _remove_quietly(fs: Any, path: str) -> None:
    try:
        fs.rm_file(path)
    except Exception:  # noqa: BLE001, S110 - a leftover is skipped by listings and replaced
        pass


def server_of(protocol: str, options: Mapping[str, Any]) -> tuple[str, str]:
    """Which server a filesystem's options reach (host, port, user, endpoint, account), for
    telling whether two locations are on the same one: a server-side copy needs that. Held in
    memory only, never printed (the options may hold secrets)."""
    return protocol, repr(sorted((k, repr(v)) for k, v in options.items()))


class FsspecStore(Store):
    operations = features.FSSPEC

    def __init__(
        self,
        location: Location,
        fs: Any,
        make: Callable[[], Any] | None = None,
        *,
        is_source: bool = False,
        server: tuple[str, str] | None = None,
    ) -> None:
        self.location = location
        self.is_source = is_source
        self.fs = fs
        # What this backend's store declares (`features.BUILTIN`); the transfers ask for an
        # operation only when it is declared.
        self.operations = features.builtin_operations(location.protocol)
        self._server = server  # None: unknown, so never taken for another store's server
        self.identity = f"{location.protocol}|{id(fs)}"
        self._pool = _Pool(fs, make, POOL_SIZE) if make is not None else None
        self._members: dict[str, str] = {}  # archive keys listed under another name (./a)
        self._made: set[str] = set()  # folders known to be there
        self._folders_lock = threading.Lock()
        self._folder_locks: dict[str, threading.Lock] = {}

    @asynccontextmanager
    async def _lease(self) -> AsyncIterator[Any]:
        """A filesystem instance for one operation (the shared one unless it is pooled)."""
        if self._pool is None:
            yield self.fs
            return
        fs = await self._pool.take()
        try:
            yield fs
        finally:
            await self._pool.give(fs)

    @classmethod
    async def connect(
        cls, location: Location, options: Mapping[str, Any], *, is_source: bool = False
    ) -> FsspecStore:
        import fsspec

        from fssync.settings.backends import storage_options

        given = storage_options(location.protocol, location.url, location.remote, os.environ)
        merged = {**given, **options}

        def make() -> Any:
            return fsspec.filesystem(location.protocol, skip_instance_cache=True, **merged)

        fs = await asyncio.to_thread(make)
        pool = make if location.protocol in SINGLE_CONNECTION else None
        server = server_of(location.protocol, merged)
        return cls(location, fs, pool, is_source=is_source, server=server)

    async def scan(self, progress: ListingProgress | None = None) -> Listing:
        async with self._lease() as fs:
            return await asyncio.to_thread(self._scan, fs)  # find() answers all at once

    def _scan(self, fs: Any) -> Listing:
        root = self.location.root
        if not self._exists(fs, root):
            if self.is_source:
                self._missing_source(fs, root)
            return Listing(entries={}, exists=False)
        if self.location.protocol == "webdav":
            # one folder level per PROPFIND: folders listed several at a time, each asking for
            # the listing's properties only (webdav4's client takes calls from several threads)
            from fssync.stores.webdav_list import lister

            found = parallel_find(fs, root, ls=lister(fs))
        else:
            found = fs.find(root, detail=True, withdirs=False)
        strip = len(root.rstrip("/")) + 1 if root.strip("/") else len(root)
        exact = (
            self.location.capabilities.listing_has_mtime and self.location.capabilities.keeps_mtime
        )
        entries: dict[str, Entry] = {}
        rejected: list[tuple[str, str]] = []
        for path, info in found.items():
            if info.get("type") == "directory" or path.endswith("/"):
                continue
            key = self._key(path[strip:])
            if is_temp(key.rsplit("/", 1)[-1]):
                continue  # an upload in progress (or one a killed run left)
            if self.location.protocol in ("tar", "zip") and key != path[strip:]:
                self._members[key] = path
            if info.get("size") is None:  # a web server's folder page shows names only
                info = fs.info(path)
            reason = loc.unsafe_reason(key)
            if reason:
                rejected.append((path, reason))
                continue
            entries[key] = entry_from_info(key, info, exact)
        return Listing(entries=entries, rejected=tuple(rejected))

    def _exists(self, fs: Any, root: str) -> bool:
        """Whether the root is there; unlike fsspec's exists(), a refused login or a broken
        connection is raised, not taken for a missing folder."""
        if self.location.protocol in ("zip", "tar", "http") or not root.strip("/"):
            return bool(fs.exists(root))
        try:
            fs.info(root)
        except FileNotFoundError:
            return False
        return True

    def _missing_source(self, fs: Any, root: str) -> None:
        """A source root that is not there: in a bucket store a prefix nothing is under yet is
        an empty tree, unless the bucket itself is missing; elsewhere it is a missing folder,
        as for a local source."""
        url = self.location.url
        if self.location.protocol in BUCKETS:
            bucket = root.strip("/").split("/", 1)[0]
            if bucket and not fs.exists(bucket):
                raise MissingBucketError(
                    f"{url}: the bucket or container {bucket!r} does not exist; create it or "
                    "check the name"
                )
            return
        raise LocationError(f"source folder {url!r} does not exist: check the path")

    def _key(self, name: str) -> str:
        """The key of a listed name: a web server lists URLs, percent-encoded; an archive
        made from a folder's "." names its members ./NAME (the same file)."""
        if self.location.protocol == "http":
            return unquote(name)
        if self.location.protocol in ("tar", "zip"):
            while name.startswith("./"):
                name = name[2:]
        return name

    def _path(self, key: str) -> str:
        if key in self._members:
            return self._members[key]
        if self.location.protocol == "http":
            return self.location.path(quote(key))
        if self.location.protocol == "webdav":
            # webdav4 puts the path into the URL as given: '#', '%' and '?' must be escaped
            return quote(self.location.path(key))
        return self.location.path(key)

    def _block(self) -> dict[str, Any]:
        """Buffered clients (gcsfs, adlfs) fetch and hold 50 MiB blocks by default."""
        return {"block_size": WRITE_BLOCK} if self.location.protocol in ("gs", "abfs") else {}

    async def open(self, entry: Entry) -> Reader:
        if self.location.protocol == "webdav":
            reader = WebdavReader(self.fs.client, self._path(entry.key), entry)
            await asyncio.to_thread(reader._start)
            return reader
        if self._pool is None:
            f = await asyncio.to_thread(self.fs.open, self._path(entry.key), "rb", **self._block())
            return FsspecReader(f, entry)
        pool = self._pool
        fs = await pool.take()
        try:
            f = await asyncio.to_thread(fs.open, self._path(entry.key), "rb")
        except BaseException:
            await pool.give(fs)
            raise
        return FsspecReader(f, entry, lambda: pool.give(fs))

    async def write(self, entry: Entry, reader: Reader, options: Mapping[str, Any]) -> Entry:
        path = self._path(entry.key)
        renames = self._renames(entry.key)
        temp = self._path(_temp_key(entry.key)) if renames else path
        async with self._lease() as fs:
            try:
                if entry.size <= SMALL:
                    data = await reader.read(-1)
                    await reader.verify()
                    await asyncio.to_thread(self._put_small, fs, path, temp, data)
                    size = len(data)
                else:
                    await asyncio.to_thread(self._parent, fs, path)
                    size = await self._stream(fs, temp, reader)
                    if renames:
                        await asyncio.to_thread(self._check_size, fs, temp, size)
                        await asyncio.to_thread(self._rename, fs, temp, path)
            except BaseException:
                if renames:
                    await asyncio.shield(asyncio.to_thread(_remove_quietly, fs, temp))
                raise
        return Entry(key=entry.key, size=size, mtime=None, stamp=None)

    def _put_small(self, fs: Any, path: str, temp: str, data: bytes) -> None:
        """A small file in one worker-thread call: its folder, the bytes (one request whose
        length the server checks), the rename."""
        self._parent(fs, path)
        if self.location.protocol == "webdav":
            # webdav4's pipe_file asks for the folder chain again for every file (a PROPFIND
            # and an MKCOL each): its client's plain PUT, the folder being made above
            fs.client.upload_fileobj(
                io.BytesIO(data), fs._strip_protocol(temp), overwrite=True, size=len(data)
            )
        else:
            fs.pipe_file(temp, data)
        if temp != path:
            self._rename(fs, temp, path)

    def _renames(self, key: str) -> bool:
        """Whether an upload of `key` goes through a temporary name. A WebDAV server reads
        MOVE's destination from a header some decode before they parse it (wsgidav), which
        cuts a name at a '?' or '#': such names are written in place."""
        protocol = self.location.protocol
        if protocol == "webdav" and ("?" in key or "#" in key):
            return False
        return protocol in RENAMES

    @staticmethod
    def _check_size(fs: Any, temp: str, size: int) -> None:
        held = fs.info(temp).get("size")
        if held is not None and int(held) != size:
            from fssync.content.integrity import ShortRead

            raise ShortRead(f"the server holds {held} of the {size} bytes sent")

    def _rename(self, fs: Any, temp: str, path: str) -> None:
        """Put the finished upload in place: WebDAV's MOVE with overwrite (webdav4's own mv
        copies and deletes), FTP's rename (a server that refuses to replace a file gets the
        old one deleted first)."""
        if self.location.protocol == "webdav":
            fs.client.move(temp, path, overwrite=True)
            return
        try:
            fs.mv(temp, path)
        except OSError:
            fs.invalidate_cache()
            if not fs.exists(path):
                raise
            fs.rm_file(path)
            fs.mv(temp, path)

    def _parent(self, fs: Any, path: str) -> None:
        parent = path.rsplit("/", 1)[0]
        if not parent or parent == path or parent in self._made:
            return
        with self._folders_lock:
            lock = self._folder_locks.setdefault(parent, threading.Lock())
        with lock:  # the uploads into one new folder wait for one of them to make it
            if parent not in self._made:
                self._make_folder(fs, parent)
                self._made.add(parent)  # one check per folder and run, not one per file

    @staticmethod
    def _make_folder(fs: Any, parent: str) -> None:
        import ftplib

        try:
            fs.makedirs(parent, exist_ok=True)
        except (OSError, ftplib.Error):
            # Another connection made a folder of the same chain between our check and our
            # MKD (FTP answers 550, which ftplib raises as its own error, not an OSError):
            # fine when the folder is there now.
            fs.invalidate_cache()
            if not fs.isdir(parent):
                fs.makedirs(parent, exist_ok=True)

    async def _stream(self, fs: Any, path: str, reader: Reader) -> int:
        f = await asyncio.to_thread(fs.open, path, "wb", **self._block())
        total = 0
        try:
            while chunk := await reader.read(CHUNK):
                await asyncio.to_thread(self._write_slices, f, chunk)
                total += len(chunk)
            await reader.verify()
        except BaseException:
            await asyncio.to_thread(_abandon, f)
            raise
        await asyncio.to_thread(f.close)
        return total

    @staticmethod
    def _write_slices(f: Any, chunk: bytes) -> None:
        """Hand a buffered client the piece in 1 MiB views: it copies what it is given into its
        buffer, so one 8 MiB write would hold the piece twice more before it is sent."""
        view = memoryview(chunk)
        for start in range(0, len(view), SLICE):
            f.write(view[start : start + SLICE])

    def same_server(self, source: Store) -> bool:
        """Whether `source` is a location on this store's server, reached the same way."""
        return (
            isinstance(source, FsspecStore)
            and self._server is not None
            and source._server == self._server
        )

    def _header_safe(self, *keys: str) -> bool:
        """Whether WebDAV's COPY and MOVE can name these keys: their Destination header is
        decoded before it is parsed by some servers (wsgidav), which cut a name at '?' or '#'.
        Such files are sent through fssync instead."""
        if self.location.protocol != "webdav":
            return True
        return not any("?" in k or "#" in k for k in keys)

    async def copy_within(
        self, source: Store, entry: Entry, options: Mapping[str, Any]
    ) -> Entry | None:
        """The server copies the file (WebDAV's COPY, memory's own copy): its bytes never
        pass through fssync. None for another server, or a name COPY cannot carry."""
        if not self.same_server(source) or not self._header_safe(entry.key):
            return None
        assert isinstance(source, FsspecStore)
        path, frm = self._path(entry.key), source._path(entry.key)
        async with self._lease() as fs:
            await asyncio.to_thread(self._parent, fs, path)
            if self.location.protocol == "webdav":
                await asyncio.to_thread(fs.client.copy, frm, path, overwrite=True)
            else:
                await asyncio.to_thread(fs.cp_file, frm, path)
        return Entry(key=entry.key, size=entry.size, mtime=None, stamp=None, md5=entry.md5)

    async def move(self, old: Entry, key: str) -> Entry | None:
        if not self._header_safe(old.key, key):
            return None
        path = self._path(key)
        async with self._lease() as fs:
            await asyncio.to_thread(self._parent, fs, path)
            if self.location.protocol == "webdav":
                # one MOVE (webdav4's own mv copies, then deletes)
                await asyncio.to_thread(fs.client.move, self._path(old.key), path, overwrite=True)
            else:
                await asyncio.to_thread(fs.mv, self._path(old.key), path)
        return Entry(key=key, size=old.size, md5=old.md5)

    async def delete(self, keys: list[str]) -> list[tuple[str, str]]:
        async with self._lease() as fs:
            return await self._delete(fs, keys)

    async def _delete(self, fs: Any, keys: list[str]) -> list[tuple[str, str]]:
        failed = []
        for key in keys:
            try:
                await asyncio.to_thread(fs.rm_file, self._path(key))
            except FileNotFoundError:
                pass
            except OSError as exc:
                failed.append((key, str(exc) or type(exc).__name__))
        return failed
