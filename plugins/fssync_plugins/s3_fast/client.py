"""The S3 REST calls fssync makes, signed with `sigv4` and sent through `http`.

Errors come back as `S3Error`, whose ``response`` has the shape botocore's ``ClientError`` has
(``Error.Code``, ``Error.Message``, ``ResponseMetadata.HTTPStatusCode``), so fssync's diagnosis
treats both back ends alike. Transient failures (connection errors, 5xx, throttling) are sent
again as the run's `RetryPolicy` says, the same count and waits as the s3fs path: waits of
milliseconds for a failed connection or a 5xx, twenty times longer for a request to slow down
(SlowDown, 503, 429), so a throttling storm is waited out, not fed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Iterable, Mapping
from typing import Protocol

from fssync.plugin import EXPIRED_CODES, RetryPolicy, httplog, s3pages, throttled

from . import xmlparse
from .http import READ_TIMEOUT, Body, Pool, Response, host_header, split_url
from .sigv4 import EMPTY_SHA256, UNSIGNED_PAYLOAD, Signer, canonical_query, uri_encode

_RETRY_CODES = frozenset(
    {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling",
     "ThrottlingException", "BadDigest"}
)  # fmt: skip

Credentials = tuple[str, str, str | None]  # access key, secret key, session token


class CredentialSource(Protocol):
    """What the client signs with (`fssync_plugins.s3_fast.resolve.Credentials`)."""

    async def prepare(self) -> int:
        """Refresh if needed before signing; return the current generation."""

    def __call__(self) -> Credentials | None:
        """The keys to sign with; None sends unsigned requests."""

    def expired(self, generation: int) -> bool:
        """The keys of `generation` were refused as expired: whether a retry can work."""


class S3Error(Exception):
    """An error answer from the server, shaped like botocore's ClientError for `diagnose`."""

    def __init__(self, operation: str, status: int, code: str, message: str) -> None:
        super().__init__(
            f"An error occurred ({code}) when calling the {operation} operation: {message}"
        )
        self.operation = operation
        self.status = status
        self.code = code
        self.response = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }


class S3Client:
    """Signed S3 requests against one endpoint, over one connection pool."""

    def __init__(
        self,
        endpoint: str,
        region: str,
        credentials: CredentialSource,
        *,
        connections: int,
        virtual_host: bool = False,
        user_agent: str = "fssync",
        headers: Iterable[tuple[str, str]] = (),
        operation_headers: Mapping[str, tuple[tuple[str, str], ...]] | None = None,
        timeout: float = READ_TIMEOUT,
        ca_bundle: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.retry = retry or RetryPolicy()  # how often and how long a request is sent again
        self.ca_bundle = ca_bundle  # PEM authorities for https (None: the system's)
        self.timeout = timeout  # stall timeout of every request (see `http.Stalled`)
        scheme, host, port, base = split_url(endpoint)
        self.scheme, self.host, self.port, self.base = scheme, host, port, base
        self.virtual_host = virtual_host
        self.signer = Signer(region)
        self.credentials = credentials
        self.user_agent = user_agent
        self.extra_headers = tuple(headers)  # signed into every request (e.g. a session token)
        # signed into one operation's requests only (e.g. SSE-C keys on object reads and writes)
        self.operation_headers = dict(operation_headers or {})
        self.pools: dict[str, Pool] = {}
        self.connections = connections
        self.follow_region = True  # answer a bucket-region redirect by signing for that region
        self._date = ("", 0)  # (x-amz-date, second) cached: one strftime per second
        self.requests = 0  # sent, for tests and statistics

    # -- plumbing -----------------------------------------------------------------------------

    def _move_to(self, region: str) -> None:
        """Sign for another region and, on AWS's own endpoints, talk to that region's."""
        old = self.signer.region
        self.signer = Signer(region)
        if self.host.endswith(".amazonaws.com"):
            old_host = "s3.amazonaws.com" if old == "us-east-1" else f"s3.{old}.amazonaws.com"
            new_host = "s3.amazonaws.com" if region == "us-east-1" else f"s3.{region}.amazonaws.com"
            if self.host == old_host:
                self.host = new_host
                self.endpoint = f"{self.scheme}://{new_host}"

    def _pool(self, host: str) -> Pool:
        """The pool for a Host header value (one per bucket with virtual-host addressing)."""
        pool = self.pools.get(host)
        if pool is None:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            pool = Pool(
                name if self.virtual_host else self.host,
                self.port,
                tls=self.scheme == "https",
                limit=self.connections,
                server_hostname=name if self.virtual_host else self.host,
                timeout=self.timeout,
                ca_bundle=self.ca_bundle,
            )
            self.pools[host] = pool
        return pool

    def _amz_date(self) -> str:
        now = int(time.time())
        text, second = self._date
        if second != now:
            text = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
            self._date = (text, now)
        return text

    def _where(self, bucket: str, key: str | None) -> tuple[str, str]:
        """(Host header, encoded path) for a bucket and key, path- or virtual-host-style."""
        hostname = host_header(self.scheme, self.host, self.port)
        path = self.base
        if self.virtual_host and bucket:
            hostname = f"{bucket}.{hostname}"
        elif bucket:
            path += "/" + uri_encode(bucket, keep_slash=False)
        if key is not None:
            path += "/" + uri_encode(key, keep_slash=True)
        return hostname, path or "/"

    async def call(
        self,
        operation: str,
        method: str,
        bucket: str,
        key: str | None = None,
        *,
        query: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: Body = b"",
        stream: bool = False,
        ok: tuple[int, ...] = (200,),
        attempts: int | None = None,
    ) -> tuple[Response, bytes]:
        """Send one signed request, retrying transient failures (up to `attempts` sends, by
        default the policy's); raise `S3Error` on an error."""
        if attempts is None:
            attempts = self.retry.sends
        more = self.operation_headers.get(operation)
        if more:
            headers = {**dict(more), **(headers or {})}
        host, path = self._where(bucket, key)
        qs = canonical_query(query)
        target = f"{path}?{qs}" if qs else path
        attempt = 0
        redirected = False
        renewed = False
        while True:
            attempt += 1
            generation = await self.credentials.prepare()
            signed = self._sign(method, host, path, qs, headers, body)
            self.requests += 1
            url = f"{self.scheme}://{host}{target}" if httplog.enabled() else ""
            if url:
                httplog.sent(method, url)
            try:
                resp, data = await self._pool(host).request(
                    method, target, signed, body, stream=stream
                )
            except OSError as exc:  # refused, reset, timed out (TimeoutError is an OSError)
                if url:
                    httplog.failed(exc, method, url, attempt)
                # a certificate that fails verification will fail again: not sent once more
                if attempt >= attempts or getattr(exc, "verify_code", None) is not None:
                    raise
                await asyncio.sleep(self.retry.request_delay(attempt))
                continue
            if url:
                httplog.answered(resp.status, method, url, attempt)
            if resp.status in ok:
                resp.attempts = attempt
                return resp, data
            if stream:  # an error answer is small: read it whole
                data = await resp.read(-1)
                resp.close()
            error = _error(operation, resp, data)
            if error.code in EXPIRED_CODES and not renewed and self.credentials.expired(generation):
                renewed = True  # refreshed on the next prepare(); sent once more
                continue
            if attempt < attempts and _retryable(error):
                slow_down = throttled(error.status, error.code)
                await asyncio.sleep(self.retry.request_delay(attempt, slow_down=slow_down))
                continue
            region = resp.headers.get("x-amz-bucket-region")
            if region and region != self.signer.region and not redirected and self.follow_region:
                # The bucket lives in another region (botocore follows this too): sign for it.
                redirected = True
                self._move_to(region)
                host, path = self._where(bucket, key)
                continue
            raise error

    def _sign(
        self,
        method: str,
        host: str,
        path: str,
        query: str,
        extra: Mapping[str, str] | None,
        body: Body,
    ) -> dict[str, str]:
        headers = {"host": host}
        if extra:
            for k, v in extra.items():
                headers[k.lower()] = v
        for k, v in self.extra_headers:
            headers[k] = v
        creds = self.credentials()
        if creds is None:  # anonymous
            headers["user-agent"] = self.user_agent
            return headers
        access, secret, token = creds
        amz_date = self._amz_date()
        # The body is covered by Content-MD5 where it matters (PUT, parts, deletes), so its
        # SHA-256 is not computed: that would be a second full pass over every byte sent.
        payload = UNSIGNED_PAYLOAD if body else EMPTY_SHA256
        headers["x-amz-date"] = amz_date
        headers["x-amz-content-sha256"] = payload
        if token:
            headers["x-amz-security-token"] = token
        headers["authorization"] = self.signer.authorization(
            method, path, query, headers, payload, amz_date, access, secret
        )
        headers["user-agent"] = self.user_agent  # not signed: proxies may rewrite it
        return headers

    async def close(self) -> None:
        for pool in self.pools.values():
            await pool.close()

    # -- operations ---------------------------------------------------------------------------

    async def list_page(
        self,
        bucket: str,
        prefix: str,
        token: str | None,
        max_keys: int | None = None,
        delimiter: str | None = None,
        *,
        start_after: str | None = None,
    ) -> xmlparse.Page:
        """One page of a listing, with the facts `s3pages` checks (``page.facts``); with a
        `delimiter`, the page's common prefixes too (``page.prefixes``)."""
        query = [
            ("list-type", "2"),
            ("prefix", prefix),
            ("max-keys", str(max_keys or s3pages.PAGE_SIZE)),
            ("encoding-type", "url"),
        ]
        if token:
            query.append(("continuation-token", token))
        elif start_after:
            query.append(("start-after", start_after))
        if delimiter:
            query.append(("delimiter", delimiter))
        resp, data = await self.call("ListObjectsV2", "GET", bucket, query=query)
        facts = s3pages.facts_of(data, resp.headers.get("content-type", ""))
        if facts.root != "ListBucketResult":
            return xmlparse.Page([], False, None, facts)  # refused by the check, not parsed
        try:
            page = xmlparse.list_page(data)
        except (SyntaxError, ValueError, UnicodeDecodeError) as exc:  # ParseError is a SyntaxError
            raise s3pages.BadPage(f"cannot be read as XML: {exc}") from None
        page.facts = facts
        if delimiter:
            try:
                page.prefixes = xmlparse.common_prefixes(data)
            except SyntaxError as exc:
                raise s3pages.BadPage(f"cannot be read as XML: {exc}") from None
        return page

    async def head(self, bucket: str, key: str) -> Response:
        resp, _ = await self.call("HeadObject", "HEAD", bucket, key)
        return resp

    async def get(
        self,
        bucket: str,
        key: str,
        byte_range: tuple[int, int] | None = None,
        conditions: Mapping[str, str] | None = None,
    ) -> Response:
        """A GET whose body is streamed from the response (``read``, then ``close``);
        `conditions` are headers such as ``if-match``."""
        headers = dict(conditions or {})
        if byte_range:
            headers["range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        resp, _ = await self.call(
            "GetObject", "GET", bucket, key, headers=headers, stream=True, ok=(200, 206)
        )
        return resp

    async def put(self, bucket: str, key: str, data: bytes, headers: Mapping[str, str]) -> Response:
        resp, _ = await self.call("PutObject", "PUT", bucket, key, headers=headers, body=data)
        return resp

    async def copy(
        self, bucket: str, key: str, src_bucket: str, src_key: str, headers: Mapping[str, str]
    ) -> str | None:
        h = dict(headers)
        h["x-amz-copy-source"] = uri_encode(f"{src_bucket}/{src_key}", keep_slash=True)
        _, data = await self.call("CopyObject", "PUT", bucket, key, headers=h)
        _embedded_error("CopyObject", data)
        return xmlparse.etag_of(data)

    async def create_multipart(
        self, bucket: str, key: str, headers: Mapping[str, str]
    ) -> tuple[str, bool]:
        """(upload id, whether the request was sent more than once: a lost reply may have left
        a twin upload behind)."""
        resp, data = await self.call(
            "CreateMultipartUpload", "POST", bucket, key, query=[("uploads", "")], headers=headers
        )
        return xmlparse.upload_id(data), resp.attempts > 1

    async def list_uploads(self, bucket: str, prefix: str) -> list[tuple[str, str, float | None]]:
        """Unfinished multipart uploads under a prefix (the first 1,000)."""
        query = [("uploads", ""), ("prefix", prefix)]
        _, data = await self.call("ListMultipartUploads", "GET", bucket, query=query)
        return xmlparse.uploads(data)

    async def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        data: Body,
        md5: bytes | None,
        attempts: int | None = None,
    ) -> Mapping[str, str]:
        """Send one part, with its Content-MD5 when it is known before sending; the answer's
        headers (its ETag is compared with the MD5 by the caller)."""
        resp, _ = await self.call(
            "UploadPart",
            "PUT",
            bucket,
            key,
            query=[("partNumber", str(number)), ("uploadId", upload_id)],
            headers={"content-md5": base64.b64encode(md5).decode()} if md5 else None,
            body=data,
            attempts=attempts,
        )
        return resp.headers

    async def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> str | None:
        body = "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{_xml_text(etag)}</ETag></Part>"
            for n, etag in parts
        )
        xml = f'<CompleteMultipartUpload xmlns="{xmlparse.NS}">{body}</CompleteMultipartUpload>'
        _, data = await self.call(
            "CompleteMultipartUpload",
            "POST",
            bucket,
            key,
            query=[("uploadId", upload_id)],
            body=xml.encode(),
        )
        _embedded_error("CompleteMultipartUpload", data)
        return xmlparse.etag_of(data)

    async def list_parts(self, bucket: str, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
        """The parts an unfinished upload holds: number -> (ETag, size), every page."""
        out: dict[int, tuple[str, int]] = {}
        marker = 0
        while True:
            query = [("uploadId", upload_id), ("part-number-marker", str(marker))]
            _, data = await self.call("ListParts", "GET", bucket, key, query=query)
            found, following = xmlparse.parts(data)
            out.update(found)
            if following is None or following <= marker:
                return out
            marker = following

    async def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        await self.call(
            "AbortMultipartUpload",
            "DELETE",
            bucket,
            key,
            query=[("uploadId", upload_id)],
            ok=(200, 204),
        )

    async def delete_object(self, bucket: str, key: str) -> None:
        await self.call("DeleteObject", "DELETE", bucket, key, ok=(200, 204))

    async def delete_objects(self, bucket: str, keys: list[str]) -> list[tuple[str, str]]:
        """Delete up to 1,000 keys in one request; (key, message) for each that failed."""
        objects = "".join(f"<Object><Key>{_xml_text(k)}</Key></Object>" for k in keys)
        xml = f'<Delete xmlns="{xmlparse.NS}"><Quiet>true</Quiet>{objects}</Delete>'.encode()
        md5 = base64.b64encode(hashlib.md5(xml, usedforsecurity=False).digest()).decode()
        _, data = await self.call(
            "DeleteObjects",
            "POST",
            bucket,
            query=[("delete", "")],
            headers={"content-md5": md5, "content-type": "application/xml"},
            body=xml,
        )
        return xmlparse.delete_errors(data)


_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;"})


def _xml_text(text: str) -> str:
    """Text for an XML element (a key or an ETag): markup characters escaped."""
    return text.translate(_XML_ESCAPES)


def _embedded_error(operation: str, data: bytes) -> None:
    """CopyObject and CompleteMultipartUpload can fail after a 200 status: check the body."""
    code, message = xmlparse.error_of(data)
    if code:
        raise S3Error(operation, 200, code, message)


def _error(operation: str, resp: Response, data: bytes) -> S3Error:
    code, message = xmlparse.error_of(data)
    if not code:  # HEAD answers carry no body: botocore uses the status as the code
        code = str(resp.status)
        message = message or _REASONS.get(resp.status, "")
    return S3Error(operation, resp.status, code, message)


_REASONS = {
    301: "Moved Permanently",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    412: "Precondition Failed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _retryable(error: S3Error) -> bool:
    return error.code in _RETRY_CODES or error.status >= 500 or error.status == 429
