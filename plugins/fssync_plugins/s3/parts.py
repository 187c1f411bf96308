"""--multipart-threshold and --multipart-chunk-size (the AWS CLI's multipart_threshold and
multipart_chunksize): when an upload goes in parts, and how large the parts are.

The values reach every S3 store as the storage option ``multipart``: data, not a client tweak,
so the s3fs path and a store plugin cut files the same way.
"""

from __future__ import annotations

import argparse
from typing import Any

import fssync
from fssync.plugin import checked, parse_size, s3meta


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("multipart uploads")
    group.add_argument(
        "--multipart-threshold",
        type=checked(parse_size),
        metavar="SIZE",
        help=f"upload files of SIZE or more in parts (default {s3meta.MULTIPART_THRESHOLD >> 20}M, "
        "at most 5G, a single PUT's limit)",
    )
    group.add_argument(
        "--multipart-chunk-size",
        type=checked(parse_size),
        metavar="SIZE",
        help=f"the size of each part (default {s3meta.PART_SIZE >> 20}M, 5M to 5G); doubled "
        "for files that would need more than 10,000 parts",
    )


def _size(config: fssync.Config, name: str, location: fssync.Location | None) -> int | None:
    raw: Any = config.value(name, location=location)
    if raw in (None, ""):
        return None
    flag = "--" + name.replace("_", "-")
    try:
        return parse_size(str(raw))
    except ValueError as exc:
        raise fssync.UsageError(f"{flag}: {exc}") from None


def plan_for(config: fssync.Config, location: fssync.Location | None) -> tuple[int, int] | None:
    """(threshold, part size) when either flag or remote setting is given, else None."""
    threshold = _size(config, "multipart_threshold", location)
    chunk = _size(config, "multipart_chunk_size", location)
    if threshold is None and chunk is None:
        return None
    threshold = s3meta.MULTIPART_THRESHOLD if threshold is None else threshold
    chunk = s3meta.PART_SIZE if chunk is None else chunk
    if not 1 <= threshold <= s3meta.MAX_PART:
        raise fssync.UsageError(
            "--multipart-threshold: must be between 1 byte and 5 GiB (a single PUT's limit)"
        )
    if not s3meta.MIN_PART <= chunk <= s3meta.MAX_PART:
        raise fssync.UsageError(
            "--multipart-chunk-size: must be between 5 MiB and 5 GiB (S3's part limits)"
        )
    return threshold, chunk
