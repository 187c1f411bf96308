"""A progress timeout for request bodies sent through aiohttp (the s3fs path).

aiohttp's ``sock_read`` timeout (botocore's ``read_timeout``) starts only once the whole body
has been written: a server that stops reading mid-upload leaves the send waiting forever. The
body is therefore handed over as a `ProgressBody`, whose reads (aiohttp takes it in 256 KiB
slices as the socket accepts them) say when the send last moved, and `watched` abandons the
request when nothing has moved for the stall timeout.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

# Bodies up to this size never wait for the socket in aiohttp (it drains its write buffer only
# above 64 KiB): once written, the wait for the reply is bounded by the read timeout.
WATCH_ABOVE = 64 << 10


class Stalled(TimeoutError):
    """Nothing moved for the stall timeout; retryable (the request is sent again)."""

    def __init__(self, doing: str, seconds: float) -> None:
        super().__init__(f"no progress {doing} for {seconds:g} s: the request stalled")


class ProgressBody(io.BytesIO):
    """Bytes to send, which note the time of every read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.moved = time.monotonic()

    def read(self, size: int | None = -1) -> bytes:
        self.moved = time.monotonic()
        return super().read(size)


async def watched(call: Awaitable[T], body: ProgressBody, seconds: float) -> T:
    """Await `call`, cancelling it with `Stalled` when `body` has not been read for `seconds`
    (after the last read that counts the wait for the reply: the same timeout, from there)."""
    task = asyncio.ensure_future(call)
    step = max(0.01, min(1.0, seconds / 4))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=step)
            if done:
                return task.result()
            if time.monotonic() - body.moved > seconds:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception:  # noqa: BLE001, S110 - it failed as it was cancelled
                    pass
                raise Stalled("sending the request", seconds)
    finally:
        if not task.done():
            task.cancel()
