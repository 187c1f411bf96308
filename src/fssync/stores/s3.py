"""S3 and S3-compatible stores through the async client that s3fs sets up.

s3fs builds the client (credentials, endpoint, region, botocore configuration); fssync then calls
the client itself, keeping control of listing, metadata, multipart uploads and errors.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Mapping
from typing import Any

from .. import __version__
from ..auth import CredentialProvider
from ..errors import UsageError
from ..integrity import ChecksumMismatch
from ..leftovers import abort_twins
from ..location import Location
from ..model import Entry
from ..secrets import register
from . import httplog, resume, s3pages
from .base import (
    Listing,
    ListingProgress,
    RangeIgnored,
    Reader,
    Store,
    known_md5,
    source_mtime_ns,
)
from .confirm import unconfirmed_put
from .renewal import EXPIRED_CODES, OnFetch, Renewal
from .s3meta import (
    COPY_LIMIT,
    CREDENTIAL_OPTIONS,
    KEPT_ON_REPLACE,
    MD5_B64_KEY,
    MD5_KEY,
    MTIME_KEY,
    MULTIPART_OPTION,
    OPERATION_HEADERS,
    PART_BUFFERS,
    PART_KEY,
    PROBE_PART,
    STALL_TIMEOUT,
    UPLOAD_OPERATIONS,
    PartPlan,
    confirmed,
    format_mtime_ns,
    header_problem,
    md5_b64,
    opaque_etag,
    operation_headers,
    options_problem,
    part_plan,
    stated_md5,
    stated_parts,
    stored_mtime_ns,
)
from .stall import WATCH_ABOVE, ProgressBody, Stalled, watched


def _split(path: str) -> tuple[str, str]:
    bucket, _, key = path.partition("/")
    return bucket, key


class S3Reader(Reader):
    def __init__(self, store: S3Store, bucket: str, key: str, entry: Entry) -> None:
        self._store, self._bucket, self._key = store, bucket, key
        self.ranged = not store.ranges_ignored
        self.size = entry.size
        self.etag = entry.etag
        self.listed = entry.etag
        self.mtime = entry.mtime
        self._body: Any = None
        self._pos = 0

    async def start(self) -> None:
        """One GET: the response carries the metadata, so no HEAD is needed."""
        resp = await self._store.call("get_object", Bucket=self._bucket, Key=self._key)
        self._body = resp["Body"]
        self.size = resp.get("ContentLength", self.size)
        self.etag = resp.get("ETag", "").strip('"') or self.etag
        self._learn(resp)

    def _learn(self, resp: Mapping[str, Any]) -> None:
        """Every GET response carries the object's metadata: take the stored mtime from it,
        and the MD5 the content must have (see `fssync.integrity`)."""
        mtime_ns = stored_mtime_ns(resp.get("Metadata"))
        if mtime_ns is not None:
            self.mtime, self.mtime_ns = mtime_ns / 1e9, mtime_ns
        self.expected_md5 = stated_md5(resp)
        self.expected_parts = stated_parts(resp)

    async def read(self, n: int = -1) -> bytes:
        if self._body is None:
            await self.start()
        data: bytes = await (self._body.read() if n < 0 else self._body.read(n))
        self._pos += len(data)
        return data

    async def read_range(self, offset: int, length: int) -> bytes | bytearray | None:
        if length <= 0:
            return b""
        # "If the object is still the one listed": one overwritten meanwhile answers 412
        # rather than mixing its bytes with the old one's in one file.
        same = {"IfMatch": f'"{self.listed}"'} if self.listed else {}
        resp = await self._store.call(
            "get_object",
            Bucket=self._bucket,
            Key=self._key,
            Range=f"bytes={offset}-{offset + length - 1}",
            **same,
        )
        if resp.get("ResponseMetadata", {}).get("HTTPStatusCode") == 200:
            resp["Body"].close()  # the whole object: not read, the connection dropped
            self._store.ranges_ignored = True
            raise RangeIgnored(self._key)
        self._learn(resp)
        async with resp["Body"] as body:
            data: bytes = await body.read()
        return data

    async def content_md5(self) -> str | None:
        if self._body is None:
            await self.start()  # the GET the copy reads anyway; its reply states the MD5
        return self.expected_md5

    async def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or None
    return None


# Sends of one PUT or part that stalled (see `stall`) before the file's transfer fails.
SEND_TRIES = 3
# Sends of one part whose ETag does not confirm its bytes before the file's transfer fails.
PART_TRIES = 3


class S3Store(Store):
    journal: Any = None  # a fssync.leftovers.UploadJournal when the state file is in use
    stall_timeout = STALL_TIMEOUT
    ranges_ignored = False  # the server answered a ranged GET with the whole object
    # Learned during the run: this store's ETags are not MD5s (an object read back held the
    # bytes sent, or the server refuses a wrong Content-MD5 and so checked the bytes itself).
    etags_opaque = False
    _honours_md5: asyncio.Future[bool] | None = None

    def __init__(
        self, location: Location, fs: Any, client: Any, renewal: Renewal | None = None
    ) -> None:
        self.location = location
        self.fs = fs
        self.client = client
        self.renewal = renewal
        self.identity = f"s3|{fs.endpoint_url or client.meta.endpoint_url}"
        self.bucket, prefix = _split(location.root)
        self.prefix = prefix + "/" if prefix else ""
        self._buffers = asyncio.Semaphore(PART_BUFFERS)
        self.parts = PartPlan()  # --multipart-threshold, --multipart-chunk-size
        self.parts_kept = 0  # parts of resumed uploads not sent again

    @classmethod
    async def connect(
        cls,
        location: Location,
        options: Mapping[str, Any],
        *,
        transfers: int,
        credentials: CredentialProvider | None = None,
        on_fetch: OnFetch | None = None,
    ) -> S3Store:
        import s3fs

        opts = dict(options)
        renewal = None
        if credentials is not None:
            for name in CREDENTIAL_OPTIONS:
                opts.pop(name, None)
            renewal = Renewal(credentials, on_fetch)
            opts["session"] = await renewal.session()
        parts = part_plan(opts)
        opts.pop(MULTIPART_OPTION, None)
        per_operation = operation_headers(opts)
        opts.pop(OPERATION_HEADERS, None)
        stall = float(opts.pop("stall_timeout", None) or STALL_TIMEOUT)
        every = tuple(opts.pop("headers", ()) or ())
        upload = tuple(opts.pop("upload_headers", ()) or ())
        problem = header_problem(every, "storage option headers") or header_problem(
            upload, "storage option upload_headers"
        )
        if problem:
            raise UsageError(problem)  # before any request
        config = dict(opts.pop("config_kwargs", {}) or {})
        config.setdefault("max_pool_connections", max(transfers * 2, 10))
        config.setdefault("retries", {"max_attempts": 5, "mode": "standard"})
        config.setdefault("read_timeout", stall)  # aiohttp's sock_read: bytes of the reply
        # fssync validates its own calls and sends Content-MD5 itself: skip botocore's per-request
        # parameter validation and CRC32 computation, which cost CPU on every small object.
        config.setdefault("parameter_validation", False)
        config.setdefault("request_checksum_calculation", "when_required")
        config.setdefault("response_checksum_validation", "when_required")
        # A fixed User-Agent: botocore otherwise rebuilds it from ~30 parts on every request.
        config.setdefault("user_agent", f"fssync/{__version__}")
        fs = s3fs.S3FileSystem(
            asynchronous=True,
            loop=asyncio.get_running_loop(),
            skip_instance_cache=True,
            use_listings_cache=False,
            config_kwargs=config,
            **opts,
        )
        client = await fs.set_session()
        _sign_headers(client, every, upload, per_operation)
        s3pages.watch_botocore(client)
        if httplog.enabled():
            httplog.watch_botocore(client)
        if renewal is None and not opts.get("anon") and not opts.get("key"):
            await _register_resolved(fs)
        store = cls(location, fs, client, renewal)
        store.parts = parts
        store.stall_timeout = stall
        return store

    async def send(self, method: str, data: bytes, **kwargs: Any) -> Any:
        """A request with a body (PutObject, UploadPart), sent again when it stalls: aiohttp
        has no timeout while a body goes out (see `fssync.stores.stall`)."""
        if len(data) <= WATCH_ABOVE:
            return await self.call(method, Body=data, **kwargs)
        for attempt in range(1, SEND_TRIES + 1):
            body = ProgressBody(data)
            try:
                return await watched(
                    self.call(method, Body=body, **kwargs), body, self.stall_timeout
                )
            except Stalled:
                if attempt == SEND_TRIES:
                    raise

    async def call(self, method: str, **kwargs: Any) -> Any:
        """Call the client directly: botocore retries transient errors, `diagnose` explains
        the rest, and s3fs's wrapper would only add per-call work.

        With credentials from a provider, a request the store rejects as signed with expired
        credentials is sent once more after a refresh."""
        renewal = self.renewal
        if renewal is None:
            return await getattr(self.client, method)(**kwargs)
        generation = renewal.generation
        try:
            return await getattr(self.client, method)(**kwargs)
        except Exception as exc:
            if _error_code(exc) not in EXPIRED_CODES or not renewal.expired(generation):
                raise
        return await getattr(self.client, method)(**kwargs)

    def _key(self, key: str) -> str:
        return self.prefix + key

    async def scan(self, progress: ListingProgress | None = None) -> Listing:
        return await self._scan(progress, None)

    async def top(self) -> tuple[tuple[str, ...], Listing] | None:
        folders: list[str] = []
        listing = await self._scan(None, folders)
        return tuple(sorted(folders)), listing

    async def _scan(self, progress: ListingProgress | None, folders: list[str] | None) -> Listing:
        """Every object under the prefix; given `folders`, one delimiter listing instead: the
        objects right under it, and the common prefixes (relative, ``name/``) put in the list."""
        from .. import location as loc

        entries: dict[str, Entry] = {}
        rejected: list[tuple[str, str]] = []
        cut = len(self.prefix)
        pages = s3pages.Pages(
            self.location.url, self.bucket, self.prefix, self.listing_retry, self.on_listing_retry
        )

        async def fetch(token: str | None) -> tuple[Any, s3pages.PageFacts]:
            kwargs: dict[str, Any] = {
                "Bucket": self.bucket,
                "Prefix": self.prefix,
                "MaxKeys": s3pages.PAGE_SIZE,
            }
            if token:
                kwargs["ContinuationToken"] = token
            if folders is not None:
                kwargs["Delimiter"] = "/"
            resp = await self.call("list_objects_v2", **kwargs)
            facts = resp.get("FssyncPage")  # read from the raw reply (s3pages.watch_botocore)
            if not isinstance(facts, s3pages.PageFacts):
                raise s3pages.BadPage("could not be checked: its raw reply was not seen")
            return resp, facts

        while not pages.done:
            resp = await pages.next(fetch)
            if folders is not None:
                folders.extend(p["Prefix"][cut:] for p in resp.get("CommonPrefixes", ()))
            for obj in resp.get("Contents", ()):
                full = obj["Key"]
                key = full[cut:]
                if key.endswith("/") and obj.get("Size", 0) == 0:
                    continue  # a folder marker, not a file
                reason = loc.unsafe_reason(key)
                if reason:
                    rejected.append((full, reason))
                    continue
                entries[key] = Entry(
                    key=key,
                    size=int(obj.get("Size", 0)),
                    stamp=obj["LastModified"].timestamp(),
                    etag=obj.get("ETag", "").strip('"') or None,
                )
            if progress is not None and not pages.done:
                progress(len(entries))
        return Listing(entries=entries, rejected=tuple(rejected))

    async def head(self, entry: Entry) -> tuple[Mapping[str, str], bool]:
        """The object's user metadata, and whether its ETag cannot be an MD5 (SSE-KMS/SSE-C)."""
        resp = await self.call("head_object", Bucket=self.bucket, Key=self._key(entry.key))
        return resp.get("Metadata") or {}, opaque_etag(resp)

    async def stat(self, key: str) -> Entry | None:
        try:
            resp = await self.call("head_object", Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:  # noqa: BLE001 - gone or unreadable: the caller reports it
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        modified = resp["LastModified"].timestamp() if resp.get("LastModified") else None
        etag = str(resp.get("ETag", "")).strip('"') or None
        return Entry(key, int(resp.get("ContentLength", 0)), None, modified, etag)

    async def open(self, entry: Entry) -> Reader:
        return S3Reader(self, self.bucket, self._key(entry.key), entry)

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
            digest = hashlib.md5(data, usedforsecurity=False).digest()
            meta[MD5_KEY] = digest.hex()  # what was actually sent
            resp = await self.send(
                "put_object",
                data,
                Bucket=self.bucket,
                Key=key,
                Metadata=meta,
                ContentMD5=base64.b64encode(digest).decode(),
                **extra,
            )
            etag = resp.get("ETag", "").strip('"') or digest.hex()
            if not confirmed(resp, digest.hex()) and not self.etags_opaque:
                await self._unconfirmed_put(entry, len(data), digest.hex(), etag)
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
        """Upload in parts with a bounded number of part buffers; abort on any failure. An
        upload of this very file that a gone run left is resumed (see `resume`)."""
        part_size = self.parts.part_size(size)
        meta = {**meta, PART_KEY: str(part_size)}
        journal = self.journal  # records the upload so a killed run's parts can be aborted
        resumed = (
            await resume.find(self, journal, self.bucket, key, size, mtime_ns, part_size)
            if journal
            else None
        )
        row: int | None
        if resumed is not None:
            row, upload_id = resumed.row, resumed.upload_id
        else:
            row = await journal.begin(self.bucket, key) if journal else None
            since = time.time()
            resp = await self.call(
                "create_multipart_upload", Bucket=self.bucket, Key=key, Metadata=meta, **extra
            )
            upload_id = resp["UploadId"]
            if journal:
                await journal.created(row, upload_id)
                await journal.describe(row, size, mtime_ns, part_size)
            if resp.get("ResponseMetadata", {}).get("RetryAttempts"):
                # an earlier attempt may have created an upload whose reply was lost
                await abort_twins(self, self.bucket, key, upload_id, since)
        parts: dict[int, str] = {}
        total = 0

        async def send(number: int, data: bytes) -> None:
            try:
                parts[number] = await self._send_part(key, upload_id, number, data, resumed)
            finally:
                self._buffers.release()

        try:
            async with asyncio.TaskGroup() as tg:
                number = 0
                while True:
                    await self._buffers.acquire()
                    data = await reader.read(part_size)
                    if not data:
                        self._buffers.release()
                        break
                    number += 1
                    total += len(data)
                    tg.create_task(send(number, data))
            await reader.verify()
            done = await self.call(
                "complete_multipart_upload",
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": parts[n]} for n in sorted(parts)]
                },
            )
        except BaseException:
            if await asyncio.shield(self._abort(key, upload_id)) and journal:
                await asyncio.shield(journal.end(row))
            raise
        if journal:
            await journal.end(row)
        return done.get("ETag", "").strip('"'), total

    async def _send_part(
        self,
        key: str,
        upload_id: str,
        number: int,
        data: bytes,
        resumed: resume.Resumed | None = None,
    ) -> str:
        """Upload one part; a part whose ETag does not confirm its bytes is sent again, up to
        PART_TRIES times, unless the server turns out to check Content-MD5 itself. A resumed
        upload's part that the server already holds is not sent."""
        digest = hashlib.md5(data, usedforsecurity=False).digest()
        kept = resumed.reusable(number, digest.hex(), len(data)) if resumed else None
        if kept is not None:
            self.parts_kept += 1
            return kept
        for _ in range(PART_TRIES):
            r = await self.send(
                "upload_part",
                data,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                ContentMD5=base64.b64encode(digest).decode(),
            )
            if confirmed(r, digest.hex()) or self.etags_opaque:
                return str(r["ETag"])
            if await self._checks_content_md5(key, upload_id):
                # It checked the bytes against the Content-MD5 sent: they arrived whole, and
                # its ETags are simply not MD5s.
                self.etags_opaque = True
                return str(r["ETag"])
        raise ChecksumMismatch(f"the store saved other bytes than sent in part {number}")

    async def _unconfirmed_put(self, entry: Entry, size: int, md5: str, etag: str) -> None:
        await unconfirmed_put(self, entry, size, md5, etag)  # see `fssync.stores.confirm`

    async def _stored_md5(self, key: str) -> str | None:
        """The MD5 of the object as stored (streamed, not held), or None when unreadable."""
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            resp = await self.call("get_object", Bucket=self.bucket, Key=key)
            async with resp["Body"] as body:
                while chunk := await body.read(1 << 20):
                    md5.update(chunk)
        except Exception:  # noqa: BLE001 - unknown: the caller treats it as a mismatch
            return None
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
            await self.call(
                "upload_part",
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=PROBE_PART,
                Body=b"fssync probe",
                ContentMD5=base64.b64encode(wrong).decode(),
            )
        except Exception as exc:  # noqa: BLE001 - anything but a digest error: cannot tell
            return _error_code(exc) in ("BadDigest", "InvalidDigest")
        return False  # it stored bytes whose Content-MD5 was wrong: it does not check

    async def list_parts(self, bucket: str, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
        """The parts an unfinished upload holds: number -> (ETag, size)."""
        out: dict[int, tuple[str, int]] = {}
        marker = 0
        while True:
            resp = await self.call(
                "list_parts", Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker
            )
            for p in resp.get("Parts", ()):
                out[int(p["PartNumber"])] = (str(p["ETag"]), int(p["Size"]))
            following = int(resp.get("NextPartNumberMarker") or 0)
            if not resp.get("IsTruncated") or following <= marker:
                return out
            marker = following

    async def list_uploads(self, bucket: str, key: str) -> list[tuple[str, str, float | None]]:
        """(key, upload id, start time) of the unfinished multipart uploads of `key`."""
        resp = await self.call("list_multipart_uploads", Bucket=bucket, Prefix=key)
        return [
            (
                u.get("Key", ""),
                u["UploadId"],
                u["Initiated"].timestamp() if "Initiated" in u else None,
            )
            for u in resp.get("Uploads", ())
        ]

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self.call("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)

    async def _abort(self, key: str, upload_id: str) -> bool:
        try:
            await self.call(
                "abort_multipart_upload", Bucket=self.bucket, Key=key, UploadId=upload_id
            )
        except Exception:  # noqa: BLE001 - best effort; the original error matters more
            return False
        return True

    async def copy_within(
        self, source: Store, entry: Entry, options: Mapping[str, Any]
    ) -> Entry | None:
        if not isinstance(source, S3Store) or source.identity != self.identity:
            return None
        if entry.size >= COPY_LIMIT:
            return None  # streamed through this process instead, part by part
        resp = await self.call(
            "copy_object",
            Bucket=self.bucket,
            Key=self._key(entry.key),
            CopySource={"Bucket": source.bucket, "Key": source._key(entry.key)},
            MetadataDirective="COPY",
            **dict(options),
        )
        etag = resp.get("CopyObjectResult", {}).get("ETag", "").strip('"') or None
        return Entry(key=entry.key, size=entry.size, mtime=entry.mtime, etag=etag)

    async def keep_copy(self, source: Store, entry: Entry, key: str) -> Entry | None:
        """A server-side copy from the same endpoint, metadata kept."""
        if not isinstance(source, S3Store) or source.identity != self.identity:
            return None
        if entry.size >= COPY_LIMIT:
            return None
        resp = await self.call(
            "copy_object",
            Bucket=self.bucket,
            Key=self._key(key),
            CopySource={"Bucket": source.bucket, "Key": source._key(entry.key)},
            MetadataDirective="COPY",
        )
        etag = resp.get("CopyObjectResult", {}).get("ETag", "").strip('"') or None
        return Entry(key=key, size=entry.size, mtime=entry.mtime, etag=etag)

    async def move(self, old: Entry, key: str) -> Entry | None:
        """S3 has no rename: a server-side copy (metadata kept), then a delete of the old key."""
        if old.size >= COPY_LIMIT:
            return None
        resp = await self.call(
            "copy_object",
            Bucket=self.bucket,
            Key=self._key(key),
            CopySource={"Bucket": self.bucket, "Key": self._key(old.key)},
            MetadataDirective="COPY",
        )
        await self.call("delete_object", Bucket=self.bucket, Key=self._key(old.key))
        etag = resp.get("CopyObjectResult", {}).get("ETag", "").strip('"') or None
        return Entry(key=key, size=old.size, mtime=old.mtime, etag=etag, md5=old.md5)

    async def set_mtime(self, entry: Entry, mtime_ns: int) -> Entry | None:
        """A copy of the object onto itself with the new mtime in its metadata (everything
        else it had kept), only if it is still the version compared (If-Match)."""
        if entry.size >= COPY_LIMIT or not entry.etag:
            return None
        key = self._key(entry.key)
        head = await self.call("head_object", Bucket=self.bucket, Key=key)
        if "SSECustomerAlgorithm" in head:
            return None  # copying needs the customer's key
        meta = {**(head.get("Metadata") or {}), MTIME_KEY: format_mtime_ns(mtime_ns)}
        kept = {k: head[k] for k in KEPT_ON_REPLACE if head.get(k)}
        if options_problem({"Metadata": meta, **kept}, "stored"):
            return None  # not sent again as headers: the file is copied instead
        if kept.get("StorageClass") == "STANDARD":
            del kept["StorageClass"]
        resp = await self.call(
            "copy_object",
            Bucket=self.bucket,
            Key=key,
            CopySource={"Bucket": self.bucket, "Key": key},
            CopySourceIfMatch=f'"{entry.etag}"',
            MetadataDirective="REPLACE",
            Metadata=meta,
            **kept,
        )
        etag = resp.get("CopyObjectResult", {}).get("ETag", "").strip('"') or None
        return Entry(entry.key, entry.size, mtime_ns / 1e9, None, etag, entry.md5)

    async def delete(self, keys: list[str]) -> list[tuple[str, str]]:
        failed: list[tuple[str, str]] = []
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            resp = await self.call(
                "delete_objects",
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self._key(k)} for k in batch], "Quiet": True},
            )
            cut = len(self.prefix)
            for err in resp.get("Errors", ()):
                failed.append((err.get("Key", "")[cut:], err.get("Message", "delete failed")))
        return failed

    async def close(self) -> None:
        try:
            await self.client.close()
        except Exception:  # noqa: BLE001 - closing must not hide the run's result
            pass


def _adder(headers: tuple[tuple[str, str], ...]) -> Any:
    def add_headers(request: Any, **_: Any) -> None:
        for name, value in headers:
            del request.headers[name]  # the headers object appends on assignment
            request.headers[name] = value

    return add_headers


def _sign_headers(
    client: Any,
    every: tuple[tuple[str, str], ...],
    upload: tuple[tuple[str, str], ...],
    per_operation: Mapping[str, tuple[tuple[str, str], ...]] | None = None,
) -> None:
    """Add the extra headers in botocore's before-sign event, so the signature covers them."""
    events = client.meta.events
    if every:
        events.register("before-sign.s3", _adder(every), unique_id="fssync-header")
    for operation in UPLOAD_OPERATIONS if upload else ():
        events.register(
            f"before-sign.s3.{operation}",
            _adder(upload),
            unique_id=f"fssync-upload-header-{operation}",
        )
    for operation, pairs in (per_operation or {}).items():
        if pairs:
            events.register(
                f"before-sign.s3.{operation}",
                _adder(pairs),
                unique_id=f"fssync-operation-header-{operation}",
            )


async def _register_resolved(fs: Any) -> None:
    """Credentials botocore found itself (a profile, the default chain) are secrets too."""
    try:
        creds = await fs.session.get_credentials()  # cached by the session: no new lookup
        if creds is not None:
            frozen = await creds.get_frozen_credentials()
            register(frozen.secret_key, frozen.token)
    except Exception:  # noqa: BLE001 - the first request will report missing credentials
        pass
