"""The lock a two-way run takes on each side, so two runs never work on the same folder or
prefix at once, even from two machines that share it (a NAS, a team bucket).

The lock is a small file, ``.fssync-bisync.lock``, at the root of each side, created only if
absent: ``O_EXCL`` on a local disk, a PUT with ``If-None-Match: *`` on S3. It holds the
holder's pid, host, start time and the time it was last refreshed; the holder refreshes it
every minute. A lock is stale, and taken over, when its holder ran on this host and its
process is gone, or when it was not refreshed for ten minutes (a machine that crashed or lost
the network). The state folder's ``flock`` (`fssync.state.locks.pair_lock`) still guards runs on
one machine, and is never stale.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import time
from collections.abc import Callable

import attrs

from fssync.model import Event
from fssync.state.locks import LockedError
from fssync.stores import Store

LOCK_KEY = ".fssync-bisync.lock"
REFRESH_SECONDS = 60.0
STALE_SECONDS = 600.0  # not refreshed for this long: its holder is gone


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@attrs.frozen
class Holder:
    """Who holds a side's lock, as written in the lock file."""

    pid: int
    host: str
    since: float
    refreshed: float
    token: str  # tells this run's lock from another's with the same pid and host

    @classmethod
    def me(cls, now: float) -> Holder:
        return cls(os.getpid(), socket.gethostname(), now, now, secrets.token_hex(8))

    def encode(self) -> bytes:
        return json.dumps(attrs.asdict(self), sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> Holder | None:
        try:
            d = json.loads(data)
            return cls(
                int(d["pid"]),
                str(d["host"]),
                float(d["since"]),
                float(d["refreshed"]),
                str(d["token"]),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {_utc(self.since)}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def stale(holder: Holder, now: float, host: str, alive: Callable[[int], bool] = _alive) -> str:
    """Why a lock may be taken over ("" when it may not): its holder ran here and is gone, or
    it was not refreshed for STALE_SECONDS."""
    if holder.host == host and not alive(holder.pid):
        return f"its process {holder.pid} on this host is gone"
    if now - holder.refreshed > STALE_SECONDS:
        return f"not refreshed since {_utc(holder.refreshed)}"
    return ""


class SideLocks:
    """The locks of one run on its sides, taken in order and released in reverse."""

    def __init__(self, emit: Callable[[Event], None], wait: float = 0.0) -> None:
        self.emit = emit
        self.wait = wait
        self.me = Holder.me(time.time())
        self.held: list[Store] = []
        self._beat: asyncio.Task[None] | None = None

    async def acquire(self, stores: list[Store]) -> None:
        try:
            for store in stores:
                if store.features.exclusive_create:
                    await self._take(store)
                    self.held.append(store)
        except BaseException:
            await self.release()
            raise
        if self.held:
            self._beat = asyncio.ensure_future(self._heartbeat())

    async def _take(self, store: Store) -> None:
        deadline = time.monotonic() + self.wait
        where = store.location.display(LOCK_KEY)
        for _ in range(1000):
            if await store.create_only(LOCK_KEY, self.me.encode()):
                # A server that ignores the condition let both writes in; the last one holds.
                back = await store.read_small(LOCK_KEY)
                mine = back is not None and Holder.decode(back) == self.me
                if mine:
                    return
                found = back
            else:
                found = await store.read_small(LOCK_KEY)
                if found is None:
                    continue  # released in between: try again
            other = Holder.decode(found or b"")
            if other is None:
                raise LockedError(
                    f"the lock {where} cannot be read; if no fssync bisync is running on "
                    "this pair, delete it and run again"
                )
            why = stale(other, time.time(), socket.gethostname())
            if why:
                if await store.read_small(LOCK_KEY) == found:  # not taken over meanwhile
                    self.emit(
                        Event(
                            "lock_stale",
                            {"lock": where, "holder": other.describe(), "reason": why},
                        )
                    )
                    await store.delete([LOCK_KEY])
                continue
            if time.monotonic() >= deadline:
                raise LockedError(
                    f"another fssync bisync ({other.describe()}) holds the lock {where}; "
                    "wait for it to finish, or pass --lock-wait SECONDS to wait (a lock not "
                    f"refreshed for {int(STALE_SECONDS // 60)} minutes is taken over)"
                )
            await asyncio.sleep(0.5)
        raise LockedError(f"the lock {where} changes hands too often; try again later")

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            self.me = attrs.evolve(self.me, refreshed=time.time())
            for store in self.held:
                try:
                    found = await store.read_small(LOCK_KEY)
                    if found is not None and _token(found) == self.me.token:
                        await store.replace_small(LOCK_KEY, self.me.encode())
                    else:
                        self.emit(
                            Event(
                                "error",
                                {
                                    "key": LOCK_KEY,
                                    "error": f"{store.location.url}: this run's lock was "
                                    "taken over (stale); finishing what is under way",
                                },
                            )
                        )
                except Exception as exc:  # noqa: BLE001 - refreshed again next minute
                    self.emit(Event("error", {"key": LOCK_KEY, "error": f"lock refresh: {exc}"}))

    async def release(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
            self._beat = None
        for store in reversed(self.held):
            try:
                found = await store.read_small(LOCK_KEY)
                if found is not None and _token(found) == self.me.token:
                    await store.delete([LOCK_KEY])
            except Exception:  # noqa: BLE001 - a lock left behind goes stale; the result matters
                pass
        self.held.clear()


def _token(data: bytes) -> str | None:
    holder = Holder.decode(data)
    return holder.token if holder else None
