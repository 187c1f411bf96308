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

MTIME_KEY = "mtime"  # stored as x-amz-meta-mtime, seconds since the epoch (rclone's convention)
MD5_KEY = "md5"  # x-amz-meta-md5: hex MD5 of the content, known before the upload
# x-amz-meta-fssync-part-size: the part size of a multipart upload, so a download can check the
# content against the multipart ETag (the MD5 of the parts' MD5s)
PART_KEY = "fssync-part-size"
PART_SIZE = 8 << 20
MULTIPART_THRESHOLD = 16 << 20
MAX_PARTS = 10_000
COPY_LIMIT = 5 << 30  # CopyObject limit; larger objects are copied part by part
PART_BUFFERS = 8  # parts held in memory at once for the whole store (bounds peak memory)
# Storage options that name credentials; credentials from a provider plugin replace them.
CREDENTIAL_OPTIONS = ("key", "secret", "token", "profile", "anon")
# Storage options "headers" and "upload_headers" hold (name, value) pairs every S3 store signs
# into its requests; the upload ones go on the operations that create an object, only.
UPLOAD_OPERATIONS = ("PutObject", "CreateMultipartUpload", "CopyObject")


def parse_mtime(meta: Mapping[str, str] | None) -> float | None:
    """The modification time an object's metadata records: fssync's ``mtime``, else the one
    another sync tool left (rclone, s3cmd, S3 Sync's ``local-date-modified``), so a download
    restores it whichever tool uploaded the file."""
    if not meta:
        return None
    from ..metadata import read

    return read(meta).mtime


def format_mtime(mtime: float) -> str:
    return f"{mtime:.9f}".rstrip("0").rstrip(".")


def stated_md5(resp: Mapping[str, Any]) -> str | None:
    """The content MD5 a GET or HEAD response vouches for: fssync's x-amz-meta-md5, else a
    single-part ETag (never one of SSE-KMS / SSE-C objects, which is not an MD5)."""
    from ..hashing import is_md5

    md5 = (resp.get("Metadata") or {}).get(MD5_KEY, "").lower()
    if is_md5(md5):
        return md5
    etag = str(resp.get("ETag", "")).strip('"').lower()
    opaque = resp.get("ServerSideEncryption") == "aws:kms" or "SSECustomerAlgorithm" in resp
    return etag if is_md5(etag) and not opaque else None


def stated_parts(resp: Mapping[str, Any]) -> tuple[int, str] | None:
    """(part size, multipart ETag) of an object fssync uploaded in parts, else None."""
    raw = (resp.get("Metadata") or {}).get(PART_KEY, "")
    etag = str(resp.get("ETag", "")).strip('"').lower()
    opaque = resp.get("ServerSideEncryption") == "aws:kms" or "SSECustomerAlgorithm" in resp
    if raw.isdigit() and int(raw) > 0 and "-" in etag and not opaque:
        return int(raw), etag
    return None


def confirmed(resp: Mapping[str, Any], md5: str) -> bool:
    """Whether a PUT's reply confirms the bytes sent: its ETag is their MD5 (not checkable for
    SSE-KMS / SSE-C objects, whose ETag is no MD5)."""
    etag = str(resp.get("ETag", "")).strip('"').lower()
    opaque = resp.get("ServerSideEncryption") == "aws:kms" or "SSECustomerAlgorithm" in resp
    return opaque or not etag or etag == md5


def part_size_for(size: int) -> int:
    part = PART_SIZE
    while part * MAX_PARTS < size:
        part *= 2
    return part
