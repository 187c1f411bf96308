"""`fssync.stores.s3.objects.S3Transport` over `client.S3Client`: the fast path's adapter.

The object rules (writes, multipart, verification, metadata) are fssync's, shared with the s3fs
path; this module only turns their requests into `S3Client` calls: botocore's parameter names
become headers, and response headers become replies in botocore's shape.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import fssync
from fssync.plugin import s3meta, s3objects, s3pages

from .client import S3Client
from .http import Body, BodySource, Response
from .resolve import Settings
from .xmlparse import Page

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
    "IfNoneMatch": "if-none-match",
    "MetadataDirective": "x-amz-metadata-directive",
    "TaggingDirective": "x-amz-tagging-directive",
}
META = "x-amz-meta-"
# Reply facts read from response headers, by botocore's names (`s3meta.KEPT_ON_REPLACE` too).
_REPLY_HEADERS = {
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSECustomerAlgorithm": "x-amz-server-side-encryption-customer-algorithm",
    **{name: HEADERS[name] for name in s3meta.KEPT_ON_REPLACE},
}


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


def metadata(headers: Mapping[str, str]) -> dict[str, str]:
    cut = len(META)
    return {k[cut:]: v for k, v in headers.items() if k.startswith(META)}


def reply(headers: Mapping[str, str]) -> dict[str, Any]:
    """A response's headers in the shape `s3meta` and `s3objects` read (botocore's names)."""
    shaped: dict[str, Any] = {"ETag": headers.get("etag", ""), "Metadata": metadata(headers)}
    for name, header in _REPLY_HEADERS.items():
        value = headers.get(header)
        if value:
            shaped[name] = value
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        shaped["ContentLength"] = int(length)
    return shaped


class FastBody:
    """A GET answer of `S3Client`, as `s3objects.ObjectBody`."""

    def __init__(self, resp: Response) -> None:
        self._resp = resp
        self.status = resp.status
        self.reply: Mapping[str, Any] = reply(resp.headers)

    @property
    def remaining(self) -> int:
        return self._resp.remaining

    async def read(self, n: int = -1) -> bytes:
        return await self._resp.read(n)

    async def read_into(self, view: memoryview) -> None:
        await self._resp.read_into(view)

    def close(self) -> None:
        self._resp.close()


class FastTransport:
    """The requests of `s3objects.S3ObjectStore`, made by `S3Client`."""

    sends_slices = True  # a part from a local file is sent as it is read
    reads_into = True  # a range goes from the socket into one reused buffer

    def __init__(self, client: S3Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._chain_loaded = False

    async def ready(self) -> None:
        """Credentials found through botocore's chain (it may read files or call a metadata
        service) are looked up once, in a worker thread, before the first request."""
        creds = self.settings.credentials
        if not self._chain_loaded and creds.needs_chain:
            await asyncio.to_thread(creds.load_chain)
        self._chain_loaded = True

    def _upload_headers(self, options: Mapping[str, Any]) -> dict[str, str]:
        """Headers of a request that creates an object: its options and metadata, then the
        user's upload headers (which win, as they do on the s3fs path)."""
        opts = dict(options)
        meta = opts.pop("Metadata", None)
        headers = request_headers(opts, meta)
        headers.update(self.settings.upload_headers)
        return headers

    async def list_page(
        self,
        bucket: str,
        prefix: str,
        token: str | None,
        folders: list[str] | None = None,
        *,
        start_after: str | None = None,
        max_keys: int | None = None,
    ) -> tuple[Iterator[s3objects.Listed], s3pages.PageFacts]:
        await self.ready()
        delimiter = "/" if folders is not None else None
        page = await self.client.list_page(
            bucket, prefix, token, max_keys, delimiter, start_after=start_after
        )
        if folders is not None:
            folders.extend(page.prefixes)
        return _rows(page), page.facts

    async def put_object(
        self, bucket: str, key: str, data: bytes, md5: bytes, options: Mapping[str, Any]
    ) -> dict[str, Any]:
        await self.ready()
        headers = self._upload_headers(options)
        headers["content-md5"] = _b64(md5)
        return reply((await self.client.put(bucket, key, data, headers)).headers)

    async def create_multipart(
        self, bucket: str, key: str, options: Mapping[str, Any]
    ) -> tuple[str, bool]:
        await self.ready()
        return await self.client.create_multipart(bucket, key, self._upload_headers(options))

    async def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: s3objects.PartBody,
        md5: bytes | None,
        *,
        attempts: int | None = None,
    ) -> dict[str, Any]:
        await self.ready()
        sent: Body = body if isinstance(body, bytes) else BodySource(body.length, body.chunks)
        more = {} if attempts is None else {"attempts": attempts}
        headers = await self.client.upload_part(bucket, key, upload_id, number, sent, md5, **more)
        return reply(headers)

    async def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> str | None:
        await self.ready()
        return await self.client.complete_multipart(bucket, key, upload_id, parts)

    async def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        await self.ready()
        await self.client.abort_multipart(bucket, key, upload_id)

    async def list_parts(self, bucket: str, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
        await self.ready()
        return await self.client.list_parts(bucket, key, upload_id)

    async def list_uploads(self, bucket: str, prefix: str) -> list[tuple[str, str, float | None]]:
        await self.ready()
        return await self.client.list_uploads(bucket, prefix)

    async def head(self, bucket: str, key: str) -> dict[str, Any]:
        await self.ready()
        headers = (await self.client.head(bucket, key)).headers
        shaped = reply(headers)
        modified = headers.get("last-modified")  # parsed here only: a GET's is not used
        if modified:
            shaped["LastModified"] = parsedate_to_datetime(modified)
        return shaped

    async def get(
        self,
        bucket: str,
        key: str,
        byte_range: tuple[int, int] | None = None,
        if_match: str | None = None,
    ) -> FastBody:
        await self.ready()
        conditions = {"if-match": if_match} if if_match else None
        return FastBody(await self.client.get(bucket, key, byte_range, conditions))

    async def copy(
        self,
        bucket: str,
        key: str,
        src_bucket: str,
        src_key: str,
        options: Mapping[str, Any],
        if_match: str | None = None,
    ) -> str | None:
        await self.ready()
        headers = self._upload_headers(options)
        if if_match:
            headers["x-amz-copy-source-if-match"] = if_match
        etag = await self.client.copy(bucket, key, src_bucket, src_key, headers)
        return (etag or "").strip('"') or None

    async def delete_object(self, bucket: str, key: str) -> None:
        await self.ready()
        await self.client.delete_object(bucket, key)

    async def delete_objects(self, bucket: str, keys: list[str]) -> list[tuple[str, str]]:
        await self.ready()
        return await self.client.delete_objects(bucket, keys)

    async def close(self) -> None:
        await self.client.close()


def _rows(page: Page) -> Iterator[s3objects.Listed]:
    stamps: dict[str, float] = {}  # many objects share a LastModified second
    for full, size, modified, etag in page.objects:
        stamp = stamps.get(modified)
        if stamp is None:
            text = modified.replace("Z", "+00:00")
            stamp = stamps[modified] = dt.datetime.fromisoformat(text).timestamp()
        yield full, size, stamp, etag


def _b64(md5: bytes) -> str:
    import base64

    return base64.b64encode(md5).decode()
