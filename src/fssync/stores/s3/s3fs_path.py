"""S3 and S3-compatible stores through the async client that s3fs sets up.

s3fs builds the client (credentials, endpoint, region, botocore configuration); fssync then calls
the client itself, keeping control of listing, metadata, multipart uploads and errors. What is
done with objects lives in `s3objects`, shared with the fast S3 path; this module holds the
listing, the connection and `BotocoreTransport`, the adapter those rules make requests through.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator, Mapping
from typing import Any

from fssync import __version__
from fssync.diagnose import bad_certificate
from fssync.errors import UsageError
from fssync.settings.auth import CredentialProvider
from fssync.settings.location import Location
from fssync.settings.secrets import register
from fssync.stores.s3 import httplog
from fssync.stores.s3 import pages as s3pages
from fssync.stores.s3.meta import (
    CREDENTIAL_OPTIONS,
    MULTIPART_OPTION,
    OPERATION_HEADERS,
    STALL_TIMEOUT,
    UPLOAD_OPERATIONS,
    PartPlan,
    header_problem,
    operation_headers,
    part_plan,
)
from fssync.stores.s3.objects import Listed, PartBody, S3ObjectStore, error_code
from fssync.stores.s3.renewal import EXPIRED_CODES, OnFetch, Renewal
from fssync.stores.s3.stall import WATCH_ABOVE, ProgressBody, Stalled, watched
from fssync.transfer.retrying import RetryPolicy, throttled


def _split(path: str) -> tuple[str, str]:
    bucket, _, key = path.partition("/")
    return bucket, key


class BotocoreBody:
    """A GetObject answer through botocore, as `s3objects.ObjectBody`."""

    def __init__(self, resp: dict[str, Any]) -> None:
        self._stream = resp.pop("Body")
        self.reply: Mapping[str, Any] = resp
        self.status = int(resp.get("ResponseMetadata", {}).get("HTTPStatusCode") or 200)
        self._left = int(resp.get("ContentLength", -1))

    @property
    def remaining(self) -> int:
        return self._left

    async def read(self, n: int = -1) -> bytes:
        data: bytes = await (self._stream.read() if n < 0 else self._stream.read(n))
        if self._left >= 0:
            self._left = max(0, self._left - len(data))
        return data

    async def read_into(self, view: memoryview) -> None:
        at = 0
        while at < len(view):
            data = await self.read(len(view) - at)
            if not data:
                raise OSError("the reply ended early")
            view[at : at + len(data)] = data
            at += len(data)

    def close(self) -> None:
        self._stream.close()


class BotocoreTransport:
    """`s3objects.S3Transport` over the aiobotocore client s3fs set up: botocore retries
    transient errors (as often and with the waits the run's `RetryPolicy` says), `send` sends a
    stalled body again as often, and `call` sends a request refused for expired credentials
    once more after a refresh."""

    sends_slices = False  # botocore takes bytes: parts are read into buffers
    reads_into = False  # ranges come back whole from each ranged GET

    def __init__(
        self,
        client: Any,
        renewal: Renewal | None = None,
        stall_timeout: float = STALL_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.client = client
        self.renewal = renewal
        self.stall_timeout = stall_timeout
        self.retry = retry or RetryPolicy()

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
            if error_code(exc) not in EXPIRED_CODES or not renewal.expired(generation):
                raise
        return await getattr(self.client, method)(**kwargs)

    async def send(self, method: str, data: bytes, **kwargs: Any) -> Any:
        """A request with a body (PutObject, UploadPart), sent again when it stalls: aiohttp
        has no timeout while a body goes out (see `fssync.stores.s3.stall`)."""
        if len(data) <= WATCH_ABOVE:
            return await self.call(method, Body=data, **kwargs)
        sends = self.retry.sends  # a stalled send is a request-level retry
        for attempt in range(1, sends + 1):
            body = ProgressBody(data)
            try:
                return await watched(
                    self.call(method, Body=body, **kwargs), body, self.stall_timeout
                )
            except Stalled:
                if attempt == sends:
                    raise
        raise AssertionError("unreachable")

    async def list_page(
        self,
        bucket: str,
        prefix: str,
        token: str | None,
        folders: list[str] | None = None,
        *,
        start_after: str | None = None,
        max_keys: int | None = None,
    ) -> tuple[Iterator[Listed], s3pages.PageFacts]:
        kwargs: dict[str, Any] = {
            "Bucket": bucket,
            "Prefix": prefix,
            "MaxKeys": max_keys or s3pages.PAGE_SIZE,
        }
        if token:
            kwargs["ContinuationToken"] = token
        elif start_after:
            kwargs["StartAfter"] = start_after
        if folders is not None:
            kwargs["Delimiter"] = "/"
        resp = await self.call("list_objects_v2", **kwargs)
        facts = resp.get("FssyncPage")  # read from the raw reply (s3pages.watch_botocore)
        if not isinstance(facts, s3pages.PageFacts):
            raise s3pages.BadPage("could not be checked: its raw reply was not seen")
        if folders is not None:
            folders.extend(p["Prefix"] for p in resp.get("CommonPrefixes", ()))
        rows = (
            (o["Key"], int(o.get("Size", 0)), o["LastModified"].timestamp(), o.get("ETag", ""))
            for o in resp.get("Contents", ())
        )
        return rows, facts

    async def put_object(
        self, bucket: str, key: str, data: bytes, md5: bytes, options: Mapping[str, Any]
    ) -> Any:
        return await self.send(
            "put_object", data, Bucket=bucket, Key=key, ContentMD5=_b64(md5), **options
        )

    async def create_multipart(
        self, bucket: str, key: str, options: Mapping[str, Any]
    ) -> tuple[str, bool]:
        resp = await self.call("create_multipart_upload", Bucket=bucket, Key=key, **options)
        retried = bool(resp.get("ResponseMetadata", {}).get("RetryAttempts"))
        return str(resp["UploadId"]), retried

    async def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: PartBody,
        md5: bytes | None,
        *,
        attempts: int | None = None,  # botocore's retry configuration counts the sends
    ) -> Any:
        if not isinstance(body, bytes):
            raise TypeError("botocore sends parts from bytes")  # sends_slices is False
        more = {"ContentMD5": _b64(md5)} if md5 else {}
        return await self.send(
            "upload_part",
            body,
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            **more,
        )

    async def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> str | None:
        done = await self.call(
            "complete_multipart_upload",
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
        )
        return str(done.get("ETag", "")).strip('"') or None

    async def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        await self.call("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)

    async def list_parts(self, bucket: str, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
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

    async def list_uploads(self, bucket: str, prefix: str) -> list[tuple[str, str, float | None]]:
        resp = await self.call("list_multipart_uploads", Bucket=bucket, Prefix=prefix)
        return [
            (
                u.get("Key", ""),
                u["UploadId"],
                u["Initiated"].timestamp() if "Initiated" in u else None,
            )
            for u in resp.get("Uploads", ())
        ]

    async def head(self, bucket: str, key: str) -> Any:
        return await self.call("head_object", Bucket=bucket, Key=key)

    async def get(
        self,
        bucket: str,
        key: str,
        byte_range: tuple[int, int] | None = None,
        if_match: str | None = None,
    ) -> BotocoreBody:
        more: dict[str, str] = {}
        if byte_range is not None:
            more["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        if if_match:
            more["IfMatch"] = if_match
        return BotocoreBody(await self.call("get_object", Bucket=bucket, Key=key, **more))

    async def copy(
        self,
        bucket: str,
        key: str,
        src_bucket: str,
        src_key: str,
        options: Mapping[str, Any],
        if_match: str | None = None,
    ) -> str | None:
        more = {"CopySourceIfMatch": if_match} if if_match else {}
        resp = await self.call(
            "copy_object",
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": src_bucket, "Key": src_key},
            **more,
            **options,
        )
        return str(resp.get("CopyObjectResult", {}).get("ETag", "")).strip('"') or None

    async def delete_object(self, bucket: str, key: str) -> None:
        await self.call("delete_object", Bucket=bucket, Key=key)

    async def delete_objects(self, bucket: str, keys: list[str]) -> list[tuple[str, str]]:
        resp = await self.call(
            "delete_objects",
            Bucket=bucket,
            Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True},
        )
        return [
            (err.get("Key", ""), err.get("Message", "delete failed"))
            for err in resp.get("Errors", ())
        ]

    async def close(self) -> None:
        await self.client.close()


def _b64(md5: bytes) -> str:
    return base64.b64encode(md5).decode()


class S3Store(S3ObjectStore):
    """S3 through s3fs's botocore client: the connection here, the object rules (listing
    included) in `s3objects`."""

    def __init__(
        self,
        location: Location,
        fs: Any,
        client: Any,
        renewal: Renewal | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.location = location
        self.fs = fs
        self.client = client
        self.renewal = renewal
        self.identity = f"s3|{fs.endpoint_url or client.meta.endpoint_url}"
        self.bucket, prefix = _split(location.root)
        self.prefix = prefix + "/" if prefix else ""
        self.parts = PartPlan()
        self.retry = retry or RetryPolicy()
        self.use_transport(BotocoreTransport(client, renewal, retry=self.retry))

    @property
    def stall_timeout(self) -> float:
        return self._transport.stall_timeout

    @stall_timeout.setter
    def stall_timeout(self, value: float) -> None:
        self._transport.stall_timeout = value

    @property
    def _transport(self) -> BotocoreTransport:
        assert isinstance(self.transport, BotocoreTransport)
        return self.transport

    @classmethod
    async def connect(
        cls,
        location: Location,
        options: Mapping[str, Any],
        *,
        transfers: int,
        credentials: CredentialProvider | None = None,
        on_fetch: OnFetch | None = None,
        retry: RetryPolicy | None = None,
    ) -> S3Store:
        import s3fs

        policy = retry or RetryPolicy()
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
        every = _token_into_credentials(every, opts)
        config = dict(opts.pop("config_kwargs", {}) or {})
        config.setdefault("max_pool_connections", max(transfers * 2, 10))
        # botocore retries each request as the run's policy says (`_retry_on_policy`), unless
        # the storage options set botocore's retries themselves.
        own_retries = "retries" not in config
        config.setdefault("retries", {"total_max_attempts": policy.sends, "mode": "standard"})
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
        _no_retry_on_bad_certificate(client)
        if own_retries:
            _retry_on_policy(client, policy)
        if httplog.enabled():
            httplog.watch_botocore(client)
        if renewal is None and not opts.get("anon") and not opts.get("key"):
            await _register_resolved(fs)
        store = cls(location, fs, client, renewal, policy)
        store.parts = parts
        store.stall_timeout = stall
        return store

    async def send(self, method: str, data: bytes, **kwargs: Any) -> Any:
        """A request with a body, sent again when it stalls (`BotocoreTransport.send`)."""
        return await self._transport.send(method, data, **kwargs)

    async def call(self, method: str, **kwargs: Any) -> Any:
        """One client call, sent again once after a credentials refresh (see
        `BotocoreTransport.call`)."""
        return await self._transport.call(method, **kwargs)


def _token_into_credentials(
    headers: tuple[tuple[str, str], ...], opts: dict[str, Any]
) -> tuple[tuple[str, str], ...]:
    """An `x-amz-security-token` header given with a key pair becomes the credentials' session
    token: botocore's signer then adds and signs it. Added as a plain header, it is dropped by
    the signer botocore picks when awscrt is installed (`boto3[crt]`), which sets that header
    from the credentials alone, and the store then sees a temporary key without its token."""
    token = [value for name, value in headers if name.lower() == "x-amz-security-token"]
    if not token or not (opts.get("key") and opts.get("secret")) or opts.get("token"):
        return headers
    opts["token"] = token[-1]
    return tuple((n, v) for n, v in headers if n.lower() != "x-amz-security-token")


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


def _no_retry_on_bad_certificate(client: Any) -> None:
    """botocore retries a failed TLS verification like a dropped connection (six tries with
    back-off, then fssync's own listing retries: a minute before one line says why). It fails
    the same way every time, so this handler, asked before botocore's retry rule, raises it
    at once."""

    def refuse(caught_exception: BaseException | None = None, **_: Any) -> None:
        if caught_exception is not None and bad_certificate(caught_exception) is not None:
            raise caught_exception

    client.meta.events.register_first(
        "needs-retry.s3", refuse, unique_id="fssync-no-retry-on-bad-certificate"
    )


class _PolicyBackoff:
    """botocore's back-off interface over the run's `RetryPolicy`: the same waits as the
    fast client's, longer when the store asked to slow down."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def delay_amount(self, context: Any) -> float:
        response = getattr(context, "http_response", None)
        status = int(getattr(response, "status_code", 0) or 0)
        slow_down = throttled(status, context.get_error_code())
        return self.policy.request_delay(context.attempt_number, slow_down=slow_down)


def _retry_on_policy(client: Any, policy: RetryPolicy) -> None:
    """botocore's standard retry rules (what is transient, the retry quota) with the policy's
    sends and waits: its own waits cannot be configured (up to seconds from the first retry),
    so its handler is replaced by one built from the same parts with the policy's back-off."""
    from aiobotocore.retries import standard as aio
    from botocore.retries import quota, standard

    events = client.meta.events
    events.unregister("needs-retry.s3", unique_id="retry-config-s3")
    checker = standard.RetryQuotaChecker(quota.RetryQuota())
    handler = aio.AioRetryHandler(
        retry_policy=aio.AioRetryPolicy(
            retry_checker=aio.AioStandardRetryConditions(max_attempts=policy.sends),
            retry_backoff=_PolicyBackoff(policy),
        ),
        retry_event_adapter=standard.RetryEventAdapter(),
        retry_quota=checker,
    )
    events.register("after-call.s3", checker.release_retry_quota, unique_id="fssync-retry-quota")
    events.register("needs-retry.s3", handler.needs_retry, unique_id="fssync-retry-policy")
