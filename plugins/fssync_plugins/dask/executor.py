"""The Dask executor: a client to a scheduler (or a local cluster made for the run), and one task
per batch of transfers, whose outcomes and events come back to the driver as each finishes."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

from fssync import (
    BatchResult,
    Event,
    Outcome,
    Sealed,
    ShardCounts,
    ShardJob,
    TransferJob,
    UnreachableError,
    UsageError,
    batches,
    plan_shard,
    release_run,
    run_batch,
    run_slices,
    shard_counts,
)

_DONE = object()  # the end of a stream of results
CONNECT_TIMEOUT = 10  # seconds to reach a scheduler before the run stops with exit code 4
# Planning tasks per worker thread: shards are planned several to a task (a Dask task costs the
# same for one folder as for ten), with enough tasks left to keep every thread busy.
PLAN_TASKS_PER_THREAD = 4


def plan_group(
    sealed: Sealed, shards: tuple[Any, ...], every: int, copy: str | None = None
) -> tuple[Any, ...]:
    """Plan several shards in one task, cut in slices of `every` actions; their plans stay on
    the worker, together. Run again because the worker that held them was lost, it answers
    with their copy (`copy`, kept on another worker) when there is one: plans made again from
    new listings would not count what the lost worker had written."""
    if copy is not None:
        kept = _kept_copy(copy)
        if kept is not None:
            return kept
    return tuple(plan_shard(sealed, shard, every) for shard in shards)


def _kept_copy(key: str) -> tuple[Any, ...] | None:
    """The plans kept under `key` on some worker, or None (the first run: no copy yet)."""
    from distributed import Future, get_client, secede

    client = get_client()
    if not client.who_has([key]).get(key):
        return None
    secede()  # waiting for the copy holds no worker thread
    return Future(key, client).result()  # type: ignore[no-any-return]


def copy_of(plans: tuple[Any, ...]) -> tuple[Any, ...]:
    """The same plans under a key of their own, on another worker."""
    return plans


def group_counts(plans: tuple[Any, ...]) -> tuple[ShardCounts, ...]:
    """The counts of a group's plans alone, sent to the driver while the plans stay."""
    return tuple(shard_counts(plan) for plan in plans)


Pick = tuple[int, int, Any]  # (planning group, shard in it, key span of a slice)


def run_picked(
    sealed: Sealed, groups: list[tuple[Any, ...]], picks: list[Pick], part: str
) -> BatchResult:
    """One batch of slices of kept plans."""
    plans = [groups[g][n] for g, n, _ in picks]
    return run_slices(sealed, plans, [span for _, _, span in picks], part)


def grouped(shards: tuple[Any, ...], threads: int) -> list[tuple[Any, ...]]:
    """The shards cut, in order, in about `PLAN_TASKS_PER_THREAD` groups per thread."""
    tasks = max(1, min(len(shards), PLAN_TASKS_PER_THREAD * max(1, threads)))
    size = -(-len(shards) // tasks)
    return [shards[i : i + size] for i in range(0, len(shards), size)]


class DaskExecutor:
    """Dask's own (synchronous) client runs in its own thread; the run's event loop waits for
    each batch in a worker thread of its own and replays the batch's events as it lands."""

    name = "dask"

    def __init__(
        self, *, scheduler: str | None, workers: int | None, batch: int, sharded: bool = True
    ) -> None:
        self.scheduler = scheduler
        self.workers = workers
        self.batch = batch
        self.sharded = sharded  # the workers list and plan their shards too
        self._cluster: Any = None
        self._client: Any = None
        self._plans: list[Any] = []  # phase one's futures: plans of groups of shards, kept
        self._counts: dict[Any, ShardCounts] = {}
        self._where: dict[Any, tuple[int, int]] = {}  # shard -> (its planning group, place)
        self._copies: list[Any] = []  # each group's plans kept on a second worker
        self._sealed: Sealed | None = None
        self._keys: list[str] = []  # the runs the workers keep stores for, released at close
        self._run = ""

    async def start(self) -> None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UsageError(
                "--executor dask needs Dask distributed: pip install 'fssync[dask]'"
            ) from None
        await asyncio.to_thread(self._connect)

    def _connect(self) -> None:
        from distributed import Client, LocalCluster

        if self.scheduler is None:
            self._cluster = LocalCluster(
                n_workers=self.workers,
                processes=True,
                threads_per_worker=1,
                dashboard_address=None,
                host="127.0.0.1",
            )
            self._client = Client(self._cluster)
            return
        try:
            self._client = Client(self.scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UnreachableError(
                f"--scheduler {self.scheduler}: cannot reach the Dask scheduler ({reason}); "
                "check that `dask scheduler` runs there and the port is open"
            ) from None

    async def transfer(self, job: TransferJob) -> list[Outcome]:
        work = batches(job.actions, self.batch)
        fields = {"name": self.name, "tasks": len(work), "files": len(job.actions)}
        job.emit(Event("executor", fields))
        loop = asyncio.get_running_loop()
        landed: asyncio.Queue[BatchResult | BaseException | None] = asyncio.Queue()

        def put(item: BatchResult | BaseException | None) -> None:
            loop.call_soon_threadsafe(landed.put_nowait, item)

        stop = threading.Event()
        waiting = asyncio.create_task(asyncio.to_thread(self._gather, work, job, put, stop))
        outcomes: list[Outcome] = []
        try:
            while (item := await landed.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                for event in item.events:
                    job.emit(event)
                item.raise_fatal()
                outcomes.extend(item.outcomes)
        finally:
            stop.set()
            await waiting
        return outcomes

    def _gather(
        self,
        work: list[tuple[Any, ...]],
        job: TransferJob,
        put: Any,
        stop: threading.Event,
    ) -> None:
        """Hand each batch's result, or the error that stopped the round, to the run's loop,
        then None; runs in a thread of its own."""
        try:
            self._submit(work, job, put, stop)
        except BaseException as exc:  # noqa: BLE001 - the run's loop raises it
            put(exc)
        finally:
            put(None)

    def _submit(
        self,
        work: list[tuple[Any, ...]],
        job: TransferJob,
        put: Any,
        stop: threading.Event,
    ) -> None:
        """Submit every batch, then pass on each result as it lands."""
        client = self._client
        sealed = self._seal(job.config)
        run = uuid.uuid4().hex[:8]
        futures = [
            client.submit(run_batch, sealed, batch, key=f"fssync-{run}-{n}", pure=False)
            for n, batch in enumerate(work)
        ]
        self._stream(futures, put, stop)

    def _stream(self, futures: list[Any], put: Any, stop: threading.Event) -> None:
        """Pass on each future's result as it lands. A result taken is released at once, so a
        worker lost later does not run that task again."""
        from distributed import as_completed

        client = self._client
        pending = as_completed(futures)
        futures.clear()
        try:
            for future in pending:
                if stop.is_set():
                    break
                try:
                    result = future.result()
                finally:
                    future.release()
                put(result)
        finally:
            left = list(pending.futures)
            if left:
                client.cancel(left)

    # ---------------------------------------------------------------- sharded listing

    async def plan(self, job: ShardJob) -> None:
        """Phase one: the shards listed and planned by the workers, several to a task; the
        plans stay there (Dask futures the driver holds by name), their counts come back, and
        a copy of each is kept on a second worker. A worker lost later makes Dask run that
        group's planning task again, which answers with the copy (`plan_group`)."""
        self._sealed = self._seal(job.config)
        self._run = uuid.uuid4().hex[:8]
        client = self._client
        threads = sum((await asyncio.to_thread(client.nthreads)).values())
        groups = grouped(tuple(job.shards), threads)
        self._plans = [
            client.submit(
                plan_group,
                self._sealed,
                group,
                self.batch,
                f"fssync-{self._run}-copy-{g}",
                key=f"fssync-{self._run}-plan-{g}",
                pure=False,
            )
            for g, group in enumerate(groups)
        ]
        self._where = {
            shard: (g, n) for g, group in enumerate(groups) for n, shard in enumerate(group)
        }
        wanted = [
            client.submit(group_counts, plans, key=f"fssync-{self._run}-counts-{g}")
            for g, plans in enumerate(self._plans)
        ]
        self._counts = {}

        def take(items: tuple[ShardCounts, ...]) -> None:
            for item in items:
                self._counts[item.shard] = item
                job.take(item)

        await self._pump(lambda put, stop: self._stream(wanted, put, stop), take)
        self._copies = await asyncio.to_thread(self._keep_copies)

    def _keep_copies(self) -> list[Any]:
        """A copy of each group's plans on a worker other than the one that made them, so that
        losing one worker loses no plan (with one worker there is nowhere else to keep it)."""
        client = self._client
        workers = list(client.nthreads())
        if len(workers) < 2:
            return []
        holders = client.who_has(self._plans)
        copies = []
        for g, plans in enumerate(self._plans):
            held = set(holders.get(plans.key, ()))
            others = [w for w in workers if w not in held]
            copies.append(
                client.submit(
                    copy_of,
                    plans,
                    key=f"fssync-{self._run}-copy-{g}",
                    workers=others or None,
                    allow_other_workers=not others,
                    pure=False,
                )
            )
        from distributed import wait

        wait(copies)  # in place before any write starts
        return copies

    async def run(self, job: ShardJob, part: str) -> None:
        """Phase two: the kept plans' transfers or deletions, about `batch` files per task: a
        large shard's cut in slices, small shards' slices packed together (a Dask task costs
        the same for 20 files as for 1,000)."""
        tasks: list[list[Pick]] = []
        files = filled = 0
        for shard in job.shards:
            counts = self._counts.get(shard)
            if counts is None or counts.broken is not None:
                continue
            g, n = self._where[shard]
            for span, size in counts.spans(part):
                files += size
                if not tasks or filled + size > self.batch:
                    tasks.append([])
                    filled = 0
                tasks[-1].append((g, n, span))
                filled += size
        fields = {"name": self.name, "part": part, "tasks": len(tasks), "files": files}
        job.take(BatchResult((), (Event("executor", fields),)))
        plans, sealed, client = self._plans, self._sealed, self._client

        def task(t: int, picks: list[Pick]) -> Any:
            used = sorted({g for g, _, _ in picks})
            local = {g: i for i, g in enumerate(used)}
            return client.submit(
                run_picked,
                sealed,
                [plans[g] for g in used],  # Dask hands the task the kept plans
                [(local[g], n, span) for g, n, span in picks],
                part,
                key=f"fssync-{self._run}-{part}-{t}",
                pure=False,
            )

        def submit(put: Any, stop: threading.Event) -> None:
            self._stream([task(t, picks) for t, picks in enumerate(tasks)], put, stop)

        await self._pump(submit, job.take)

    async def _pump(self, submit: Any, take: Any) -> None:
        """Run `submit(put, stop)` in a thread of its own and hand each result to `take` in
        the run's loop as it lands; an error raised there stops the rest."""
        loop = asyncio.get_running_loop()
        landed: asyncio.Queue[Any] = asyncio.Queue()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(landed.put_nowait, item)

        stop = threading.Event()

        def work() -> None:
            try:
                submit(put, stop)
            except BaseException as exc:  # noqa: BLE001 - the run's loop raises it
                put(exc)
            finally:
                put(_DONE)

        waiting = asyncio.create_task(asyncio.to_thread(work))
        try:
            while (item := await landed.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                take(item)
        finally:
            stop.set()
            await waiting

    def _seal(self, config: Any) -> Sealed:
        """The run's config sealed once: every task of the run carries the same key, under
        which each worker keeps the run's plugins and open stores (`fssync.execute.workers`)."""
        if self._sealed is None or self._sealed.open() is not config:
            self._sealed = Sealed(config)
            self._keys.append(self._sealed.key)
        return self._sealed

    async def close(self) -> None:
        self._plans = []
        self._copies = []
        await asyncio.to_thread(self._disconnect)

    def _disconnect(self) -> None:
        if self._client is not None:
            for key in self._keys:  # the stores each worker kept for the run
                try:
                    self._client.run(release_run, key, on_error="ignore")
                except Exception:  # noqa: BLE001, S110 - a worker that is gone keeps nothing
                    pass
            self._keys = []
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
