"""The two-way sync's memory: per pair of locations, per path, what each side held at the
last sync. Written per path as each change lands, so an interrupted run leaves a state that
is true for every path it touched and the next run carries on (no resync ever needed)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from fssync.errors import FatalError
from fssync.twoway.decide import Record

SCHEMA = """
CREATE TABLE IF NOT EXISTS bisync_v1 (
    pair TEXT NOT NULL, side TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,
    mtime REAL, etag TEXT, md5 TEXT, PRIMARY KEY (pair, side, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bisync_pairs_v1 (pair TEXT PRIMARY KEY, a TEXT, b TEXT);
CREATE INDEX IF NOT EXISTS bisync_v1_by_key ON bisync_v1 (pair, key);
"""


def pair_id(a: str, b: str) -> str:
    return hashlib.sha256(f"{a}\n{b}".encode()).hexdigest()[:32]


class PairState:
    """One pair's records. Unlike the one-way cache, a failure here stops the run: a two-way
    sync without its memory would take a deletion for a new file on the other side."""

    def __init__(self, folder: Path, a: str, b: str) -> None:
        self.path = folder / "bisync.sqlite"
        self.pair = pair_id(a, b)
        self.a, self.b = a, b
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise FatalError(
                f"cannot open the bisync state {str(self.path)!r}: {exc}; "
                "pass --state-dir DIR with a folder you can write"
            ) from None

    def close(self) -> None:
        self.db.close()

    def known(self) -> bool:
        """Whether this pair was synced before (else the run is a first run)."""
        row = self.db.execute("SELECT 1 FROM bisync_pairs_v1 WHERE pair = ?", (self.pair,))
        return row.fetchone() is not None

    def mark_known(self) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO bisync_pairs_v1 VALUES (?, ?, ?)", (self.pair, self.a, self.b)
        )

    def pairs(self) -> Iterator[tuple[str, Record | None, Record | None]]:
        """Every recorded path in key order, with A's and B's records, read as a stream: a
        run never holds the whole state in memory (SQLite's text order, by UTF-8 bytes, is
        Python's order of str)."""
        rows = self.db.execute(
            "SELECT key, side, size, mtime, etag, md5 FROM bisync_v1 WHERE pair = ? "
            "ORDER BY key, side",
            (self.pair,),
        )
        current: str | None = None
        got: dict[str, Record] = {}
        for key, side, size, mtime, etag, md5 in rows:
            if key != current:
                if current is not None:
                    yield current, got.get("a"), got.get("b")
                current, got = key, {}
            got[side] = Record(size, mtime, etag, md5)
        if current is not None:
            yield current, got.get("a"), got.get("b")

    def load(self) -> dict[str, dict[str, Record]]:
        """side ("a"/"b") -> key -> record."""
        out: dict[str, dict[str, Record]] = {"a": {}, "b": {}}
        rows = self.db.execute(
            "SELECT side, key, size, mtime, etag, md5 FROM bisync_v1 WHERE pair = ?", (self.pair,)
        )
        for side, key, size, mtime, etag, md5 in rows:
            out[side][key] = Record(size, mtime, etag, md5)
        return out

    def put(self, key: str, a: Record, b: Record) -> None:
        """Record a path as in step on both sides (one transaction)."""
        self.put_many([(key, a, b)])

    def put_many(self, rows: Iterable[tuple[str, Record, Record]]) -> None:
        values = []
        for key, a, b in rows:
            for side, r in (("a", a), ("b", b)):
                values.append((self.pair, side, key, r.size, r.mtime, r.etag, r.md5))
        if not values:
            return
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO bisync_v1 VALUES (?,?,?,?,?,?,?)", values)

    def forget(self, keys: Iterable[str]) -> None:
        rows = [(self.pair, k) for k in keys]
        if not rows:
            return
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM bisync_v1 WHERE pair = ? AND key = ?", rows)
