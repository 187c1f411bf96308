"""Carry out one two-way sync: list both sides, decide per path, check the safety rules,
then change each path and record it as it lands. Decides nothing itself (decide.py does)."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from fssync.content.integrity import Verified
from fssync.diagnose import stop_reason
from fssync.engine import Run
from fssync.errors import ExitCode, FatalError, FssyncError, UsageError
from fssync.execute.loop import run_loop
from fssync.hooks.manager import Hooks
from fssync.model import Action, Entry, Event, Failure, Kind, Report
from fssync.planning.decide import Policy, deletes_over_limit
from fssync.report.tally import Tally
from fssync.settings.config import Config
from fssync.settings.location import Location
from fssync.stores import Listing, Store
from fssync.transfer.actions import Abort, Keep, TransferSettings, run_deletes, run_transfers
from fssync.transfer.backup import Backups
from fssync.twoway.decide import (
    Change,
    Decision,
    Op,
    Record,
    Rename,
    Resolution,
    change,
    conflict_name,
    decide,
    edited_on_both,
    find_renames,
    proven_same,
    resolve,
    resolve_first_run,
)
from fssync.twoway.lock import LOCK_KEY, SideLocks
from fssync.twoway.state import PairState

CHECK_FILE = ".fssync-check"
# Records of a side whose listing gives no exact mtime are matched by ETag; times from the
# same store may still be rounded: this much difference is never a change.
MIN_WINDOW = 0.001


_DELETES = (Op.DELETE_A, Op.DELETE_B)

_SIGILS = {
    Op.COPY_AB: ">",
    Op.COPY_BA: "<",
    Op.DELETE_A: "-",
    Op.DELETE_B: "-",
    Op.CONFLICT: "!",
    Op.RECORD: "=",
    Op.FORGET: "=",
    Op.NOTHING: " ",
}


class DeletesRefused(FssyncError):
    """--max-delete: more deletions than allowed; nothing was changed."""

    exit_code = ExitCode.PARTIAL


@attrs.frozen
class Conflict:
    key: str
    reason: str
    winner: str
    kept_as: str | None

    def line(self) -> str:
        loser = "B" if self.winner == "a" else "A"
        if self.kept_as:
            return (
                f"conflict {self.key}: {self.reason}; A's and B's versions differ; "
                f"{self.winner.upper()}'s keeps the name, {loser}'s is kept as {self.kept_as}"
            )
        return (
            f"conflict {self.key}: {self.reason}; {self.winner.upper()}'s version won, "
            f"{loser}'s edit was overwritten"
        )


def state_folder(config: Config) -> Path:
    given = config.get("state_dir")
    if given:
        return Path(str(given))
    from fssync.state.db import default_path

    return default_path().parent


class Bisync:
    """One two-way run over the one-way Run's stores, listings and transfers."""

    def __init__(self, config: Config, hooks: Hooks, tally: Tally) -> None:
        self.config = config
        self.hooks = hooks
        self.run = Run(config, hooks, tally)  # A is its src, B its dst
        self.a_loc, self.b_loc = self.run.sides.src, self.run.sides.dst
        self.conflicts: list[Conflict] = []
        # Failures no transfer or delete event carries (a path changed during the run, a
        # conflict copy not kept); the rest of the report comes from the tally of the events.
        self.failures: list[Failure] = []
        self.stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        self._taken: set[str] = set()  # conflict names given out by this run
        self.keep: dict[str, Keep | None] = {"a": None, "b": None}  # --backup-dir, per side
        self._pace_for: dict[str, Any] = {}  # --bwlimit, by the side read from
        self.left = 0  # paths left for the next run by --max-transfer / --max-duration
        self.unchanged = 0

    def emit(self, event: Event) -> None:
        self.run.emit(event)

    async def execute(self) -> Report:
        run = self.run
        a_store = await run._open(self.a_loc, is_source=False)
        try:
            b_store = await run._open(self.b_loc, is_source=False)
        except BaseException:
            await a_store.close()
            raise
        locks = SideLocks(self.emit, float(self.config.get("lock_wait", 0) or 0))
        if not self.config.dry_run:
            try:
                await locks.acquire([a_store, b_store])
            except BaseException:
                await asyncio.gather(a_store.close(), b_store.close())
                raise
        state: PairState | None = None
        kept: list[Store] = []
        try:
            state = PairState(state_folder(self.config), self.a_loc.url, self.b_loc.url)
            suffix, keep_ext = self._suffix()
            if not self.config.dry_run:
                for side, store in (("a", a_store), ("b", b_store)):
                    if run.backup_dir is not None:
                        where = await run._open(self._backup_location(side), is_source=False)
                        kept.append(where)
                    elif suffix:
                        where = store  # kept beside itself, on its own side
                    else:
                        continue
                    keeper = Backups(where, suffix, keep_ext)
                    self.keep[side] = functools.partial(keeper.keep, store)
            self._pace_for = self._paces(a_store, b_store)
            return await self._execute(a_store, b_store, state)
        finally:
            if state is not None:
                state.close()
            await locks.release()
            await asyncio.gather(a_store.close(), b_store.close(), *(k.close() for k in kept))

    def _suffix(self) -> tuple[str, bool]:
        return str(self.config.get("suffix") or ""), bool(self.config.get("suffix_keep_extension"))

    def _paces(self, a_store: Store, b_store: Store) -> dict[str, Any]:
        """--bwlimit: one budget for the run; bytes written to a remote side are up, bytes
        read from one down; between two local folders, up."""
        from fssync.transfer.bandwidth import Throttle

        def changed(rate: Any, slot: Any) -> None:
            self.emit(Event("bwlimit", {"rate": rate.describe(), "from": slot.minute}))

        throttle = Throttle.from_text(self.config.get("bwlimit"), changed)
        if throttle is None:
            return {}
        remote = {"a": not a_store.location.is_local, "b": not b_store.location.is_local}
        out = {}
        for frm, to in (("a", "b"), ("b", "a")):
            ways = tuple(w for w, r in (("up", remote[to]), ("down", remote[frm])) if r)
            out[frm] = functools.partial(throttle.take, ways or ("up",))
        return out

    def _cut_off(self) -> bool:
        """Whether --max-transfer or --max-duration was reached: what is not started yet is
        left for the next run (counted), deletions included."""
        cutoff = self.run.cutoff
        if cutoff is None:
            return False
        if cutoff.reached is None:
            left = cutoff.remaining()
            if left is not None and left <= 0:
                cutoff.expire()
        if cutoff.reached is not None:
            self.left += 1
            return True
        return False

    def _backup_location(self, side: str) -> Location:
        """--backup-dir URL: what is replaced or deleted on A is kept under URL/a, on B under
        URL/b, at the same paths."""
        from fssync.settings.location import parse
        from fssync.settings.options import plugin_option_names
        from fssync.settings.remotes import load_remotes

        base = str(self.config.get("backup_dir")).rstrip("/")
        return parse(f"{base}/{side}", load_remotes(self.config, plugin_option_names(self.hooks)))

    async def _list(self, store: Store) -> Listing:
        listing = await self.run._list(store)
        if listing.errors:
            raise FatalError(
                f"{store.location.url}: the listing was incomplete "
                f"({len(listing.errors)} unreadable); nothing was changed on either side"
            )
        return listing

    async def _execute(self, a_store: Store, b_store: Store, state: PairState) -> Report:
        config = self.config
        a, b = await asyncio.gather(self._list(a_store), self._list(b_store))
        if config.get("check_access"):
            name = str(config.get("check_access_file") or CHECK_FILE)
            for side, listing in (("A", a), ("B", b)):
                if name not in listing.entries:
                    raise FatalError(
                        f"--check-access: {name!r} is missing on {side} "
                        f"({listing and (a_store if side == 'A' else b_store).location.url}); "
                        "nothing was changed (an unmounted disk or a wrong path looks like "
                        "every file deleted); create the file on both sides to start"
                    )
        mode = self.hooks.compare_mode(config.compare)
        compare = mode.function
        if mode.needs_hashes:
            a, b = await self.run._hash(a_store, b_store, a, b, False)
        first = not state.known()
        a_files, b_files = dict(a.entries), dict(b.entries)
        for listed in (a_files, b_files):
            listed.pop(LOCK_KEY, None)  # this run's own lock, never synced
        suffix, keep_ext = self._suffix()
        excluded: set[str] = set()
        if suffix and self.run.backup_dir is None:
            from fssync.transfer.backup import is_backup_name

            # what --suffix kept beside its file stays on its side, alone and unrecorded
            for listed in (a_files, b_files):
                for key in [k for k in listed if is_backup_name(k, suffix, keep_ext)]:
                    del listed[key]
                    excluded.add(key)
        # Filters apply to both sides; a path newly excluded is left alone and forgotten.
        accept = self.hooks.key_filter(config, a_files, b_files)
        policy = Policy(
            src_caps=self.a_loc.capabilities,
            dst_caps=self.b_loc.capabilities,
            modify_window=self.run._modify_window,
        )

        window = max(policy.mtime_window, MIN_WINDOW)

        def same(x: Entry, y: Entry) -> bool:
            if config.compare in ("size-mtime", "update"):
                return proven_same(x, y, window)
            return compare(x, y, policy) is None

        def same_content(x: Entry, y: Entry) -> bool:
            if config.compare in ("size-mtime", "update"):
                return proven_same(x, y, window, by_time=False)
            return compare(x, y, policy) is None

        win_a = max(self.a_loc.capabilities.mtime_window, self.run._modify_window, MIN_WINDOW)
        win_b = max(self.b_loc.capabilities.mtime_window, self.run._modify_window, MIN_WINDOW)
        decisions: dict[str, Decision] = {}
        gone: list[str] = []  # recorded paths newly excluded: forgotten
        deleted: dict[str, tuple[Record, Record]] = {}  # for finding renames
        listed_keys = sorted(a_files.keys() | b_files.keys())
        for key, ra, rb in _union(listed_keys, state.pairs()):
            if key in excluded:
                if ra is not None or rb is not None:
                    gone.append(key)
                continue
            ea, eb = a_files.get(key), b_files.get(key)
            if accept is not None:
                verdict = accept(key, ea, eb)
                if verdict is not None and not verdict[0]:
                    a_files.pop(key, None)
                    b_files.pop(key, None)
                    if ra is not None or rb is not None:
                        gone.append(key)
                    continue
            if ra is None or rb is None:
                ra = rb = None  # half a record is no record
            ca = change(ra, ea, win_a, config.compare)
            cb = change(rb, eb, win_b, config.compare)
            decision = decide(
                ca, cb, ea, eb, same_content if edited_on_both(ca, cb, first) else same
            )
            # A path without a record is never deleted (the table has no such row): a first
            # run, or a path a filter newly includes, only merges. A first run that was cut
            # short leaves records for what it did, and those paths are synced as any other.
            if decision.op is Op.NOTHING:
                self.unchanged += 1
            else:
                decisions[key] = decision
                if ra is not None and rb is not None and decision.op in _DELETES:
                    deleted[key] = (ra, rb)
        if gone and not config.dry_run:
            state.forget(gone)
        records = {
            "a": {k: r[0] for k, r in deleted.items()},
            "b": {k: r[1] for k, r in deleted.items()},
        }
        # Both sides changed to the same size: read the hashes (local files, S3 ETags) before
        # calling it a conflict, so equal content is recorded, not copied.
        doubt = [
            k
            for k, dd in decisions.items()
            if dd.op is Op.CONFLICT and a_files[k].size == b_files[k].size
        ]
        if doubt:
            from fssync.content.checksums import add_hashes

            ha, hb, _ = await add_hashes(
                a_store,
                b_store,
                {k: a_files[k] for k in doubt},
                {k: b_files[k] for k in doubt},
                None,
            )
            for k in doubt:
                strict = edited_on_both(decisions[k].a, decisions[k].b, first)
                if proven_same(ha[k], hb[k], window, by_time=not strict):
                    dd = decisions[k]
                    decisions[k] = Decision(Op.RECORD, "same content on both sides", dd.a, dd.b)
        both = {"a": a_files, "b": b_files}
        renames = await _proven(
            find_renames(decisions, records, both, {"a": win_a, "b": win_b}),
            {"a": a_store, "b": b_store},
            both,
        )
        for r in renames:  # carried over as one move, not a deletion and a copy
            del decisions[r.old], decisions[r.new]
        del_a = sum(1 for d in decisions.values() if d.op is Op.DELETE_A)
        del_b = sum(1 for d in decisions.values() if d.op is Op.DELETE_B)
        limit = str(config.get("max_delete") or "50%")
        for side, n, files in (("A", del_a, len(a_files)), ("B", del_b, len(b_files))):
            held = deletes_over_limit(n, files, limit)  # a side still holds what it would lose
            if held:
                raise DeletesRefused(
                    f"{held} on {side} (of {files} files); nothing was changed on either "
                    "side; pass a higher --max-delete (e.g. 100%) if these deletions are meant"
                )
        self.emit(
            Event("plan", _plan_fields(decisions, renames, both, self.unchanged, len(gone), first))
        )
        if config.dry_run:
            for key in sorted(decisions):
                d = decisions[key]
                fields = {"kind": d.op.value, "sigil": _SIGILS[d.op], "key": key}
                self.emit(Event("would", {**fields, "reason": d.reason}))
            for r in renames:
                fields = {"kind": "rename", "sigil": ">" if r.side == "a" else "<", "key": r.new}
                why = f"renamed from {r.old} on {r.side.upper()}"
                self.emit(Event("would", {**fields, "reason": why}))
            return self._report(dry_run=True)
        from fssync.state import leftovers

        # What a killed run left (temporary files, multipart uploads) goes first, on both sides.
        await leftovers.clean(a_store, a.leftovers, self.emit)
        await leftovers.clean(b_store, b.leftovers, self.emit)
        try:
            await self._carry_out(
                decisions, renames, a_store, b_store, a_files, b_files, state, first
            )
        finally:
            await leftovers.sweep(a_store, self.emit)
            await leftovers.sweep(b_store, self.emit)
        state.mark_known()
        return self._report(dry_run=False)

    # -- carrying the decisions out ------------------------------------------------------

    def _settings(self, frm: str) -> TransferSettings:
        # one file at a time, in one pass
        retry = attrs.evolve(self.run._retry_policy(), passes=0)
        return TransferSettings(
            transfers=1,
            retry=retry,
            cutoff=self.run.cutoff,
            pace=self._pace_for.get(frm),
        )

    async def _carry_out(
        self,
        decisions: Mapping[str, Decision],
        renames: list[Rename],
        a_store: Store,
        b_store: Store,
        a_files: Mapping[str, Entry],
        b_files: Mapping[str, Entry],
        state: PairState,
        first: bool,
    ) -> None:
        stores = {"a": a_store, "b": b_store}
        files = {"a": a_files, "b": b_files}
        records = []
        slots = asyncio.Semaphore(max(1, self.config.transfers))
        deletes: dict[str, list[str]] = {"a": [], "b": []}
        forget: list[str] = []
        work = [self._rename(r, stores, files, state) for r in renames]
        for key, d in sorted(decisions.items()):
            if d.op is Op.RECORD:
                records.append((key, Record.of(a_files[key]), Record.of(b_files[key])))
            elif d.op is Op.FORGET:
                forget.append(key)
            elif d.op is Op.DELETE_A:
                deletes["a"].append(key)
            elif d.op is Op.DELETE_B:
                deletes["b"].append(key)
            elif d.op in (Op.COPY_AB, Op.COPY_BA):
                frm, to = ("a", "b") if d.op is Op.COPY_AB else ("b", "a")
                work.append(self._copy(key, d.reason, frm, to, stores, files, state))
            elif d.op is Op.CONFLICT:
                work.append(self._conflict(key, d, stores, files, state, first))
        state.put_many(records)
        state.forget(forget)

        async def bounded(job: Any) -> None:
            async with slots:
                await job

        try:
            await asyncio.gather(*(bounded(j) for j in work))
            cutoff = self.run.cutoff
            for side in ("a", "b"):
                if cutoff is not None and cutoff.reached:
                    self.left += len(deletes[side])  # held, as a one-way sync holds them
                elif deletes[side]:
                    await self._deletes(side, deletes[side], stores, files, state)
        except* Abort as group:
            raise group.exceptions[0].error from None  # type: ignore[union-attr]

    async def _unchanged(self, store: Store, key: str, listed: Entry | None) -> bool:
        """Whether the path on the side about to be changed is still as listed (a store that
        cannot be asked, neither a local folder nor S3, is taken at its listing's word)."""
        if not store.location.is_local and not store.features.stat:
            return True
        now = await _stat(store, key)
        if now is None or listed is None:
            return (now is None) == (listed is None)
        if now.size != listed.size:
            return False
        if now.etag and listed.etag:
            return now.etag == listed.etag
        if now.mtime is not None and listed.mtime is not None:
            return abs(now.mtime - listed.mtime) <= MIN_WINDOW
        return True

    def _changed_meanwhile(self, key: str, side: str) -> None:
        why = f"changed on {side.upper()} during the run; left alone for the next run"
        self.failures.append(Failure(key, "changed", why))
        self.emit(Event("error", {"key": key, "error": why}))

    async def _transfer(
        self,
        key: str,
        reason: str,
        frm: str,
        to: str,
        stores: dict[str, Store],
        src: Entry,
        dst: Entry | None,
        kind: Kind | None = None,
    ) -> Entry | None:
        kind = kind or (Kind.UPDATE if dst is not None else Kind.COPY)
        action = Action(kind, key, src, dst, reason)
        to_store = stores[to]

        def options_for(a: Action) -> dict[str, Any]:
            return dict(self.hooks.transfer_options(a, to_store.location, self.config))

        if self._cut_off():
            return None
        outcomes = await run_transfers(
            stores[frm],
            to_store,
            [action],
            options_for,
            self.emit,
            self._settings(frm),
            keep=self.keep[to],
        )
        if not outcomes:  # not started, or stopped in flight, at a limit: for the next run
            self.left += 1
            return None
        [outcome] = outcomes
        if not outcome.ok:
            return None  # the failed event counts it
        return await self._recorded(to_store, key, outcome.written)

    async def _recorded(self, store: Store, key: str, written: Entry | None) -> Entry | None:
        """What the written side holds now, as its next listing will show it."""
        if store.location.is_local or written is None:
            return await _stat(store, key)
        return written

    async def _copy(
        self,
        key: str,
        reason: str,
        frm: str,
        to: str,
        stores: dict[str, Store],
        files: dict[str, Mapping[str, Entry]],
        state: PairState,
    ) -> None:
        src, dst = files[frm][key], files[to].get(key)
        if not await self._unchanged(stores[to], key, dst):
            self._changed_meanwhile(key, to)
            return
        written = await self._transfer(key, reason, frm, to, stores, src, dst)
        if written is None:
            return
        pair = {frm: Record.of(src), to: _same_hash(Record.of(written), src)}
        state.put(key, pair["a"], pair["b"])

    async def _rename(
        self,
        r: Rename,
        stores: dict[str, Store],
        files: dict[str, Mapping[str, Entry]],
        state: PairState,
    ) -> None:
        """Move the other side's file to the new name (server-side where the store can, else
        a copy and a delete), after checking the old one is unchanged and the new name free."""
        frm, to = r.side, "b" if r.side == "a" else "a"
        src, old = files[frm][r.new], files[to][r.old]
        if not await self._unchanged(stores[to], r.old, old):
            self._changed_meanwhile(r.old, to)
            return
        if not await self._unchanged(stores[to], r.new, None):
            self._changed_meanwhile(r.new, to)
            return
        why = f"renamed from {r.old} on {frm.upper()}"
        written = await self._transfer(r.new, why, frm, to, stores, src, old, Kind.MOVE)
        if written is None:
            return
        pair = {frm: Record.of(src), to: _same_hash(Record.of(written), src)}
        state.put(r.new, pair["a"], pair["b"])
        state.forget([r.old])

    async def _conflict(
        self,
        key: str,
        d: Decision,
        stores: dict[str, Store],
        files: dict[str, Mapping[str, Entry]],
        state: PairState,
        first: bool,
    ) -> None:
        if self._cut_off():
            return
        ea, eb = files["a"][key], files["b"][key]
        res = self._resolution(key, ea, eb, first or d.a is Change.NEW)
        w, lo = res.winner, res.loser
        win, lose = files[w][key], files[lo][key]
        if not await self._unchanged(stores[lo], key, lose):
            self._changed_meanwhile(key, lo)
            return
        kept_as = None
        if res.keep_loser:
            kept_as = self._free_name(key, lo, files)
            copied = await _copy_as(stores[lo], lose, stores[lo], kept_as)
            here = await self._recorded(stores[lo], kept_as, copied)
            copied = await _copy_as(stores[lo], lose, stores[w], kept_as)
            there = await self._recorded(stores[w], kept_as, copied)
            if here is None or there is None:
                self.failures.append(Failure(key, "conflict", "the conflict copy was not kept"))
                return
            pair = {lo: Record.of(here), w: Record.of(there)}
            state.put(kept_as, pair["a"], pair["b"])
        written = await self._transfer(key, d.reason, w, lo, stores, win, lose)
        if written is None:
            return
        pair = {w: Record.of(win), lo: _same_hash(Record.of(written), win)}
        state.put(key, pair["a"], pair["b"])
        c = Conflict(key, f"{d.reason} ({res.why})", w, kept_as)
        self.conflicts.append(c)
        self.emit(Event("bisync_conflict", {"key": key, "line": c.line(), "winner": w}))

    def _free_name(self, key: str, side: str, files: dict[str, Mapping[str, Entry]]) -> str:
        """A conflict name that no file on either side, nor this run, has taken."""
        n = 1
        while True:
            name = conflict_name(key, side, self.stamp, n)
            if name not in files["a"] and name not in files["b"] and name not in self._taken:
                self._taken.add(name)
                return name
            n += 1

    def _resolution(self, key: str, ea: Entry, eb: Entry, first: bool) -> Resolution:
        chosen = self.hooks.resolve_conflict(key, ea, eb, self.config)
        if chosen in ("a", "b"):
            return Resolution(str(chosen), False, "a plugin chose")
        if chosen == "keep-both":
            return attrs.evolve(resolve("keep-both", ea, eb), why="a plugin chose keep-both")
        if first:
            return resolve_first_run(str(self.config.get("first_run") or "newer"), ea, eb)
        return resolve(str(self.config.get("conflict") or "keep-both"), ea, eb)

    async def _deletes(
        self,
        side: str,
        keys: list[str],
        stores: dict[str, Store],
        files: dict[str, Mapping[str, Entry]],
        state: PairState,
    ) -> None:
        store = stores[side]
        todo = []
        for key in keys:
            listed = files[side].get(key)
            if not await self._unchanged(store, key, listed):
                self._changed_meanwhile(key, side)
                continue
            todo.append(Action(Kind.DELETE, key, None, listed, "deleted on the other side"))
        outcomes = await run_deletes(store, todo, self.emit, self.keep[side], self.config.transfers)
        state.forget([o.action.key for o in outcomes if o.ok])  # the events count them

    def _report(self, *, dry_run: bool) -> Report:
        """The report from the tally of the run's events, as for a one-way run."""
        error, abort_code = None, None
        cutoff = self.run.cutoff
        if cutoff is not None and cutoff.reached and not dry_run:
            error, abort_code = cutoff.message(self.left), cutoff.exit_code
            self.emit(Event("cutoff", {"limit": cutoff.reached, "message": error}))
        report = self.run.tally.report(
            dry_run=dry_run,
            skipped=self.unchanged,
            excluded=0,
            failures=tuple(self.failures),
            error=error,
            abort_code=abort_code,
        )
        return attrs.evolve(report, conflicts=tuple(c.line() for c in self.conflicts))


def _same_hash(written: Record, src: Entry) -> Record:
    """A checked copy holds the source's content: its record keeps the source's MD5, so a
    later --compare checksum run can tell a same-size edit on either side."""
    if written.md5 is None and src.md5 and written.size == src.size:
        return attrs.evolve(written, md5=src.md5)
    return written


def _plan_fields(
    decisions: Mapping[str, Decision],
    renames: list[Rename],
    files: dict[str, dict[str, Entry]],
    unchanged: int,
    excluded: int,
    first: bool,
) -> dict[str, Any]:
    """The plan event, with the fields a one-way sync's has (the progress display and the
    log reporter read them) and the two-way ones."""
    copy = update = moved = 0
    for key, d in decisions.items():
        if d.op in (Op.COPY_AB, Op.COPY_BA):
            frm, to = ("a", "b") if d.op is Op.COPY_AB else ("b", "a")
            moved += files[frm][key].size
            if key in files[to]:
                update += 1
            else:
                copy += 1
        elif d.op is Op.CONFLICT:
            update += 1
            moved += max(files["a"][key].size, files["b"][key].size)
    return {
        "copy": copy,
        "update": update,
        "delete": sum(1 for d in decisions.values() if d.op in _DELETES),
        "move": len(renames),
        "skip": unchanged,
        "exclude": excluded,
        "bytes": moved,
        "conflict": sum(1 for d in decisions.values() if d.op is Op.CONFLICT),
        "rename": len(renames),
        "first_run": first,
    }


def _union(
    listed: list[str], recorded: Iterator[tuple[str, Record | None, Record | None]]
) -> Iterator[tuple[str, Record | None, Record | None]]:
    """Every path listed on either side (in sorted order) or recorded (in the state's key
    order), once, with its records. A state out of order would make a recorded path look
    both new and deleted: that stops the run instead."""
    last = ""
    rec = next(recorded, None)

    def step() -> tuple[str, Record | None, Record | None] | None:
        nonlocal last
        assert rec is not None
        if rec[0] < last:
            raise FatalError(f"the bisync state is not in key order at {rec[0]!r}")
        last = rec[0]
        return next(recorded, None)

    for key in listed:
        while rec is not None and rec[0] < key:
            yield rec
            rec = step()
        if rec is not None and rec[0] == key:
            yield rec
            rec = step()
        else:
            yield key, None, None
    while rec is not None:
        yield rec
        rec = step()


async def _proven(
    renames: list[Rename], stores: dict[str, Store], files: dict[str, dict[str, Entry]]
) -> list[Rename]:
    """The renames whose new file holds what the other side's old file holds, by MD5 where
    both can be had (a local file is read; an S3 single-part ETag is its MD5); a match by
    size and mtime alone that cannot be proven so is carried over as a deletion and a copy."""
    out = []
    for r in renames:
        other = "b" if r.side == "a" else "a"
        x = await _content_md5(stores[r.side], files[r.side][r.new])
        y = await _content_md5(stores[other], files[other][r.old])
        if (x == y) if (x and y) else r.strong:
            out.append(r)
    return out


async def _content_md5(store: Store, e: Entry) -> str | None:
    if e.md5:
        return e.md5
    if store.location.is_local:
        from fssync.content.hashing import hash_file

        try:
            md5, _ = await asyncio.to_thread(hash_file, store.location.path(e.key))
        except OSError:
            return None
        return md5
    if e.etag and len(e.etag) == 32 and "-" not in e.etag:
        return e.etag
    return None


async def _stat(store: Store, key: str) -> Entry | None:
    """The path as it is now on a store: a local stat, else the store's own (a HEAD)."""
    if store.location.is_local:
        path = os.path.join(store.location.root, *key.split("/"))
        try:
            st = await asyncio.to_thread(os.stat, path)
        except FileNotFoundError:
            return None
        return Entry(key, st.st_size, st.st_mtime_ns / 1e9)
    return await store.stat(key)


async def _copy_as(src: Store, entry: Entry, dst: Store, key: str) -> Entry:
    """Copy `entry` of `src` to `key` on `dst` (a conflict copy: another name)."""
    reader = Verified(await src.open(entry), entry)
    try:
        return await dst.write(attrs.evolve(entry, key=key), reader, {})
    finally:
        await reader.close()


def run_bisync(config: Config, hooks: Hooks) -> Report:
    """One two-way sync, with the pair locked and the reporters told how it ended."""
    from fssync.settings.options import check_combinations
    from fssync.state.locks import pair_lock

    check_combinations(config)
    hooks.configure(config)
    with hooks.session(config):
        tally = Tally()
        try:
            job = Bisync(config, hooks, tally)
            with pair_lock(job.a_loc.url, job.b_loc.url, config, state_folder(config)):
                report: Report = run_loop(job.execute, config)
        except BaseException as exc:
            why, code = stop_reason(exc)
            try:
                hooks.run_finished(tally.stopped(why, code, dry_run=config.dry_run), config)
            except Exception:  # noqa: BLE001 - the error that stopped the run matters more
                pass
            raise
        hooks.run_finished(report, config)
    return report


def check_policies(config: Config) -> None:
    from fssync.twoway.decide import CONFLICT_POLICIES, FIRST_RUN_POLICIES

    for name, allowed in (("conflict", CONFLICT_POLICIES), ("first_run", FIRST_RUN_POLICIES)):
        value = config.get(name)
        if value is not None and value not in allowed:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} {value!r}: choose one of {', '.join(allowed)}")
