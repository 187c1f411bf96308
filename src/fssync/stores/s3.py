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
from . import httplog
from .base import Listing, ListingProgress, Reader, Store, known_md5, source_mtime_ns
from .renewal import EXPIRED_CODES, OnFetch, Renewal
from .s3meta import (
    COPY_LIMIT,
    CREDENTIAL_OPTIONS,
    KEPT_ON_REPLACE,
    MD5_B64_KEY,
    MD5_KEY,
    MTIME_KEY,
    MULTIPART_THRESHOLD,
    PART_BUFFERS,
    PART_KEY,
    UPLOAD_OPERATIONS,
    confirmed,
    format_mtime_ns,
    header_problem,
    md5_b64,
    options_problem,
    part_size_for,
    stated_md5,
    stated_parts,
    stored_mtime_ns,
)


def _split(path: str) -> tuple[str, str]:
    bucket, _, key = path.partition("/")
    return bucket, key


class S3Reader(Reader):
    ranged = True

    def __init__(self, store: S3Store, bucket: str, key: str, entry: Entry) -> None:
        self._store, self._bucket, self._key = store, bucket, key
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


class S3Store(Store):
    journal: Any = None  # a fssync.leftovers.UploadJournal when the state file is in use

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
        _sign_headers(client, every, upload)
        if httplog.enabled():
            httplog.watch_botocore(client)
        if renewal is None and not opts.get("anon") and not opts.get("key"):
            await _register_resolved(fs)
        return cls(location, fs, client, renewal)

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
        from .. import location as loc

        entries: dict[str, Entry] = {}
        rejected: list[tuple[str, str]] = []
        cut = len(self.prefix)
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix, "MaxKeys": 1000}
            if token:
                kwargs["ContinuationToken"] = token
            resp = await self.call("list_objects_v2", **kwargs)
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
            if not resp.get("IsTruncated"):
                break
            if progress is not None:
                progress(len(entries))
            token = resp.get("NextContinuationToken")
        return Listing(entries=entries, rejected=tuple(rejected))

    async def head(self, entry: Entry) -> tuple[Mapping[str, str], bool]:
        """The object's user metadata, and whether its ETag cannot be an MD5 (SSE-KMS/SSE-C)."""
        resp = await self.call("head_object", Bucket=self.bucket, Key=self._key(entry.key))
        opaque = resp.get("ServerSideEncryption") == "aws:kms" or "SSECustomerAlgorithm" in resp
        return resp.get("Metadata") or {}, opaque

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
        if entry.size < MULTIPART_THRESHOLD:
            data = await reader.read(-1)
            await reader.verify()
            digest = hashlib.md5(data, usedforsecurity=False).digest()
            meta[MD5_KEY] = digest.hex()  # what was actually sent
            resp = await self.call(
                "put_object",
                Bucket=self.bucket,
                Key=key,
                Body=data,
                Metadata=meta,
                ContentMD5=base64.b64encode(digest).decode(),
                **extra,
            )
            etag = resp.get("ETag", "").strip('"') or digest.hex()
            if not confirmed(resp, digest.hex()):
                await self._discard(key)
                raise ChecksumMismatch(f"the store saved other bytes than were sent (ETag {etag})")
            size = len(data)
        else:
            md5 = await known_md5(reader, entry)
            if md5:  # readable by rclone and others, as the multipart ETag is no MD5
                meta[MD5_KEY], meta[MD5_B64_KEY] = md5, md5_b64(md5)
            else:
                meta.pop(MD5_KEY, None)
            etag, size = await self._multipart(key, reader, entry.size, meta, extra)
        return Entry(key=entry.key, size=size, mtime=mtime, etag=etag, md5=meta.get(MD5_KEY))

    async def _multipart(
        self, key: str, reader: Reader, size: int, meta: dict[str, str], extra: dict[str, Any]
    ) -> tuple[str, int]:
        """Upload in parts with a bounded number of part buffers; abort on any failure."""
        part_size = part_size_for(size)
        meta = {**meta, PART_KEY: str(part_size)}
        journal = self.journal  # records the upload so a killed run's parts can be aborted
        row = await journal.begin(self.bucket, key) if journal else None
        since = time.time()
        resp = await self.call(
            "create_multipart_upload", Bucket=self.bucket, Key=key, Metadata=meta, **extra
        )
        upload_id = resp["UploadId"]
        if journal:
            await journal.created(row, upload_id)
        if resp.get("ResponseMetadata", {}).get("RetryAttempts"):
            # an earlier attempt may have created an upload whose reply was lost
            await abort_twins(self, self.bucket, key, upload_id, since)
        parts: dict[int, str] = {}
        total = 0

        async def send(number: int, data: bytes) -> None:
            try:
                digest = hashlib.md5(data, usedforsecurity=False).digest()
                r = await self.call(
                    "upload_part",
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                    ContentMD5=base64.b64encode(digest).decode(),
                )
                if not confirmed(r, digest.hex()):
                    raise ChecksumMismatch(
                        f"the store saved other bytes than sent in part {number}"
                    )
                parts[number] = r["ETag"]
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

    async def _discard(self, key: str) -> None:
        """Delete an object stored with the wrong bytes, so no later run takes it as synced."""
        try:
            await self.call("delete_object", Bucket=self.bucket, Key=key)
        except Exception:  # noqa: BLE001 - the mismatch is reported either way
            pass

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
    client: Any, every: tuple[tuple[str, str], ...], upload: tuple[tuple[str, str], ...]
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


async def _register_resolved(fs: Any) -> None:
    """Credentials botocore found itself (a profile, the default chain) are secrets too."""
    try:
        creds = await fs.session.get_credentials()  # cached by the session: no new lookup
        if creds is not None:
            frozen = await creds.get_frozen_credentials()
            register(frozen.secret_key, frozen.token)
    except Exception:  # noqa: BLE001 - the first request will report missing credentials
        pass
