"""The interface every backend implements."""

from __future__ import annotations

import abc
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from fssync.model import Entry
from fssync.settings.location import Location
from fssync.stores.features import Features, Operations
from fssync.transfer.retrying import RetryPolicy

if TYPE_CHECKING:
    from fssync.state.leftovers import UploadJournal

CHUNK = 1 << 20  # streaming read size
RANGE_STEP = 8 << 20  # the most Reader.copy_range's default asks read_range for at once
LISTING_STEP = 1000  # a listing reports its progress about every this many files

# Called during a listing with the number of files found so far.
ListingProgress = Callable[[int], None]
# Takes each piece of a range as it arrives: (bytes-like, offset in the file). The piece may be
# a view of a buffer the reader reuses once the sink returns, so a sink must be done with it.
RangeSink = Callable[[Any, int], Awaitable[None]]


class RangeIgnored(OSError):
    """The server answered a ranged read with the whole object (200 where 206 was asked). A
    reader raises it before taking any byte of that answer, so no memory goes to it; the writer
    then reads the file once, start to end (`Reader.read`), instead of asking for more ranges
    that would each bring the whole object again."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}: the server ignored the byte range and sent the whole object")


class PositionalWriter(abc.ABC):
    """A file being written at offsets, in any order: what a store that declares
    `positional_writes` hands the transfer stage's ranged download. Both methods run on the
    event loop (a piece is written while it is still in the processor's cache)."""

    @abc.abstractmethod
    def write_at(self, data: Any, offset: int) -> None:
        """Put `data` (bytes-like) at `offset`."""

    @abc.abstractmethod
    def truncate(self) -> None:
        """Drop everything written so far: the file is written again from its first byte."""


@attrs.frozen
class Listing:
    """One side's files. `rejected` holds keys that may not be used, with the reason (a remote
    store rejects only keys unsafe to write, `unsafe_reason`: the engine counts a source's as
    failures; a local folder rejects links and special files it skips by choice); `errors`
    holds folders that could not be read (a partial listing forbids deletions); `leftovers`
    holds temporary files of earlier runs (see `fssync.state.leftovers`)."""

    entries: Mapping[str, Entry]
    rejected: tuple[tuple[str, str], ...] = ()
    errors: tuple[tuple[str, str], ...] = ()
    exists: bool = True
    leftovers: tuple[str, ...] = ()


@attrs.frozen
class Stated:
    """What a reader knows of the file it reads, as one value: a reader sets it when it is
    opened (or, for an object, from the first reply, before any byte is handed on) and never
    changes it while the content is read; a wrapper forwards this one value."""

    size: int = 0
    mtime: float | None = None
    # The same mtime in exact nanoseconds, when the reader knows it so (a local file's
    # st_mtime_ns, an object's stored mtime): what writers store, as `source_mtime_ns` gives it.
    mtime_ns: int | None = None
    etag: str | None = None
    expected_md5: str | None = None  # the MD5 the source states for the content, when it does
    expected_parts: tuple[int, str] | None = None  # (part size, multipart ETag) likewise


class Reader(abc.ABC):
    """A source file opened for sequential reading."""

    ranged: bool = False  # read_range works
    # read_range is as cheap as read (a local file, no request per call): a writer may read a
    # range twice, e.g. once to hash a part and once to send it, instead of holding it in memory.
    cheap_ranges: bool = False
    _stated: Stated = Stated()

    @property
    def stated(self) -> Stated:
        """What the reader knows of the file (size, mtime, ETag, the hashes the source states)."""
        return self._stated

    @stated.setter
    def stated(self, value: Stated) -> None:
        self._stated = value

    # Each fact read on its own, for the writers; a reader sets them before the content is read.
    # (A new Stated by position: attrs.evolve costs several microseconds, paid per file.)
    @property
    def size(self) -> int:
        return self.stated.size

    @size.setter
    def size(self, value: int) -> None:
        s = self.stated
        self.stated = Stated(value, s.mtime, s.mtime_ns, s.etag, s.expected_md5, s.expected_parts)

    @property
    def mtime(self) -> float | None:
        return self.stated.mtime

    @mtime.setter
    def mtime(self, value: float | None) -> None:
        s = self.stated
        self.stated = Stated(s.size, value, s.mtime_ns, s.etag, s.expected_md5, s.expected_parts)

    @property
    def mtime_ns(self) -> int | None:
        return self.stated.mtime_ns

    @mtime_ns.setter
    def mtime_ns(self, value: int | None) -> None:
        s = self.stated
        self.stated = Stated(s.size, s.mtime, value, s.etag, s.expected_md5, s.expected_parts)

    @property
    def etag(self) -> str | None:
        return self.stated.etag

    @etag.setter
    def etag(self, value: str | None) -> None:
        s = self.stated
        self.stated = Stated(s.size, s.mtime, s.mtime_ns, value, s.expected_md5, s.expected_parts)

    @property
    def expected_md5(self) -> str | None:
        return self.stated.expected_md5

    @expected_md5.setter
    def expected_md5(self, value: str | None) -> None:
        s = self.stated
        self.stated = Stated(s.size, s.mtime, s.mtime_ns, s.etag, value, s.expected_parts)

    @property
    def expected_parts(self) -> tuple[int, str] | None:
        return self.stated.expected_parts

    @expected_parts.setter
    def expected_parts(self, value: tuple[int, str] | None) -> None:
        s = self.stated
        self.stated = Stated(s.size, s.mtime, s.mtime_ns, s.etag, s.expected_md5, value)

    @abc.abstractmethod
    async def read(self, n: int = -1) -> bytes:
        """Up to n bytes (all that is left when n < 0); b"" at the end."""

    async def read_range(self, offset: int, length: int) -> bytes | bytearray | None:
        """Bytes at an offset, for parallel ranged downloads; None when the backend cannot."""
        return None

    async def copy_range(self, offset: int, length: int, sink: RangeSink) -> None:
        """Hand the bytes of a range to `sink` in order, piece by piece as they arrive, so a
        writer can put them on disk at once: memory then does not grow with the range size.
        When the range cannot be read whole, raise or return early: the caller asks again from
        the first byte the sink did not take. This default reads the range in steps of
        `RANGE_STEP` (memory stays bounded when ranges are large) and returns at the first
        short step."""
        end = offset + length
        while offset < end:
            want = min(RANGE_STEP, end - offset)
            data = await self.read_range(offset, want)
            if data:
                await sink(data, offset)
            if data is None or len(data) != want:
                return
            offset += want

    async def content_md5(self) -> str | None:
        """The whole content's hex MD5 when it can be known cheaply before the content is
        read (a multipart upload states it in metadata sent before the first part): the
        source's own statement, or a first pass over a small local file. None otherwise."""
        return None

    async def close(self) -> None:  # noqa: B027 - optional
        pass

    async def verify(self, written: str | None = None) -> None:  # noqa: B027 - optional
        """Raise `fssync.content.integrity.IntegrityError` when what was read cannot be trusted (the
        source changed while it was read). Writers call it before they commit."""


def source_mtime_ns(reader: Reader, entry: Entry) -> int | None:
    """The mtime a writer gives the copy, in nanoseconds: the reader's (learned from the file or
    from the object's first reply), else the listed mtime, else the store's write time."""
    if reader.mtime is not None:
        return reader.mtime_ns if reader.mtime_ns is not None else round(reader.mtime * 1e9)
    when = entry.mtime or entry.stamp
    return None if when is None else round(when * 1e9)


async def known_md5(reader: Reader, entry: Entry) -> str | None:
    """The content MD5 an upload can state before it sends the content: the plan's (a
    checksum run's hash, used while the opened file is the one listed), else what the reader
    can tell cheaply (`Reader.content_md5`)."""
    if entry.md5 and reader.size == entry.size and reader.mtime == entry.mtime:
        return entry.md5
    return await reader.content_md5()


class Store(abc.ABC):
    """One side of a sync."""

    location: Location
    # An identity for the state store: which physical store this is (endpoint + protocol).
    identity: str = ""
    # What this store class implements beyond listing, reading, writing and deleting; callers
    # read `features`, which adds what the location's backend keeps. Declare it, never leave
    # a caller to guess: an operation not declared is never called.
    operations: Operations = Operations()
    # A store that declares `multipart_journal` is given a `fssync.state.leftovers.UploadJournal`
    # here to record each upload in (``begin``, ``created``, ``end``); fssync cleans what killed
    # runs left through ``list_uploads`` and ``abort_upload`` below.
    journal: UploadJournal | None = None
    # The live fsspec filesystem behind the store, when it has one: what the
    # ``fssync_filesystem_ready`` hook is handed. None for stores that make their own requests.
    fs: Any = None
    # The run's retry policy (`fssync.transfer.retrying`), set by the engine on every store it opens:
    # how a listing that fetches pages retries a wrong or failing one (`fssync.stores.s3.pages`),
    # how often a range is fetched again; and a function told of each listing retry.
    retry: RetryPolicy = RetryPolicy()
    on_listing_retry: Callable[[int, int, int, float, str], None] | None = None

    @functools.cached_property
    def features(self) -> Features:
        """What callers may rely on: the declared `operations` and the location's
        capabilities, in one frozen value (made once: transfers ask it per file)."""
        return Features.of(self.operations, self.location.capabilities)

    async def head(self, entry: Entry) -> tuple[Mapping[str, str], bool]:
        """One object's user metadata, and whether its ETag is opaque (not the MD5 of its
        content); only stores that declare `head` are asked."""
        raise NotImplementedError

    async def list_uploads(self, bucket: str, key: str) -> list[tuple[str, str, float | None]]:
        """(key, upload id, start time in epoch seconds) of the unfinished multipart uploads
        whose key starts with `key`; only stores that declare `multipart_journal` are asked."""
        raise NotImplementedError

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Abort one multipart upload (``NoSuchUpload`` when it is already gone)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def scan(self, progress: ListingProgress | None = None) -> Listing:
        """List every file under the root; call `progress` now and then on long listings."""

    async def top(self) -> tuple[tuple[str, ...], Listing]:
        """The folders right under the root (names ending in ``/``) and a listing of the files
        there, from one folder read or delimiter listing: how a run is cut in shards that
        workers list each on their own (`fssync.execute.sharding`); only stores that declare `top`
        are asked."""
        raise NotImplementedError

    def below(self, location: Location) -> Store | None:
        """This store seen from a folder under its root (`location`), over this store's own
        connection, for listing that folder: what a worker lists a shard with (`fssync.
        sharding`) without connecting again. Never closed itself (closing this store ends
        both). None: this store cannot; open a store at `location` instead."""
        return None

    def ranged(self, after: str | None, upto: str | None) -> Store | None:
        """This store listing only the keys after `after` and up to `upto` (None: from the
        first, to the last), over its own connection: a key-range shard of a sharded run.
        Never closed itself. None: this store cannot."""
        return None

    async def glance(self, keys: int) -> tuple[tuple[str, ...], bool] | None:
        """The folders a first look at the root of at most `keys` entries shows, and whether
        the root holds more; None: no such cheap look (see `key_after`)."""
        return None

    async def key_after(self, after: str) -> str | None:
        """The first key after `after`, from one small request: how a sharded run samples a
        flat root to cut it in key ranges. Only asked of a store whose `glance` answers."""
        raise NotImplementedError

    @abc.abstractmethod
    async def open(self, entry: Entry) -> Reader: ...

    @abc.abstractmethod
    async def write(self, entry: Entry, reader: Reader, options: Mapping[str, Any]) -> Entry:
        """Write `entry.key` from `reader`; return what the destination now holds."""

    async def write_ranged(
        self, entry: Entry, reader: Reader, fill: Callable[[PositionalWriter], Awaitable[None]]
    ) -> Entry:
        """Write `entry.key` as `write` does, its content put at its offsets by `fill` (the
        transfer stage's parallel ranged download, `fssync.transfer.ranges`): the store opens the file,
        awaits `fill(writer)`, then verifies the reader and commits as `write` does. Called
        only on stores that declare `positional_writes`."""
        raise NotImplementedError(f"{type(self).__name__} takes no positional writes")

    async def copy_within(
        self, source: Store, entry: Entry, options: Mapping[str, Any]
    ) -> Entry | None:
        """Server-side copy from another location on the same store; None when not possible."""
        return None

    async def move(self, old: Entry, key: str) -> Entry | None:
        """Move a file within this store to a new key; None when the store cannot."""
        return None

    async def keep_copy(self, source: Store, entry: Entry, key: str) -> Entry | None:
        """Keep the file `entry` of `source` under `key` here (``--backup-dir``), without its
        bytes passing through fssync: a server-side copy, a hard link. The source's file may be
        replaced or deleted afterwards. None when this store cannot (fssync then streams it)."""
        return None

    async def stat(self, key: str) -> Entry | None:
        """The file as it is now, asked again after it changed during a transfer (a ranged
        download answered 412): fssync then copies the new version in the same run. None when
        the store cannot tell, or the file is gone."""
        return None

    # Whether a file and a folder cannot share a name here (a local disk): a file replaced
    # by a folder, or the reverse, then needs the old one deleted before the new is written.
    folders = False

    async def remove_empty_folder(self, key: str) -> None:  # noqa: B027 - optional
        """Remove the folder at `key` if nothing but empty folders is left in it (stores
        with `folders` only)."""

    def write_last(self, key: str) -> bool:
        """Whether the write of `key` waits until every other write of the run is done. A
        local folder makes `--links` link files into symbolic links last, so no file of the
        run is ever written through a link the same run made."""
        return False

    def check_keys(self, keys: Iterable[str]) -> list[tuple[str, str]]:
        """Keys this destination cannot hold as given (names that collide or are too long),
        with the reason; they are skipped and reported instead of overwriting each other.
        By default from the declared `features`: case sensitivity, name and path limits."""
        f = self.features
        if f.case_sensitive and f.name_max is None and f.key_max is None:
            return []
        from fssync.planning.naming import name_problems

        found = name_problems(
            keys,
            case_insensitive=not f.case_sensitive,
            name_max=f.name_max,
            key_max=f.key_max,
            prefix=self._key_prefix(),
        )
        return sorted(found.items())

    def _key_prefix(self) -> int:
        """The bytes a key limit counts before a key: the root's path inside the bucket and
        its slash (an object store's root is ``bucket/prefix``)."""
        _, _, inside = self.location.root.strip("/").partition("/")
        return len(inside.encode("utf-8", "surrogateescape")) + 1 if inside else 0

    async def set_mtime(self, entry: Entry, mtime_ns: int) -> Entry | None:
        """Give a file whose content is known to be right the source's mtime, without
        rewriting its content; None when this store cannot (the file is then copied)."""
        return None

    async def create_only(self, key: str, data: bytes) -> bool:
        """Write the small file `key` only if nothing is there: True when written, False when
        something was. Atomic against every other client (O_EXCL on a local disk, a
        conditional PUT on S3); only stores that declare `exclusive_create` are asked: the
        two-way sync's lock on a side needs it, and a store without it gets no lock file."""
        raise NotImplementedError

    async def replace_small(self, key: str, data: bytes) -> None:
        """Write the small file `key` whole, replacing what is there (stores with
        `exclusive_create`)."""
        raise NotImplementedError

    async def read_small(self, key: str) -> bytes | None:
        """The bytes of the small file `key`, or None when there is none (stores with
        `exclusive_create`)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def delete(self, keys: list[str]) -> list[tuple[str, str]]:
        """Delete keys; return (key, error) for each one that could not be deleted."""

    async def close(self) -> None:  # noqa: B027 - optional
        pass
