"""The transfer stage of a one-way run: the plan's copies and updates handed to the executor
round by round (with backups kept and --bwlimit paced), then its deletions, here, and only when
the guards agree (both listings complete, every transfer done, no limit reached, --max-delete);
what is in the way of a write (a file that became a folder) is deleted first, under the same
guards."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from fssync.errors import UsageError
from fssync.execute.executors import InProcess, TransferJob
from fssync.model import Action, Event, Outcome, Plan
from fssync.planning.decide import deletes_over_limit, in_the_way
from fssync.state import leftovers
from fssync.stores import Listing, Store
from fssync.transfer import backup
from fssync.transfer.actions import Abort, Keep, TransferSettings, run_deletes, run_transfers

if TYPE_CHECKING:
    from fssync.engine import Run


async def transfer(
    run: Run, plan: Plan, src_store: Store, dst_store: Store, src: Listing, dst: Listing
) -> list[Outcome]:
    """The transfers, handed to the executor round by round, then the deletions, here and
    only when every transfer succeeded (and the other guards agree)."""
    backups = await open_backups(run, dst_store)
    keep = None if backups is None else functools.partial(backups.keep, dst_store)
    executor = run.executor

    async def here(actions: Sequence[Action]) -> list[Outcome]:
        return await write(run, list(actions), src_store, dst_store, keep)

    try:
        outcomes: list[Outcome] = []
        deletes = list(plan.deletes)
        if deletes and dst_store.folders:
            outcomes, deletes = await clear_the_way(run, plan, dst_store, src, dst, keep)
        # Two rounds: what the destination makes last (symbolic links) waits for the rest.
        first = [a for a in plan.transfers if not dst_store.write_last(a.key)]
        last = [a for a in plan.transfers if dst_store.write_last(a.key)]
        started = time.time()
        for actions in (first, last):
            if actions:
                job = TransferJob(tuple(actions), run.config, run.emit, here)
                outcomes += await executor.transfer(job)
        if not isinstance(executor, InProcess) and plan.transfers:
            # uploads other machines began and did not finish (a worker killed mid-file)
            await leftovers.abort_lost(dst_store, started, run.emit)
        if deletes:
            held = hold_deletes(run, plan, outcomes, src, dst)
            if held:
                run.emit(Event("deletes_held", {"reason": held, "count": len(deletes)}))
                run.held = held
            else:
                outcomes += await run_deletes(
                    dst_store, deletes, run.emit, keep, run.config.transfers
                )
    except* Abort as group:
        raise group.exceptions[0].error from None  # type: ignore[union-attr]
    finally:
        if backups is not None and backups.store is not dst_store:
            await backups.store.close()
    return outcomes


async def write_here(
    run: Run, actions: list[Action], src_store: Store, dst_store: Store
) -> list[Outcome]:
    """Copies and updates in this process, with backups kept as the options say: what the
    built-in executor runs, and what a worker of another executor runs on its batch."""
    backups = await open_backups(run, dst_store)
    keep = None if backups is None else functools.partial(backups.keep, dst_store)
    try:
        return await write(run, actions, src_store, dst_store, keep)
    except* Abort as group:
        raise group.exceptions[0].error from None  # type: ignore[union-attr]
    finally:
        if backups is not None and backups.store is not dst_store:
            await backups.store.close()


async def write(
    run: Run, actions: list[Action], src_store: Store, dst_store: Store, keep: Keep | None
) -> list[Outcome]:
    settings = TransferSettings(
        transfers=run.config.transfers,
        retry=run._retry_policy(),
        cutoff=run.cutoff,
        pace=pace(run, src_store, dst_store),
    )
    dst_loc = run.sides.dst

    def options_for(action: Action) -> dict[str, Any]:
        options = run.hooks.transfer_options(action, dst_loc, run.config)
        if dst_loc.is_s3 and options:
            from fssync.stores.s3.meta import options_problem

            problem = options_problem(options, f"{action.key}: transfer option")
            if problem:  # never sent: it would end a header early (header injection)
                raise Abort(UsageError(problem))
        return options

    return await run_transfers(
        src_store, dst_store, actions, options_for, run.emit, settings, keep=keep
    )


def pace(run: Run, src: Store, dst: Store) -> Callable[[int], Any] | None:
    """The --bwlimit budget: bytes written to a remote are up, bytes read from one down
    (both for remote to remote); a local-to-local run counts as up."""
    from fssync.transfer.bandwidth import Throttle

    def changed(rate: Any, slot: Any) -> None:
        run.emit(Event("bwlimit", {"rate": rate.describe(), "from": slot.minute}))

    throttle = Throttle.from_text(run.config.get("bwlimit"), changed)
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


async def clear_the_way(
    run: Run, plan: Plan, dst_store: Store, src: Listing, dst: Listing, keep: Keep | None
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
    held = hold_deletes(run, plan, [], src, dst)
    if held:
        return [], deletes  # the writes fail as before; the deletions are held after them
    now = [a for a in deletes if a.key in early]
    outcomes = await run_deletes(dst_store, now, run.emit, keep, run.config.transfers)
    if all(o.ok for o in outcomes):
        for key in sorted(folders):
            await dst_store.remove_empty_folder(key)
    return outcomes, [a for a in deletes if a.key not in early]


async def open_backups(run: Run, dst_store: Store) -> backup.Backups | None:
    """Where replaced and deleted files are kept (--backup-dir, --suffix), if anywhere."""
    suffix = str(run.config.get("suffix") or "")
    keep_ext = bool(run.config.get("suffix_keep_extension"))
    if run.backup_dir is not None:
        store = await run._open(run.backup_dir, is_source=False)
        return backup.Backups(store, suffix, keep_ext)
    if suffix:
        return backup.Backups(dst_store, suffix, keep_ext)
    return None


def hold_deletes(
    run: Run, plan: Plan, outcomes: list[Outcome], src: Listing, dst: Listing
) -> str | None:
    if run.cutoff is not None and run.cutoff.reached:
        return f"the --{run.cutoff.reached} limit was reached"
    if src.errors or dst.errors:
        return "a listing was incomplete"
    if any(not o.ok for o in outcomes):
        return "some transfers failed"
    return deletes_over_limit(len(plan.deletes), len(dst.entries), run.config.get("max_delete"))
