"""The local disk, through the os module directly: scandir listing, atomic writes, exact mtimes."""

from __future__ import annotations

import asyncio
import copy
import errno
import functools
import os
import stat
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from fssync.errors import LocationError, UnsafeWrite
from fssync.model import Entry
from fssync.settings.location import Location
from fssync.state.leftovers import is_temp, temp_name
from fssync.stores import features
from fssync.stores.base import (
    CHUNK,
    LISTING_STEP,
    Listing,
    ListingProgress,
    PositionalWriter,
    Reader,
    Stated,
    Store,
    source_mtime_ns,
)

# Puts a file's content at its offsets (`Store.write_ranged`).
Fill = Callable[[PositionalWriter], Awaitable[None]]

SMALL = 256 * 1024  # below this, file I/O runs inline: a thread hop costs more than the read
# Small files written on the event loop (create, write, time, rename) may take this long, the
# median of each WINDOW of them, before the next ones go to worker threads instead.
INLINE_LIMIT = 0.001
WINDOW = 32


class InlineWrites:
    """Whether small files are written on the event loop. Where creating a file is quick (a
    local disk) a worker-thread hop costs more than the write itself: S5's 5,000 downloads of
    4 KiB, alternating, took 4.80 s and 4.62 s of CPU inline (medians of 5) against 6.82 s and
    7.62 s through threads. Where it is slow (a network file system) the loop must not wait on
    it: once the median of a window of writes passes `limit`, every later one of the run goes
    to a thread. A median, so that a disk's occasional stall (writing back its cache) decides
    nothing."""

    def __init__(self, limit: float = INLINE_LIMIT, window: int = WINDOW) -> None:
        self.limit = limit
        self.window = window
        self.inline = True
        self._recent: list[float] = []

    def took(self, seconds: float) -> None:
        self._recent.append(seconds)
        if len(self._recent) >= self.window:
            self._recent.sort()
            if self._recent[len(self._recent) // 2] > self.limit:
                self.inline = False
            self._recent.clear()


# A new file for exclusive writing; O_BINARY matters on Windows, where a descriptor is in text
# mode (newlines rewritten) unless told otherwise.
CREATE = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)

# Positional reads and writes; Windows has neither (see _read_at, _write_at).
PREAD = getattr(os, "pread", None)
PWRITE = getattr(os, "pwrite", None)
UTIME_FD = os.utime in os.supports_fd  # futimens; Windows sets times by path only

LINK_SUFFIX = ".fssync-link"  # --links: a symlink travels as a small file holding its target
LINK_MODES = ("skip", "store", "follow")


def walk(
    root: str,
    links: str = "skip",
    progress: ListingProgress | None = None,
    folders: list[str] | None = None,
) -> tuple[dict[str, Entry], list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    """List regular files under root with one scandir per folder (stat comes with the entry).

    Symbolic links are skipped and reported (`links="skip"`), listed as link files
    (`"store"`, see LINK_SUFFIX) or followed (`"follow"`, with loops detected and skipped).
    Returns entries, rejected keys, unreadable paths and leftover temporary files. Given a
    `folders` list, the root's folders are put in it (``name/``) instead of walked."""
    entries: dict[str, Entry] = {}
    reported = 0
    rejected: list[tuple[str, str]] = []
    errors: list[tuple[str, str]] = []
    temps: list[str] = []
    top = os.stat(root)
    stack: list[tuple[str, str, frozenset[tuple[int, int]]]] = [
        ("", root, frozenset({(top.st_dev, top.st_ino)}))
    ]
    while stack:
        prefix, folder, seen = stack.pop()
        try:
            with os.scandir(folder) as it:
                items = list(it)
        except OSError as exc:
            errors.append((prefix or ".", exc.strerror or str(exc)))
            continue
        for item in items:
            key = prefix + item.name
            try:
                link = item.is_symlink()
                if link and links == "store":
                    target = os.fsencode(os.readlink(item.path))
                    lst = item.stat(follow_symlinks=False)
                    when = lst.st_mtime_ns / 1e9
                    name = key + LINK_SUFFIX
                    entries[name] = Entry(key=name, size=len(target), mtime=when, stamp=when)
                    continue
                if link and links != "follow":
                    rejected.append(
                        (key, "symbolic link (skipped; --links stores it, --copy-links follows)")
                    )
                    continue
                try:
                    st = item.stat()
                except FileNotFoundError:
                    if not link:
                        raise
                    rejected.append((key, "broken symbolic link (skipped)"))
                    continue
                except OSError as exc:
                    if link and exc.errno == errno.ELOOP:
                        rejected.append((key, "symbolic link loop (skipped)"))
                        continue
                    raise
                if stat.S_ISDIR(st.st_mode):
                    ident = (st.st_dev, st.st_ino)
                    if ident in seen:
                        rejected.append((key, "symbolic link loop (skipped)"))
                        continue
                    if folders is not None:
                        folders.append(key + "/")
                    else:
                        stack.append((key + "/", item.path, seen | {ident}))
                    continue
            except OSError as exc:
                errors.append((key, exc.strerror or str(exc)))
                continue
            if not stat.S_ISREG(st.st_mode):
                rejected.append((key, "not a regular file (skipped)"))
                continue
            if is_temp(item.name):
                temps.append(item.path)  # a download in progress or left over, not a user file
                continue
            mtime = st.st_mtime_ns / 1e9
            entries[key] = Entry(key=key, size=st.st_size, mtime=mtime, stamp=mtime)
        if progress is not None and len(entries) - reported >= LISTING_STEP:
            reported = len(entries)
            progress(reported)
    return entries, rejected, errors, temps


class LinkReader(Reader):
    """A symbolic link read as a link file: its content is the target path."""

    def __init__(self, path: str) -> None:
        self._data = os.fsencode(os.readlink(path))
        ns = os.lstat(path).st_mtime_ns
        self.stated = Stated(size=len(self._data), mtime=ns / 1e9, mtime_ns=ns)

    async def read(self, n: int = -1) -> bytes:
        data, self._data = (self._data, b"") if n < 0 else (self._data[:n], self._data[n:])
        return data


class LocalReader(Reader):
    ranged = True
    cheap_ranges = True

    def __init__(self, path: str, entry: Entry) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        st = os.fstat(self._f.fileno())
        ns = st.st_mtime_ns
        self.stated = Stated(size=st.st_size, mtime=ns / 1e9, mtime_ns=ns)
        self._path = path
        self._stamp = _stamp(st)

    async def read(self, n: int = -1) -> bytes:
        if self.size <= SMALL:
            return self._f.read(n)
        return await asyncio.to_thread(self._f.read, n)

    async def read_range(self, offset: int, length: int) -> bytes | bytearray | None:
        if PREAD is not None:
            return await asyncio.to_thread(PREAD, self._f.fileno(), length, offset)
        return await asyncio.to_thread(_read_at, self._path, offset, length)

    async def close(self) -> None:
        self._f.close()

    async def content_md5(self) -> str | None:
        """A first pass over the file, for files up to FIRST_PASS_MD5 bytes (see s3meta);
        verify() then checks that the file did not change before the upload finished."""
        from fssync.stores.s3.meta import FIRST_PASS_MD5

        if self.size > FIRST_PASS_MD5:
            return None
        return await asyncio.to_thread(_md5_at, self._f.fileno(), self._path, self.size)

    async def verify(self, written: str | None = None) -> None:
        """A file written to while it was read would be stored torn: compare size, mtime and
        ctime (a writer can put the mtime back, never the ctime); the transfer then reads it
        again."""
        from fssync.content.integrity import SourceChanged

        st = os.fstat(self._f.fileno())
        if _stamp(st) != self._stamp:
            raise SourceChanged(f"{self._path!r} changed while it was being read")


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    """What moves when a file is written: size, mtime and the change time the kernel sets."""
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _in_range(after: str | None, upto: str | None, key: str) -> bool:
    return (after is None or key > after) and (upto is None or key <= upto)


class LocalStore(Store):
    operations = features.LOCAL
    # Keys listed (see Store.ranged): after the first, up to the second; None: no bound.
    _range: tuple[str | None, str | None] = (None, None)

    def __init__(
        self,
        location: Location,
        *,
        is_source: bool,
        links: str = "skip",
        case: str = "auto",
        fsync: bool = False,
    ) -> None:
        if links not in LINK_MODES:
            raise ValueError(f"links must be one of {LINK_MODES}")
        self.location = location
        self.identity = "file://"
        self.is_source = is_source
        self.links = links
        self.case = case  # "auto" (probe the folder), "sensitive" or "insensitive"
        self.fsync = fsync  # --fsync: each file flushed before its rename, its folder after
        self._inline = InlineWrites()  # small files written on the loop while that is quick
        self._real: set[str] = set()  # folders seen to hold no symbolic link on their way

    folders = True

    def write_last(self, key: str) -> bool:
        return self.links == "store" and key.endswith(LINK_SUFFIX)

    async def remove_empty_folder(self, key: str) -> None:
        """A folder whose files the run deleted because a file of its name replaces it:
        its empty subfolders go, then it; a folder still holding a file stays."""
        path = self.location.path(key)

        def remove() -> None:
            if os.path.islink(path) or not os.path.isdir(path):
                return
            for folder, _, _ in os.walk(path, topdown=False):
                try:
                    os.rmdir(folder)
                except OSError:
                    return  # something is left in it: the write then reports the folder
            self._real.clear()

        await asyncio.to_thread(remove)

    def _guard(self, folder: str) -> None:
        """With --links, refuse to write below a symbolic link: the kernel would follow it,
        and a link file of a hostile source may have made it point anywhere."""
        if self.links != "store" or folder in self._real:
            return
        link = _link_on_the_way(self.location.root, folder)
        if link is not None:
            raise UnsafeWrite(
                f"{link!r} on its path is a symbolic link, and fssync never writes through "
                "one (not written)"
            )
        self._real.add(folder)

    async def scan(self, progress: ListingProgress | None = None) -> Listing:
        return await self._scan(progress, None)

    def below(self, location: Location) -> Store | None:
        view = copy.copy(self)
        view.location = location
        view._real = set()
        return view

    def ranged(self, after: str | None, upto: str | None) -> Store | None:
        view = copy.copy(self)
        view._range = (after, upto)
        return view

    async def top(self) -> tuple[tuple[str, ...], Listing]:
        folders: list[str] = []
        listing = await self._scan(None, folders)
        return tuple(sorted(folders)), listing

    async def _scan(self, progress: ListingProgress | None, folders: list[str] | None) -> Listing:
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
        report = None
        if progress is not None:
            loop = asyncio.get_running_loop()

            def report(count: int) -> None:  # from the walking thread to the event loop
                loop.call_soon_threadsafe(progress, count)

        entries, rejected, errors, temps = await asyncio.to_thread(
            walk, root, self.links, report, folders
        )
        after, upto = self._range if folders is None else (None, None)
        if after is not None or upto is not None:  # one key range of a sharded run
            keep = functools.partial(_in_range, after, upto)
            entries = {k: e for k, e in entries.items() if keep(k)}
            rejected = [(k, why) for k, why in rejected if keep(k)]
            errors = [(k, why) for k, why in errors if keep(k) or (k == "." and after is None)]
            temps = [t for t in temps if keep(os.path.relpath(t, root).replace(os.sep, "/"))]
        if self.is_source:
            # Never skipped silently: in a source these are another run's downloads in progress.
            why = "a temporary file of an fssync download (skipped)"
            rejected += [(os.path.relpath(t, root).replace(os.sep, "/"), why) for t in temps]
            temps = []
        return Listing(
            entries=entries,
            rejected=tuple(rejected),
            errors=tuple(errors),
            leftovers=tuple(temps),
        )

    def check_keys(self, keys: Iterable[str]) -> list[tuple[str, str]]:
        from fssync.planning.naming import local_problems

        insensitive, normalising = self._traits()
        found = local_problems(keys, case_insensitive=insensitive, normalising=normalising)
        return sorted(found.items())

    def _traits(self) -> tuple[bool, bool]:
        """Whether the destination folder folds case (and so, as on macOS, Unicode forms):
        forced by --local-case-*, else seen from a name there whose other case names the same
        file. Nothing is written, so a dry run stays read-only."""
        if self.case != "auto":
            insensitive = self.case == "insensitive"
            return insensitive, insensitive
        folder = self.location.root
        while not os.path.isdir(folder):
            parent = os.path.dirname(folder)
            if parent == folder:
                return False, False
            folder = parent
        try:
            with os.scandir(folder) as it:
                names = [e.path for _, e in zip(range(50), it, strict=False)]
        except OSError:
            names = []
        for path in [folder, *names]:
            name = os.path.basename(path.rstrip(os.sep))
            if name and name.swapcase() != name:
                twin = os.path.join(os.path.dirname(path.rstrip(os.sep)), name.swapcase())
                try:
                    same = os.path.samefile(path, twin)
                except OSError:
                    same = False
                return same, same
        return False, False

    async def open(self, entry: Entry) -> Reader:
        path = self.location.path(entry.key)
        if self.links == "store" and entry.key.endswith(LINK_SUFFIX):
            link = path[: -len(LINK_SUFFIX)]
            if os.path.islink(link):
                return LinkReader(link)
        if entry.size <= SMALL:
            return LocalReader(path, entry)
        return await asyncio.to_thread(LocalReader, path, entry)

    async def write(self, entry: Entry, reader: Reader, options: Mapping[str, Any]) -> Entry:
        return await self._write(entry, reader, None)

    async def write_ranged(self, entry: Entry, reader: Reader, fill: Fill) -> Entry:
        """A large file put at its offsets by `fill` (the transfer stage's ranged download)
        into a temporary file, then checked and renamed into place as `write` does."""
        return await self._write(entry, reader, fill)

    async def _write(self, entry: Entry, reader: Reader, fill: Fill | None) -> Entry:
        final = self.location.path(entry.key)
        folder = os.path.dirname(final)
        if self.links == "store" and entry.key.endswith(LINK_SUFFIX):
            return await self._write_link(entry, reader, final[: -len(LINK_SUFFIX)])
        self._guard(folder)
        temp = os.path.join(folder, temp_name(os.path.basename(final)))
        try:
            if entry.size <= SMALL and fill is None:
                data = await reader.read(-1)
                await reader.verify(None)  # read whole and in one go: nothing on disk to hash
                # After reading: a remote reader learns the stored mtime from its first response.
                mtime = source_mtime_ns(reader, entry)
                # One call for the whole small file, on the loop while that is quick (see
                # `InlineWrites`), else in a worker thread: a download of small files makes
                # thousands.
                if self._inline.inline and not self.fsync:
                    began = time.perf_counter()
                    written = _write_small(folder, temp, data, final, mtime)
                    self._inline.took(time.perf_counter() - began)
                else:
                    written = await asyncio.to_thread(
                        _write_small, folder, temp, data, final, mtime, self.fsync
                    )
            else:
                await asyncio.to_thread(os.makedirs, folder, exist_ok=True)
                await _write_large(temp, reader, self.fsync, fill)
                await reader.verify(temp)
                mtime = source_mtime_ns(reader, entry)
                written = await asyncio.to_thread(_finish, temp, final, mtime, self.fsync)
        except BaseException as exc:
            _discard(temp)
            _name_final(exc, temp, final)
            raise
        when = None if mtime is None else mtime / 1e9
        return Entry(key=entry.key, size=written, mtime=when, stamp=when)

    async def create_only(self, key: str, data: bytes) -> bool:
        path = self.location.path(key)

        def create() -> bool:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                fd = os.open(path, CREATE, 0o644)
            except FileExistsError:
                return False
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            return True

        return await asyncio.to_thread(create)

    async def replace_small(self, key: str, data: bytes) -> None:
        path = self.location.path(key)

        def replace() -> None:
            folder = os.path.dirname(path)
            temp = os.path.join(folder, temp_name(os.path.basename(path)))
            fd = os.open(temp, CREATE, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, path)

        await asyncio.to_thread(replace)

    async def read_small(self, key: str) -> bytes | None:
        path = self.location.path(key)

        def read() -> bytes | None:
            try:
                with open(path, "rb") as f:
                    return f.read(64 << 10)
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(read)

    async def move(self, old: Entry, key: str) -> Entry | None:
        final = self.location.path(key)
        self._guard(os.path.dirname(final))

        def rename() -> None:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            if os.path.exists(final):
                raise FileExistsError(f"{key!r} already exists")
            os.rename(self.location.path(old.key), final)
            if self.fsync:
                _sync_folder(os.path.dirname(final))
                _sync_folder(os.path.dirname(self.location.path(old.key)))

        await asyncio.to_thread(rename)
        return Entry(key=key, size=old.size, mtime=old.mtime, stamp=old.stamp, md5=old.md5)

    async def keep_copy(self, source: Store, entry: Entry, key: str) -> Entry | None:
        """A hard link on the same file system: the destination's writes replace files by
        renaming a new one into place, so the linked old content stays as it was."""
        if not isinstance(source, LocalStore) or entry.key.endswith(LINK_SUFFIX):
            return None
        old = source.location.path(entry.key)
        final = self.location.path(key)
        self._guard(os.path.dirname(final))

        def link() -> bool:
            if os.path.islink(old) or not os.path.isfile(old):
                return False
            os.makedirs(os.path.dirname(final), exist_ok=True)
            temp = os.path.join(os.path.dirname(final), temp_name(os.path.basename(final)))
            try:
                os.link(old, temp, follow_symlinks=False)
            except OSError:
                return False  # another file system, or links not allowed: stream it
            try:
                os.replace(temp, final)  # an older backup of the same name is replaced
            except BaseException as exc:
                _discard(temp)
                _name_final(exc, temp, final)
                raise
            if self.fsync:
                _sync_folder(os.path.dirname(final))
            return True

        if not await asyncio.to_thread(link):
            return None
        return Entry(key=key, size=entry.size, mtime=entry.mtime, stamp=entry.stamp, md5=entry.md5)

    async def _write_link(self, entry: Entry, reader: Reader, final: str) -> Entry:
        """Turn a link file back into a symbolic link, if its target stays inside the root.

        Links are written after every other file of the run (`write_last`), and from the
        checks to the rename nothing here awaits: no other link of the run can appear on the
        way meanwhile, so what is checked is what the kernel will follow."""
        data = await reader.read(-1)
        await reader.verify()
        target = os.fsdecode(data)
        folder = os.path.dirname(final)
        why = _unsafe_target(self.location.root, folder, target)
        if why is not None:
            raise UnsafeWrite(f"link target {target!r} {why} (not made)")
        link = _link_on_the_way(self.location.root, folder)
        if link is not None:
            raise UnsafeWrite(
                f"{link!r} on its path is a symbolic link, and fssync never makes a link "
                "through one (not made)"
            )
        self._real.clear()  # a new link: what was seen of the folders may no longer hold
        os.makedirs(folder, exist_ok=True)
        temp = os.path.join(folder, temp_name(os.path.basename(final)))
        try:
            os.symlink(target, temp)
            ns = source_mtime_ns(reader, entry)
            if ns is not None:
                os.utime(temp, ns=(ns, ns), follow_symlinks=False)
            if os.path.isdir(final) and not os.path.islink(final):
                raise IsADirectoryError(f"a folder is in the way at {final!r}")
            os.replace(temp, final)
            if self.fsync:
                _sync_folder(folder)
        except BaseException as exc:
            _discard(temp)
            _name_final(exc, temp, final)
            raise
        mtime = None if ns is None else ns / 1e9
        return Entry(key=entry.key, size=len(data), mtime=mtime, stamp=mtime)

    async def set_mtime(self, entry: Entry, mtime_ns: int) -> Entry | None:
        if self.links == "store" and entry.key.endswith(LINK_SUFFIX):
            return None
        path = self.location.path(entry.key)
        await asyncio.to_thread(os.utime, path, ns=(mtime_ns, mtime_ns))
        when = mtime_ns / 1e9
        return Entry(key=entry.key, size=entry.size, mtime=when, stamp=when, md5=entry.md5)

    async def delete(self, keys: list[str]) -> list[tuple[str, str]]:
        failed = []
        for key in keys:
            path = self.location.path(key)
            if self.links == "store" and key.endswith(LINK_SUFFIX):
                link = path[: -len(LINK_SUFFIX)]
                path = link if os.path.islink(link) else path
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                failed.append((key, exc.strerror or str(exc)))
        return failed


def _link_on_the_way(root: str, folder: str) -> str | None:
    """The first folder from `root` down to `folder` that is a symbolic link (relative to
    root), or None. It stops at the first that does not exist: the write makes the rest as
    real folders. The root itself may be a link: the user chose it."""
    rel = os.path.relpath(folder, root)
    if rel == os.curdir:
        return None
    path = root
    for part in rel.split(os.sep):
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except OSError:
            return None  # missing (made real by the write), or a file (the write fails)
        if stat.S_ISLNK(st.st_mode):
            return os.path.relpath(path, root).replace(os.sep, "/")
    return None


def _unsafe_target(root: str, folder: str, target: str) -> str | None:
    """Why a link in `folder` to `target` could lead outside `root`, or None.

    A target may climb (``..``) only before its first folder name: after a name, the climb
    starts from wherever that name leads, which a link made later in the run could change.
    Both the target as written and what it resolves to now must stay below the root."""
    if not target or "\0" in target:
        return "is empty or not a path"
    if os.path.isabs(target):
        return "is an absolute path, which leads outside the destination"
    parts = target.split("/")
    named = False
    for part in parts:
        if part == os.pardir and named:
            return "climbs ('..') after a folder name, where a link could lead it anywhere"
        named = named or part not in (os.pardir, os.curdir, "")
    top = root.rstrip(os.sep) + os.sep
    if not os.path.normpath(os.path.join(folder, target)).startswith(top):
        return "leads outside the destination"
    real_top = os.path.realpath(root).rstrip(os.sep) + os.sep
    if not os.path.realpath(os.path.join(folder, target)).startswith(real_top):
        return "resolves outside the destination (through a symbolic link already there)"
    return None


def _write_small(
    folder: str, temp: str, data: bytes, final: str, mtime: int | None, sync: bool = False
) -> int:
    """Create, write, time and rename a small file with as few system calls as the job needs
    (a download of small files makes thousands, and where system calls are dear, as in a
    sandbox, each one shows): no buffered file object, the mtime set on the open descriptor,
    and the size known without a stat."""
    try:
        fd = os.open(temp, CREATE, 0o666)
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(temp, CREATE, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if mtime is not None and UTIME_FD:
            os.utime(fd, ns=_ns(mtime))
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    if mtime is not None and not UTIME_FD:
        os.utime(temp, ns=_ns(mtime))
    _rename(temp, final)
    if sync:
        _sync_folder(folder)
    return len(data)


class FileWriter(PositionalWriter):
    """A temporary file's descriptor, written at offsets (`Store.write_ranged`)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write_at(self, data: Any, offset: int) -> None:
        _write_at(self.fd, data, offset)

    def truncate(self) -> None:
        os.ftruncate(self.fd, 0)


async def _write_large(
    temp: str, reader: Reader, sync: bool = False, fill: Fill | None = None
) -> None:
    fd = os.open(temp, CREATE, 0o644)
    try:
        if fill is not None:
            await fill(FileWriter(fd))
        else:
            while chunk := await reader.read(CHUNK * 8):
                await asyncio.to_thread(os.write, fd, chunk)
        if sync:
            await asyncio.to_thread(os.fsync, fd)
    finally:
        os.close(fd)


def _md5_at(fd: int, path: str, size: int) -> str:
    """The MD5 of a file by positional reads: the descriptor's position is left alone."""
    import hashlib

    digest = hashlib.md5(usedforsecurity=False)
    for offset in range(0, size, CHUNK * 4):
        length = min(CHUNK * 4, size - offset)
        if PREAD is not None:
            digest.update(PREAD(fd, length, offset))
        else:
            digest.update(_read_at(path, offset, length))
    return digest.hexdigest()


def _read_at(path: str, offset: int, length: int) -> bytes:
    """pread where there is none: a handle of its own per call, so ranges read in parallel
    threads never share a file position."""
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def _write_at(fd: int, data: Any, offset: int) -> None:
    view = memoryview(data)
    while view:
        if PWRITE is not None:
            done = PWRITE(fd, view, offset)
        else:  # Windows: seek, then write (safe: pieces are written one at a time, on the loop)
            os.lseek(fd, offset, os.SEEK_SET)
            done = os.write(fd, view)
        view, offset = view[done:], offset + done


def _finish(temp: str, final: str, mtime: int | None, sync: bool = False) -> int:
    """Set the mtime, then rename into place: the final path never holds a partial file."""
    if mtime is not None:
        os.utime(temp, ns=_ns(mtime))
    size = os.stat(temp).st_size
    _rename(temp, final)
    if sync:
        _sync_folder(os.path.dirname(final))
    return size


def _sync_folder(folder: str) -> None:
    """Flush a folder's entries (a rename is durable only once its folder is), where a folder
    can be opened: not on Windows, whose renames the file system journals itself."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ns(mtime: int) -> tuple[int, int]:
    """(atime, mtime) for os.utime from an mtime in nanoseconds (never a float: exact)."""
    return mtime, mtime


def _rename(temp: str, final: str) -> None:
    try:
        os.replace(temp, final)
    except OSError:
        if os.path.isdir(final):
            raise IsADirectoryError(f"a folder is in the way at {final!r}") from None
        raise


def _name_final(exc: BaseException, temp: str, final: str) -> None:
    """Make an error about the temporary file name the destination file instead: messages
    never show `.NAME.fssync-tmp-...`, which the user did not ask for."""
    if isinstance(exc, OSError) and temp in (exc.filename, exc.filename2):
        exc.filename, exc.filename2 = final, None


def _discard(temp: str) -> None:
    try:
        os.remove(temp)
    except OSError:
        pass
