"""What fssync does with S3 objects, written once over a small async client protocol.

Both S3 request paths (botocore through s3fs's client, `fssync.stores.s3.s3fs_path`; fssync's own client,
``fssync_plugins.s3_fast``) keep the same objects the same way: one PUT with Content-MD5 or a
multipart upload (journal, retried twins aborted, abort shielded from cancellation, resume of an
upload a gone run left), a part or PUT whose ETag does not vouch for its bytes sent again or read
back, GETs that carry the metadata, ranges asked "if the object is still the one listed", and
server-side copies that keep what must be kept. `S3ObjectStore` holds those rules; a store is a
subclass that brings its listing and an `S3Transport`, the adapter that makes the requests.

Replies cross the protocol in botocore's shape (``ETag``, ``Metadata``, ``ServerSideEncryption``,
``SSECustomerAlgorithm``, ``ContentLength``, ``LastModified`` as a datetime, and the
`s3meta.KEPT_ON_REPLACE` names), which `s3meta` reads; write options use botocore's parameter
names (``Metadata`` a mapping), as plugins return them from ``fssync_transfer_options``.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Protocol

from fssync.model import Entry
from fssync.settings.location import Location, unsafe_reason
from fssync.stores.base import (
    Listing,
    ListingProgress,
    RangeIgnored,
    RangeSink,
    Reader,
    Stated,
    Store,
    known_md5,
    source_mtime_ns,
)
from fssync.stores.features import S3 as S3_OPERATIONS
from fssync.stores.s3 import pages as s3pages
from fssync.stores.s3 import resume
from fssync.stores.s3.confirm import unconfirmed_put
from fssync.stores.s3.meta import (
    COPY_LIMIT,
    KEPT_ON_REPLACE,
    MD5_B64_KEY,
    MD5_KEY,
    MTIME_KEY,
    PART_BUFFERS,
    PART_KEY,
    PROBE_PART,
    PartPlan,
    confirmed,
    format_mtime_ns,
    md5_b64,
    opaque_etag,
    options_problem,
    stated_md5,
    stated_parts,
    stored_mtime_ns,
)

Reply = Mapping[str, Any]  # a response's facts in botocore's shape (see the module docstring)
# One listed object: (full key, size, LastModified in epoch seconds, ETag as the server gave it).
Listed = tuple[str, int, float, str]

SLICE = 1 << 20  # a part sent from a file is read and sent in slices of this size
PIECE = 1 << 20  # a range is received and handed on in pieces of this size
# Parts of one store sent at once when streaming from a local file. Measured against SeaweedFS on
# loopback (2 cores shared with the server), 64 MiB in 8 MiB parts: 8 at once 1.8-1.9 s,
# 4 at once 1.3-1.5 s, 2 at once 1.1-1.4 s; 4 is also rclone's default.
PARTS_IN_FLIGHT = 4
# Sends of one part whose ETag does not confirm its bytes (a server that ignores Content-MD5
# stores what arrived) before the file's transfer fails and is retried whole.
PART_TRIES = 3
NOT_FOUND = ("404", "NoSuchKey", "NotFound")
# A conditional create that found the key there (412), or lost a race to another (409).
EXISTS = ("412", "PreconditionFailed", "ConditionalRequestConflict")


class Slices:
    """A part body read from the source slice by slice, never held whole: `chunks` is called
    again for each send, so a retried request reads (and sends) the part again."""

    def __init__(self, length: int, chunks: Callable[[], AsyncIterator[bytes]]) -> None:
        self.length = length
        self._source = chunks

    def chunks(self) -> AsyncIterator[bytes]:
        return self._source()


class HashedSlices(Slices):
    """Slices whose MD5 is computed while they are sent (`md5`, set after a whole pass)."""

    def __init__(self, length: int, chunks: Callable[[], AsyncIterator[bytes]]) -> None:
        super().__init__(length, chunks)
        self.md5: bytes | None = None

    async def chunks(self) -> AsyncIterator[bytes]:  # type: ignore[override]
        self.md5 = None  # a retried request sends, and hashes, the part again
        md5 = hashlib.md5(usedforsecurity=False)
        async for chunk in self._source():
            await asyncio.to_thread(md5.update, chunk)  # hashlib releases the GIL
            yield chunk
        self.md5 = md5.digest()


PartBody = bytes | Slices


class ObjectBody(Protocol):
    """The answer to a GET: its status, its facts, and its body streamed from the connection."""

    status: int
    reply: Reply

    @property
    def remaining(self) -> int:
        """Body bytes still to read; -1 when not known."""

    async def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes (the rest when n < 0); b"" at the end."""

    async def read_into(self, view: memoryview) -> None:
        """Fill `view` with the next len(view) bytes, or raise."""

    def close(self) -> None:
        """Done with the answer (unread bytes are dropped with the connection)."""


class S3Transport(Protocol):
    """The S3 requests `S3ObjectStore` makes. Errors are raised with a ``response`` in
    botocore's ``ClientError`` shape (``Error.Code``), so one reading of them serves both."""

    # upload_part takes a `Slices` body, sent as it is read: a part from a local file is never
    # held in memory (else every part is read into a buffer first).
    sends_slices: bool
    # ObjectBody.read_into is cheap (straight from the socket): a range is handed on in pieces.
    reads_into: bool

    async def list_page(
        self,
        bucket: str,
        prefix: str,
        token: str | None,
        folders: list[str] | None = None,
        *,
        start_after: str | None = None,
        max_keys: int | None = None,
    ) -> tuple[Iterable[Listed], s3pages.PageFacts]:
        """One ListObjectsV2 page: its objects, and the facts `s3pages` checks it by. Given
        `folders`, a delimiter ("/") listing whose common prefixes (full keys, decoded) are
        appended to it; `start_after` (a full key) starts it after that key, `max_keys`
        holds it to fewer keys than a full page."""

    async def put_object(
        self, bucket: str, key: str, data: bytes, md5: bytes, options: Mapping[str, Any]
    ) -> Reply: ...

    async def create_multipart(
        self, bucket: str, key: str, options: Mapping[str, Any]
    ) -> tuple[str, bool]:
        """(upload id, whether the request was sent more than once: a lost reply may have
        left a twin upload behind)."""

    async def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: PartBody,
        md5: bytes | None,
        *,
        attempts: int | None = None,
    ) -> Reply:
        """Send one part, with Content-MD5 when `md5` is given; at most `attempts` sends where
        the transport counts them itself."""

    async def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> str | None: ...

    async def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None: ...

    async def list_parts(
        self, bucket: str, key: str, upload_id: str
    ) -> dict[int, tuple[str, int]]: ...

    async def list_uploads(
        self, bucket: str, prefix: str
    ) -> list[tuple[str, str, float | None]]: ...

    async def head(self, bucket: str, key: str) -> Reply: ...

    async def get(
        self,
        bucket: str,
        key: str,
        byte_range: tuple[int, int] | None = None,
        if_match: str | None = None,
    ) -> ObjectBody:
        """A GET (bytes first to last of `byte_range`, inclusive) whose body streams."""

    async def copy(
        self,
        bucket: str,
        key: str,
        src_bucket: str,
        src_key: str,
        options: Mapping[str, Any],
        if_match: str | None = None,
    ) -> str | None:
        """A server-side copy; the new object's ETag (unquoted) or None."""

    async def delete_object(self, bucket: str, key: str) -> None: ...

    async def delete_objects(self, bucket: str, keys: list[str]) -> list[tuple[str, str]]:
        """Delete up to 1,000 keys; (key, message) for each that failed."""

    async def close(self) -> None: ...


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of an exception from either transport."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or None
    return None


def _etag(reply: Reply) -> str:
    return str(reply.get("ETag", "")).strip('"')


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


class S3Reader(Reader):
    """An object opened for reading: one GET for a sequential read (no HEAD first, its answer
    carries the metadata), ranged GETs "if the object is still the one listed"."""

    def __init__(self, store: S3ObjectStore, key: str, entry: Entry) -> None:
        self._store, self._key = store, key
        self.ranged = not store.ranges_ignored  # once seen, later files are read whole
        self.stated = Stated(size=entry.size, mtime=entry.mtime, etag=entry.etag)
        self._learned = False  # the first reply stated the object's facts
        # One overwritten meanwhile answers 412 instead of lending its bytes to a file that
        # has the old one's others.
        self._listed = f'"{entry.etag}"' if entry.etag else None
        self._body: ObjectBody | None = None

    def _learn(self, reply: Reply, *, whole: bool) -> None:
        """Every GET answer carries the object's metadata: the first one gives the reader its
        facts (the stored mtime, the MD5 or multipart ETag the content must have, which
        `fssync.content.integrity` checks; a whole answer its size and ETag too), before any byte of
        it is handed on. Later answers are ranges of the same object (`If-Match`), so the
        facts never change while the content is read."""
        if self._learned:
            return
        self._learned = True
        old = self.stated
        mtime_ns = stored_mtime_ns(reply.get("Metadata"))
        length = reply.get("ContentLength")
        self.stated = Stated(
            size=int(length) if whole and length is not None else old.size,
            mtime=old.mtime if mtime_ns is None else mtime_ns / 1e9,
            mtime_ns=old.mtime_ns if mtime_ns is None else mtime_ns,
            etag=(_etag(reply) or old.etag) if whole else old.etag,
            expected_md5=stated_md5(reply),
            expected_parts=stated_parts(reply),
        )

    async def _get(self) -> ObjectBody:
        if self._body is None:
            store = self._store
            self._body = await store.transport.get(store.bucket, self._key)
            self._learn(self._body.reply, whole=True)
        return self._body

    async def content_md5(self) -> str | None:
        await self._get()  # the GET the copy reads anyway; its reply states the MD5
        return self.expected_md5

    async def read(self, n: int = -1) -> bytes:
        body = await self._get()
        return await body.read(n)

    async def _ranged(self, offset: int, length: int) -> ObjectBody:
        store = self._store
        byte_range = (offset, offset + length - 1)
        body = await store.transport.get(store.bucket, self._key, byte_range, self._listed)
        if body.status == 200:  # the whole object: not read, the connection dropped
            body.close()
            store.ranges_ignored = True
            raise RangeIgnored(self._key)
        self._learn(body.reply, whole=False)
        return body

    async def read_range(self, offset: int, length: int) -> bytes | bytearray | None:
        if length <= 0:
            return b""
        body = await self._ranged(offset, length)
        try:
            return await body.read(-1)
        finally:
            body.close()

    async def copy_range(self, offset: int, length: int, sink: RangeSink) -> None:
        """Where the transport reads straight from the socket, receive the range piece by piece
        into one reused buffer, handing each piece to `sink` before the next is received."""
        if not self._store.transport.reads_into:
            return await super().copy_range(offset, length, sink)
        if length <= 0:
            return None
        body = await self._ranged(offset, length)
        try:
            if body.remaining != length:  # a server that ignored the range, or a short answer
                data = await body.read(-1)
                if len(data) == length:
                    await sink(data, offset)
                return None  # the caller sees that the range is not whole
            view = memoryview(bytearray(min(PIECE, length)))
            at, end = offset, offset + length
            while at < end:
                piece = view[: min(len(view), end - at)]
                await body.read_into(piece)
                await sink(piece, at)
                at += len(piece)
        finally:
            body.close()
        return None

    async def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None


class S3ObjectStore(Store):
    """The S3 object rules over `transport`. A subclass connects: it sets `location`,
    `identity`, `bucket`, `prefix` and `parts`, and calls `use_transport` with its transport."""

    operations = S3_OPERATIONS
    transport: S3Transport
    bucket: str
    prefix: str
    parts: PartPlan = PartPlan()  # --multipart-threshold, --multipart-chunk-size
    journal: Any = None  # a fssync.state.leftovers.UploadJournal when the state file is in use
    ranges_ignored = False  # the server answered a ranged GET with the whole object
    # Keys listed: those after the first and up to the second (None: from the start, to the
    # end); a view made by `ranged` lists one range of a sharded run.
    _range: tuple[str | None, str | None] = (None, None)
    # Learned during the run: this store's ETags are not MD5s (an object read back held the
    # bytes sent, or the server refuses a wrong Content-MD5 and so checked the bytes itself).
    etags_opaque = False
    _honours_md5: asyncio.Future[bool] | None = None

    def use_transport(self, transport: S3Transport) -> None:
        self.transport = transport
        self._buffers = asyncio.Semaphore(PART_BUFFERS)  # parts held in memory, whole store
        self._parts_in_flight = asyncio.Semaphore(PARTS_IN_FLIGHT)
        self.parts_kept = 0  # parts of resumed uploads not sent again

    def _key(self, key: str) -> str:
        return self.prefix + key

    # -- listing ------------------------------------------------------------------------------

    async def scan(self, progress: ListingProgress | None = None) -> Listing:
        """Every object under the prefix, one checked page at a time (`s3pages`): folder
        markers skipped, keys that could escape a destination's root rejected."""
        return await self._scan(progress, None)

    def below(self, location: Location) -> Store | None:
        view = copy.copy(self)  # the same transport: no new connection, no new credentials
        view.location = location
        bucket, _, prefix = location.root.partition("/")
        if bucket != self.bucket:
            return None
        view.prefix = prefix + "/" if prefix else ""
        return view

    def ranged(self, after: str | None, upto: str | None) -> Store | None:
        view = copy.copy(self)  # the same transport, listing only the keys of the range
        view._range = (after, upto)
        return view

    async def glance(self, keys: int) -> tuple[tuple[str, ...], bool] | None:
        """One delimiter page of at most `keys` entries: the folders on it, and whether the
        root holds more than it showed."""
        folders: list[str] = []
        _, facts = await self.transport.list_page(
            self.bucket, self.prefix, None, folders, max_keys=keys
        )
        cut = len(self.prefix)
        return tuple(f[cut:] for f in folders), bool(facts.truncated)

    async def key_after(self, after: str) -> str | None:
        """The first key after `after` (both from the root), in a listing of one key."""
        rows, _ = await self.transport.list_page(
            self.bucket, self.prefix, None, None, start_after=self.prefix + after, max_keys=1
        )
        cut = len(self.prefix)
        return next((full[cut:] for full, _, _, _ in rows), None)

    async def top(self) -> tuple[tuple[str, ...], Listing]:
        """One delimiter listing: the folders right under the prefix (``name/``), and the
        objects beside them; how a distributed run finds its shards."""
        folders: list[str] = []
        listing = await self._scan(None, folders)
        cut = len(self.prefix)
        return tuple(sorted(f[cut:] for f in folders)), listing

    async def _scan(self, progress: ListingProgress | None, folders: list[str] | None) -> Listing:
        entries: dict[str, Entry] = {}
        rejected: list[tuple[str, str]] = []
        cut = len(self.prefix)
        pages = s3pages.Pages(
            self.location.url, self.bucket, self.prefix, self.retry, self.on_listing_retry
        )

        after, upto = self._range if folders is None else (None, None)
        start = self.prefix + after if after is not None else None
        last = self.prefix + upto if upto is not None else None

        async def fetch(token: str | None) -> tuple[Iterable[Listed], s3pages.PageFacts]:
            return await self.transport.list_page(
                self.bucket, self.prefix, token, folders, start_after=start
            )

        while not pages.done:
            for full, size, stamp, etag in await pages.next(fetch):
                if last is not None and full > last:
                    pages.done = True  # past the range: the rest of the listing is another's
                    break
                key = full[cut:]
                if key.endswith("/") and size == 0:
                    continue  # a folder marker, not a file
                reason = unsafe_reason(key)
                if reason:
                    rejected.append((full, reason))
                    continue
                entries[key] = Entry(key, size, None, stamp, etag.strip('"') or None)
            if progress is not None and not pages.done:
                progress(len(entries))
        return Listing(entries=entries, rejected=tuple(rejected))

    # -- reads --------------------------------------------------------------------------------

    async def open(self, entry: Entry) -> Reader:
        return S3Reader(self, self._key(entry.key), entry)

    async def head(self, entry: Entry) -> tuple[Mapping[str, str], bool]:
        """The object's user metadata, and whether its ETag cannot be an MD5 (SSE-KMS/SSE-C)."""
        reply = await self.transport.head(self.bucket, self._key(entry.key))
        return reply.get("Metadata") or {}, opaque_etag(reply)

    async def stat(self, key: str) -> Entry | None:
        try:
            reply = await self.transport.head(self.bucket, self._key(key))
        except Exception as exc:  # noqa: BLE001 - gone or unreadable: the caller reports it
            if error_code(exc) in NOT_FOUND or getattr(exc, "status", None) == 404:
                return None
            raise
        modified = reply.get("LastModified")
        stamp = modified.timestamp() if modified else None
        return Entry(key, int(reply.get("ContentLength") or 0), None, stamp, _etag(reply) or None)

    # -- small files created atomically (the two-way sync's lock; `exclusive_create`) ---------

    async def create_only(self, key: str, data: bytes) -> bool:
        """A PUT with ``If-None-Match: *``: the server refuses it (412) when the key exists."""
        md5 = hashlib.md5(data, usedforsecurity=False).digest()
        try:
            await self.transport.put_object(
                self.bucket, self._key(key), data, md5, {"IfNoneMatch": "*"}
            )
        except Exception as exc:  # noqa: BLE001 - only "it exists" is an answer here
            if error_code(exc) in EXISTS or getattr(exc, "status", None) in (409, 412):
                return False
            raise
        return True

    async def replace_small(self, key: str, data: bytes) -> None:
        md5 = hashlib.md5(data, usedforsecurity=False).digest()
        await self.transport.put_object(self.bucket, self._key(key), data, md5, {})

    async def read_small(self, key: str) -> bytes | None:
        try:
            body = await self.transport.get(self.bucket, self._key(key))
        except Exception as exc:  # noqa: BLE001 - gone: nothing there
            if error_code(exc) in NOT_FOUND or getattr(exc, "status", None) == 404:
                return None
            raise
        try:
            return await body.read()
        finally:
            body.close()

    # -- writes -------------------------------------------------------------------------------

    async def write(self, entry: Entry, reader: Reader, options: Mapping[str, Any]) -> Entry:
        mtime_ns = source_mtime_ns(reader, entry)
        mtime = None if mtime_ns is None else mtime_ns / 1e9
        extra = dict(options)
        meta = dict(extra.pop("Metadata", {}) or {})
        if mtime_ns is not None:
            meta[MTIME_KEY] = format_mtime_ns(mtime_ns)
        if entry.md5:
            meta[MD5_KEY] = entry.md5
        key = self._key(entry.key)
        if not self.parts.multipart(entry.size):
            data = await reader.read(-1)
            await reader.verify()
            digest = _md5(data)
            meta[MD5_KEY] = digest.hex()  # what was actually sent
            reply = await self.transport.put_object(
                self.bucket, key, data, digest, {**extra, "Metadata": meta}
            )
            etag = _etag(reply) or digest.hex()
            if not confirmed(reply, digest.hex()) and not self.etags_opaque:
                await unconfirmed_put(self, entry, len(data), digest.hex(), etag)
            size = len(data)
        else:
            md5 = await known_md5(reader, entry)
            if md5:  # readable by rclone and others, as the multipart ETag is no MD5
                meta[MD5_KEY], meta[MD5_B64_KEY] = md5, md5_b64(md5)
            else:
                meta.pop(MD5_KEY, None)
            etag, size = await self._multipart(key, reader, entry.size, meta, extra, mtime_ns)
        return Entry(key=entry.key, size=size, mtime=mtime, etag=etag, md5=meta.get(MD5_KEY))

    async def _multipart(
        self,
        key: str,
        reader: Reader,
        size: int,
        meta: dict[str, str],
        extra: dict[str, Any],
        mtime_ns: int | None = None,
    ) -> tuple[str, int]:
        """Upload in parts, several at once; the upload is aborted on any failure. An upload
        of this very file that a gone run left is resumed (see `fssync.stores.s3.resume`).

        A local file, on a transport that sends `Slices`, goes straight from the file,
        PARTS_IN_FLIGHT parts at a time in 1 MiB slices, so memory does not grow with the part
        size. Other sources are read part by part into at most PART_BUFFERS buffers.
        """
        from fssync.state.leftovers import abort_twins  # leftovers imports the stores

        bucket, transport = self.bucket, self.transport
        from_file = reader.cheap_ranges and transport.sends_slices
        part_size = self.parts.part_size(reader.size if from_file else size)
        meta = {**meta, PART_KEY: str(part_size)}
        journal = self.journal  # records the upload so a killed run's parts can be aborted
        resumed = (
            await resume.find(self, journal, bucket, key, size, mtime_ns, part_size)
            if journal
            else None
        )
        row: int | None
        if resumed is not None:  # an upload of this very file that a gone run left
            row, upload_id = resumed.row, resumed.upload_id
        else:
            row = await journal.begin(bucket, key) if journal else None
            since = time.time()
            upload_id, retried = await transport.create_multipart(
                bucket, key, {**extra, "Metadata": meta}
            )
            if journal:
                await journal.created(row, upload_id)
                await journal.describe(row, size, mtime_ns, part_size)
            if retried:  # an earlier attempt may have created an upload whose reply was lost
                await abort_twins(self, bucket, key, upload_id, since)
        try:
            if from_file:
                parts, total = await self._parts_from_ranges(
                    key, upload_id, reader, part_size, extra, resumed
                )
            else:
                parts, total = await self._parts_from_stream(
                    key, upload_id, reader, part_size, resumed
                )
            await reader.verify()
            etag = await transport.complete_multipart(bucket, key, upload_id, parts)
        except BaseException as exc:
            if await asyncio.shield(self._abort(key, upload_id)) and journal:
                await asyncio.shield(journal.end(row))
            if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
                raise exc.exceptions[0] from None  # the cause, as one error to diagnose
            raise
        if journal:
            await journal.end(row)
        return (etag or "").strip('"'), total

    async def _parts_from_ranges(
        self,
        key: str,
        upload_id: str,
        reader: Reader,
        part_size: int,
        options: Mapping[str, Any],
        resumed: resume.Resumed | None = None,
    ) -> tuple[list[tuple[int, str]], int]:
        size = reader.size  # the file as opened, not as listed
        parts: dict[int, str] = {}

        async def piece(offset: int, length: int) -> bytes:
            data = await reader.read_range(offset, length)
            if data is None or len(data) != length:
                raise OSError(f"{key}: the file changed while it was uploaded")
            return data if isinstance(data, bytes) else bytes(data)  # a local file: bytes

        async def slices(offset: int, length: int) -> AsyncIterator[bytes]:
            for start in range(offset, offset + length, SLICE):
                yield await piece(start, min(SLICE, offset + length - start))

        # One pass per part: hashed while it is sent, and the ETag checked against that MD5
        # (what the server computed over what arrived). Where the ETag is no MD5 (SSE-KMS,
        # SSE-C) that check is impossible: the part goes again with Content-MD5, computed in a
        # first pass, and so do the parts after it.
        one_pass = not (opaque_etag(options) or self.etags_opaque)

        async def send(number: int, offset: int, length: int) -> None:
            nonlocal one_pass
            async with self._parts_in_flight:
                held = resumed is not None and number in resumed.parts
                if one_pass and not held:  # a part the server may hold is hashed first
                    hashed = HashedSlices(length, lambda: slices(offset, length))
                    answer = await self.transport.upload_part(
                        self.bucket, key, upload_id, number, hashed, None
                    )
                    if opaque_etag(answer):
                        one_pass = False
                    elif hashed.md5 is not None and confirmed(answer, hashed.md5.hex()):
                        parts[number] = str(answer.get("ETag", ""))
                        return
                md5 = hashlib.md5(usedforsecurity=False)
                async for chunk in slices(offset, length):
                    await asyncio.to_thread(md5.update, chunk)  # hashlib releases the GIL
                body = Slices(length, lambda: slices(offset, length))
                parts[number] = await self._send_part(
                    key, upload_id, number, body, md5.digest(), resumed, length
                )

        async with asyncio.TaskGroup() as tg:
            for number, offset in enumerate(range(0, size, part_size), start=1):
                tg.create_task(send(number, offset, min(part_size, size - offset)))
        if await reader.read_range(size, 1):
            raise OSError(f"{key}: the file grew while it was uploaded")
        return [(n, parts[n]) for n in sorted(parts)], size

    async def _parts_from_stream(
        self,
        key: str,
        upload_id: str,
        reader: Reader,
        part_size: int,
        resumed: resume.Resumed | None = None,
    ) -> tuple[list[tuple[int, str]], int]:
        parts: dict[int, str] = {}
        total = 0

        async def send(number: int, data: bytes) -> None:
            try:
                md5 = await asyncio.to_thread(_md5, data)  # hashlib releases the GIL
                parts[number] = await self._send_part(
                    key, upload_id, number, data, md5, resumed, len(data)
                )
            finally:
                self._buffers.release()

        async with asyncio.TaskGroup() as tg:
            number = 0
            while True:
                await self._buffers.acquire()
                try:
                    data = await reader.read(part_size)
                except BaseException:
                    self._buffers.release()
                    raise
                if not data:
                    self._buffers.release()
                    break
                number += 1
                total += len(data)
                tg.create_task(send(number, data))
                del data
        return [(n, parts[n]) for n in sorted(parts)], total

    async def _send_part(
        self,
        key: str,
        upload_id: str,
        number: int,
        body: PartBody,
        md5: bytes,
        resumed: resume.Resumed | None = None,
        length: int = 0,
    ) -> str:
        """Upload one part; a part the store saved with other bytes (its ETag is not their MD5)
        is sent again, up to PART_TRIES times, instead of restarting the whole file, unless the
        server turns out to check Content-MD5 itself. A resumed upload's part that the server
        already holds is not sent."""
        from fssync.content.integrity import ChecksumMismatch  # integrity imports the stores

        kept = resumed.reusable(number, md5.hex(), length) if resumed else None
        if kept is not None:
            self.parts_kept += 1
            return kept
        for _ in range(PART_TRIES):
            answer = await self.transport.upload_part(
                self.bucket, key, upload_id, number, body, md5
            )
            if confirmed(answer, md5.hex()) or self.etags_opaque:
                return str(answer.get("ETag", ""))
            if await self._checks_content_md5(key, upload_id):
                # It checked the bytes against the Content-MD5 sent: they arrived whole, and
                # its ETags are simply not MD5s.
                self.etags_opaque = True
                return str(answer.get("ETag", ""))
        raise ChecksumMismatch(f"the store saved other bytes than sent in part {number}")

    # -- verification -------------------------------------------------------------------------

    async def _stored_md5(self, key: str) -> str | None:
        """The MD5 of the object as stored (streamed, not held), or None when unreadable
        (`fssync.stores.s3.confirm` reads a PUT back with it)."""
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            body = await self.transport.get(self.bucket, key)
        except Exception:  # noqa: BLE001 - unknown: the caller treats it as a mismatch
            return None
        try:
            while chunk := await body.read(1 << 20):
                md5.update(chunk)
        except Exception:  # noqa: BLE001
            return None
        finally:
            body.close()
        return md5.hexdigest()

    async def _checks_content_md5(self, key: str, upload_id: str) -> bool:
        """Whether the server refuses a part whose Content-MD5 is wrong (asked once per store,
        with a few bytes sent as part PROBE_PART of this upload, a number never completed)."""
        if self._honours_md5 is None:
            self._honours_md5 = asyncio.ensure_future(self._probe_content_md5(key, upload_id))
        return await asyncio.shield(self._honours_md5)

    async def _probe_content_md5(self, key: str, upload_id: str) -> bool:
        wrong = _md5(b"not the probe's bytes")
        try:
            await self.transport.upload_part(
                self.bucket, key, upload_id, PROBE_PART, b"fssync probe", wrong, attempts=1
            )
        except Exception as exc:  # noqa: BLE001 - anything but a digest error: cannot tell
            return error_code(exc) in ("BadDigest", "InvalidDigest")
        return False  # it stored bytes whose Content-MD5 was wrong: it does not check

    # -- multipart uploads (clean-up and resume) ----------------------------------------------

    async def _abort(self, key: str, upload_id: str) -> bool:
        try:
            await self.transport.abort_multipart(self.bucket, key, upload_id)
        except Exception:  # noqa: BLE001 - best effort; the original error matters more
            return False
        return True

    async def list_parts(self, bucket: str, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
        """The parts an unfinished upload holds: number -> (ETag, size)."""
        return await self.transport.list_parts(bucket, key, upload_id)

    async def list_uploads(self, bucket: str, key: str) -> list[tuple[str, str, float | None]]:
        return await self.transport.list_uploads(bucket, key)

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self.transport.abort_multipart(bucket, key, upload_id)

    # -- server-side copies and deletes -------------------------------------------------------

    def _same_store(self, source: Store) -> bool:
        return isinstance(source, type(self)) and source.identity == self.identity

    async def copy_within(
        self, source: Store, entry: Entry, options: Mapping[str, Any]
    ) -> Entry | None:
        if not self._same_store(source) or entry.size >= COPY_LIMIT:
            return None  # larger objects are streamed through this process, part by part
        assert isinstance(source, S3ObjectStore)
        etag = await self.transport.copy(
            self.bucket,
            self._key(entry.key),
            source.bucket,
            source._key(entry.key),
            {"MetadataDirective": "COPY", **options},
        )
        return Entry(key=entry.key, size=entry.size, mtime=entry.mtime, etag=etag)

    async def keep_copy(self, source: Store, entry: Entry, key: str) -> Entry | None:
        """A server-side copy from the same endpoint, metadata kept."""
        if not self._same_store(source) or entry.size >= COPY_LIMIT:
            return None
        assert isinstance(source, S3ObjectStore)
        etag = await self.transport.copy(
            self.bucket,
            self._key(key),
            source.bucket,
            source._key(entry.key),
            {"MetadataDirective": "COPY"},
        )
        return Entry(key=key, size=entry.size, mtime=entry.mtime, etag=etag)

    async def move(self, old: Entry, key: str) -> Entry | None:
        """S3 has no rename: a server-side copy (metadata kept), then a delete of the old key."""
        if old.size >= COPY_LIMIT:
            return None
        etag = await self.transport.copy(
            self.bucket,
            self._key(key),
            self.bucket,
            self._key(old.key),
            {"MetadataDirective": "COPY"},
        )
        await self.transport.delete_object(self.bucket, self._key(old.key))
        return Entry(key=key, size=old.size, mtime=old.mtime, etag=etag, md5=old.md5)

    async def set_mtime(self, entry: Entry, mtime_ns: int) -> Entry | None:
        """A copy of the object onto itself with the new mtime in its metadata (everything
        else it had kept), only if it is still the version compared (If-Match)."""
        if entry.size >= COPY_LIMIT or not entry.etag:
            return None
        key = self._key(entry.key)
        head = await self.transport.head(self.bucket, key)
        if "SSECustomerAlgorithm" in head:
            return None  # copying needs the customer's key
        meta = {**(head.get("Metadata") or {}), MTIME_KEY: format_mtime_ns(mtime_ns)}
        kept = {k: head[k] for k in KEPT_ON_REPLACE if head.get(k)}
        if options_problem({"Metadata": meta, **kept}, "stored"):
            return None  # not sent again as headers: the file is copied instead
        if kept.get("StorageClass") == "STANDARD":
            del kept["StorageClass"]
        etag = await self.transport.copy(
            self.bucket,
            key,
            self.bucket,
            key,
            {"MetadataDirective": "REPLACE", "Metadata": meta, **kept},
            if_match=f'"{entry.etag}"',
        )
        return Entry(entry.key, entry.size, mtime_ns / 1e9, None, etag, entry.md5)

    async def delete(self, keys: list[str]) -> list[tuple[str, str]]:
        failed: list[tuple[str, str]] = []
        cut = len(self.prefix)
        for start in range(0, len(keys), 1000):
            batch = [self._key(k) for k in keys[start : start + 1000]]
            for full, message in await self.transport.delete_objects(self.bucket, batch):
                failed.append((full[cut:], message))
        return failed

    async def close(self) -> None:
        try:
            await self.transport.close()
        except Exception:  # noqa: BLE001 - closing must not hide the run's result
            pass
