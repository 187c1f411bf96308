"""Correctness after every run: a fast tool that leaves the wrong tree is not fast.

Upload results are read back with one listing: keys and sizes for every object, and the MD5
for every object whose ETag is one (single-part PUTs). Multipart ETags are not MD5s, so those
objects are downloaded and hashed, up to a bound. Downloads are hashed in full.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from bench.dataset import Manifest, manifest

MAX_MULTIPART_DOWNLOADS = 8
EXAMPLES = 3


@attrs.frozen
class RemoteObject:
    size: int
    etag: str
    modified: datetime


@attrs.frozen
class Check:
    """The difference between what should be there and what is."""

    expected: int
    found: int
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    wrong_size: tuple[str, ...] = ()
    wrong_hash: tuple[str, ...] = ()
    hashed: int = 0
    rewritten: int = 0  # objects a no-op run wrote again (new ETag or LastModified)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.wrong_size or self.wrong_hash)

    def summary(self) -> str:
        if self.ok:
            return f"{self.found} files ok ({self.hashed} hashed)"
        parts = []
        for label, keys in (
            ("missing", self.missing),
            ("extra", self.extra),
            ("wrong size", self.wrong_size),
            ("wrong hash", self.wrong_hash),
        ):
            if keys:
                parts.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:EXAMPLES])})")
        return "; ".join(parts)


def list_remote(client: Any, bucket: str, prefix: str) -> dict[str, RemoteObject]:
    """Every object under ``prefix/`` keyed relative to it."""
    base = prefix.rstrip("/") + "/"
    objects: dict[str, RemoteObject] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        for o in page.get("Contents", []):
            key = o["Key"][len(base) :]
            objects[key] = RemoteObject(o["Size"], o["ETag"].strip('"'), o["LastModified"])
    return objects


def _is_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag.lower())


def _download_md5(client: Any, bucket: str, key: str) -> str:
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    h = hashlib.md5(usedforsecurity=False)
    for chunk in iter(lambda: body.read(1024 * 1024), b""):
        h.update(chunk)
    return h.hexdigest()


def _compare_keys(
    expected: Manifest, found: dict[str, int]
) -> tuple[list[str], list[str], list[str]]:
    missing = sorted(expected.keys() - found.keys())
    extra = sorted(found.keys() - expected.keys())
    wrong_size = sorted(k for k in expected.keys() & found.keys() if expected[k].size != found[k])
    return missing, extra, wrong_size


def check_remote(
    client: Any,
    bucket: str,
    prefix: str,
    expected: Manifest,
    before: dict[str, RemoteObject] | None = None,
) -> tuple[Check, dict[str, RemoteObject]]:
    """Compare a bucket prefix with the source manifest; also count rewrites since ``before``."""
    remote = list_remote(client, bucket, prefix)
    sizes = {k: o.size for k, o in remote.items()}
    missing, extra, wrong_size = _compare_keys(expected, sizes)
    wrong_hash: list[str] = []
    hashed = downloads = 0
    for key in sorted(expected.keys() & remote.keys()):
        if key in wrong_size:
            continue
        etag = remote[key].etag
        if _is_md5(etag):
            actual = etag.lower()
        elif downloads < MAX_MULTIPART_DOWNLOADS:
            downloads += 1
            actual = _download_md5(client, bucket, f"{prefix.rstrip('/')}/{key}")
        else:
            continue
        hashed += 1
        if actual != expected[key].md5:
            wrong_hash.append(key)
    rewritten = 0
    if before is not None:
        rewritten = sum(
            1
            for k, o in remote.items()
            if k in before and (o.etag, o.modified) != (before[k].etag, before[k].modified)
        )
    check = Check(
        expected=len(expected),
        found=len(remote),
        missing=tuple(missing),
        extra=tuple(extra),
        wrong_size=tuple(wrong_size),
        wrong_hash=tuple(wrong_hash),
        hashed=hashed,
        rewritten=rewritten,
    )
    return check, remote


def check_local(root: Path, expected: Manifest) -> Check:
    """Compare a downloaded tree with the source manifest, every file hashed."""
    actual = manifest(root) if root.exists() else {}
    missing, extra, wrong_size = _compare_keys(expected, {k: v.size for k, v in actual.items()})
    common = (expected.keys() & actual.keys()) - set(wrong_size)
    wrong_hash = sorted(k for k in common if expected[k].md5 != actual[k].md5)
    return Check(
        expected=len(expected),
        found=len(actual),
        missing=tuple(missing),
        extra=tuple(extra),
        wrong_size=tuple(wrong_size),
        wrong_hash=tuple(wrong_hash),
        hashed=len(common),
    )
