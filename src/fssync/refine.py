"""What is learned between listing and transfer, to decide better than a listing allows:
content hashes where the compare mode or --track-renames needs them, the mtimes sync tools
store in S3 object metadata (one HEAD per object that needs it), the re-decision of same-size
updates after those HEADs, and updates whose content is proven equal (only the mtime is set).
Each step reads and costs only what it must; the answers go to the state file."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import attrs

from fssync.diagnose import diagnose
from fssync.model import Action, Entry, Event, Kind, Plan
from fssync.planning.decide import MTIME_ONLY, NEEDS_METADATA, Reason, decide_both, is_reason
from fssync.stores import Listing, Store

if TYPE_CHECKING:
    from fssync.engine import Run


async def hash_listings(
    run: Run, src_store: Store, dst_store: Store, src: Listing, dst: Listing, renames: bool
) -> tuple[Listing, Listing]:
    """Both listings with the content hashes the compare mode (or --track-renames) needs."""
    from fssync.content.checksums import add_hashes
    from fssync.state.db import HashCache

    cache = HashCache(run.state) if run.state is not None else None
    s, d, stats = await add_hashes(
        src_store, dst_store, src.entries, dst.entries, cache, renames=renames
    )
    run.emit(Event("hashing", attrs.asdict(stats)))
    return attrs.evolve(src, entries=s), attrs.evolve(dst, entries=d)


async def stored_mtimes(
    run: Run, src_store: Store, dst_store: Store, src: Listing, dst: Listing
) -> tuple[Listing, Listing]:
    """For the mtime comparisons: an S3 object whose listing (and the state) gives no mtime,
    on both sides with equal sizes, gets one HEAD to read the mtime a sync tool stored in
    its metadata, which is then compared, not the upload time (as rclone does: a file
    replaced by an older version is then seen). The answers, "none stored" included, are
    remembered by ETag, so the next run asks again only for objects that changed."""
    if run.config.compare not in ("size-mtime", "update"):
        return src, dst
    from fssync.content.metadata import read as read_metadata

    sides = {"src": (src_store, src, dst), "dst": (dst_store, dst, src)}
    slots = asyncio.Semaphore(max(8, run.config.transfers))
    out = {"src": src, "dst": dst}
    for side, (store, mine, theirs) in sides.items():
        if not store.features.head or store.features.listing_has_mtime:
            continue
        records = run.records.get((store.identity, store.location.root), {})
        other = theirs.entries
        todo = []
        for key, e in mine.entries.items():
            if e.mtime is not None:
                continue
            o = other.get(key)
            if o is None or o.size != e.size:
                continue
            rec = records.get(key)
            if rec is not None and rec[0] == e.etag and rec[1] == e.size:
                continue  # read before: it stores no mtime
            todo.append(e)
        if not todo:
            continue

        async def look(e: Entry, store: Store = store) -> Entry:
            async with slots:
                meta, opaque = await store.head(e)
            found = read_metadata(meta)
            md5 = found.md5 or (None if opaque else e.md5)
            return Entry(e.key, e.size, found.mtime, e.stamp, e.etag, md5)

        try:
            learned = await asyncio.gather(*(look(e) for e in todo))
        except Exception as exc:  # noqa: BLE001 - a failed HEAD leaves the listing as it was
            where = diagnose(exc, where="HEAD").message
            run.emit(Event("error", {"key": "(metadata)", "error": where}))
            continue
        run.emit(Event("metadata", {"objects": len(learned)}))
        run.headed[side].update(e.key for e in learned)
        if run.state is not None:
            await asyncio.to_thread(
                run.state.save, store.identity, store.location.root, learned, read=True
            )
        entries = dict(mine.entries)
        entries.update((e.key, e) for e in learned)
        out[side] = attrs.evolve(mine, entries=entries)
    return out["src"], out["dst"]


async def refine(run: Run, plan: Plan, src_store: Store, dst_store: Store) -> Plan:
    """Re-decide same-size updates that rest on what a listing cannot show, after one HEAD
    per such S3 object to read the mtime and hash that sync tools keep in its metadata.
    The answers are remembered, so the next run needs no HEAD."""
    heads = {
        side: store
        for side, store in (("src", src_store), ("dst", dst_store))
        if store.features.head
    }
    todo = [
        a
        for a in plan.changes
        if heads
        and a.kind is Kind.UPDATE
        and is_reason(a.reason, *NEEDS_METADATA)
        and a.src is not None
        and a.dst is not None
        and a.src.size == a.dst.size
        and not (a.key in run.headed["src"] or a.key in run.headed["dst"])
    ]
    if not todo:
        return plan
    from fssync.content.integrity import UNTRUSTED_MTIME
    from fssync.content.metadata import read as read_metadata

    compare = run.hooks.compare_mode(run.config.compare).function
    policy = run._policy()
    slots = asyncio.Semaphore(max(4, run.config.transfers))
    learned: dict[str, list[Entry]] = {"src": [], "dst": []}

    async def look(side: str, entry: Entry) -> Entry:
        if entry.mtime == UNTRUSTED_MTIME:
            return entry  # fssync left other bytes there: the object's metadata lies
        async with slots:
            meta, opaque = await heads[side].head(entry)
        found = read_metadata(meta)
        md5 = found.md5 or (None if opaque else entry.md5)
        better = attrs.evolve(
            entry, mtime=found.mtime if found.mtime is not None else entry.mtime, md5=md5
        )
        learned[side].append(better)
        return better

    async def redo(a: Action) -> Action:
        s, d = a.src, a.dst
        assert s is not None and d is not None
        if "src" in heads:
            s = await look("src", s)
        if "dst" in heads:
            d = await look("dst", d)
        return decide_both(a.key, s, d, policy, compare)

    try:
        redone = await asyncio.gather(*(redo(a) for a in todo))
    except Exception as exc:  # noqa: BLE001 - a failed HEAD leaves the decision as it was
        run.emit(
            Event("error", {"key": "(metadata)", "error": diagnose(exc, where="HEAD").message})
        )
        return plan
    run.emit(Event("metadata", {"objects": sum(len(v) for v in learned.values())}))
    if run.state is not None:
        for side, entries in learned.items():
            if entries:
                store = heads[side]
                run.state.save(store.identity, store.location.root, entries)
    by_key = {a.key: a for a in redone}
    return attrs.evolve(plan, changes=tuple(by_key.get(a.key, a) for a in plan.changes))


async def same_content(run: Run, plan: Plan, src_store: Store, dst_store: Store) -> Plan:
    """Same-size updates whose only difference is the mtime: where the content is proven
    equal (MD5s, a single-part ETag against the local file's MD5, equal multipart ETags),
    only the mtime is set (another tool's download, or a metadata-only change that kept
    the ETag and so a stale state record), instead of transferring the file again. Only
    where one side is S3, whose hash costs no read."""
    if not dst_store.features.set_mtime:
        return plan
    sides = (src_store.location, dst_store.location)
    if not any(s.is_s3 for s in sides) or not all(s.is_s3 or s.is_local for s in sides):
        return plan  # the proof would read both files (local to local): the copy is as cheap
    todo = [
        a
        for a in plan.changes
        if a.kind is Kind.UPDATE
        and is_reason(a.reason, Reason.MTIME_DIFFERS)
        and a.src is not None
        and a.dst is not None
        and a.src.size == a.dst.size
    ]
    if not todo:
        return plan
    from fssync.content.checksums import add_hashes
    from fssync.state.db import HashCache

    cache = HashCache(run.state) if run.state is not None else None
    src_in = {a.key: a.src for a in todo if a.src is not None}
    dst_in = {a.key: a.dst for a in todo if a.dst is not None}
    s, d, stats = await add_hashes(src_store, dst_store, src_in, dst_in, cache)
    run.emit(Event("hashing", attrs.asdict(stats)))
    same = set()
    for key in src_in:
        x, y = s[key], d[key]
        if (x.md5 and x.md5 == y.md5) or (
            x.etag and x.etag == y.etag and "-" in x.etag and "-" in (y.etag or "")
        ):
            same.add(key)
    if not same:
        return plan
    changes = tuple(
        attrs.evolve(a, reason=MTIME_ONLY) if a.key in same and a.kind is Kind.UPDATE else a
        for a in plan.changes
    )
    return attrs.evolve(plan, changes=changes)
