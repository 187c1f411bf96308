"""For code that allocates one object per key: millions at a large bucket."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while one object per key is allocated.

    Entries and actions hold no reference cycles (reference counting frees them), but every
    few thousand new objects the collector would walk all the objects alive, millions of listed
    entries among them: without the pause that is more than half the time of making an action
    per key.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
