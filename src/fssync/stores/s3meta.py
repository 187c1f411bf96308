"""How fssync keeps a file in S3 (pure): metadata keys, part sizes and limits.

Shared by every S3 store (the built-in s3fs one and store plugins) so that each writes the same
objects and reads back what the others wrote.
"""

from __future__ import annotations

from collections.abc import Mapping

MTIME_KEY = "mtime"  # stored as x-amz-meta-mtime, seconds since the epoch (rclone's convention)
MD5_KEY = "md5"  # x-amz-meta-md5: hex MD5 of the content, known before the upload
PART_SIZE = 8 << 20
MULTIPART_THRESHOLD = 16 << 20
MAX_PARTS = 10_000
COPY_LIMIT = 5 << 30  # CopyObject limit; larger objects are copied part by part
PART_BUFFERS = 8  # parts held in memory at once for the whole store (bounds peak memory)


def parse_mtime(meta: Mapping[str, str] | None) -> float | None:
    if not meta:
        return None
    raw = meta.get(MTIME_KEY)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def format_mtime(mtime: float) -> str:
    return f"{mtime:.9f}".rstrip("0").rstrip(".")


def part_size_for(size: int) -> int:
    part = PART_SIZE
    while part * MAX_PARTS < size:
        part *= 2
    return part
