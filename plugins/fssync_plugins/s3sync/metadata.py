"""The classic tool's own object metadata, written on upload so that it finds fssync's objects
unchanged: ``x-amz-meta-local-date-modified`` (the file's modification time) and, for objects
uploaded in parts, ``x-amz-meta-multipart-etag`` (the MD5 of the whole file, since the ETag of
such an object is not one). fssync itself reads both when it lists or downloads."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

TIMESTAMP_KEY = "local-date-modified"
ETAG_KEY = "multipart-etag"
# Objects at least this large go up in parts (fssync's threshold on both S3 paths), so their
# ETag is no MD5 and the classic tool needs the MD5 in the metadata.
MULTIPART_THRESHOLD = 16 << 20


def format_time(mtime: float) -> str:
    """ISO 8601 in UTC with microseconds, e.g. ``2026-01-02T03:04:05.123456Z``."""
    when = dt.datetime.fromtimestamp(mtime, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def file_md5(path: Path) -> str | None:
    """The hex MD5 of a local file, or None when it cannot be read (the upload then reports)."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with path.open("rb") as f:
            while chunk := f.read(4 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()
