"""Ctrl-C during a run: the first stops it cleanly, the second at once.

The first SIGINT cancels the run's main task, so every in-flight transfer unwinds through its
own clean-up (temporary files removed, multipart uploads aborted) and the run reports what it
did. Clean-up can wait on the network; a second SIGINT does not wait for it and ends the process
with exit code 130. The next run removes what that leaves (see `fssync.state.leftovers`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import attrs

from fssync.errors import ExitCode


@attrs.define
class InterruptState:
    count: int = 0


@contextmanager
def install(loop: asyncio.AbstractEventLoop) -> Iterator[InterruptState]:
    """Handle SIGINT for the current task while the block runs (main thread only)."""
    state = InterruptState()
    task = asyncio.current_task()

    def on_sigint() -> None:
        state.count += 1
        if state.count == 1:
            print(
                "fssync: interrupted: stopping transfers and cleaning up "
                "(press Ctrl-C again to quit at once)",
                file=sys.stderr,
                flush=True,
            )
            if task is not None:
                task.cancel()
            return
        quit_now()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
        yield state
        return
    try:
        yield state
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def quit_now(*_: object) -> None:
    """End the process at once with 130 (also usable as a `signal.signal` handler)."""
    print("fssync: interrupted again: quitting now", file=sys.stderr, flush=True)
    os._exit(int(ExitCode.INTERRUPTED))
