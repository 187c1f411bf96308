"""The fast S3 store: the same objects, metadata and behaviour as fssync's s3fs store, with the
requests made by `client` instead of botocore."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import fssync
from fssync.stores import (
    ChecksumMismatch,
    Listing,
    ListingProgress,
    RangeSink,
    Reader,
    Store,
    abort_twins,
    s3meta,
    source_mtime_ns,
    unsafe_reason,
)

from .client import S3Client
from .http import Body, BodySource
from .resolve import Settings, bucket_is_virtual

# PutObject / CreateMultipartUpload / CopyObject parameters (the names plugins return from
# fssync_transfer_options, as for botocore) and the request headers they become.
HEADERS = {
    "ACL": "x-amz-acl",
    "CacheControl": "cache-control",
    "ContentDisposition": "content-disposition",
    "ContentEncoding": "content-encoding",
    "ContentLanguage": "content-language",
    "ContentType": "content-type",
    "Expires": "expires",
    "GrantFullControl": "x-amz-grant-full-control",
    "GrantRead": "x-amz-grant-read",
    "GrantReadACP": "x-amz-grant-read-acp",
    "GrantWriteACP": "x-amz-grant-write-acp",
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "StorageClass": "x-amz-storage-class",
    "WebsiteRedirectLocation": "x-amz-website-redirect-location",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
    "SSEKMSEncryptionContext": "x-amz-server-side-encryption-context",
    "BucketKeyEnabled": "x-amz-server-side-encryption-bucket-key-enabled",
    "Tagging": "x-amz-tagging",
    "ObjectLockMode": "x-amz-object-lock-mode",
    "ObjectLockRetainUntilDate": "x-amz-object-lock-retain-until-date",
    "ObjectLockLegalHoldStatus": "x-amz-object-lock-legal-hold",
    "RequestPayer": "x-amz-request-payer",
    "ExpectedBucketOwner": "x-amz-expected-bucket-owner",
    "MetadataDirective": "x-amz-metadata-directive",
    "TaggingDirective": "x-amz-tagging-directive",
}
META = "x-amz-meta-"
SLICE = 1 << 20  # a part of a local file is read and sent in slices of this size
PIECE = 1 << 20  # a range is received and handed on in pieces of this size
# Parts of one store sent at once when streaming from a local file. Measured against SeaweedFS on
# loopback (2 cores shared with the server), 64 MiB in 8 MiB parts: 8 at once 1.8-1.9 s,
# 4 at once 1.3-1.5 s, 2 at once 1.1-1.4 s; 4 is also rclone's default.
PARTS_IN_FLIGHT = 4
# Sends of one part whose ETag does not confirm its bytes (a server that ignores Content-MD5
# stores what arrived) before the file's transfer fails and is retried whole.
PART_TRIES = 3


def request_headers(options: Mapping[str, Any], meta: Mapping[str, str] | None) -> dict[str, str]:
    """Headers for write options; an option the fast path cannot send stops the run."""
    headers: dict[str, str] = {}
    for name, value in options.items():
        if value is None:
            continue
        header = HEADERS.get(name)
        if header is None:
            raise fssync.UsageError(
                f"the fast S3 path cannot send the transfer option {name!r}; "
                "run with --s3-backend s3fs"
            )
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, dt.datetime):
            value = value.strftime("%a, %d %b %Y %H:%M:%S GMT")
        headers[header] = str(value)
    for k, v in (meta or {}).items():
        headers[META + k.lower()] = str(v)
    for k, v in headers.items():
        if not (k + v).isascii():
            raise fssync.UsageError(
                f"the fast S3 path sends ASCII headers only ({k}); run with --s3-backend s3fs"
            )
    return headers


def _metadata(headers: Mapping[str, str]) -> dict[str, str]:
    cut = len(META)
    return {k[cut:]: v for k, v in headers.items() if k.startswith(META)}


def reply(headers: Mapping[str, str]) -> dict[str, Any]:
    """A response's headers in the shape `s3meta` reads (botocore's names)."""
    shaped: dict[str, Any] = {"ETag": headers.get("etag", ""), "Metadata": _metadata(headers)}
    sse = headers.get("x-amz-server-side-encryption")
    if sse:
        shaped["ServerSideEncryption"] = sse
    customer = headers.get("x-amz-server-side-encryption-customer-algorithm")
    if customer:
        shaped["SSECustomerAlgorithm"] = customer
    return shaped


def _stamp(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class FastReader(Reader):
    ranged = True

    def __init__(self, store: FastS3Store, key: str, entry: fssync.Entry) -> None:
        self._store, self._key = store, key
        self.size = entry.size
        self.etag = entry.etag
        self.mtime = entry.mtime
        self._resp: Any = None
        # Ranges are asked "if the object is still the one listed": one overwritten meanwhile
        # answers 412 instead of lending its bytes to a file that has the old one's others.
        self._same = {"if-match": f'"{entry.etag}"'} if entry.etag else None

    def _learn(self, headers: Mapping[str, str]) -> None:
        """Every GET answer carries the object's metadata: take the stored mtime from it, and
        the MD5 (or multipart ETag) the content must have, which `fssync.integrity` checks."""
        shaped = reply(headers)
        mtime_ns = s3meta.stored_mtime_ns(shaped["Metadata"])
        if mtime_ns is not None:
            self.mtime, self.mtime_ns = mtime_ns / 1e9, mtime_ns
        self.expected_md5 = s3meta.stated_md5(shaped)
        self.expected_parts = s3meta.stated_parts(shaped)

    async def content_md5(self) -> str | None:
        if self._resp is None:
            await self._get()  # the GET the copy reads anyway; its reply states the MD5
        return self.expected_md5

    async def read(self, n: int = -1) -> bytes:
        if self._resp is None:
            await self._get()
        data: bytes = await self._resp.read(n)
        return data

    async def _get(self) -> None:
        if self._resp is None:  # one GET, no HEAD first: the answer carries the metadata
            store = self._store
            self._resp = await store.client.get(store.bucket, self._key)
            h = self._resp.headers
            if "content-length" in h:
                self.size = int(h["content-length"])
            self.etag = h.get("etag", "").strip('"') or self.etag
            self._learn(h)

    async def read_range(self, offset: int, length: int) -> bytes | bytearray | None:
        buffer = bytearray(max(0, length))
        got = 0

        async def into(piece: Any, at: int) -> None:
            nonlocal got
            buffer[at - offset : at - offset + len(piece)] = piece
            got = at - offset + len(piece)

        await self.copy_range(offset, length, into)
        return buffer if got == length else buffer[:got]

    async def copy_range(self, offset: int, length: int, sink: RangeSink) -> None:
        """Receive the range piece by piece into one reused buffer (straight from the socket on
        a plain connection), handing each piece to `sink` before the next is received."""
        if length <= 0:
            return
        store = self._store
        byte_range = (offset, offset + length - 1)
        resp = await store.client.get(store.bucket, self._key, byte_range, self._same)
        try:
            self._learn(resp.headers)
            if resp.remaining != length:  # a server that ignored the range, or a short answer
                data: bytes = await resp.read(-1)
                if len(data) == length:
                    await sink(data, offset)
                return  # the caller sees that the range is not whole
            view = memoryview(bytearray(min(PIECE, length)))
            at, end = offset, offset + length
            while at < end:
                piece = view[: min(len(view), end - at)]
                await resp.read_into(piece)
                await sink(piece, at)
                at += len(piece)
        finally:
            resp.close()

    async def close(self) -> None:
        if self._resp is not None:
            self._resp.close()
            self._resp = None


class FastS3Store(Store):
    """S3 through `S3Client`: one listing request per 1,000 keys, one request per object."""

    backend = "fast"
    journal: Any = None  # a fssync.leftovers.UploadJournal when the state file is in use

    def __init__(self, location: fssync.Location, settings: Settings, *, transfers: int) -> None:
        self.location = location
        self.settings = settings
        self.identity = settings.identity
        self.bucket, _, prefix = location.root.partition("/")
        self.prefix = prefix + "/" if prefix else ""
        virtual = settings.virtual_host and bucket_is_virtual(self.bucket)
        self.client = S3Client(
            settings.endpoint,
            settings.region,
            settings.credentials,
            connections=max(transfers, 4) + 2,
            virtual_host=virtual,
            user_agent=f"fssync/{fssync.__version__}",
            headers=settings.headers,
        )
        self._buffers = asyncio.Semaphore(s3meta.PART_BUFFERS)
        self._parts_in_flight = asyncio.Semaphore(PARTS_IN_FLIGHT)

    async def _ready(self) -> None:
        creds = self.settings.credentials
        if creds.needs_chain:  # botocore's chain may read files or call a metadata service
            await asyncio.to_thread(creds.load_chain)

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _upload_headers(
        self, options: Mapping[str, Any], meta: Mapping[str, str] | None
    ) -> dict[str, str]:
        """Headers of a request that creates an object: its options and metadata, then the
        user's upload headers (which win, as they do on the s3fs path)."""
        headers = request_headers(options, meta)
        headers.update(self.settings.upload_headers)
        return headers

    async def scan(self, progress: ListingProgress | None = None) -> Listing:
        await self._ready()
        entries: dict[str, fssync.Entry] = {}
        rejected: list[tuple[str, str]] = []
        cut = len(self.prefix)
        token: str | None = None
        Entry = fssync.Entry
        stamps: dict[str, float] = {}  # many objects share a LastModified second
        while True:
            page = await self.client.list_page(self.bucket, self.prefix, token)
            for full, size, modified, etag in page.objects:
                key = full[cut:]
                if key.endswith("/") and size == 0:
                    continue  # a folder marker, not a file
                reason = unsafe_reason(key)
                if reason:
                    rejected.append((full, reason))
                    continue
                stamp = stamps.get(modified)
                if stamp is None:
                    stamp = stamps[modified] = _stamp(modified)
                entries[key] = Entry(key, size, None, stamp, etag.strip('"') or None)
            if progress is not None:
                progress(len(entries))
            if not page.truncated:
                break
            token = page.next_token
            if not token:
                break
        return Listing(entries=entries, rejected=tuple(rejected))

    async def head(self, entry: fssync.Entry) -> tuple[Mapping[str, str], bool]:
        """The object's user metadata, and whether its ETag cannot be an MD5 (SSE-KMS/SSE-C)."""
        await self._ready()
        h = (await self.client.head(self.bucket, self._key(entry.key))).headers
        opaque = (
            h.get("x-amz-server-side-encryption") == "aws:kms"
            or "x-amz-server-side-encryption-customer-algorithm" in h
        )
        return _metadata(h), opaque

    async def stat(self, key: str) -> fssync.Entry | None:
        try:
            resp = await self.client.head(self.bucket, self._key(key))
        except Exception as exc:  # noqa: BLE001 - gone or unreadable: the caller reports it
            if getattr(exc, "status", None) == 404:
                return None
            raise
        h = resp.headers
        modified = h.get("last-modified")
        stamp = None
        if modified:
            from email.utils import parsedate_to_datetime

            stamp = parsedate_to_datetime(modified).timestamp()
        etag = h.get("etag", "").strip('"') or None
        return fssync.Entry(key, int(h.get("content-length", 0)), None, stamp, etag)

    async def open(self, entry: fssync.Entry) -> Reader:
        await self._ready()
        return FastReader(self, self._key(entry.key), entry)

    async def write(
        self, entry: fssync.Entry, reader: Reader, options: Mapping[str, Any]
    ) -> fssync.Entry:
        await self._ready()
        mtime_ns = source_mtime_ns(reader, entry)
        mtime = None if mtime_ns is None else mtime_ns / 1e9
        extra = dict(options)
        meta = dict(extra.pop("Metadata", {}) or {})
        if mtime_ns is not None:
            meta[s3meta.MTIME_KEY] = s3meta.format_mtime_ns(mtime_ns)
        if entry.md5:
            meta[s3meta.MD5_KEY] = entry.md5
        key = self._key(entry.key)
        if entry.size < s3meta.MULTIPART_THRESHOLD:
            data = await reader.read(-1)
            await reader.verify()
            digest = hashlib.md5(data, usedforsecurity=False).digest()
            meta[s3meta.MD5_KEY] = digest.hex()  # what was actually sent
            headers = self._upload_headers(extra, meta)
            headers["content-md5"] = base64.b64encode(digest).decode()
            resp = await self.client.put(self.bucket, key, data, headers)
            etag = resp.headers.get("etag", "").strip('"') or digest.hex()
            if not s3meta.confirmed(reply(resp.headers), digest.hex()):
                await self._discard(key)
                raise ChecksumMismatch(f"the store saved other bytes than were sent (ETag {etag})")
            size = len(data)
        else:
            md5 = await fssync.stores.known_md5(reader, entry)
            if md5:  # readable by rclone and others, as the multipart ETag is no MD5
                meta[s3meta.MD5_KEY], meta[s3meta.MD5_B64_KEY] = md5, s3meta.md5_b64(md5)
            else:
                meta.pop(s3meta.MD5_KEY, None)
            etag, size = await self._multipart(key, reader, entry.size, meta, extra)
        return fssync.Entry(
            key=entry.key, size=size, mtime=mtime, etag=etag, md5=meta.get(s3meta.MD5_KEY)
        )

    async def _multipart(
        self, key: str, reader: Reader, size: int, meta: dict[str, str], extra: dict[str, Any]
    ) -> tuple[str, int]:
        """Upload in parts, several at once; the upload is aborted on any failure.

        A local file is sent straight from the file, PARTS_IN_FLIGHT parts at a time, each read
        twice (once to compute its Content-MD5, once to send it) in 1 MiB slices, so memory does
        not grow with the part size. Other sources are read part by part into at most
        PART_BUFFERS buffers.
        """
        client, bucket = self.client, self.bucket
        part_size = s3meta.part_size_for(reader.size if reader.cheap_ranges else size)
        meta = {**meta, s3meta.PART_KEY: str(part_size)}
        journal = self.journal  # records the upload so a killed run's parts can be aborted
        row = await journal.begin(bucket, key) if journal else None
        since = time.time()
        upload_id, retried = await client.create_multipart(
            bucket, key, self._upload_headers(extra, meta)
        )
        if journal:
            await journal.created(row, upload_id)
        if retried:  # an earlier attempt may have created an upload whose reply was lost
            await abort_twins(self, bucket, key, upload_id, since)
        try:
            if reader.cheap_ranges:
                parts, total = await self._parts_from_ranges(
                    key, upload_id, reader, part_size, extra
                )
            else:
                parts, total = await self._parts_from_stream(key, upload_id, reader, part_size)
            await reader.verify()
            etag = await client.complete_multipart(bucket, key, upload_id, parts)
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
        one_pass = not _encrypted(options)

        async def send(number: int, offset: int, length: int) -> None:
            nonlocal one_pass
            async with self._parts_in_flight:
                if one_pass:
                    hashed = _HashedBody(length, lambda: slices(offset, length))
                    answer = await self.client.upload_part(
                        self.bucket, key, upload_id, number, hashed, None
                    )
                    shaped = reply(answer)
                    if _opaque(shaped):
                        one_pass = False
                    elif hashed.md5 is not None and s3meta.confirmed(shaped, hashed.md5.hex()):
                        parts[number] = answer.get("etag", "")
                        return
                md5 = hashlib.md5(usedforsecurity=False)
                async for chunk in slices(offset, length):
                    await asyncio.to_thread(md5.update, chunk)  # hashlib releases the GIL
                body = BodySource(length, lambda: slices(offset, length))
                parts[number] = await self._send_part(key, upload_id, number, body, md5.digest())

        async with asyncio.TaskGroup() as tg:
            for number, offset in enumerate(range(0, size, part_size), start=1):
                tg.create_task(send(number, offset, min(part_size, size - offset)))
        if await reader.read_range(size, 1):
            raise OSError(f"{key}: the file grew while it was uploaded")
        return [(n, parts[n]) for n in sorted(parts)], size

    async def _parts_from_stream(
        self, key: str, upload_id: str, reader: Reader, part_size: int
    ) -> tuple[list[tuple[int, str]], int]:
        parts: dict[int, str] = {}
        total = 0

        async def send(number: int, data: bytes) -> None:
            try:
                md5 = await asyncio.to_thread(_md5, data)  # hashlib releases the GIL
                parts[number] = await self._send_part(key, upload_id, number, data, md5)
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
        self, key: str, upload_id: str, number: int, body: Body, md5: bytes
    ) -> str:
        """Upload one part; a part the store saved with other bytes (its ETag is not their MD5)
        is sent again, up to PART_TRIES times, instead of restarting the whole file."""
        for attempt in range(1, PART_TRIES + 1):
            answer = await self.client.upload_part(self.bucket, key, upload_id, number, body, md5)
            if s3meta.confirmed(reply(answer), md5.hex()):
                return answer.get("etag", "")
            if attempt == PART_TRIES:
                break
        raise ChecksumMismatch(f"the store saved other bytes than sent in part {number}")

    async def _abort(self, key: str, upload_id: str) -> bool:
        try:
            await self.client.abort_multipart(self.bucket, key, upload_id)
        except Exception:  # noqa: BLE001 - best effort; the original error matters more
            return False
        return True

    async def _discard(self, key: str) -> None:
        """Delete an object stored with the wrong bytes, so no later run takes it as synced."""
        try:
            await self.client.delete_object(self.bucket, key)
        except Exception:  # noqa: BLE001 - the mismatch is reported either way
            pass

    async def list_uploads(self, bucket: str, key: str) -> list[tuple[str, str, float | None]]:
        await self._ready()
        return await self.client.list_uploads(bucket, key)

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self._ready()
        await self.client.abort_multipart(bucket, key, upload_id)

    async def copy_within(
        self, source: Store, entry: fssync.Entry, options: Mapping[str, Any]
    ) -> fssync.Entry | None:
        if not isinstance(source, FastS3Store) or source.identity != self.identity:
            return None
        if entry.size >= s3meta.COPY_LIMIT:
            return None  # streamed through this process instead, part by part
        await self._ready()
        opts = dict(options)
        meta = opts.pop("Metadata", None)  # ignored by the server with MetadataDirective COPY
        headers = self._upload_headers({"MetadataDirective": "COPY", **opts}, meta)
        etag = await self.client.copy(
            self.bucket, self._key(entry.key), source.bucket, source._key(entry.key), headers
        )
        return fssync.Entry(key=entry.key, size=entry.size, mtime=entry.mtime, etag=etag)

    async def keep_copy(self, source: Store, entry: fssync.Entry, key: str) -> fssync.Entry | None:
        """A server-side copy from the same endpoint, metadata kept."""
        if not isinstance(source, FastS3Store) or source.identity != self.identity:
            return None
        if entry.size >= s3meta.COPY_LIMIT:
            return None
        await self._ready()
        headers = self._upload_headers({"MetadataDirective": "COPY"}, None)
        etag = await self.client.copy(
            self.bucket, self._key(key), source.bucket, source._key(entry.key), headers
        )
        return fssync.Entry(key=key, size=entry.size, mtime=entry.mtime, etag=etag)

    async def move(self, old: fssync.Entry, key: str) -> fssync.Entry | None:
        """S3 has no rename: a server-side copy (metadata kept), then a delete of the old key."""
        if old.size >= s3meta.COPY_LIMIT:
            return None
        await self._ready()
        headers = self._upload_headers({"MetadataDirective": "COPY"}, None)
        etag = await self.client.copy(
            self.bucket, self._key(key), self.bucket, self._key(old.key), headers
        )
        await self.client.delete_object(self.bucket, self._key(old.key))
        return fssync.Entry(key=key, size=old.size, mtime=old.mtime, etag=etag, md5=old.md5)

    async def set_mtime(self, entry: fssync.Entry, mtime_ns: int) -> fssync.Entry | None:
        """A copy of the object onto itself with the new mtime in its metadata (everything
        else it had kept), only if it is still the version compared (If-Match)."""
        if entry.size >= s3meta.COPY_LIMIT or not entry.etag:
            return None
        await self._ready()
        key = self._key(entry.key)
        h = (await self.client.head(self.bucket, key)).headers
        if "x-amz-server-side-encryption-customer-algorithm" in h:
            return None  # copying needs the customer's key
        meta = {**_metadata(h), s3meta.MTIME_KEY: s3meta.format_mtime_ns(mtime_ns)}
        kept = {HEADERS[k]: h[HEADERS[k]] for k in s3meta.KEPT_ON_REPLACE if h.get(HEADERS[k])}
        if s3meta.header_problem([*meta.items(), *kept.items()], "stored"):
            return None  # not sent again as headers: the file is copied instead
        if kept.get("x-amz-storage-class") == "STANDARD":
            del kept["x-amz-storage-class"]
        headers = request_headers({"MetadataDirective": "REPLACE"}, meta)
        headers.update(kept)
        headers["x-amz-copy-source-if-match"] = f'"{entry.etag}"'
        etag = await self.client.copy(self.bucket, key, self.bucket, key, headers)
        etag = (etag or "").strip('"') or None
        return fssync.Entry(entry.key, entry.size, mtime_ns / 1e9, None, etag, entry.md5)

    async def delete(self, keys: list[str]) -> list[tuple[str, str]]:
        await self._ready()
        failed: list[tuple[str, str]] = []
        cut = len(self.prefix)
        for start in range(0, len(keys), 1000):
            batch = [self._key(k) for k in keys[start : start + 1000]]
            for full, message in await self.client.delete_objects(self.bucket, batch):
                failed.append((full[cut:], message))
        return failed

    async def close(self) -> None:
        await self.client.close()


class _HashedBody(BodySource):
    """A part read once: its MD5 is computed while it is sent (`md5`, after a whole pass)."""

    def __init__(self, length: int, slices: Callable[[], AsyncIterator[bytes]]) -> None:
        super().__init__(length, self._hashed)
        self._slices = slices
        self.md5: bytes | None = None

    async def _hashed(self) -> AsyncIterator[bytes]:
        self.md5 = None  # a retried request sends, and hashes, the part again
        md5 = hashlib.md5(usedforsecurity=False)
        async for chunk in self._slices():
            await asyncio.to_thread(md5.update, chunk)  # hashlib releases the GIL
            yield chunk
        self.md5 = md5.digest()


def _encrypted(options: Mapping[str, Any]) -> bool:
    """Whether write options ask for SSE-KMS or SSE-C (part ETags are then no MD5s)."""
    return options.get("ServerSideEncryption") == "aws:kms" or "SSECustomerAlgorithm" in options


def _opaque(shaped: Mapping[str, Any]) -> bool:
    return shaped.get("ServerSideEncryption") == "aws:kms" or "SSECustomerAlgorithm" in shaped


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()
