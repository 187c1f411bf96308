"""Output into a pipe whose reader has gone (``fssync sync ... | head``): the job goes on.

A reader that closes early only wants fewer lines; it does not ask for the sync to stop half
way. `guard_streams` wraps stdout and stderr so that the first write or flush that meets a closed
pipe quietly ends all output on that stream, and the run finishes with its usual exit code.
The stream's file descriptor is then pointed at the null device, so the interpreter's own
flush at exit cannot fail either (which would print a warning and exit 120).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO


class PipeGuard:
    """A text stream that turns a broken pipe into the end of its output."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._give_up()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._give_up()

    def _give_up(self) -> None:
        self.broken = True
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, self._stream.fileno())
            finally:
                os.close(null)
            self._stream.flush()  # what was still buffered goes to the null device
        except (OSError, ValueError, AttributeError):
            pass  # not a real file (a test's capture): dropping the lines is enough

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def guard_streams() -> Iterator[None]:
    """Guard sys.stdout and sys.stderr for the block (the command line's whole run)."""
    saved = sys.stdout, sys.stderr
    guards = [PipeGuard(s) if s is not None else None for s in saved]
    sys.stdout, sys.stderr = guards  # type: ignore[assignment]
    try:
        yield
    finally:
        for guard in guards:
            if guard is not None:
                guard.flush()
        sys.stdout, sys.stderr = saved
