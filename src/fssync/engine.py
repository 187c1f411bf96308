"""Wire the stages together for one run. Decides nothing itself: `listing` lists, `planning`
decides, `refine` looks closer, `transfer` writes, `state` remembers, `report` tells.

`Run.execute` runs them in this order (the pipeline drawn in docs/explanation/architecture.md):
open both stores, list both sides, plan, refine, the delete guards, transfer (then delete),
remember in the state file, report. `run_sync` and `make_plan` run it on a fresh event loop
(`execute.loop`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from fssync import listing, refine
from fssync.diagnose import refused_fetched_keys, stop_reason
from fssync.errors import FssyncError, UsageError
from fssync.execute.executors import IN_PROCESS, Executor, InProcess, ShardedExecutor
from fssync.execute.loop import run_loop
from fssync.hooks.manager import Hooks
from fssync.model import Action, Entry, Event, Outcome, Plan, Report
from fssync.planning.decide import KeyFilter, Policy, build_plan, pair_renames
from fssync.report import dry_run
from fssync.report.tally import Tally, run_report
from fssync.settings import location as loc
from fssync.settings.config import Config
from fssync.settings.options import check_combinations, modify_window, plugin_option_names
from fssync.settings.remotes import load_remotes
from fssync.state import leftovers
from fssync.state.db import StateStore, remember
from fssync.stores import Listing, Store
from fssync.stores.connect import open_location
from fssync.transfer import backup, stage
from fssync.transfer.cutoff import Cutoff, Limits
from fssync.transfer.retrying import RetryPolicy


def _refuse(problems: dict[str, str], accept: KeyFilter | None) -> KeyFilter:
    """A key filter that keeps out the keys the destination cannot hold, then asks `accept`."""

    def check(key: str, s: Entry | None, d: Entry | None) -> tuple[bool, str] | None:
        if s is not None and key in problems:
            return False, f"not written: {problems[key]}"
        return accept(key, s, d) if accept is not None else None

    return check


def _keep_backups(backups: Callable[[str], bool], accept: KeyFilter | None) -> KeyFilter:
    """A key filter that never deletes the backups ``--suffix`` keeps beside their files."""

    def check(key: str, s: Entry | None, d: Entry | None) -> tuple[bool, str] | None:
        if s is None and backups(key):
            return False, "a backup kept by --suffix"
        return accept(key, s, d) if accept is not None else None

    return check


class Run:
    """One sync or check: owns the stores, what the stages learn on the way, and the order in
    which they run (`execute`)."""

    def __init__(self, config: Config, hooks: Hooks, tally: Tally | None = None) -> None:
        self.config = config
        self.hooks = hooks
        self.tally = tally or Tally()
        remotes = load_remotes(config, plugin_option_names(hooks))
        self.sides = loc.parse_pair(config, remotes)
        self.backup_dir: loc.Location | None = None
        if config.get("backup_dir"):
            self.backup_dir = loc.parse(str(config.get("backup_dir")), remotes)
            backup.check_locations(self.backup_dir, self.sides.src, self.sides.dst)
        self.state = StateStore() if config.get("state", True) else None
        self._modify_window = modify_window(config.get("modify_window"))
        limits = Limits.from_config(config)
        # The clock of --max-duration starts with the run, as rclone's does.
        self.cutoff = Cutoff(limits) if limits is not None else None
        self.held: str | None = None  # why the deletions were held, if they were
        self.executor: Executor = InProcess()  # who runs the transfers (the executor hook's)
        self.conflicts: list[tuple[str, str]] = []  # keys the destination cannot hold
        self.unsafe: tuple[tuple[str, str], ...] = ()  # source keys unsafe to write anywhere
        # State records by store identity and root, and the keys whose metadata this run read.
        self.records: dict[tuple[str, str], Mapping[str, Any]] = {}
        self.headed: dict[str, set[str]] = {"src": set(), "dst": set()}
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
        """One side's listing (`listing.list_side`; sharding and bisync list through it too)."""
        return await listing.list_side(self, store)

    async def _hash(
        self, src_store: Store, dst_store: Store, src: Listing, dst: Listing, renames: bool
    ) -> tuple[Listing, Listing]:
        return await refine.hash_listings(self, src_store, dst_store, src, dst, renames)

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
        if self.conflicts:
            accept = _refuse(dict(self.conflicts), accept)
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
        """Open both stores, list both sides concurrently, and plan (`plan_listed`)."""
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
        """The plan of two listings (the whole run's, or one shard's on a worker): the keys
        that are not written set aside, hashes and stored mtimes added where the compare
        needs them, the plan built, renames paired, then refined."""
        listing.find_unwritable(self, src_store, dst_store, src)
        renames = bool(self.config.get("track_renames")) and self.config.delete
        if renames or self.hooks.compare_mode(self.config.compare).needs_hashes:
            src, dst = await self._hash(src_store, dst_store, src, dst, renames)
        src, dst = await refine.stored_mtimes(self, src_store, dst_store, src, dst)
        plan = self.make_plan(src, dst)
        if renames:
            plan = pair_renames(plan)
        plan = await refine.refine(self, plan, src_store, dst_store)
        plan = await refine.same_content(self, plan, src_store, dst_store)
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
        """The pipeline, in order: list and plan, the guards, the plan's hook and event, then
        (unless a dry run or --explain stops there) transfer, remember, report."""
        self.executor = executor
        plan, src_store, dst_store, src, dst = await self.plan_async()
        try:
            listing.refuse_empty_source(self, plan, src)
            self.hooks.plan_ready(plan, self.config)
            counts = plan.counts()
            self.emit(Event("plan", {**counts, "bytes": plan.bytes}))
            explain = self.config.get("explain")
            if explain:
                self.emit(Event("explain", dry_run.explain(plan, str(explain).strip("/"))))
                return plan, run_report(self, plan, [], dry_run=True)
            if self.config.dry_run:
                dry_run.tell_would(plan, self.emit)
                return plan, run_report(self, plan, [], dry_run=True)
            await leftovers.clean(dst_store, dst.leftovers, self.emit)
            try:
                outcomes = await stage.transfer(self, plan, src_store, dst_store, src, dst)
            finally:
                await leftovers.sweep(dst_store, self.emit)
            await asyncio.to_thread(remember, self.state, src_store, dst_store, outcomes)
            return plan, run_report(self, plan, outcomes, dry_run=False, src=src, dst=dst)
        finally:
            await asyncio.gather(src_store.close(), dst_store.close())

    def _retry_policy(self) -> RetryPolicy:
        """How long a failing request, file or listing page is tried (one value per run)."""
        return RetryPolicy.from_config(self.config)

    async def write_here(
        self, actions: list[Action], src_store: Store, dst_store: Store
    ) -> list[Outcome]:
        """Copies and updates in this process (`transfer.stage.write_here`): what the built-in
        executor runs, and what a worker of another executor runs on its batch."""
        return await stage.write_here(self, actions, src_store, dst_store)


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
                _, report = run_loop(run.execute, config)
        except BaseException as exc:
            better = refused_fetched_keys(exc, run.fetched_by if run is not None else {})
            if better is not None:
                exc = better
            why, code = stop_reason(exc)
            try:
                hooks.run_finished(tally.stopped(why, code, dry_run=config.dry_run), config)
            except Exception:  # noqa: BLE001 - the error that stopped the run matters more
                pass
            if better is not None:
                raise better from None
            raise
        hooks.run_finished(report, config)
    return report


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
            plan: Plan = run_loop(only_plan, config)
        except FssyncError as exc:
            better = refused_fetched_keys(exc, run.fetched_by)
            if better is None:
                raise
            raise better from None
    return plan
