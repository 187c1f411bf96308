"""The hashing stage of checksum comparison: give both sides' entries comparable hashes.

Runs between listing and planning, only for keys present on both sides with equal sizes (a size
difference decides without a hash). Local files are hashed once and cached; S3 objects use their
ETag (an MD5 for single-part uploads) or the MD5 fssync recorded; other filesystems are read.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from typing import Any

import attrs

from fssync.content.hashing import candidate_part_sizes, local_hashes, parts_of
from fssync.content.metadata import is_md5
from fssync.model import Entry
from fssync.state.db import HashCache
from fssync.stores import Store

CHUNK = 500  # files per hashing task
THREADS = 3  # hashing tasks at once


@attrs.frozen
class HashStats:
    hashed: int = 0  # local files read
    cached: int = 0  # local files answered by the cache
    bytes_read: int = 0
    remote_read: int = 0  # files of other filesystems read to hash them


def _with_etag_md5(entries: Mapping[str, Entry], keys: list[str]) -> dict[str, Entry]:
    out = dict(entries)
    for k in keys:
        e = out[k]
        if e.md5 is None and is_md5(e.etag) and not parts_of(e.etag):
            out[k] = attrs.evolve(e, md5=e.etag)
    return out


async def _read_md5(store: Store, entry: Entry) -> str:
    reader = await store.open(entry)
    digest = hashlib.md5(usedforsecurity=False)
    try:
        while chunk := await reader.read(4 << 20):
            digest.update(chunk)
    finally:
        await reader.close()
    return digest.hexdigest()


async def add_hashes(
    src_store: Store,
    dst_store: Store,
    src: Mapping[str, Entry],
    dst: Mapping[str, Entry],
    cache: HashCache | None,
    *,
    renames: bool = False,
) -> tuple[dict[str, Entry], dict[str, Entry], HashStats]:
    """Hash keys on both sides with equal sizes; with `renames`, also the files on one side
    only whose size some file on the other side only has (candidates for --track-renames)."""
    keys = [k for k, e in src.items() if (d := dst.get(k)) is not None and d.size == e.size]
    lonely: dict[str, list[str]] = {"src": [], "dst": []}
    if renames:
        src_only = [k for k in src if k not in dst]
        dst_only = [k for k in dst if k not in src]
        dst_sizes = {dst[k].size for k in dst_only}
        src_sizes = {src[k].size for k in src_only}
        lonely["src"] = [k for k in src_only if src[k].size in dst_sizes]
        lonely["dst"] = [k for k in dst_only if dst[k].size in src_sizes]
    sides = {"src": dict(src), "dst": dict(dst)}
    stores = {"src": src_store, "dst": dst_store}
    for name in ("src", "dst"):
        if stores[name].location.is_s3:
            sides[name] = _with_etag_md5(sides[name], keys + lonely[name])
    slots = asyncio.Semaphore(8)
    totals = {"hashed": 0, "cached": 0, "bytes_read": 0, "remote_read": 0}

    async def local(name: str, other: str) -> None:
        """Hash one local side in chunks on worker threads (hashlib releases the GIL)."""
        store, mine, theirs = stores[name], sides[name], sides[other]
        pairs: list[tuple[str, int, list[int], str | None]] = []
        for k in keys:
            want = theirs[k].etag
            n = parts_of(want)
            sizes = candidate_part_sizes(mine[k].size, n) if n else []
            pairs.append((k, mine[k].size, sizes, want if n else None))
        pairs += [(k, mine[k].size, [], None) for k in lonely[name]]
        root = store.location.root
        cached = await asyncio.to_thread(cache.load, root) if cache else {}
        chunks = [pairs[i : i + CHUNK] for i in range(0, len(pairs), CHUNK)]

        async def run(chunk: list[tuple[str, int, list[int], str | None]]) -> Any:
            async with threads:
                return await asyncio.to_thread(local_hashes, root, chunk, cached)

        for found, rows, read in await asyncio.gather(*(run(c) for c in chunks)):
            if cache:
                await asyncio.to_thread(cache.save, rows)
            for k, (md5, etags) in found.items():
                if k not in theirs:
                    mine[k] = attrs.evolve(mine[k], md5=md5)
                    continue
                want = theirs[k].etag
                etag = want if want in etags.values() else next(iter(etags.values()), md5)
                mine[k] = attrs.evolve(mine[k], md5=md5, etag=etag)
            totals["hashed"] += len(rows)
            totals["cached"] += len(found) - len(rows)
            totals["bytes_read"] += read

    async def remote(name: str, other: str) -> None:
        """Other filesystems have no hash in their listing: read what must be compared."""
        store, mine, theirs = stores[name], sides[name], sides[other]
        need = [k for k in keys if mine[k].md5 is None and theirs[k].md5 is not None]
        # --track-renames candidates too: without their hash no rename is ever paired there
        need += [k for k in lonely[name] if mine[k].md5 is None]

        async def one(k: str) -> None:
            async with slots:
                mine[k] = attrs.evolve(mine[k], md5=await _read_md5(store, mine[k]))

        await asyncio.gather(*(one(k) for k in need))
        totals["remote_read"] += len(need)

    threads = asyncio.Semaphore(THREADS)
    order = (("src", "dst"), ("dst", "src"))
    await asyncio.gather(*(local(n, o) for n, o in order if stores[n].location.is_local))
    for n, o in order:
        if not stores[n].location.is_local and not stores[n].location.is_s3:
            await remote(n, o)
    stats = HashStats(**totals)
    return sides["src"], sides["dst"], stats
