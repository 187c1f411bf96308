"""Content hashes for checksum comparison: local MD5s and S3-style multipart ETags, cached.

An S3 multipart ETag is the MD5 of the parts' binary MD5s followed by "-N". To compare a local
file with one, fssync hashes the file with the part size that produced it. That size is not
stored, but N and the file's size bound it: every part size p with ceil(size / p) == N. Of those
fssync tries the tools' defaults first, then the whole MiB and whole MB sizes, roundest first,
a few at a time (one read of the file each), until one gives the ETag wanted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from typing import Any

MIB = 1 << 20
READ = 4 * MIB
MB = 1000 * 1000
# Default part sizes of common tools: rclone (5 MiB), aws cli, boto3 and fssync (8 MiB), s3cmd
# (15 MiB), MinIO's mc (16 MiB), s5cmd (50 MiB); then sizes people often choose.
COMMON_PARTS = (
    5 * MIB,
    8 * MIB,
    15 * MIB,
    16 * MIB,
    50 * MIB,
    32 * MIB,
    64 * MIB,
    100 * MIB,
    128 * MIB,
    10 * MIB,
    5 * MB,
    10 * MB,
    100 * MB,
)
MAX_CANDIDATES = 8  # part sizes tried for one file at most (two reads of it)
BATCH = 4  # part sizes hashed in one read of the file


def parts_of(etag: str | None) -> int | None:
    """N for a multipart ETag 'hex-N', else None."""
    if not etag or "-" not in etag:
        return None
    _, _, n = etag.rpartition("-")
    return int(n) if n.isdigit() and int(n) > 0 else None


def _roundness(p: int) -> tuple[int, bool, int]:
    """Sort key: sizes that are multiples of larger round units first (64 MiB before 7 MiB),
    binary before decimal."""
    binary = p % MIB == 0
    n = p // (MIB if binary else MB)
    rank = next(r for r, step in enumerate((64, 16, 10, 8, 5, 4, 2, 1)) if n % step == 0)
    return rank, not binary, p


def candidate_part_sizes(size: int, parts: int) -> list[int]:
    """Part sizes that split `size` bytes into exactly `parts` parts, most likely first: the
    tools' defaults (and their doubling for large files), then every whole MiB and whole MB
    size in the range the part count allows, roundest first; at most MAX_CANDIDATES."""
    if parts < 1 or parts > 10_000 or size < 0:
        return []
    if parts == 1:
        return [max(size, 1)]  # every part size >= size gives the same one-part ETag
    low = -(-size // parts)  # the last part is not empty and no part is larger than p:
    high = (size - 1) // (parts - 1)  # (parts - 1) * p < size <= parts * p
    if low > high:
        return []
    found: list[int] = []

    def add(p: int) -> None:
        if low <= p <= high and p not in found:
            found.append(p)

    for p in COMMON_PARTS:
        add(p)
    for start in (8 * MIB, 5 * MIB):  # aws cli / fssync and rclone grow their parts for large files
        doubling = start
        while doubling * 10_000 < size:
            doubling *= 2
        add(doubling)
    rounds: list[int] = []
    for unit in (MIB, MB):
        first, last = -(-low // unit), high // unit
        if last - first > 4 * MAX_CANDIDATES:  # a wide range: its roundest sizes are enough
            steps = [s * unit for s in (64, 16, 10, 8, 5, 4, 2)]
            for step in steps:
                rounds += range(-(-low // step) * step, high + 1, step)[:MAX_CANDIDATES]
        else:
            rounds += [n * unit for n in range(first, last + 1)]
    for p in sorted(set(rounds), key=_roundness):
        add(p)
    add(-(-low // MIB) * MIB)
    add(low)
    return found[:MAX_CANDIDATES]


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
    pairs: list[tuple[str, int, list[int], str | None]],
    cached: dict[str, tuple[int, int, int, int, str, str]],
) -> tuple[
    dict[str, tuple[str, dict[int, str]]], list[tuple[str, int, int, int, int, str, str]], int
]:
    """Hash what the cache cannot answer: (key, size, candidate part sizes, ETag wanted). The
    candidates are hashed BATCH at a time, most likely first, until one gives the ETag wanted.
    Returns hashes by key, new cache rows, bytes read."""
    import json

    out: dict[str, tuple[str, dict[int, str]]] = {}
    rows: list[tuple[str, int, int, int, int, str, str]] = []
    read = 0
    for key, _size, part_sizes, want in pairs:
        path = os.path.join(root, *key.split("/"))
        try:
            size, mtime_ns, inode, ctime_ns = stat_key(path)
        except OSError:
            continue
        hit = cached.get(path)
        md5: str | None = None
        known: dict[int, str] = {}
        if hit is not None and hit[:4] == (size, mtime_ns, inode, ctime_ns):
            md5, known = hit[4], {int(k): v for k, v in json.loads(hit[5]).items()}
        todo = [p for p in part_sizes if p not in known]
        fresh = False
        try:
            while md5 is None or (todo and want not in known.values()):
                batch, todo = todo[:BATCH], todo[BATCH:]
                md5, etags = hash_file(path, batch)
                known.update(etags)
                read += size
                fresh = True
        except OSError:
            continue
        out[key] = (md5, known)
        if fresh:
            parts_json = json.dumps({str(k): v for k, v in sorted(known.items())})
            rows.append((path, size, mtime_ns, inode, ctime_ns, md5, parts_json))
    return out, rows, read
