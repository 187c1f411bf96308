"""How fssync keeps a file in S3 (pure): metadata keys, part sizes, limits, and what a reply
vouches for.

Shared by every S3 store (the built-in s3fs one and store plugins) so that each writes the same
objects and reads back what the others wrote. Replies are given in botocore's shape (``ETag``,
``Metadata``, ``ServerSideEncryption``, ``SSECustomerAlgorithm``); a store that speaks HTTP itself
builds that small mapping from the response headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

MTIME_KEY = "mtime"  # stored as x-amz-meta-mtime, seconds since the epoch (rclone's convention)
MD5_KEY = "md5"  # x-amz-meta-md5: hex MD5 of the content, known before the upload
# x-amz-meta-md5chksum: base64 of the raw MD5 of the content, rclone's key, written on multipart
# uploads (whose ETag is no MD5) when the MD5 is known before the upload starts
MD5_B64_KEY = "md5chksum"
# A multipart upload from a local file up to this size reads the file once first to know its
# MD5 (measured: MD5 runs at ~450 MiB/s on one core, so at most ~0.15 s here); larger files
# state it only when a checksum run already knows it, as rereading them would cost seconds.
FIRST_PASS_MD5 = 64 << 20
# x-amz-meta-fssync-part-size: the part size of a multipart upload, so a download can check the
# content against the multipart ETag (the MD5 of the parts' MD5s)
PART_KEY = "fssync-part-size"
PART_SIZE = 8 << 20
MULTIPART_THRESHOLD = 16 << 20
MAX_PARTS = 10_000
MIN_PART = 5 << 20  # S3's smallest part (all but the last)
MAX_PART = 5 << 30  # S3's largest part, and the largest single PUT
# Storage option "multipart" holds (threshold, part size) from --multipart-threshold and
# --multipart-chunk-size; every S3 store reads it with `part_plan`.
MULTIPART_OPTION = "multipart"
COPY_LIMIT = 5 << 30  # CopyObject limit; larger objects are copied part by part
PART_BUFFERS = 8  # parts held in memory at once for the whole store (bounds peak memory)
# Storage option "stall_timeout" (--stall-timeout): a request that sends or receives no byte for
# this many seconds has stalled (a server that stopped reading the body, or stopped sending the
# reply); it is abandoned and sent again.
STALL_TIMEOUT = 60.0
# Storage options that name credentials; credentials from a provider plugin replace them.
CREDENTIAL_OPTIONS = ("key", "secret", "token", "profile", "anon")
# Storage options "headers" and "upload_headers" hold (name, value) pairs every S3 store signs
# into its requests; the upload ones go on the operations that create an object, only.
UPLOAD_OPERATIONS = ("PutObject", "CreateMultipartUpload", "CopyObject")
# Storage option "operation_headers" maps an S3 operation name (botocore's: "GetObject",
# "UploadPart", ...) to (name, value) pairs signed into that operation's requests only: for
# headers S3 accepts on some operations and refuses on others (SSE-C keys).
OPERATION_HEADERS = "operation_headers"
# The operations that read or write an object's content, which SSE-C keys go with.
SSE_C_OPERATIONS = (
    "GetObject",
    "HeadObject",
    "PutObject",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "CopyObject",
)


# Server-side encryption modes whose ETags are not the MD5 of the content (nor, for multipart
# uploads, made of the parts' MD5s): SSE-KMS and its dual-layer form. SSE-C is the other case.
OPAQUE_SSE = frozenset({"aws:kms", "aws:kms:dsse"})
# The part number of a probe sent with a wrong Content-MD5 (see fssync_plugins.s3_fast, the s3fs
# store): the last one S3 allows, which an upload of fewer parts never names when it completes
# (an upload of exactly 10,000 parts on a server that stores the probe then fails, and is
# retried with the probe's answer known).
PROBE_PART = MAX_PARTS


def opaque_etag(resp: Mapping[str, Any]) -> bool:
    """Whether the ETag of a reply (or of objects written with these options) cannot be an MD5
    of the content: SSE-KMS (``aws:kms``, ``aws:kms:dsse``) or SSE-C. The one place that
    decides it, for replies in botocore's shape and for write options alike."""
    return resp.get("ServerSideEncryption") in OPAQUE_SSE or "SSECustomerAlgorithm" in resp


def md5_b64(md5: str) -> str:
    """A hex MD5 as x-amz-meta-md5chksum holds it: base64 of the raw digest (rclone's form)."""
    import base64

    return base64.b64encode(bytes.fromhex(md5)).decode()


def stored_mtime_ns(meta: Mapping[str, str] | None) -> int | None:
    """The source file's mtime, in exact nanoseconds, from whichever convention the metadata
    follows (fssync's and rclone's `mtime`, s3cmd's `s3cmd-attrs`, S3 Sync's
    `local-date-modified`): what a download gives the file it writes."""
    if not meta:
        return None
    from fssync.content.metadata import read

    return read(meta).mtime_ns


def parse_mtime(meta: Mapping[str, str] | None) -> float | None:
    ns = stored_mtime_ns(meta)
    return None if ns is None else ns / 1e9


def format_mtime_ns(ns: int) -> str:
    """x-amz-meta-mtime as rclone writes it: seconds, a dot and nine digits, from integer
    nanoseconds (a float would be off by up to ~240 ns, and rclone compares to 1 ns)."""
    from fssync.content.metadata import format_ns

    return format_ns(ns)


def format_mtime(mtime: float) -> str:
    return format_mtime_ns(round(mtime * 1e9))


def stated_md5(resp: Mapping[str, Any]) -> str | None:
    """The content MD5 a GET or HEAD response vouches for: fssync's x-amz-meta-md5, else a
    single-part ETag (never one of SSE-KMS / SSE-C objects, which is not an MD5), else the MD5
    another tool stated for an object whose ETag is none (rclone's md5chksum, the md5 field of
    s3cmd's s3cmd-attrs): a multipart object is then checked whole, not by its size only."""
    from fssync.content.metadata import is_md5, read

    meta = resp.get("Metadata") or {}
    md5 = meta.get(MD5_KEY, "").lower()
    if is_md5(md5):
        return md5
    etag = str(resp.get("ETag", "")).strip('"').lower()
    opaque = opaque_etag(resp)
    if is_md5(etag) and not opaque:
        return etag
    if "md5chksum" not in meta and "s3cmd-attrs" not in meta:
        return None
    # S3 Sync's multipart-etag is no content MD5 one can check: not used here.
    return read({k: v for k, v in meta.items() if k != "multipart-etag"}).md5


def stated_parts(resp: Mapping[str, Any]) -> tuple[int, str] | None:
    """(part size, multipart ETag) of an object fssync uploaded in parts, else None."""
    raw = (resp.get("Metadata") or {}).get(PART_KEY, "")
    etag = str(resp.get("ETag", "")).strip('"').lower()
    opaque = opaque_etag(resp)
    if raw.isdigit() and int(raw) > 0 and "-" in etag and not opaque:
        return int(raw), etag
    return None


def confirmed(resp: Mapping[str, Any], md5: str) -> bool:
    """Whether a PUT's reply confirms the bytes sent: its ETag is their MD5 (not checkable for
    SSE-KMS / SSE-C objects, whose ETag is no MD5)."""
    etag = str(resp.get("ETag", "")).strip('"').lower()
    opaque = opaque_etag(resp)
    return opaque or not etag or etag == md5


# Headers an in-place copy with MetadataDirective REPLACE must send again to keep them, by
# botocore's names (a HEAD answers with the same ones).
KEPT_ON_REPLACE = (
    "ContentType",
    "CacheControl",
    "ContentDisposition",
    "ContentEncoding",
    "ContentLanguage",
    "Expires",
    "WebsiteRedirectLocation",
    "StorageClass",
    "ServerSideEncryption",
    "SSEKMSKeyId",
)


def _unsafe(text: str) -> bool:
    """A line break or other control character (tab aside): in a header it would end the line
    early and let what follows become headers of its own (header injection)."""
    return any((ord(c) < 32 and c != "\t") or c == "\x7f" for c in text)


def header_problem(pairs: Any, what: str) -> str | None:
    """Why (name, value) header pairs cannot be sent, in one line that never repeats the value
    (it may be a token); None when they can."""
    for name, value in pairs or ():
        if not str(name) or _unsafe(str(name)) or any(c in str(name) for c in " :"):
            return f"{what}: {str(name)!r} is not a valid header name"
        if _unsafe(str(value)):
            return f"{what}: the value of {name} holds a line break or control character"
    return None


def options_problem(options: Mapping[str, Any], what: str) -> str | None:
    """Why write options (botocore's names; ``Metadata`` a mapping) cannot be sent as headers:
    a name or value with a line break or control character. None when they can."""
    for name, value in options.items():
        if name == "Metadata":
            problem = header_problem((value or {}).items(), f"{what} Metadata")
        elif isinstance(value, str):
            problem = header_problem([(name, value)], what)
        else:
            problem = None
        if problem:
            return problem
    return None


def part_size_for(size: int, chunk: int = PART_SIZE) -> int:
    """The part size for a file: `chunk`, doubled until 10,000 parts hold the file."""
    part = chunk
    while part * MAX_PARTS < size:
        part *= 2
    return part


@attrs.frozen
class PartPlan:
    """When a file goes up in parts, and in parts of what size."""

    threshold: int = MULTIPART_THRESHOLD
    chunk: int = PART_SIZE

    def multipart(self, size: int) -> bool:
        return size >= self.threshold

    def part_size(self, size: int) -> int:
        return part_size_for(size, self.chunk)


def part_plan(options: Mapping[str, Any]) -> PartPlan:
    """The plan a store's storage options ask for (the default when they say nothing)."""
    value = options.get(MULTIPART_OPTION)
    if not value:
        return PartPlan()
    threshold, chunk = value
    return PartPlan(int(threshold), int(chunk))


def operation_headers(options: Mapping[str, Any]) -> dict[str, tuple[tuple[str, str], ...]]:
    """The "operation_headers" storage option, names lower-cased, as every S3 store reads it."""
    raw = options.get(OPERATION_HEADERS) or {}
    return {str(op): tuple((str(k).lower(), str(v)) for k, v in pairs) for op, pairs in raw.items()}


def sse_c_headers(key: bytes, *, copy_source: bool = False) -> tuple[tuple[str, str], ...]:
    """The three SSE-C headers for a 32-byte customer key (or their copy-source twins)."""
    import base64
    import hashlib

    lead = (
        "x-amz-copy-source-server-side-encryption-customer"
        if copy_source
        else ("x-amz-server-side-encryption-customer")
    )
    digest = hashlib.md5(key, usedforsecurity=False).digest()
    return (
        (f"{lead}-algorithm", "AES256"),
        (f"{lead}-key", base64.b64encode(key).decode()),
        (f"{lead}-key-md5", base64.b64encode(digest).decode()),
    )
