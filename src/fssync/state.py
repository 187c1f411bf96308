"""What fssync remembers about objects it wrote or read, so a re-run needs no HEAD per object.

S3 listings carry size, ETag and LastModified but not the user metadata where fssync keeps a
file's mtime. After each run fssync records (store, key) -> (etag, size, mtime); on the next run
an object whose ETag and size still match gets its mtime back from here. An object changed by
anyone else has a new ETag, so a stale record is never used.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

from .model import Entry

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    store TEXT NOT NULL, key TEXT NOT NULL, etag TEXT NOT NULL, size INTEGER NOT NULL,
    mtime REAL NOT NULL, PRIMARY KEY (store, key)
) WITHOUT ROWID
"""


def default_path() -> Path:
    base = os.environ.get("FSSYNC_STATE_DIR")
    if base:
        return Path(base) / "state.sqlite"
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(xdg) / "fssync" / "state.sqlite"


class StateStore:
    """A small SQLite file; every failure to use it degrades to "nothing remembered"."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10)
        db.execute(SCHEMA)
        return db

    def load(self, store: str, root: str) -> dict[str, tuple[str, int, float]]:
        """Records under a root, keyed by the path relative to it."""
        prefix = root + "/" if root else ""
        try:
            with self._connect() as db:
                rows = db.execute(
                    "SELECT key, etag, size, mtime FROM objects WHERE store = ? AND key >= ? "
                    "AND key < ?",
                    (store, prefix, prefix + "\U0010ffff"),
                ).fetchall()
        except sqlite3.Error:
            return {}
        cut = len(prefix)
        return {key[cut:]: (etag, size, mtime) for key, etag, size, mtime in rows}

    def save(self, store: str, root: str, entries: Iterable[Entry]) -> None:
        prefix = root + "/" if root else ""
        rows = [
            (store, prefix + e.key, e.etag, e.size, e.mtime)
            for e in entries
            if e.etag and e.mtime is not None
        ]
        if not rows:
            return
        try:
            with self._connect() as db:
                db.executemany("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?)", rows)
        except sqlite3.Error:
            pass

    def forget(self, store: str, root: str, keys: Iterable[str]) -> None:
        prefix = root + "/" if root else ""
        try:
            with self._connect() as db:
                db.executemany(
                    "DELETE FROM objects WHERE store = ? AND key = ?",
                    [(store, prefix + k) for k in keys],
                )
        except sqlite3.Error:
            pass


def enrich(
    entries: Mapping[str, Entry], records: Mapping[str, tuple[str, int, float]]
) -> dict[str, Entry]:
    """Give back the recorded mtime to entries whose ETag and size still match."""
    import attrs

    out = dict(entries)
    for key, (etag, size, mtime) in records.items():
        e = out.get(key)
        if e is not None and e.mtime is None and e.etag == etag and e.size == size:
            out[key] = attrs.evolve(e, mtime=mtime)
    return out
