"""Execute a plan: bounded concurrent copies with retries, then deletions. The only code that
writes to a destination."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sized
from typing import Any

import attrs

from fssync.content.integrity import Verified
from fssync.diagnose import diagnose
from fssync.errors import FssyncError
from fssync.model import Action, Entry, Event, Kind, Outcome
from fssync.planning.decide import MTIME_ONLY, is_reason
from fssync.stores import Reader, Store
from fssync.stores.base import RangeSink, Stated
from fssync.transfer import ranges
from fssync.transfer.cutoff import Cutoff
from fssync.transfer.retrying import RetryPolicy

Emit = Callable[[Event], None]
UNVERIFIED = "not verified: the source states no MD5 for it (checked by size only)"
OptionsFor = Callable[[Action], Mapping[str, Any]]
# Keeps a destination file before it is replaced or deleted (--backup-dir); returns where.
Keep = Callable[[Entry], Awaitable[str]]
# Waits until n more bytes fit in the run's bandwidth (--bwlimit).
Pace = Callable[[int], Awaitable[None]]


class Abort(Exception):
    """A failure that stops the whole run (bad credentials, missing bucket, ...)."""

    def __init__(self, error: FssyncError) -> None:
        super().__init__(str(error))
        self.error = error


@attrs.frozen
class TransferSettings:
    transfers: int = 16
    retry: RetryPolicy = RetryPolicy()  # the file-level retries and extra passes used here
    cutoff: Cutoff | None = None  # --max-transfer, --max-duration
    pace: Pace | None = None  # --bwlimit


class CountingReader(Reader):
    """A source reader that reports how many bytes of the file have been read so far.

    The count is reported after each read that does not finish the file (the copy or update
    event that follows reports the whole size), so small files read in one go cost nothing.
    """

    def __init__(
        self, inner: Reader, on_bytes: Callable[[int], None], pace: Pace | None = None
    ) -> None:
        self._inner = inner
        self._on_bytes = on_bytes
        self._pace = pace
        self._done = 0
        self.ranged = inner.ranged
        self.cheap_ranges = inner.cheap_ranges

    # The file's facts are the inner reader's, which an S3 reader learns from its first GET.
    @property
    def stated(self) -> Stated:
        return self._inner.stated

    @stated.setter
    def stated(self, value: Stated) -> None:
        self._inner.stated = value

    async def verify(self, written: str | None = None) -> None:
        await self._inner.verify(written)

    async def content_md5(self) -> str | None:
        return await self._inner.content_md5()

    async def _count(self, data: Sized | None) -> None:
        if data:
            self._done += len(data)
            if self._done < self._inner.size:
                self._on_bytes(self._done)
            if self._pace is not None:
                await self._pace(len(data))

    async def read(self, n: int = -1) -> bytes:
        data = await self._inner.read(n)
        await self._count(data)
        return data

    async def read_range(self, offset: int, length: int) -> bytes | bytearray | None:
        data = await self._inner.read_range(offset, length)
        await self._count(data)
        return data

    async def copy_range(self, offset: int, length: int, sink: RangeSink) -> None:
        async def counted(data: Any, at: int) -> None:
            await sink(data, at)
            await self._count(data)

        await self._inner.copy_range(offset, length, counted)

    async def close(self) -> None:
        await self._inner.close()


async def copy_one(
    src: Store,
    dst: Store,
    action: Action,
    options: Mapping[str, Any],
    on_bytes: Callable[[int], None] | None = None,
    pace: Pace | None = None,
    unverified: Callable[[], None] | None = None,
    retry: RetryPolicy | None = None,
    streamed: Callable[[], None] | None = None,
) -> Entry:
    """Server-side copy when the store can, else stream from source to destination: as
    parallel ranges (`fssync.transfer.ranges`, retried on `retry`'s request level) when the file is
    large, the source reads ranges and the destination takes positional writes.

    `unverified` is called when the copy's content could be checked against no hash the
    source states (only its size was); `streamed` when the content passes through fssync
    (not called for a server-side move or copy)."""
    entry = action.src
    assert entry is not None
    if action.kind is Kind.MOVE and action.dst is not None and dst.features.server_move:
        moved = await dst.move(action.dst, action.key)
        if moved is not None:
            return moved
    if dst.features.server_copy:
        written = await dst.copy_within(src, entry, options)
        if written is not None:
            return written
    if streamed is not None:
        streamed()
    inner = await src.open(entry)
    if on_bytes is not None:
        inner = CountingReader(inner, on_bytes, pace)
    reader = Verified(inner, entry)  # outermost, so the stores' verify() reaches it
    try:
        if ranges.wanted(reader, entry.size, dst.features.positional_writes):
            fill = functools.partial(ranges.fetch, reader=reader, size=entry.size, policy=retry)
            written = await dst.write_ranged(entry, reader, fill)
        else:
            written = await dst.write(entry, reader, options)
    finally:
        await reader.close()
    if reader.unverified and unverified is not None:
        unverified()
    if action.kind is Kind.MOVE and action.dst is not None:
        await dst.delete([action.dst.key])  # the store could not move: copied, so drop the old
    return written


async def _source_mtime_ns(src: Store, entry: Entry) -> int | None:
    """The source file's exact mtime: from the object's metadata (one HEAD), or its stat."""
    if src.features.head:
        from fssync.content.metadata import read

        meta, _ = await src.head(entry)
        return read(meta).mtime_ns
    reader = await src.open(entry)
    try:
        if reader.mtime is None:
            return None
        return reader.mtime_ns if reader.mtime_ns is not None else round(reader.mtime * 1e9)
    finally:
        await reader.close()


async def _touch(src: Store, dst: Store, action: Action) -> Entry | None:
    """Set the destination file's mtime to the source's, if both sides can (else None)."""
    if action.src is None or action.dst is None:
        return None
    ns = await _source_mtime_ns(src, action.src)
    return None if ns is None else await dst.set_mtime(action.dst, ns)


async def _attempt(
    src: Store,
    dst: Store,
    action: Action,
    options: Mapping[str, Any],
    settings: TransferSettings,
    emit: Emit,
    keep: Keep | None = None,
) -> Outcome:
    cutoff = settings.cutoff
    attempt = 0
    kept = False
    sent = 0  # of this attempt, counted against --max-transfer
    touch = is_reason(action.reason, MTIME_ONLY)  # tried once; any failure falls back to a copy

    def on_bytes(done: int) -> None:
        nonlocal sent
        if cutoff is not None:
            cutoff.add(done - sent)
            sent = done
        emit(Event("progress", {"key": action.key, "bytes": done, "size": action.size}))

    while True:
        sent = 0
        try:
            if touch:
                touch = False
                try:
                    touched = await _touch(src, dst, action)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - e.g. changed meanwhile (412): copied instead
                    touched = None
                if touched is not None:
                    return Outcome(action, ok=True, written=touched, touched=True)
            if keep is not None and not kept and action.kind is Kind.UPDATE and action.dst:
                to = await keep(action.dst)  # the old version is safe before it is replaced
                kept = True
                emit(Event("backup", {"key": action.key, "to": to}))
            unchecked: list[bool] = []
            through: list[bool] = []
            written = await copy_one(
                src,
                dst,
                action,
                options,
                on_bytes,
                settings.pace,
                functools.partial(unchecked.append, True),
                settings.retry,
                functools.partial(through.append, True),
            )
            if unchecked:
                emit(Event("unverified", {"key": action.key, "reason": UNVERIFIED}))
            moved = 0 if action.kind is Kind.MOVE else written.size  # a move sends no content
            if cutoff is not None:
                cutoff.add(moved - sent)  # the last read is not reported as progress
            return Outcome(action, ok=True, bytes=moved, written=written, server_side=not through)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is diagnosed and recorded
            diag = diagnose(exc, where=action.key)
            if diag.fatal:
                raise Abort(diag.exception()) from None
            if diag.changed and attempt < settings.retry.retries:
                fresh = await _fresh(src, action)
                if fresh is not None:  # copy the new version, whole, in this run
                    action = attrs.evolve(action, src=fresh)
                    diag = attrs.evolve(diag, retryable=True)
            if not diag.retryable or attempt >= settings.retry.retries:
                left = getattr(exc, "left", None)  # what a destination kept (see ChecksumMismatch)
                return Outcome(
                    action, ok=False, error=diag.message, retryable=diag.retryable, written=left
                )
            attempt += 1
            delay = settings.retry.retry_delay(attempt)
            emit(
                Event(
                    "retry",
                    {
                        "key": action.key,
                        "attempt": attempt,
                        "of": settings.retry.retries,
                        "error": diag.message,
                        "delay": round(delay, 3),
                    },
                )
            )
            await asyncio.sleep(delay)


async def _fresh(src: Store, action: Action) -> Entry | None:
    """The source file as it is now, if the store can say and it is another version."""
    old = action.src
    try:
        now = await src.stat(action.key)
    except Exception:  # noqa: BLE001 - the first error is the one reported
        return None
    if now is None or old is None or (now.etag, now.size) == (old.etag, old.size):
        return None
    return now


async def run_transfers(
    src: Store,
    dst: Store,
    actions: Iterable[Action],
    options_for: OptionsFor,
    emit: Emit,
    settings: TransferSettings,
    into: list[Outcome] | None = None,
    keep: Keep | None = None,
) -> list[Outcome]:
    """Run copies and updates with at most `settings.transfers` in flight, then run the ones
    that failed with a retryable error again, up to `settings.retry.passes` more times (a flaky
    stretch of network often outlasts one file's retries). Permanent errors are not retried.

    Outcomes are appended to `into` as they happen, so an interrupted run can still report."""
    outcomes: list[Outcome] = [] if into is None else into
    todo = list(actions)
    cutoff = settings.cutoff
    passes = settings.retry.passes
    for number in range(1 + passes):
        if cutoff is not None and cutoff.reached:
            # No later pass: the failures kept for one are final, and reported as such (the
            # run's report counts failures from these events).
            for o in outcomes if number else ():
                if not o.ok and o.retryable:
                    emit(_failed_event(o.action, o.error))
            break
        if number:
            todo = [o.action for o in outcomes if not o.ok and o.retryable]
            if not todo:
                break
            emit(Event("retry_pass", {"pass": number + 1, "files": len(todo)}))
            await asyncio.sleep(settings.retry.pass_delay(number))
            retried = set(map(id, todo))
            outcomes[:] = [o for o in outcomes if id(o.action) not in retried]
        last = number == passes
        await _pass(src, dst, todo, options_for, emit, settings, outcomes, last=last, keep=keep)
    return outcomes


async def _pass(
    src: Store,
    dst: Store,
    actions: list[Action],
    options_for: OptionsFor,
    emit: Emit,
    settings: TransferSettings,
    outcomes: list[Outcome],
    *,
    last: bool,
    keep: Keep | None = None,
) -> None:
    cutoff = settings.cutoff
    queue = iter(actions)

    async def worker() -> None:
        for action in queue:
            if cutoff is not None and not cutoff.may_start(action.size):
                return
            kind = action.kind.name.lower()
            emit(
                Event(
                    "start",
                    {"key": action.key, "kind": kind, "size": action.size, "reason": action.reason},
                )
            )
            options = options_for(action)
            outcome = await _attempt(src, dst, action, options, settings, emit, keep)
            outcomes.append(outcome)
            if outcome.ok and outcome.touched:
                emit(Event("mtime", {"key": action.key, "reason": action.reason}))
            elif outcome.ok:
                fields = {"key": action.key, "bytes": outcome.bytes, "reason": action.reason}
                if outcome.server_side:
                    fields["server_side"] = True  # the store copied or moved it itself
                emit(Event(kind, fields))
            elif last or not outcome.retryable:
                emit(_failed_event(action, outcome.error))

    async def workers() -> None:
        async with asyncio.TaskGroup() as tg:
            for _ in range(max(1, settings.transfers)):
                tg.create_task(worker())

    if cutoff is None:
        await workers()
    else:
        await _until_cut_off(workers(), cutoff)


async def _until_cut_off(work: Awaitable[None], cutoff: Cutoff) -> None:
    """Run the workers; when a hard cut-off comes first, cancel them (their clean-up runs as on
    Ctrl-C: temporary files removed, multipart uploads aborted)."""
    running = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(cutoff.wait_hard_stop())
    try:
        await asyncio.wait({running, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (running, stop):
            task.cancel()
        await asyncio.gather(running, stop, return_exceptions=True)
    if not running.cancelled():
        running.result()  # a failure of the workers (an Abort) goes up as before


async def run_deletes(
    dst: Store, actions: list[Action], emit: Emit, keep: Keep | None = None, transfers: int = 16
) -> list[Outcome]:
    if not actions:
        return []
    outcomes: list[Outcome] = []
    if keep is not None:
        actions, outcomes = await _keep_all(actions, emit, keep, transfers)
    try:
        failed = dict(await dst.delete([a.key for a in actions])) if actions else {}
    except Exception as exc:  # noqa: BLE001
        diag = diagnose(exc, where=dst.location.url)
        if diag.fatal:
            raise Abort(diag.exception()) from None
        failed = {a.key: diag.message for a in actions}
    for a in actions:
        if a.key in failed:
            outcomes.append(_delete_failed(a, failed[a.key], emit))
        else:
            outcomes.append(Outcome(a, ok=True))
            emit(Event("delete", {"key": a.key, "reason": a.reason}))
    return outcomes


async def _keep_all(
    actions: list[Action], emit: Emit, keep: Keep, transfers: int
) -> tuple[list[Action], list[Outcome]]:
    """Back up the files about to be deleted, `transfers` at once; a file whose backup failed is
    not deleted (its outcome is a failure)."""
    gate = asyncio.Semaphore(max(1, transfers))
    ready: list[Action] = []
    failures: list[Outcome] = []

    async def one(a: Action) -> None:
        assert a.dst is not None
        async with gate:
            try:
                to = await keep(a.dst)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - diagnosed, and the file is left alone
                diag = diagnose(exc, where=a.key)
                if diag.fatal:
                    raise Abort(diag.exception()) from None
                failures.append(
                    _delete_failed(a, f"not deleted: backup failed: {diag.message}", emit)
                )
                return
        emit(Event("backup", {"key": a.key, "to": to}))
        ready.append(a)

    async with asyncio.TaskGroup() as tg:
        for a in actions:
            tg.create_task(one(a))
    return ready, failures


def _failed_event(action: Action, error: str | None) -> Event:
    """A transfer that failed for good (no retry pass left for it)."""
    return Event(
        "failed",
        {
            "key": action.key,
            "kind": action.kind.name.lower(),
            "size": action.size,
            "reason": action.reason,
            "error": error,
        },
    )


def _delete_failed(a: Action, error: str, emit: Emit) -> Outcome:
    emit(
        Event(
            "failed",
            {"key": a.key, "kind": "delete", "size": 0, "reason": a.reason, "error": error},
        )
    )
    return Outcome(a, ok=False, error=f"{a.key}: {error}")
