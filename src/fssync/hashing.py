"""Content hashes for checksum comparison: local MD5s and S3-style multipart ETags, cached.

An S3 multipart ETag is the MD5 of the parts' binary MD5s followed by "-N". To compare a local
file with one, fssync hashes the file with the part size that produced it: the size is not
stored, so it tries the part sizes tools actually use that give exactly N parts.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

MIB = 1 << 20
READ = 4 * MIB
# Part sizes used by common tools: rclone (5 MiB), aws cli and fssync (8 MiB), s3cmd (15 MiB)...
COMMON_PARTS = (5 * MIB, 8 * MIB, 15 * MIB, 16 * MIB, 32 * MIB, 64 * MIB, 100 * MIB, 128 * MIB)


def parts_of(etag: str | None) -> int | None:
    """N for a multipart ETag 'hex-N', else None."""
    if not etag or "-" not in etag:
        return None
    _, _, n = etag.rpartition("-")
    return int(n) if n.isdigit() and int(n) > 0 else None


def is_md5(etag: str | None) -> bool:
    return bool(etag) and len(etag or "") == 32 and all(c in "0123456789abcdef" for c in etag or "")


def candidate_part_sizes(size: int, parts: int) -> list[int]:
    """Part sizes that split `size` bytes into exactly `parts` parts, most likely first."""
    found: list[int] = []

    def fits(p: int) -> bool:
        return p > 0 and math.ceil(size / p) == parts if size else parts == 1

    for p in COMMON_PARTS:
        if fits(p):
            found.append(p)
    doubling = 8 * MIB
    while doubling * 10_000 < size:
        doubling *= 2
    exact = math.ceil(size / parts)
    rounded = math.ceil(exact / MIB) * MIB
    for p in (doubling, rounded, exact):
        if fits(p) and p not in found:
            found.append(p)
    return found[:4]


def multipart_etag(part_md5s: Sequence[bytes]) -> str:
    return f"{hashlib.md5(b''.join(part_md5s), usedforsecurity=False).hexdigest()}-{len(part_md5s)}"


def hash_file(path: str, part_sizes: Iterable[int] = ()) -> tuple[str, dict[int, str]]:
    """One read of the file: its MD5 and its multipart ETag for each part size asked for."""
    whole = hashlib.md5(usedforsecurity=False)
    plans: dict[int, tuple[Any, list[int], list[bytes]]] = {
        p: (hashlib.md5(usedforsecurity=False), [0], []) for p in set(part_sizes)
    }
    with open(path, "rb") as f:
        while chunk := f.read(READ):
            whole.update(chunk)
            for p, (current, filled, done) in plans.items():
                view = memoryview(chunk)
                while view:
                    room = p - filled[0]
                    take = view[:room]
                    current.update(take)
                    filled[0] += len(take)
                    view = view[len(take) :]
                    if filled[0] == p:
                        done.append(current.digest())
                        plans[p] = (current := hashlib.md5(usedforsecurity=False), filled, done)
                        filled[0] = 0
    etags = {}
    for p, (current, filled, done) in plans.items():
        parts = done + ([current.digest()] if filled[0] or not done else [])
        etags[p] = multipart_etag(parts)
    return whole.hexdigest(), etags


def stat_key(path: str) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


def local_hashes(
    root: str,
    pairs: list[tuple[str, int, list[int]]],
    cached: dict[str, tuple[int, int, int, int, str, str]],
) -> tuple[
    dict[str, tuple[str, dict[int, str]]], list[tuple[str, int, int, int, int, str, str]], int
]:
    """Hash what the cache cannot answer. Returns hashes by key, new cache rows, bytes read."""
    import json

    out: dict[str, tuple[str, dict[int, str]]] = {}
    rows: list[tuple[str, int, int, int, int, str, str]] = []
    read = 0
    for key, _size, part_sizes in pairs:
        path = os.path.join(root, *key.split("/"))
        try:
            size, mtime_ns, inode, ctime_ns = stat_key(path)
        except OSError:
            continue
        hit = cached.get(path)
        if hit is not None and hit[:4] == (size, mtime_ns, inode, ctime_ns):
            known = {int(k): v for k, v in json.loads(hit[5]).items()}
            if all(p in known for p in part_sizes):
                out[key] = (hit[4], known)
                continue
            part_sizes = sorted(set(part_sizes) | set(known))
        try:
            md5, etags = hash_file(path, part_sizes)
        except OSError:
            continue
        read += size
        out[key] = (md5, etags)
        parts_json = json.dumps({str(k): v for k, v in etags.items()})
        rows.append((path, size, mtime_ns, inode, ctime_ns, md5, parts_json))
    return out, rows, read
