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
    TransferJob,
    UnreachableError,
    UsageError,
    batches,
    run_batch,
)

CONNECT_TIMEOUT = 10  # seconds to reach a scheduler before the run stops with exit code 4


class DaskExecutor:
    """Dask's own (synchronous) client runs in its own thread; the run's event loop waits for
    each batch in a worker thread of its own and replays the batch's events as it lands."""

    name = "dask"

    def __init__(self, *, scheduler: str | None, workers: int | None, batch: int) -> None:
        self.scheduler = scheduler
        self.workers = workers
        self.batch = batch
        self._cluster: Any = None
        self._client: Any = None

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
        """Submit every batch, then pass on each result as it lands. A result taken is
        released at once, so a worker lost later does not run that batch again."""
        from distributed import as_completed

        client = self._client
        sealed = Sealed(job.config)
        run = uuid.uuid4().hex[:8]
        futures = [
            client.submit(run_batch, sealed, batch, key=f"fssync-{run}-{n}", pure=False)
            for n, batch in enumerate(work)
        ]
        pending = as_completed(futures)
        del futures
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

    async def close(self) -> None:
        await asyncio.to_thread(self._disconnect)

    def _disconnect(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
