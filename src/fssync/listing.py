"""List both sides of a run: each store's listing with its retries, the mtimes the state file
keeps for stores whose listing has none, and the guards on what was listed (keys that cannot
be written, an empty source under --delete)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import attrs

from fssync.diagnose import diagnose
from fssync.errors import FssyncError, UnreachableError, UsageError
from fssync.model import Event, Plan
from fssync.settings.secrets import scrub
from fssync.state.db import enrich
from fssync.stores import Listing, Store

if TYPE_CHECKING:
    from fssync.engine import Run


async def list_side(run: Run, store: Store) -> Listing:
    """One store's listing, retried as the run's policy says, with the mtimes the state file
    recorded for a store whose listing has none."""
    url = store.location.url
    run.emit(Event("listing", {"url": url}))

    def progress(files: int) -> None:
        run.emit(Event("listing_progress", {"url": url, "files": files}))

    policy = run._retry_policy()

    def retried(page: int, attempt: int, of: int, delay: float, error: str) -> None:
        fields = {"key": url, "page": page, "attempt": attempt, "of": of}
        run.emit(Event("retry", {**fields, "delay": round(delay, 3), "error": error}))

    # A store that lists page by page retries a wrong or failing page itself, as often as
    # a file is tried (the store holds the run's policy); any other listing is retried
    # whole on the same waits.
    store.on_listing_retry = retried
    waits = policy.waits()
    attempt = 0
    while True:
        try:
            listing = await store.scan(progress)
            break
        except FssyncError:
            raise
        except Exception as exc:  # noqa: BLE001
            transient = diagnose(exc, where=url)
            # an endpoint that refuses connections was already retried by the client
            unreachable = transient.error is UnreachableError
            delay = next(waits, None)
            if delay is None or unreachable or transient.fatal or not transient.retryable:
                raise diagnose(exc, where=url, listing=True).exception() from None
            attempt += 1
            fields = {"key": url, "attempt": attempt, "of": policy.tries - 1}
            run.emit(
                Event("retry", {**fields, "delay": round(delay, 3), "error": transient.message})
            )
            await asyncio.sleep(delay)
    entries = listing.entries
    if run.state is not None and not store.features.listing_has_mtime:
        records = await asyncio.to_thread(run.state.load, store.identity, store.location.root)
        run.records[(store.identity, store.location.root)] = records
        entries = enrich(entries, records)
    run.emit(Event("listed", {"url": url, "files": len(entries)}))
    for key, reason in listing.rejected:
        run.emit(Event("rejected", {"key": scrub(key), "reason": reason}))
    for key, reason in listing.errors:
        run.emit(Event("error", {"key": key, "error": f"cannot read: {reason}"}))
    return attrs.evolve(listing, entries=entries)


def find_unwritable(run: Run, src_store: Store, dst_store: Store, src: Listing) -> None:
    """The source keys that are not written: unsafe anywhere (`run.unsafe`) or ones the
    destination cannot hold (`run.conflicts`, each told as a ``conflict`` event)."""
    if not src_store.location.is_local:
        # A remote listing rejects only keys that are unsafe to write (`../x`, control
        # characters): files of the source that are not copied, so failures. A local
        # one rejects links and special files, skipped by choice (--links, --copy-links).
        run.unsafe = src.rejected
    run.conflicts = dst_store.check_keys(src.entries)
    for key, reason in run.conflicts:
        run.emit(Event("conflict", {"key": key, "error": f"not written: {reason}"}))


def refuse_empty_source(run: Run, plan: Plan, src: Listing) -> None:
    """--delete from an empty source would delete every file: refused unless asked for."""
    if not run.config.delete or not plan.deletes:
        return
    if not src.entries and not run.config.get("allow_empty_source", False):
        raise UsageError(
            f"refusing --delete: the source {run.sides.src.url!r} is empty, which would "
            "delete every file at the destination; pass --allow-empty-source if you mean it"
        )
