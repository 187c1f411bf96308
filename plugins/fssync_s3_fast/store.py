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
    RangeIgnored,
    RangeSink,
    Reader,
    Store,
    abort_twins,
    resume,
    s3meta,
    s3pages,
    source_mtime_ns,
    unconfirmed_put,
    unsafe_reason,
)

from .client import S3Client, S3Error
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
    def __init__(self, store: FastS3Store, key: str, entry: fssync.Entry) -> None:
        self._store, self._key = store, key
        self.ranged = not store.ranges_ignored  # once seen, later files are read whole
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
            if resp.status == 200:  # the whole object: not read, the connection dropped
                store.ranges_ignored = True
                raise RangeIgnored(self._key)
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
    ranges_ignored = False  # the server answered a ranged GET with the whole object
    # Learned during the run: this store's ETags are not MD5s (an object read back held the
    # bytes sent, or the server refuses a wrong Content-MD5 and so checked the bytes itself).
    etags_opaque = False
    _honours_md5: asyncio.Future[bool] | None = None

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
            operation_headers=settings.operation_headers,
            timeout=settings.stall_timeout,
            ca_bundle=settings.ca_bundle,
        )
        self._buffers = asyncio.Semaphore(s3meta.PART_BUFFERS)
        self._parts_in_flight = asyncio.Semaphore(PARTS_IN_FLIGHT)
        self.parts_kept = 0  # parts of resumed uploads not sent again

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
        return await self._scan(progress, None)

    async def top(self) -> tuple[tuple[str, ...], Listing] | None:
        folders: list[str] = []
        listing = await self._scan(None, folders)
        return tuple(sorted(folders)), listing

    async def _scan(self, progress: ListingProgress | None, folders: list[str] | None) -> Listing:
        """Every object under the prefix; given `folders`, one delimiter listing instead: the
        objects right under it, and the common prefixes (relative, ``name/``) put in the list."""
        await self._ready()
        entries: dict[str, fssync.Entry] = {}
        rejected: list[tuple[str, str]] = []
        cut = len(self.prefix)
        Entry = fssync.Entry
        stamps: dict[str, float] = {}  # many objects share a LastModified second
        pages = s3pages.Pages(
            self.location.url, self.bucket, self.prefix, self.listing_retry, self.on_listing_retry
        )

        async def fetch(token: str | None) -> tuple[Any, s3pages.PageFacts]:
            delimiter = "/" if folders is not None else None
            page = await self.client.list_page(self.bucket, self.prefix, token, None, delimiter)
            return page, page.facts

        while not pages.done:
            page = await pages.next(fetch)
            if folders is not None:
                folders.extend(p[cut:] for p in page.prefixes)
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
        return Listing(entries=entries, rejected=tuple(rejected))

    async def head(self, entry: fssync.Entry) -> tuple[Mapping[str, str], bool]:
        """The object's user metadata, and whether its ETag cannot be an MD5 (SSE-KMS/SSE-C)."""
        await self._ready()
        h = (await self.client.head(self.bucket, self._key(entry.key))).headers
        return _metadata(h), s3meta.opaque_etag(reply(h))

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
        if not self.settings.parts.multipart(entry.size):
            data = await reader.read(-1)
            await reader.verify()
            digest = hashlib.md5(data, usedforsecurity=False).digest()
            meta[s3meta.MD5_KEY] = digest.hex()  # what was actually sent
            headers = self._upload_headers(extra, meta)
            headers["content-md5"] = base64.b64encode(digest).decode()
            resp = await self.client.put(self.bucket, key, data, headers)
            etag = resp.headers.get("etag", "").strip('"') or digest.hex()
            if not s3meta.confirmed(reply(resp.headers), digest.hex()) and not self.etags_opaque:
                await self._unconfirmed_put(entry, len(data), digest.hex(), etag)
            size = len(data)
        else:
            md5 = await fssync.stores.known_md5(reader, entry)
            if md5:  # readable by rclone and others, as the multipart ETag is no MD5
                meta[s3meta.MD5_KEY], meta[s3meta.MD5_B64_KEY] = md5, s3meta.md5_b64(md5)
            else:
                meta.pop(s3meta.MD5_KEY, None)
            etag, size = await self._multipart(key, reader, entry.size, meta, extra, mtime_ns)
        return fssync.Entry(
            key=entry.key, size=size, mtime=mtime, etag=etag, md5=meta.get(s3meta.MD5_KEY)
        )

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
        of this very file that a gone run left is resumed (see `fssync.stores.resume`).

        A local file is sent straight from the file, PARTS_IN_FLIGHT parts at a time, each read
        twice (once to compute its Content-MD5, once to send it) in 1 MiB slices, so memory does
        not grow with the part size. Other sources are read part by part into at most
        PART_BUFFERS buffers.
        """
        client, bucket = self.client, self.bucket
        part_size = self.settings.parts.part_size(reader.size if reader.cheap_ranges else size)
        meta = {**meta, s3meta.PART_KEY: str(part_size)}
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
            upload_id, retried = await client.create_multipart(
                bucket, key, self._upload_headers(extra, meta)
            )
            if journal:
                await journal.created(row, upload_id)
                await journal.describe(row, size, mtime_ns, part_size)
            if retried:  # an earlier attempt may have created an upload whose reply was lost
                await abort_twins(self, bucket, key, upload_id, since)
        try:
            if reader.cheap_ranges:
                parts, total = await self._parts_from_ranges(
                    key, upload_id, reader, part_size, extra, resumed
                )
            else:
                parts, total = await self._parts_from_stream(
                    key, upload_id, reader, part_size, resumed
                )
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
        one_pass = not (s3meta.opaque_etag(options) or self.etags_opaque)

        async def send(number: int, offset: int, length: int) -> None:
            nonlocal one_pass
            async with self._parts_in_flight:
                held = resumed is not None and number in resumed.parts
                if one_pass and not held:  # a part the server may hold is hashed first
                    hashed = _HashedBody(length, lambda: slices(offset, length))
                    answer = await self.client.upload_part(
                        self.bucket, key, upload_id, number, hashed, None
                    )
                    shaped = reply(answer)
                    if s3meta.opaque_etag(shaped):
                        one_pass = False
                    elif hashed.md5 is not None and s3meta.confirmed(shaped, hashed.md5.hex()):
                        parts[number] = answer.get("etag", "")
                        return
                md5 = hashlib.md5(usedforsecurity=False)
                async for chunk in slices(offset, length):
                    await asyncio.to_thread(md5.update, chunk)  # hashlib releases the GIL
                body = BodySource(length, lambda: slices(offset, length))
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
        body: Body,
        md5: bytes,
        resumed: resume.Resumed | None = None,
        length: int = 0,
    ) -> str:
        """Upload one part; a part the store saved with other bytes (its ETag is not their MD5)
        is sent again, up to PART_TRIES times, instead of restarting the whole file. A resumed
        upload's part that the server already holds is not sent."""
        kept = resumed.reusable(number, md5.hex(), length) if resumed else None
        if kept is not None:
            self.parts_kept += 1
            return kept
        for _ in range(PART_TRIES):
            answer = await self.client.upload_part(self.bucket, key, upload_id, number, body, md5)
            if s3meta.confirmed(reply(answer), md5.hex()) or self.etags_opaque:
                return answer.get("etag", "")
            if await self._checks_content_md5(key, upload_id):
                # It checked the bytes against the Content-MD5 sent: they arrived whole, and
                # its ETags are simply not MD5s.
                self.etags_opaque = True
                return answer.get("etag", "")
        raise ChecksumMismatch(f"the store saved other bytes than sent in part {number}")

    async def _unconfirmed_put(self, entry: fssync.Entry, size: int, md5: str, etag: str) -> None:
        await unconfirmed_put(self, entry, size, md5, etag)  # see `fssync.stores.confirm`

    async def _stored_md5(self, key: str) -> str | None:
        """The MD5 of the object as stored (streamed, not held), or None when unreadable."""
        try:
            resp = await self.client.get(self.bucket, key)
        except Exception:  # noqa: BLE001 - unknown: the caller treats it as a mismatch
            return None
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            while chunk := await resp.read(1 << 20):
                md5.update(chunk)
        except Exception:  # noqa: BLE001
            return None
        finally:
            resp.close()
        return md5.hexdigest()

    async def _checks_content_md5(self, key: str, upload_id: str) -> bool:
        """Whether the server refuses a part whose Content-MD5 is wrong (asked once per store,
        with a few bytes sent as part PROBE_PART of this upload, a number never completed)."""
        if self._honours_md5 is None:
            self._honours_md5 = asyncio.ensure_future(self._probe_content_md5(key, upload_id))
        return await asyncio.shield(self._honours_md5)

    async def _probe_content_md5(self, key: str, upload_id: str) -> bool:
        wrong = hashlib.md5(b"not the probe's bytes", usedforsecurity=False).digest()
        try:
            await self.client.upload_part(
                self.bucket, key, upload_id, s3meta.PROBE_PART, b"fssync probe", wrong, attempts=1
            )
        except S3Error as exc:
            return exc.code in ("BadDigest", "InvalidDigest")
        except Exception:  # noqa: BLE001 - cannot tell: treated as not checking
            return False
        return False  # it stored bytes whose Content-MD5 was wrong: it does not check

    async def _abort(self, key: str, upload_id: str) -> bool:
        try:
            await self.client.abort_multipart(self.bucket, key, upload_id)
        except Exception:  # noqa: BLE001 - best effort; the original error matters more
            return False
        return True

    async def list_parts(self, bucket: str, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
        await self._ready()
        return await self.client.list_parts(bucket, key, upload_id)

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


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()
