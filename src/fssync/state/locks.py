"""One writer at a time for a local destination.

Two runs writing into one folder could interleave an update and a delete of the same file, or
each remove the other's temporary files. A run into a local folder therefore holds an exclusive
lock (``flock``) on a lock file kept in fssync's state folder, named after the destination's real
path, so the destination itself gets no extra file. A second run fails at once with a message
naming the holder (exit code 4), or waits up to ``--lock-wait`` seconds. The kernel drops the lock
when the holding process ends, even by ``kill -9``, so a stale lock never blocks.

Object stores get no lock: S3 has no lock primitive. Two runs into one bucket prefix each write
whole objects (a PUT or a completed multipart upload replaces an object atomically), so readers
never see a torn object; the last writer wins, as with any two S3 clients.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fssync.errors import FatalError
from fssync.settings.config import Config
from fssync.settings.location import Location
from fssync.state.db import default_path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks here
    fcntl = None  # type: ignore[assignment]


class LockedError(FatalError):
    """Another run holds the destination."""


def lock_path(root: str) -> str:
    real = os.path.realpath(root)
    name = hashlib.sha256(os.fsencode(real)).hexdigest()[:32]
    return os.path.join(default_path().parent, "locks", f"{name}.lock")


@contextmanager
def destination_lock(location: Location, config: Config) -> Iterator[None]:
    """Hold the destination's lock for a sync that writes to a local folder."""
    if fcntl is None or not location.is_local or config.command != "sync" or config.dry_run:
        yield
        return
    with _held(lock_path(location.root), repr(location.url), config):
        yield


@contextmanager
def pair_lock(a: str, b: str, config: Config, folder: os.PathLike[str] | str) -> Iterator[None]:
    """Hold the lock of a two-way sync's pair of locations (any backends), in its state
    folder: two runs of the same pair on this machine never interleave."""
    if fcntl is None or config.dry_run:
        yield
        return
    name = hashlib.sha256(f"{a}\n{b}".encode()).hexdigest()[:32]
    path = os.path.join(os.fspath(folder), "locks", f"bisync-{name}.lock")
    with _held(path, f"{a!r} and {b!r}", config):
        yield


@contextmanager
def _held(path: str, what: str, config: Config) -> Iterator[None]:
    """An exclusive flock on `path`; the holder's pid is written into it for the message."""
    assert fcntl is not None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise FatalError(
            f"cannot create the lock file {path!r}: {exc.strerror or exc}; "
            "set FSSYNC_STATE_DIR to a folder you can write"
        ) from None
    try:
        deadline = time.monotonic() + float(config.get("lock_wait", 0) or 0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "?"
                    raise LockedError(
                        f"another fssync run (pid {holder}) is writing to {what}; "
                        "wait for it to finish, or pass --lock-wait SECONDS to wait"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        # who holds it, for the message a second run prints: pid, host and since when
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        os.pwrite(fd, f"{os.getpid()} on {socket.gethostname()} since {since}".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
