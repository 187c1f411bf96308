"""The run's event loop: one fresh loop per run, its default thread pool sized to the
transfers, Ctrl-C handled (`interrupts`), and what the run leaves behind given a bounded
time to finish."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fssync.settings.config import Config


def run_loop(fn: Callable[[], Any], config: Config) -> Any:
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
            settle(loop, LEFTOVER_WAIT)
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


def settle(loop: asyncio.AbstractEventLoop, timeout: float) -> None:
    """Cancel the tasks still pending on `loop` and wait at most `timeout` for them."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.wait(pending, timeout=timeout))
