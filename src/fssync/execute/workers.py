"""What a worker process keeps of one run between that run's tasks.

A task of a distributed run (plan a shard, write a batch, delete a batch) used to build
everything afresh: the plugin manager, the run's options and remotes, an event loop, and both
stores, whose connection pools and credentials cost far more than most batches (an S3 client
over botocore takes about 70 ms of CPU to make). Here they are made once per run in each worker
process and kept, with their own event loop in a thread, until the driver releases the run
(`release`, when the run ends) or newer runs push it out (`KEEP`), so that a driver that died
never leaves a worker holding connections for good.

A run is known by `fssync.execute.executors.Sealed.key`: a random name the driver draws for the run,
and a digest of its options, so two runs never share what one opened. Each task's events are
collected apart (a context variable names the task's list), so tasks of one run on one worker
may overlap.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from fssync.model import Event
from fssync.settings.config import Config

if TYPE_CHECKING:
    from fssync.engine import Run
    from fssync.execute.executors import Sealed
    from fssync.stores import Store

T = TypeVar("T")

KEEP = 4  # runs kept by one worker process at once; the least recently used goes first
CLOSE_WAIT = 30.0  # seconds a released run's stores get to close

_SINK: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar(
    "fssync_worker_events", default=None
)
_RUNS: OrderedDict[str, WorkerRun] = OrderedDict()
_LOCK = threading.Lock()


def _collect(event: Event) -> None:
    """A worker's runs emit here: into the list of the task that made the event."""
    sink = _SINK.get()
    if sink is not None:
        sink.append(event)


class WorkerRun:
    """One run's plugins, options and stores in this process, and the event loop that owns
    the stores (a thread of its own: stores are bound to the loop that opened them)."""

    def __init__(self, key: str, config: Config) -> None:
        from fssync.hooks.manager import make_hooks

        self.key = key
        self.config = config
        self.hooks = make_hooks(ambient=False)
        self.hooks.configure(config)
        self.run = self.fresh(state=True)
        self._pair: tuple[Store, Store] | None = None
        self._opening: asyncio.Lock | None = None
        self.loop = asyncio.new_event_loop()
        # as the engine's own loop: enough threads for the transfers' file work
        self._pool = concurrent.futures.ThreadPoolExecutor(max(4, config.transfers + 2))
        self.loop.set_default_executor(self._pool)
        self._thread = threading.Thread(
            target=self.loop.run_forever, name=f"fssync-run-{key[:8]}", daemon=True
        )
        self._thread.start()

    def fresh(self, *, state: bool) -> Run:
        """A Run over the kept plugins (cheap: no plugin is loaded again), emitting into the
        current task's events; without `state`, it reads no state records (a worker's are
        per machine and may be stale)."""
        from fssync.engine import Run

        run = Run(self.config, self.hooks)
        run.emit = _collect  # type: ignore[method-assign]
        if not state:
            run.state = None
        return run

    async def stores(self) -> tuple[Store, Store]:
        """Both stores of the run, opened by its first task that needs them, then kept."""
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._pair is None:
                self._pair = await self.run.open_pair()
        return self._pair

    def call(self, work: Callable[[WorkerRun], Awaitable[T]], events: list[Event]) -> T:
        """Run `work(self)` on the run's loop and wait for it (from the task's own thread),
        its events put in `events` (also those made before it failed)."""

        async def go() -> T:
            _SINK.set(events)
            return await work(self)

        return asyncio.run_coroutine_threadsafe(go(), self.loop).result()

    async def _close(self) -> None:
        pair, self._pair = self._pair, None
        if pair is not None:
            await asyncio.gather(*(s.close() for s in pair), return_exceptions=True)

    def close(self) -> None:
        """Close the stores on the loop, then stop the loop and its threads."""
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(CLOSE_WAIT)
        except Exception:  # noqa: BLE001, S110 - a store that cannot close is dropped anyway
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(CLOSE_WAIT)
        if not self.loop.is_running():
            self.loop.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def for_run(sealed: Sealed) -> WorkerRun:
    """The kept run of `sealed`, made by the first task of that run in this process."""
    key = sealed.key
    with _LOCK:
        found = _RUNS.get(key)
        if found is not None:
            _RUNS.move_to_end(key)
            return found
    made = WorkerRun(key, sealed.open())  # outside the lock: plugins load, which may take time
    with _LOCK:
        found = _RUNS.get(key)
        if found is None:
            _RUNS[key] = found = made
            made = None  # type: ignore[assignment]
        old = [_RUNS.popitem(last=False)[1] for _ in range(max(0, len(_RUNS) - KEEP))]
    if made is not None:
        made.close()  # another task of the run made it first
    for gone in old:
        gone.close()
    return found


def release(key: str) -> bool:
    """Close and forget the run `key` in this process (the driver calls it on every worker at
    the end of the run); whether it was kept here."""
    with _LOCK:
        found = _RUNS.pop(key, None)
    if found is not None:
        found.close()
    return found is not None


def kept() -> tuple[str, ...]:
    """The runs this process keeps, oldest first."""
    with _LOCK:
        return tuple(_RUNS)
