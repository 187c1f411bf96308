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
from typing import TYPE_CHECKING

import attrs

from fssync.model import Entry, Kind, Outcome
from fssync.planning.bulk import collector_paused

if TYPE_CHECKING:
    from fssync.stores import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects_v2 (
    store TEXT NOT NULL, key TEXT NOT NULL, etag TEXT NOT NULL, size INTEGER NOT NULL,
    mtime REAL, md5 TEXT, PRIMARY KEY (store, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hashes_v2 (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL, md5 TEXT NOT NULL, parts TEXT NOT NULL
) WITHOUT ROWID;
"""

Record = tuple[str, int, float | None, str | None]  # etag, size, mtime, md5


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

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10)
        db.executescript(SCHEMA)
        return db

    def load(self, store: str, root: str) -> dict[str, Record]:
        """Records under a root, keyed by the path relative to it."""
        prefix = root + "/" if root else ""
        try:
            with self.connect() as db:
                rows = db.execute(
                    "SELECT key, etag, size, mtime, md5 FROM objects_v2 WHERE store = ? AND key >= ? "
                    "AND key < ?",
                    (store, prefix, prefix + "\U0010ffff"),
                ).fetchall()
        except sqlite3.Error:
            return {}
        cut = len(prefix)
        return {key[cut:]: (etag, size, mtime, md5) for key, etag, size, mtime, md5 in rows}

    def save(self, store: str, root: str, entries: Iterable[Entry], *, read: bool = False) -> None:
        """Record objects by ETag and size. `read`: their metadata was read (a HEAD), so a
        record without mtime or MD5 says "it stores none", and the next run asks no more."""
        prefix = root + "/" if root else ""
        rows = [
            (store, prefix + e.key, e.etag, e.size, e.mtime, e.md5)
            for e in entries
            if e.etag and (read or e.mtime is not None or e.md5)
        ]
        if not rows:
            return
        try:
            with self.connect() as db:
                db.executemany("INSERT OR REPLACE INTO objects_v2 VALUES (?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error:
            pass

    def forget(self, store: str, root: str, keys: Iterable[str]) -> None:
        prefix = root + "/" if root else ""
        try:
            with self.connect() as db:
                db.executemany(
                    "DELETE FROM objects_v2 WHERE store = ? AND key = ?",
                    [(store, prefix + k) for k in keys],
                )
        except sqlite3.Error:
            pass


def enrich(entries: Mapping[str, Entry], records: Mapping[str, Record]) -> dict[str, Entry]:
    """Give back the recorded mtime and MD5 to entries whose ETag and size still match."""
    out = dict(entries)
    get = out.get
    with collector_paused():  # one new entry per recorded object: millions at a large bucket
        for key, (etag, size, mtime, md5) in records.items():
            e = get(key)
            if e is not None and e.etag == etag and e.size == size:
                # A plain constructor call: attrs.evolve costs several times more, once per object.
                out[key] = Entry(
                    e.key,
                    e.size,
                    e.mtime if e.mtime is not None else mtime,
                    e.stamp,
                    e.etag,
                    e.md5 or md5,
                )
    return out


class HashCache:
    """Content hashes of local files, valid while path, size, mtime, inode and ctime are
    unchanged. The ctime catches an edit whose mtime was set back (utime cannot forge it)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def load(self, root: str) -> dict[str, tuple[int, int, int, int, str, str]]:
        prefix = root.rstrip("/") + "/"
        try:
            with self.state.connect() as db:
                rows = db.execute(
                    "SELECT path, size, mtime_ns, inode, ctime_ns, md5, parts FROM hashes_v2 "
                    "WHERE path >= ? AND path < ?",
                    (prefix, prefix + "\U0010ffff"),
                ).fetchall()
        except sqlite3.Error:
            return {}
        return {
            path: (size, mtime_ns, inode, ctime_ns, md5, parts)
            for path, size, mtime_ns, inode, ctime_ns, md5, parts in rows
        }

    def save(self, rows: Iterable[tuple[str, int, int, int, int, str, str]]) -> None:
        rows = list(rows)
        if not rows:
            return
        try:
            with self.state.connect() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO hashes_v2 VALUES (?, ?, ?, ?, ?, ?, ?)", rows
                )
        except sqlite3.Error:
            pass


def remember(
    state: StateStore | None, src_store: Store, dst_store: Store, outcomes: list[Outcome]
) -> None:
    """After the transfers: the mtimes downloads learned for a source whose listing has none,
    and what was written to (or deleted from) such a destination, so the next run compares
    against them."""
    if state is None:
        return
    done = [o for o in outcomes if o.ok and o.written is not None]
    if not src_store.features.listing_has_mtime:
        # A download learned each object's mtime from its GET: remember it for the source.
        learned = [
            attrs.evolve(o.action.src, mtime=o.written.mtime)
            for o in done
            if o.action.src is not None and o.written is not None and o.written.mtime is not None
        ]
        state.save(src_store.identity, src_store.location.root, learned)
    # A failure may say what the destination kept (an object left with other bytes than
    # were sent): its record makes the next run send the file again.
    written = [o.written for o in outcomes if o.written is not None]
    if not dst_store.features.listing_has_mtime:
        state.save(dst_store.identity, dst_store.location.root, written)
        gone = [o.action.key for o in outcomes if o.ok and o.action.kind is Kind.DELETE]
        if gone:
            state.forget(dst_store.identity, dst_store.location.root, gone)
