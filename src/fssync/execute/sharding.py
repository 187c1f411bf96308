"""A run cut in shards that workers list, plan and write on their own, so that no machine ever
holds the whole listing: the driver reads the root of each side once (one delimiter listing or
one folder read) and makes a shard of each folder there, and one of the files right under it.

Two phases keep the guards whole: every shard's plan stays on the worker that made it, and only
its counts come back; the driver applies ``--max-delete``, the empty-source rule and "a shard
whose listing failed holds every deletion" to the sums, and only then are the shards' transfers
(and, when nothing holds them, their deletions) run in batches. An executor that can do this
implements `fssync.execute.executors.ShardedExecutor`; this module holds what runs on each side."""

from __future__ import annotations

import asyncio
import bisect
import functools
import time
from collections.abc import Sequence
from operator import attrgetter
from typing import TYPE_CHECKING

import attrs

from fssync.errors import ExitCode, FssyncError, UsageError
from fssync.execute.executors import BatchResult, Sealed, ShardedExecutor, ShardJob
from fssync.model import Action, Event, Failure, Kind, Outcome, Plan, Report
from fssync.planning.decide import deletes_over_limit
from fssync.settings.config import Config
from fssync.state import leftovers
from fssync.stores import Listing, Store

if TYPE_CHECKING:
    from fssync.engine import Run

ROOT_FILES = ""  # the shard of the files right under the root (its folders are other shards)

# Options whose meaning spans shards: refused with the sharded listing, one line each.
SPANNING = {
    "track_renames": "--track-renames pairs deletions and copies across the whole listing",
    "bwlimit": "--bwlimit is counted in one process",
    "max_transfer": "--max-transfer is counted in one process",
    "max_duration": "--max-duration is counted in one process",
}


# A root whose first delimiter page of GLANCE entries is not all it holds, and shows fewer
# than FEW_FOLDERS folders, is flat: it is cut in up to RANGES key ranges instead of folders,
# from at most PROBES one-key listings that sample its keys (`split_points`).
GLANCE = 1000
FEW_FOLDERS = 8
RANGES = 32
PROBES = 4 * RANGES
TOP = "\x7f" * 64  # above every ASCII key; keys above it fall in the last range

# Actions a slice of a shard's plan holds (the last slice may hold fewer), unless the executor
# asks for another size. A slice is a key range, not a position (`ShardCounts.spans`).
SLICE = 1000
PARTS = {"transfers": ("copy", "update", "move"), "deletes": ("delete",)}
# A slice's keys: from the first (None: from the start) up to, not including, the second
# (None: to the end).
Span = tuple[str | None, str | None]


@attrs.frozen
class Shard:
    """A folder right under either root (``name/``), or `ROOT_FILES`; `src` and `dst` say on
    which sides the driver saw it (a side where it was not is empty, not listed). A key-range
    shard (`ranged`) is the keys of the whole tree after `after` and up to `upto` (None: no
    bound), on both sides."""

    prefix: str
    src: bool = True
    dst: bool = True
    ranged: bool = False
    after: str | None = None
    upto: str | None = None

    @property
    def label(self) -> str:
        if self.ranged:
            return f"keys ({self.after or ''!r}, {self.upto or 'end'!r}]"
        return self.prefix or "(root files)"

    def __repr__(self) -> str:
        return f"Shard({self.label!r})"


@attrs.frozen
class ShardCounts:
    """What a shard's plan would do, and what went wrong listing it: all the driver sees of a
    shard before it lets the transfers run. `broken` says why the shard could not be planned
    (then it has no plan: nothing of it is written, and nothing anywhere deleted)."""

    shard: Shard
    counts: tuple[tuple[str, int], ...] = ()
    bytes: int = 0
    src_files: int = 0
    dst_files: int = 0
    incomplete: bool = False  # a folder of the shard could not be read
    failures: tuple[Failure, ...] = ()
    events: tuple[Event, ...] = ()
    broken: str | None = None
    fatal: tuple[str, str, int] | None = None
    # Per part, the first key of each slice after the first: slices are key ranges, so a plan
    # made again (its worker was lost, and the destination has changed since) is cut the same
    # way, and no action falls between two slices or into two.
    cuts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    every: int = SLICE  # actions in each slice but the last

    def of(self, kind: str) -> int:
        return dict(self.counts).get(kind, 0)

    def spans(self, part: str) -> list[tuple[Span, int]]:
        """The slices of a part: (key bounds, how many actions the plan held there)."""
        size = sum(self.of(k) for k in PARTS[part])
        if not size:
            return []
        cuts = dict(self.cuts).get(part, ())
        bounds: list[str | None] = [None, *cuts, None]
        sizes = [self.every] * len(cuts) + [size - self.every * len(cuts)]
        return [((bounds[i], bounds[i + 1]), sizes[i]) for i in range(len(sizes))]


@attrs.frozen
class ShardPlan:
    """A shard's plan as it stays on the worker between the two phases: only what runs."""

    counts: ShardCounts
    transfers: tuple[Action, ...] = ()
    deletes: tuple[Action, ...] = ()

    def part(self, name: str) -> tuple[Action, ...]:
        return self.transfers if name == "transfers" else self.deletes


# -------------------------------------------------------------------------------------------------
# On the driver
# -------------------------------------------------------------------------------------------------


async def find_shards(src: Store, dst: Store) -> tuple[Shard, ...]:
    """The root files' shard and one per folder under either root (a folder only at the
    destination holds deletions), from one cheap look at each root; or, when a root is flat
    (an S3 prefix of many keys and few folders), key ranges sampled from it."""
    for store in (src, dst):
        if not store.features.top:
            raise UsageError(
                f"{store.location.url}: this kind of location cannot be listed in shards; "
                "sharded runs take local folders and S3 (or add --list-on driver)"
            )
    glances = await asyncio.gather(src.glance(GLANCE), dst.glance(GLANCE))
    for store, glance in zip((src, dst), glances, strict=True):
        if glance is not None and glance[1] and len(glance[0]) < FEW_FOLDERS:
            cuts = await split_points(store, RANGES, PROBES)
            if cuts:
                return key_ranges(cuts)
    tops = await asyncio.gather(src.top(), dst.top())
    sides = [set(top[0]) for top in tops]
    on_src, on_dst = sides
    folders = sorted(on_src | on_dst)
    return (Shard(ROOT_FILES), *(Shard(f, f in on_src, f in on_dst) for f in folders))


def key_ranges(cuts: Sequence[str]) -> tuple[Shard, ...]:
    """The ranges between sorted `cuts`: up to the first, between each two, after the last."""
    bounds = [None, *cuts, None]
    return tuple(
        Shard(ROOT_FILES, ranged=True, after=a, upto=b)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    )


def between(lo: str, hi: str) -> str | None:
    """An ASCII string near the middle of `lo` and `hi` in S3's order (UTF-8 bytes), strictly
    between them; None when there is none to be found so."""
    a, b = lo.encode(), hi.encode()
    width = max(len(a), len(b)) + 1
    x = int.from_bytes(a.ljust(width, b"\0"), "big")
    y = int.from_bytes(b.ljust(width, b"\0"), "big")
    if y - x < 2:
        return None
    mid = ((x + y) // 2).to_bytes(width, "big")
    cut = next((i for i, c in enumerate(mid) if c == 0 or c >= 0x80), width)
    head = mid[:cut].decode("ascii")  # a StartAfter is a string: the ASCII head of the middle
    for text in (head, head + "\x7f"):  # the head, or past every ASCII key under it
        if a < text.encode() < b:
            return text
    return None


async def split_points(store: Store, count: int, probes: int) -> list[str]:
    """Up to `count - 1` keys of `store` that cut its key space in ranges of about equal
    width, each found by one listing of one key after the middle of a range (so the driver
    never lists the root): ranges are halved breadth first, and a half found empty is looked
    at again in its lower half. Keys spread as their names do (numbered names split evenly;
    a dense cluster of keys stays in one range)."""
    first = await store.key_after("")
    if first is None:
        return []
    cuts: list[str] = []
    todo = [(first, TOP)]
    asked = 0
    while todo and len(cuts) < count - 1 and asked < probes:
        lo, hi = todo.pop(0)
        mid = between(lo, hi)
        if mid is None:
            continue
        found = await store.key_after(mid)
        asked += 1
        if found is None or found.encode() >= hi.encode():
            todo.append((lo, mid))  # nothing in the upper half
            continue
        cuts.append(found)
        todo += [(lo, found), (found, hi)]
    return sorted(cuts)


def check_options(config: Config) -> None:
    """One line for an option whose meaning spans the shards."""
    for name, why in SPANNING.items():
        if config.get(name):
            flag = "--" + name.replace("_", "-")
            raise UsageError(
                f"{flag} cannot be used with a sharded listing ({why}): drop it or add "
                "--list-on driver"
            )


@attrs.define
class Totals:
    """The sums the driver keeps: counts of the plans, then of what was done. Each batch's
    outcomes are folded in as it lands and dropped, so the driver holds no per-file list."""

    run: Run
    shards: list[ShardCounts] = attrs.field(factory=list)
    done: dict[Kind, int] = attrs.field(factory=lambda: dict.fromkeys(Kind, 0))
    touched: int = 0
    moved: int = 0
    failures: list[Failure] = attrs.field(factory=list)
    failed_writes: int = 0

    def planned(self, item: object) -> None:
        assert isinstance(item, ShardCounts)
        for event in item.events:
            self.run.emit(event)
        if item.fatal is not None:
            BatchResult((), (), item.fatal).raise_fatal()
        self.shards.append(item)
        self.failures.extend(item.failures)
        if item.broken is not None:
            where = item.shard.label
            self.failures.append(Failure(where, "list", f"cannot list this shard: {item.broken}"))

    def landed(self, item: object) -> None:
        assert isinstance(item, BatchResult)
        for event in item.events:
            self.run.emit(event)
        item.raise_fatal()
        for o in item.outcomes:
            if o.ok and o.touched:
                self.touched += 1
            elif o.ok:
                self.done[o.action.kind] += 1
                self.moved += o.bytes
            else:
                self.failed_writes += 1
                self.failures.append(
                    Failure(o.action.key, o.action.kind.name.lower(), o.error or "")
                )

    def sum(self, kind: str) -> int:
        return sum(s.of(kind) for s in self.shards)


async def run_sharded(run: Run, executor: ShardedExecutor) -> tuple[Plan, Report]:
    """The whole run with the workers listing and planning their shards (see the module)."""
    config = run.config
    check_options(config)
    started = time.time()
    totals = Totals(run)
    held: str | None = None
    async with run.open_both() as (src_store, dst_store):
        shards = await find_shards(src_store, dst_store)
        run.emit(Event("shards", {"count": len(shards)}))
        await executor.plan(ShardJob(config, shards, totals.planned))
        counts = {k.name.lower(): totals.sum(k.name.lower()) for k in Kind}
        planned_bytes = sum(s.bytes for s in totals.shards)
        deletes = totals.sum("delete")
        src_files = sum(s.src_files for s in totals.shards)
        dst_files = sum(s.dst_files for s in totals.shards)
        if (
            config.delete
            and deletes
            and not src_files
            and not any(s.broken for s in totals.shards)
            and not config.get("allow_empty_source", False)
        ):
            raise UsageError(
                f"refusing --delete: the source {run.sides.src.url!r} is empty, which would "
                "delete every file at the destination; pass --allow-empty-source if you mean it"
            )
        run.emit(Event("plan", {**counts, "bytes": planned_bytes}))
        if any(s.broken or s.incomplete for s in totals.shards):
            held = "a listing was incomplete"
        else:
            held = deletes_over_limit(deletes, dst_files, config.get("max_delete"))
        if counts["copy"] + counts["update"] + counts["move"]:
            await executor.run(ShardJob(config, shards, totals.landed), "transfers")
            await leftovers.abort_lost(dst_store, started, run.emit)
        if deletes:
            if held is None and totals.failed_writes:
                held = "some transfers failed"
            if held is None:
                await executor.run(ShardJob(config, shards, totals.landed), "deletes")
            else:
                run.emit(Event("deletes_held", {"reason": held, "count": deletes}))
        empty = Plan(run.sides.src.url, run.sides.dst.url, (), src_files, dst_files)
        return empty, run.tally.complete(
            Report(
                copied=totals.done[Kind.COPY],
                updated=totals.done[Kind.UPDATE],
                deleted=totals.done[Kind.DELETE],
                skipped=counts["skip"] + totals.touched,
                excluded=counts["exclude"],
                failed=len(totals.failures),
                bytes=totals.moved,
                dry_run=False,
                failures=tuple(totals.failures),
                renamed=totals.done[Kind.MOVE],
                deletes_held=held if deletes else None,
            )
        )


# -------------------------------------------------------------------------------------------------
# On a worker
# -------------------------------------------------------------------------------------------------


def _fatal(exc: FssyncError) -> tuple[str, str, int] | None:
    """A shard error that stops the whole run (a store that cannot be reached or refuses the
    credentials would fail every shard alike)."""
    if int(exc.exit_code) == int(ExitCode.FATAL):
        return (exc.code or "", str(exc), int(exc.exit_code))
    return None


def plan_shard(sealed: Sealed, shard: Shard, every: int = SLICE) -> ShardPlan:
    """List one shard on both sides and plan it with the run's own planner (keys, filters and
    rules as in a whole run), over the stores this worker keeps for the run
    (`fssync.execute.workers`), and hand the shard's plan to ``fssync_plan_ready`` here, where it is
    whole; its parts are cut in slices of `every` actions. Called in a worker's thread; runs on
    the kept run's event loop."""
    from fssync.execute.workers import WorkerRun, for_run

    events: list[Event] = []

    async def go(kept: WorkerRun) -> tuple[Run, Plan, Listing, Listing]:
        # a Run of its own: its notes of unsafe and conflicting keys are this shard's; no
        # state records (they are per machine and per root: a worker's may be stale)
        run = kept.fresh(state=False)
        src, dst = await kept.stores()
        listed = await asyncio.gather(
            _list_shard(run, src, shard, True), _list_shard(run, dst, shard, False)
        )
        plan, s, d = await run.plan_listed(src, dst, *listed)
        # as an in-process run does with its whole plan: before anything of it is written
        kept.hooks.plan_ready(plan, run.config)
        return run, plan, s, d

    try:
        run, plan, s, d = for_run(sealed).call(go, events)
    except FssyncError as exc:
        counts = ShardCounts(shard, events=tuple(events), broken=str(exc), fatal=_fatal(exc))
        return ShardPlan(counts)
    failures = [Failure(k, "list", f"cannot read: {why}") for k, why in (*s.errors, *d.errors)]
    failures += [Failure(k, "unsafe", f"not copied: {why}") for k, why in run.unsafe]
    failures += [Failure(k, "conflict", f"not written: {why}") for k, why in run.conflicts]
    by_key = attrgetter("key")
    transfers = tuple(sorted(plan.transfers, key=by_key))  # in key order: slices are key ranges
    deletes = tuple(sorted(plan.deletes, key=by_key))
    step = max(1, every)
    cuts = tuple(
        (part, tuple(a.key for a in actions[step::step]))
        for part, actions in (("transfers", transfers), ("deletes", deletes))
    )
    counts = ShardCounts(
        shard,
        counts=tuple(plan.counts().items()),
        bytes=plan.bytes,
        src_files=len(s.entries),
        dst_files=len(d.entries),
        incomplete=bool(s.errors or d.errors),
        failures=tuple(failures),
        events=tuple(events),
        cuts=cuts,
        every=step,
    )
    return ShardPlan(counts, transfers, deletes)


def shard_counts(plan: ShardPlan) -> ShardCounts:
    """The counts alone, sent to the driver while the plan stays where it was made."""
    return plan.counts


async def _list_shard(run: Run, store: Store, shard: Shard, is_source: bool) -> Listing:
    """One side of a shard, keyed from the run's root: the root's own files from one look at
    it, a folder by opening the store at that folder and listing it whole."""
    if not (shard.src if is_source else shard.dst):
        return Listing(entries={}, exists=False)  # only on the other side: all new, or all gone
    if shard.ranged:
        ranged = store.ranged(shard.after, shard.upto)
        if ranged is None:
            raise UsageError(f"{store.location.url}: this store cannot list a key range")
        return await run._list(ranged)
    if shard.prefix == ROOT_FILES:
        top = await store.top()  # the driver found the shards with it: declared
        return top[1]
    where = store.location
    sub = attrs.evolve(
        where,
        url=where.display(shard.prefix.rstrip("/")),
        root=where.path(shard.prefix.rstrip("/")),
    )
    view = store.below(sub)  # over the store's own connection
    if view is not None:
        listing = await run._list(view)
    else:
        part = await run._open(sub, is_source)
        try:
            listing = await run._list(part)
        finally:
            await part.close()
    return _rekey(listing, shard.prefix, local=where.is_local)


def _rekey(listing: Listing, prefix: str, *, local: bool) -> Listing:
    entries = {prefix + k: attrs.evolve(e, key=prefix + k) for k, e in listing.entries.items()}
    errors = tuple((prefix + k.lstrip("."), why) for k, why in listing.errors)
    # a remote listing's rejected keys are the store's own (full) keys already
    rejected = (
        tuple((prefix + k, why) for k, why in listing.rejected) if local else listing.rejected
    )
    return attrs.evolve(listing, entries=entries, errors=errors, rejected=rejected)


def run_slice(sealed: Sealed, plan: ShardPlan, part: str, span: Span = (None, None)) -> BatchResult:
    """One slice of a shard's transfers or deletions, on whichever worker Dask chose."""
    return run_slices(sealed, [plan], [span], part)


def run_slices(
    sealed: Sealed, plans: Sequence[ShardPlan], spans: Sequence[Span], part: str
) -> BatchResult:
    """One batch made of slices of several shards' transfers or deletions (the actions of
    `plans[i]` whose keys fall in `spans[i]`, from `ShardCounts.spans`): small shards share a
    task. A plan made again after its worker was lost, and that could not list its shard this
    time, stops the run: its slices must not pass for done."""
    for plan in plans:
        if plan.counts.broken is not None:
            message = f"shard {plan.counts.shard.label} could not be planned again: "
            fatal = ("", message + plan.counts.broken, int(ExitCode.FATAL))
            return BatchResult((), plan.counts.events, fatal)
    actions = [
        a for plan, span in zip(plans, spans, strict=True) for a in _within(plan, part, span)
    ]
    if part == "transfers":
        from fssync.execute.executors import run_batch

        return run_batch(sealed, actions)
    return delete_batch(sealed, actions)


def _within(plan: ShardPlan, part: str, span: Span) -> tuple[Action, ...]:
    """The actions of a plan's part whose keys fall in `span` (the part is in key order)."""
    actions = plan.part(part)
    first, beyond = span
    by_key = attrgetter("key")
    start = 0 if first is None else bisect.bisect_left(actions, first, key=by_key)
    stop = len(actions) if beyond is None else bisect.bisect_left(actions, beyond, key=by_key)
    return actions[start:stop]


def delete_batch(sealed: Sealed, actions: Sequence[Action]) -> BatchResult:
    """Delete one batch (after the driver found nothing that holds deletions), keeping backups
    as the options say, with the destination this worker keeps for the run."""
    from fssync.execute.workers import WorkerRun, for_run
    from fssync.transfer.actions import run_deletes
    from fssync.transfer.stage import open_backups

    events: list[Event] = []

    async def go(kept: WorkerRun) -> list[Outcome]:
        run = kept.run
        _, dst = await kept.stores()
        backups = await open_backups(run, dst)
        keep = None if backups is None else functools.partial(backups.keep, dst)
        try:
            return await run_deletes(dst, list(actions), run.emit, keep, run.config.transfers)
        finally:
            if backups is not None and backups.store is not dst:
                await backups.store.close()

    try:
        outcomes = for_run(sealed).call(go, events)
    except FssyncError as exc:
        return BatchResult((), tuple(events), (exc.code or "", str(exc), int(exc.exit_code)))
    return BatchResult(tuple(outcomes), tuple(events))
