"""Wire the stages together for one run. Decides nothing itself: planning decides, transfer
writes, plugins report."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import attrs

from fssync.diagnose import diagnose
from fssync.errors import ExitCode, FssyncError, UnreachableError, UsageError
from fssync.execute.executors import IN_PROCESS, Executor, InProcess, ShardedExecutor, TransferJob
from fssync.hooks.manager import Hooks
from fssync.model import Action, Entry, Event, Failure, Kind, Outcome, Plan, Report
from fssync.planning.decide import (
    MTIME_ONLY,
    NEEDS_METADATA,
    KeyFilter,
    Policy,
    Reason,
    build_plan,
    decide_both,
    deletes_over_limit,
    in_the_way,
    is_reason,
    pair_renames,
)
from fssync.report.tally import Tally
from fssync.settings import location as loc
from fssync.settings.auth import Credentials
from fssync.settings.config import Config
from fssync.settings.options import check_combinations, plugin_option_names
from fssync.settings.remotes import Remote, load_remotes
from fssync.settings.secrets import scrub
from fssync.state import leftovers
from fssync.state.db import StateStore, enrich
from fssync.stores import Listing, Store, open_store
from fssync.stores.s3.keys import KeySource
from fssync.transfer import backup
from fssync.transfer.actions import Abort, Keep, TransferSettings, run_deletes, run_transfers
from fssync.transfer.cutoff import Cutoff, Limits
from fssync.transfer.retrying import RetryPolicy


def _refuse(problems: dict[str, str], accept: KeyFilter | None) -> KeyFilter:
    """A key filter that keeps out the keys the destination cannot hold, then asks `accept`."""

    def check(key: str, s: Entry | None, d: Entry | None) -> tuple[bool, str] | None:
        if s is not None and key in problems:
            return False, f"not written: {problems[key]}"
        return accept(key, s, d) if accept is not None else None

    return check


@attrs.frozen
class Sides:
    src: loc.Location
    dst: loc.Location


def resolve(config: Config, remotes: Mapping[str, Remote] | None = None) -> Sides:
    """Both locations, named remotes resolved; refuses folders that contain each other."""
    src = loc.parse(config.src, remotes)
    dst = loc.parse(config.dst or "", remotes)
    if config.command == "sync" and dst.protocol in loc.READ_ONLY:
        raise UsageError(
            f"destination {dst.url!r} is {dst.protocol}://, a read-only location for fssync: "
            "sync from it, or to a folder, s3:// or another writable location"
        )
    if src.protocol == dst.protocol and _overlaps(src.root, dst.root):
        raise UsageError(
            f"source {src.url!r} and destination {dst.url!r} overlap: "
            "sync between folders that do not contain each other"
        )
    return Sides(src, dst)


def _overlaps(a: str, b: str) -> bool:
    a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)


async def open_location(
    hooks: Hooks,
    config: Config,
    location: loc.Location,
    *,
    transfers: int,
    is_source: bool,
    emit: Callable[[Event], None] | None = None,
) -> Store:
    """Open a location's store with the plugins' storage options and credentials, and hand
    it the run's retry policy (a plugin's store builds the same one from `config`)."""
    retry = RetryPolicy.from_config(config)
    options = hooks.storage_options(location, config)
    provider = hooks.credential_provider(location, config) if location.is_s3 else None

    def fetched(creds: Credentials, why: str) -> None:
        if emit is None or provider is None:
            return
        expires = (
            dt.datetime.fromtimestamp(creds.expires, dt.UTC).isoformat(timespec="seconds")
            if creds.expires is not None
            else None
        )
        fields = {"url": location.url, "why": why, "provider": provider.description}
        emit(
            Event(
                "credentials", {**fields, "access_key_id": creds.access_key_id, "expires": expires}
            )
        )

    try:
        if not location.is_local:
            # A plugin may serve the location with its own store; it is told which plugins
            # would adjust the fsspec filesystem it replaces, and which credential provider.
            adjusters = hooks.filesystem_plugins(location, config)
            keys = KeySource(provider, fetched) if provider is not None else None
            plugin_store = hooks.open_store(location, options, config, adjusters, keys)
            if plugin_store is not None:
                plugin_store.retry = retry
                return plugin_store  # type: ignore[no-any-return]
        store = await open_store(
            location,
            options,
            transfers=transfers,
            is_source=is_source,
            credentials=provider,
            on_fetch=fetched,
            retry=retry,
        )
    except FssyncError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise diagnose(exc, where=location.url, listing=True).exception() from None
    store.retry = retry
    if store.fs is not None:
        try:
            hooks.filesystem_ready(location, store.fs, config)
        except BaseException:
            await store.close()
            raise
    return store


def _keep_backups(backups: Callable[[str], bool], accept: KeyFilter | None) -> KeyFilter:
    """A key filter that never deletes the backups ``--suffix`` keeps beside their files."""

    def check(key: str, s: Entry | None, d: Entry | None) -> tuple[bool, str] | None:
        if s is None and backups(key):
            return False, "a backup kept by --suffix"
        return accept(key, s, d) if accept is not None else None

    return check


class Run:
    """One sync or check: owns the stores and the event loop's work."""

    def __init__(self, config: Config, hooks: Hooks, tally: Tally | None = None) -> None:
        self.config = config
        self.hooks = hooks
        self.tally = tally or Tally()
        remotes = load_remotes(config, plugin_option_names(hooks))
        self.sides = resolve(config, remotes)
        self.backup_dir: loc.Location | None = None
        if config.get("backup_dir"):
            self.backup_dir = loc.parse(str(config.get("backup_dir")), remotes)
            backup.check_locations(self.backup_dir, self.sides.src, self.sides.dst)
        self.state = StateStore() if config.get("state", True) else None
        self._modify_window = _window(config.get("modify_window"))
        limits = Limits.from_config(config)
        # The clock of --max-duration starts with the run, as rclone's does.
        self.cutoff = Cutoff(limits) if limits is not None else None
        self._held: str | None = None
        self.executor: Executor = InProcess()  # who runs the transfers (the executor hook's)
        self._conflicts: list[tuple[str, str]] = []  # keys the destination cannot hold
        self._unsafe: tuple[tuple[str, str], ...] = ()  # source keys unsafe to write anywhere
        # State records by store identity and root, and the keys whose metadata this run read.
        self._records: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._headed: dict[str, set[str]] = {"src": set(), "dst": set()}
        # Location URL -> the provider that fetched its credentials (STS), for messages.
        self.fetched_by: dict[str, str] = {}

    def emit(self, event: Event) -> None:
        if event.name == "credentials":
            self.fetched_by[str(event.fields.get("url"))] = str(event.fields.get("provider"))
        self.tally.observe(event)
        self.hooks.event(event, self.config)

    async def _open(self, location: loc.Location, is_source: bool) -> Store:
        store = await open_location(
            self.hooks,
            self.config,
            location,
            transfers=self.config.transfers,
            is_source=is_source,
            emit=self.emit,
        )
        if not is_source and self.state is not None:
            leftovers.attach_journal(store, self.state)
        return store

    async def open_side(self, *, is_source: bool) -> Store:
        """The source's or the destination's store (for an executor's worker too)."""
        return await self._open(self.sides.src if is_source else self.sides.dst, is_source)

    async def open_pair(self) -> tuple[Store, Store]:
        """Both stores, or neither: a source opened before the destination failed is closed.
        The caller closes both (`open_both` does it for a block)."""
        src = await self.open_side(is_source=True)
        try:
            dst = await self.open_side(is_source=False)
        except BaseException:
            await src.close()
            raise
        return src, dst

    @contextlib.asynccontextmanager
    async def open_both(self) -> AsyncIterator[tuple[Store, Store]]:
        """Both stores for the block, closed together at its end, also when it fails."""
        src, dst = await self.open_pair()
        try:
            yield src, dst
        finally:
            await asyncio.gather(src.close(), dst.close())

    async def _list(self, store: Store) -> Listing:
        url = store.location.url
        self.emit(Event("listing", {"url": url}))

        def progress(files: int) -> None:
            self.emit(Event("listing_progress", {"url": url, "files": files}))

        policy = self._retry_policy()

        def retried(page: int, attempt: int, of: int, delay: float, error: str) -> None:
            fields = {"key": url, "page": page, "attempt": attempt, "of": of}
            self.emit(Event("retry", {**fields, "delay": round(delay, 3), "error": error}))

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
                self.emit(
                    Event("retry", {**fields, "delay": round(delay, 3), "error": transient.message})
                )
                await asyncio.sleep(delay)
        entries = listing.entries
        if self.state is not None and not store.features.listing_has_mtime:
            records = await asyncio.to_thread(self.state.load, store.identity, store.location.root)
            self._records[(store.identity, store.location.root)] = records
            entries = enrich(entries, records)
        self.emit(Event("listed", {"url": url, "files": len(entries)}))
        for key, reason in listing.rejected:
            self.emit(Event("rejected", {"key": scrub(key), "reason": reason}))
        for key, reason in listing.errors:
            self.emit(Event("error", {"key": key, "error": f"cannot read: {reason}"}))
        return attrs.evolve(listing, entries=entries)

    async def _hash(
        self, src_store: Store, dst_store: Store, src: Listing, dst: Listing, renames: bool
    ) -> tuple[Listing, Listing]:
        from fssync.content.checksums import add_hashes
        from fssync.state.db import HashCache

        cache = HashCache(self.state) if self.state is not None else None
        s, d, stats = await add_hashes(
            src_store, dst_store, src.entries, dst.entries, cache, renames=renames
        )
        self.emit(Event("hashing", attrs.asdict(stats)))
        return attrs.evolve(src, entries=s), attrs.evolve(dst, entries=d)

    async def _stored_mtimes(
        self, src_store: Store, dst_store: Store, src: Listing, dst: Listing
    ) -> tuple[Listing, Listing]:
        """For the mtime comparisons: an S3 object whose listing (and the state) gives no mtime,
        on both sides with equal sizes, gets one HEAD to read the mtime a sync tool stored in
        its metadata, which is then compared, not the upload time (as rclone does: a file
        replaced by an older version is then seen). The answers, "none stored" included, are
        remembered by ETag, so the next run asks again only for objects that changed."""
        if self.config.compare not in ("size-mtime", "update"):
            return src, dst
        from fssync.content.metadata import read as read_metadata

        sides = {"src": (src_store, src, dst), "dst": (dst_store, dst, src)}
        slots = asyncio.Semaphore(max(8, self.config.transfers))
        out = {"src": src, "dst": dst}
        for side, (store, mine, theirs) in sides.items():
            if not store.features.head or store.features.listing_has_mtime:
                continue
            records = self._records.get((store.identity, store.location.root), {})
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
                self.emit(Event("error", {"key": "(metadata)", "error": where}))
                continue
            self.emit(Event("metadata", {"objects": len(learned)}))
            self._headed[side].update(e.key for e in learned)
            if self.state is not None:
                await asyncio.to_thread(
                    self.state.save, store.identity, store.location.root, learned, read=True
                )
            entries = dict(mine.entries)
            entries.update((e.key, e) for e in learned)
            out[side] = attrs.evolve(mine, entries=entries)
        return out["src"], out["dst"]

    async def _refine(self, plan: Plan, src_store: Store, dst_store: Store) -> Plan:
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
            and not (a.key in self._headed["src"] or a.key in self._headed["dst"])
        ]
        if not todo:
            return plan
        from fssync.content.integrity import UNTRUSTED_MTIME
        from fssync.content.metadata import read as read_metadata

        compare = self.hooks.compare_mode(self.config.compare).function
        policy = self._policy()
        slots = asyncio.Semaphore(max(4, self.config.transfers))
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
            self.emit(
                Event("error", {"key": "(metadata)", "error": diagnose(exc, where="HEAD").message})
            )
            return plan
        self.emit(Event("metadata", {"objects": sum(len(v) for v in learned.values())}))
        if self.state is not None:
            for side, entries in learned.items():
                if entries:
                    store = heads[side]
                    self.state.save(store.identity, store.location.root, entries)
        by_key = {a.key: a for a in redone}
        return attrs.evolve(plan, changes=tuple(by_key.get(a.key, a) for a in plan.changes))

    async def _same_content(self, plan: Plan, src_store: Store, dst_store: Store) -> Plan:
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

        cache = HashCache(self.state) if self.state is not None else None
        src_in = {a.key: a.src for a in todo if a.src is not None}
        dst_in = {a.key: a.dst for a in todo if a.dst is not None}
        s, d, stats = await add_hashes(src_store, dst_store, src_in, dst_in, cache)
        self.emit(Event("hashing", attrs.asdict(stats)))
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

    def _policy(self) -> Policy:
        return Policy(
            delete=self.config.delete or self.config.command == "check",
            delete_excluded=bool(self.config.get("delete_excluded", False)),
            ignore_existing=bool(self.config.get("ignore_existing", False)),
            src_caps=self.sides.src.capabilities,
            dst_caps=self.sides.dst.capabilities,
            modify_window=self._modify_window,
        )

    def make_plan(self, src: Listing, dst: Listing) -> Plan:
        policy = self._policy()
        compare = self.hooks.compare_mode(self.config.compare).function
        accept = self.hooks.key_filter(self.config, src.entries, dst.entries)
        if self._conflicts:
            accept = _refuse(dict(self._conflicts), accept)
        suffix = str(self.config.get("suffix") or "")
        if suffix and self.backup_dir is None:
            keep_ext = bool(self.config.get("suffix_keep_extension"))
            accept = _keep_backups(lambda k: backup.is_backup_name(k, suffix, keep_ext), accept)
        return build_plan(
            self.sides.src.url,
            self.sides.dst.url,
            src.entries,
            dst.entries,
            policy,
            compare,
            accept,
        )

    async def plan_async(self) -> tuple[Plan, Store, Store, Listing, Listing]:
        src_store, dst_store = await self.open_pair()
        try:
            src, dst = await asyncio.gather(self._list(src_store), self._list(dst_store))
            plan, src, dst = await self.plan_listed(src_store, dst_store, src, dst)
        except BaseException:
            await asyncio.gather(src_store.close(), dst_store.close())
            raise
        return plan, src_store, dst_store, src, dst

    async def plan_listed(
        self, src_store: Store, dst_store: Store, src: Listing, dst: Listing
    ) -> tuple[Plan, Listing, Listing]:
        """The plan of two listings (the whole run's, or one shard's on a worker)."""
        if not src_store.location.is_local:
            # A remote listing rejects only keys that are unsafe to write (`../x`, control
            # characters): files of the source that are not copied, so failures. A local
            # one rejects links and special files, skipped by choice (--links, --copy-links).
            self._unsafe = src.rejected
        self._conflicts = dst_store.check_keys(src.entries)
        for key, reason in self._conflicts:
            self.emit(Event("conflict", {"key": key, "error": f"not written: {reason}"}))
        renames = bool(self.config.get("track_renames")) and self.config.delete
        if renames or self.hooks.compare_mode(self.config.compare).needs_hashes:
            src, dst = await self._hash(src_store, dst_store, src, dst, renames)
        src, dst = await self._stored_mtimes(src_store, dst_store, src, dst)
        plan = self.make_plan(src, dst)
        if renames:
            plan = pair_renames(plan)
        plan = await self._refine(plan, src_store, dst_store)
        plan = await self._same_content(plan, src_store, dst_store)
        return plan, src, dst

    async def execute(self) -> tuple[Plan, Report]:
        executor = self._executor()
        if self.config.dry_run or self.config.get("explain"):
            return await self._execute(InProcess())  # nothing to transfer: no cluster needed
        await executor.start()
        try:
            if isinstance(executor, ShardedExecutor) and executor.sharded:
                from fssync.execute.sharding import run_sharded  # the workers list and plan too

                return await run_sharded(self, executor)
            return await self._execute(executor)
        finally:
            await executor.close()

    def _executor(self) -> Executor:
        name = str(self.config.get("executor") or IN_PROCESS)
        found = self.hooks.executor(self.config)
        if found is None:
            raise UsageError(
                f"--executor {name}: no plugin runs it (for Dask: pip install 'fssync[dask]')"
            )
        return found

    async def _execute(self, executor: Executor) -> tuple[Plan, Report]:
        self.executor = executor
        plan, src_store, dst_store, src, dst = await self.plan_async()
        try:
            self._check_delete_safety(plan, src, dst)
            self.hooks.plan_ready(plan, self.config)
            counts = plan.counts()
            self.emit(Event("plan", {**counts, "bytes": plan.bytes}))
            explain = self.config.get("explain")
            if explain:
                self.emit(Event("explain", _explain(plan, str(explain).strip("/"))))
                return plan, self._report(plan, [], dry_run=True)
            if self.config.dry_run:
                for a in plan.changes:
                    if a.kind is not Kind.SKIP:
                        self.emit(
                            Event(
                                "would",
                                {
                                    "kind": a.kind.name.lower(),
                                    "sigil": a.kind.value,
                                    "key": a.key,
                                    "reason": a.reason,
                                },
                            )
                        )
                return plan, self._report(plan, [], dry_run=True)
            await leftovers.clean(dst_store, dst.leftovers, self.emit)
            try:
                outcomes = await self._transfer(plan, src_store, dst_store, src, dst)
            finally:
                await leftovers.sweep(dst_store, self.emit)
            await asyncio.to_thread(self._remember, src_store, dst_store, outcomes)
            return plan, self._report(plan, outcomes, dry_run=False, src=src, dst=dst)
        finally:
            await asyncio.gather(src_store.close(), dst_store.close())

    def _check_delete_safety(self, plan: Plan, src: Listing, dst: Listing) -> None:
        if not self.config.delete or not plan.deletes:
            return
        if not src.entries and not self.config.get("allow_empty_source", False):
            raise UsageError(
                f"refusing --delete: the source {self.sides.src.url!r} is empty, which would "
                "delete every file at the destination; pass --allow-empty-source if you mean it"
            )

    def _retry_policy(self) -> RetryPolicy:
        """How long a failing request, file or listing page is tried (one value per run)."""
        return RetryPolicy.from_config(self.config)

    async def write_here(
        self, actions: list[Action], src_store: Store, dst_store: Store
    ) -> list[Outcome]:
        """Copies and updates in this process, with backups kept as the options say: what the
        built-in executor runs, and what a worker of another executor runs on its batch."""
        backups = await self._backups(dst_store)
        keep = None if backups is None else functools.partial(backups.keep, dst_store)
        try:
            return await self._write(actions, src_store, dst_store, keep)
        except* Abort as group:
            raise group.exceptions[0].error from None  # type: ignore[union-attr]
        finally:
            if backups is not None and backups.store is not dst_store:
                await backups.store.close()

    async def _write(
        self, actions: list[Action], src_store: Store, dst_store: Store, keep: Keep | None
    ) -> list[Outcome]:
        settings = TransferSettings(
            transfers=self.config.transfers,
            retry=self._retry_policy(),
            cutoff=self.cutoff,
            pace=self._pace(src_store, dst_store),
        )
        dst_loc = self.sides.dst

        def options_for(action: Action) -> dict[str, Any]:
            options = self.hooks.transfer_options(action, dst_loc, self.config)
            if dst_loc.is_s3 and options:
                from fssync.stores.s3.meta import options_problem

                problem = options_problem(options, f"{action.key}: transfer option")
                if problem:  # never sent: it would end a header early (header injection)
                    raise Abort(UsageError(problem))
            return options

        return await run_transfers(
            src_store, dst_store, actions, options_for, self.emit, settings, keep=keep
        )

    async def _transfer(
        self, plan: Plan, src_store: Store, dst_store: Store, src: Listing, dst: Listing
    ) -> list[Outcome]:
        """The transfers, handed to the executor round by round, then the deletions, here and
        only when every transfer succeeded (and the other guards agree)."""
        backups = await self._backups(dst_store)
        keep = None if backups is None else functools.partial(backups.keep, dst_store)
        executor = self.executor

        async def here(actions: Sequence[Action]) -> list[Outcome]:
            return await self._write(list(actions), src_store, dst_store, keep)

        try:
            outcomes: list[Outcome] = []
            deletes = list(plan.deletes)
            if deletes and dst_store.folders:
                outcomes, deletes = await self._clear_the_way(plan, dst_store, src, dst, keep)
            # Two rounds: what the destination makes last (symbolic links) waits for the rest.
            first = [a for a in plan.transfers if not dst_store.write_last(a.key)]
            last = [a for a in plan.transfers if dst_store.write_last(a.key)]
            started = time.time()
            for actions in (first, last):
                if actions:
                    job = TransferJob(tuple(actions), self.config, self.emit, here)
                    outcomes += await executor.transfer(job)
            if not isinstance(executor, InProcess) and plan.transfers:
                # uploads other machines began and did not finish (a worker killed mid-file)
                await leftovers.abort_lost(dst_store, started, self.emit)
            if deletes:
                held = self._hold_deletes(plan, outcomes, src, dst)
                if held:
                    self.emit(Event("deletes_held", {"reason": held, "count": len(deletes)}))
                    self._held = held
                else:
                    outcomes += await run_deletes(
                        dst_store, deletes, self.emit, keep, self.config.transfers
                    )
        except* Abort as group:
            raise group.exceptions[0].error from None  # type: ignore[union-attr]
        finally:
            if backups is not None and backups.store is not dst_store:
                await backups.store.close()
        return outcomes

    def _pace(self, src: Store, dst: Store) -> Callable[[int], Any] | None:
        """The --bwlimit budget: bytes written to a remote are up, bytes read from one down
        (both for remote to remote); a local-to-local run counts as up."""
        from fssync.transfer.bandwidth import Throttle

        def changed(rate: Any, slot: Any) -> None:
            self.emit(Event("bwlimit", {"rate": rate.describe(), "from": slot.minute}))

        throttle = Throttle.from_text(self.config.get("bwlimit"), changed)
        if throttle is None:
            return None
        ways = tuple(
            way
            for way, remote in (
                ("up", not dst.location.is_local),
                ("down", not src.location.is_local),
            )
            if remote
        )
        return functools.partial(throttle.take, ways or ("up",))

    async def _clear_the_way(
        self, plan: Plan, dst_store: Store, src: Listing, dst: Listing, keep: Keep | None
    ) -> tuple[list[Outcome], list[Action]]:
        """Where a file became a folder or a folder a file (`x` -> `x/y`, or the reverse), delete
        what is in the way before writing: else the write fails on every run and holds the
        deletion that would free it. Only under the guards of any deletion (both listings
        complete, --max-delete), and with backups kept as for any deletion. Returns the
        outcomes and the deletions still to run after the transfers."""
        deletes = list(plan.deletes)
        early, folders = in_the_way((a.key for a in plan.transfers), (a.key for a in deletes))
        if not early:
            return [], deletes
        held = self._hold_deletes(plan, [], src, dst)
        if held:
            return [], deletes  # the writes fail as before; the deletions are held after them
        now = [a for a in deletes if a.key in early]
        outcomes = await run_deletes(dst_store, now, self.emit, keep, self.config.transfers)
        if all(o.ok for o in outcomes):
            for key in sorted(folders):
                await dst_store.remove_empty_folder(key)
        return outcomes, [a for a in deletes if a.key not in early]

    async def _backups(self, dst_store: Store) -> backup.Backups | None:
        """Where replaced and deleted files are kept (--backup-dir, --suffix), if anywhere."""
        suffix = str(self.config.get("suffix") or "")
        keep_ext = bool(self.config.get("suffix_keep_extension"))
        if self.backup_dir is not None:
            store = await self._open(self.backup_dir, is_source=False)
            return backup.Backups(store, suffix, keep_ext)
        if suffix:
            return backup.Backups(dst_store, suffix, keep_ext)
        return None

    def _hold_deletes(
        self, plan: Plan, outcomes: list[Outcome], src: Listing, dst: Listing
    ) -> str | None:
        if self.cutoff is not None and self.cutoff.reached:
            return f"the --{self.cutoff.reached} limit was reached"
        if src.errors or dst.errors:
            return "a listing was incomplete"
        if any(not o.ok for o in outcomes):
            return "some transfers failed"
        return deletes_over_limit(
            len(plan.deletes), len(dst.entries), self.config.get("max_delete")
        )

    def _remember(self, src_store: Store, dst_store: Store, outcomes: list[Outcome]) -> None:
        if self.state is None:
            return
        done = [o for o in outcomes if o.ok and o.written is not None]
        if not src_store.features.listing_has_mtime:
            # A download learned each object's mtime from its GET: remember it for the source.
            learned = [
                attrs.evolve(o.action.src, mtime=o.written.mtime)
                for o in done
                if o.action.src is not None
                and o.written is not None
                and o.written.mtime is not None
            ]
            self.state.save(src_store.identity, src_store.location.root, learned)
        # A failure may say what the destination kept (an object left with other bytes than
        # were sent): its record makes the next run send the file again.
        written = [o.written for o in outcomes if o.written is not None]
        if not dst_store.features.listing_has_mtime:
            self.state.save(dst_store.identity, dst_store.location.root, written)
            gone = [o.action.key for o in outcomes if o.ok and o.action.kind is Kind.DELETE]
            if gone:
                self.state.forget(dst_store.identity, dst_store.location.root, gone)

    def _report(
        self,
        plan: Plan,
        outcomes: list[Outcome],
        *,
        dry_run: bool,
        src: Listing | None = None,
        dst: Listing | None = None,
    ) -> Report:
        """The run's report: its figures come from the tally of the run's events (see
        `Tally.report`); `outcomes` only say how much of the plan is left when a limit cut
        the run."""
        failures = []
        if src is not None and dst is not None:
            for key, reason in (*src.errors, *dst.errors):
                failures.append(Failure(key, "list", f"cannot read: {reason}"))
            for key, reason in self._unsafe:
                failures.append(Failure(scrub(key), "unsafe", f"not copied: {reason}"))
            for key, reason in self._conflicts:
                failures.append(Failure(key, "conflict", f"not written: {reason}"))
        plan_counts = plan.counts()
        error, abort_code = None, None
        if self.cutoff is not None and self.cutoff.reached and not dry_run:
            done = {o.action.key for o in outcomes if o.ok}
            left = sum(1 for a in plan.transfers if a.key not in done)
            error, abort_code = self.cutoff.message(left), self.cutoff.exit_code
            self.emit(Event("cutoff", {"limit": self.cutoff.reached, "message": error}))
        return self.tally.report(
            dry_run=dry_run,
            skipped=plan_counts["skip"],
            excluded=plan_counts["exclude"],
            failures=tuple(failures),
            deletes_held=self._held,
            error=error,
            abort_code=abort_code,
        )


def _window(text: object) -> float:
    """--modify-window as seconds (0 when not given)."""
    if text in (None, ""):
        return 0.0
    from fssync.settings.units import parse_duration

    try:
        return parse_duration(str(text))
    except ValueError as exc:
        raise UsageError(f"--modify-window: {exc}") from None


def _explain(plan: Plan, key: str) -> dict[str, Any]:
    """What the plan does with one key, and why (for --explain)."""
    a = plan.action_for(key)
    if a is not None:
        return {
            "key": key,
            "kind": a.kind.name.lower(),
            "sigil": a.kind.value,
            "reason": a.reason,
        }
    return {
        "key": key,
        "kind": "none",
        "sigil": " ",
        "reason": "not in the source (and not deleted: --delete not given)"
        if not plan.of(Kind.DELETE)
        else "on neither side",
    }


def run_sync(config: Config, hooks: Hooks) -> Report:
    """Run one sync in a fresh event loop, with the plugins' per-run objects registered.

    Reporters get `fssync_run_finished` also when the run stops early, with a report whose
    `error` says why, so a night run that could not finish still leaves its record. A local
    destination is locked for the run.
    """
    from fssync.state.locks import destination_lock

    check_combinations(config)
    hooks.configure(config)
    with hooks.session(config):
        tally = Tally()
        run: Run | None = None
        try:
            run = Run(config, hooks, tally)
            with destination_lock(run.sides.dst, config):
                _, report = _run_loop(run.execute, config)
        except BaseException as exc:
            better = _refused_fetched_keys(exc, run)
            if better is not None:
                exc = better
            why, code = _stop_reason(exc)
            try:
                hooks.run_finished(tally.stopped(why, code, dry_run=config.dry_run), config)
            except Exception:  # noqa: BLE001 - the error that stopped the run matters more
                pass
            if better is not None:
                raise better from None
            raise
        hooks.run_finished(report, config)
    return report


# What the store says when it does not accept credentials, in words about fetched ones.
_KEYS_REFUSED = {
    "InvalidAccessKeyId": "the store does not know the access key id they hold",
    "SignatureDoesNotMatch": "the store rejected the signature made with their secret key",
    "InvalidToken": "the store rejected their session token",
    "InvalidClientTokenId": "the store rejected their access key id or session token",
}


def _refused_fetched_keys(exc: BaseException, run: Run | None) -> FssyncError | None:
    """The store refused keys that STS issued: the advice about --access-key-id would mislead,
    as the user gave none of these keys; say where they came from instead."""
    if run is None or not run.fetched_by or not isinstance(exc, FssyncError):
        return None
    if exc.code not in _KEYS_REFUSED:
        return None
    text = str(exc)
    url = next((u for u in run.fetched_by if text.startswith(u)), next(iter(run.fetched_by)))
    where = text.split(": ", 1)[0]
    better = type(exc)(
        f"{where}: the store refused the temporary credentials fetched with "
        f"{run.fetched_by[url]}: {_KEYS_REFUSED[exc.code]} ({exc.code}); they may come from an "
        "STS this store does not trust: check --sts-endpoint-url (or AWS_ENDPOINT_URL_STS) "
        "against --endpoint-url"
    )
    better.code = exc.code
    return better


def _stop_reason(exc: BaseException) -> tuple[str, int]:
    """What a run that stopped early tells its reporters, and its exit code."""
    if isinstance(exc, FssyncError):
        return str(exc), int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", int(ExitCode.INTERRUPTED)
    from fssync.diagnose import first_line

    return f"unexpected error: {type(exc).__name__}: {first_line(exc)}", int(ExitCode.FATAL)


def make_plan(config: Config, hooks: Hooks) -> Plan:
    check_combinations(config)
    hooks.configure(config)
    with hooks.session(config):
        run = Run(config, hooks)

        async def only_plan() -> Plan:
            plan, s, d, _, _ = await run.plan_async()
            await asyncio.gather(s.close(), d.close())
            return plan

        try:
            plan: Plan = _run_loop(only_plan, config)
        except FssyncError as exc:
            better = _refused_fetched_keys(exc, run)
            if better is None:
                raise
            raise better from None
    return plan


def _run_loop(fn: Callable[[], Any], config: Config) -> Any:
    """Run `fn` in a fresh event loop. The first Ctrl-C cancels it: in-flight transfers stop,
    their temporary files are removed and multipart uploads aborted, then KeyboardInterrupt is
    raised. A second Ctrl-C exits at once (code 130); the next run cleans what that leaves."""
    import concurrent.futures

    from fssync.execute.interrupts import install

    result: list[Any] = []

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(4, config.transfers + 2))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(pool)
        with install(loop) as state:
            try:
                # Kept out of the main task's result: formatting a repr of that task (result
                # included), as asyncio does in places, costs seconds for a million actions.
                result.append(await fn())
            except asyncio.CancelledError:
                if state.count:
                    raise KeyboardInterrupt from None
                raise

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main())
    finally:
        try:
            _settle(loop, LEFTOVER_WAIT)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            pool.shutdown(wait=False, cancel_futures=True)
    return result[0]


# Seconds the tasks a run leaves behind (a library's background task, a close that waits on a
# dead connection) get to finish once cancelled: the run's work is done, so none of them may
# hold the command (asyncio.run would wait for them without end).
LEFTOVER_WAIT = 10.0


def _settle(loop: asyncio.AbstractEventLoop, timeout: float) -> None:
    """Cancel the tasks still pending on `loop` and wait at most `timeout` for them."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.wait(pending, timeout=timeout))
