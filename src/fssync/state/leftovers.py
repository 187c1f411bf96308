"""Find and clean what an interrupted or killed run left behind.

- Local temporary files. A download is written to ``.<name>.fssync-tmp-<pid>-<random>`` next to
  its final path and renamed into place. Ctrl-C removes it; ``kill -9`` cannot. The next run into
  that folder removes a leftover whose process is gone; one whose process still runs (another
  fssync writing there) is kept until it is a day old, in case the pid was reused.
- Multipart uploads. fssync records each upload it starts in its state file (which host, which
  process, which bucket and key) and forgets it once it is completed or aborted. The next run
  against the same store aborts the recorded uploads whose process is gone, so no orphaned parts
  keep costing money. With ``--no-state`` nothing is recorded: use the bucket's lifecycle rule
  (AbortIncompleteMultipartUpload) for that case.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from fssync.model import Event
from fssync.state.db import StateStore
from fssync.transfer.retrying import RetryPolicy

if TYPE_CHECKING:
    from fssync.stores import Store

TEMP_MARK = ".fssync-tmp-"
# Exactly the names temp_name makes (``.<name>.fssync-tmp-<pid>-<8 hex>``), and those of
# versions before the pid was recorded (``-<12 hex>``): a user's own file that merely has the
# mark in its name (``thesis.fssync-tmp-2-v2.tex``) is a user file, listed and synced.
TEMP_NAME = re.compile(r"\..+\.fssync-tmp-(?:(?P<pid>[0-9]+)-[0-9a-f]{8}|[0-9a-f]{12})", re.DOTALL)
STALE_AGE = 24 * 3600.0  # a temp file of a live process counts as left over after this long
SKEW = 60.0  # seconds of clock difference allowed between this host and the store
# Upload times before this are no real clock (moto reports one fixed date for every upload):
# such a store's uploads are matched on key alone.
NO_CLOCK = 1_577_836_800.0  # 2020-01-01

RESUME_AGE = 7 * 86400.0  # an interrupted upload is kept this long for a run to resume it

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads_v1 (
    id INTEGER PRIMARY KEY, store TEXT NOT NULL, bucket TEXT NOT NULL, key TEXT NOT NULL,
    upload_id TEXT, host TEXT NOT NULL, pid INTEGER NOT NULL, started REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS upload_sources_v1 (
    id INTEGER PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER, part_size INTEGER NOT NULL
);
"""


def temp_name(final_name: str) -> str:
    """The temporary name a download to `final_name` is written under."""
    # at most 100 bytes of the name: the whole must stay under the 255-byte limit
    short = os.fsencode(final_name)[:100].decode("utf-8", "ignore") or "x"
    # random, not os.urandom: unique enough beside the pid (the create is exclusive), and no
    # system call per file
    return f".{short}{TEMP_MARK}{os.getpid()}-{random.getrandbits(32):08x}"


def is_temp(name: str) -> bool:
    """Whether a file name is one fssync gives a download in progress (see TEMP_NAME)."""
    return TEMP_MARK in name and TEMP_NAME.fullmatch(name) is not None


def owner(name: str) -> int | None:
    """The pid recorded in a temporary file's name (None for a name without one)."""
    found = TEMP_NAME.fullmatch(name)
    pid = found.group("pid") if found else None
    return int(pid) if pid else None


def alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, someone else's
    return True


def is_stale(path: str, now: float | None = None) -> bool:
    """Whether a temporary file was left by a run that is no longer writing it."""
    if not is_temp(os.path.basename(path)):
        return False  # a user's file, whatever its name looks like
    pid = owner(os.path.basename(path))
    if pid is not None and not alive(pid):
        return True
    try:
        changed = os.lstat(path).st_ctime
    except OSError:
        return False
    return (now or time.time()) - changed > STALE_AGE


def remove_stale(paths: Iterable[str]) -> list[str]:
    """Remove the stale temporary files among `paths`; return the ones removed."""
    removed = []
    now = time.time()
    for path in paths:
        if is_stale(path, now):
            try:
                os.remove(path)
                removed.append(path)
            except OSError:
                pass
    return removed


class UploadJournal:
    """The multipart uploads this host started and has not finished, in the state file."""

    def __init__(self, state: StateStore, store: str) -> None:
        self.state = state
        self.store = store
        self.host = socket.gethostname()

    def _db(self) -> sqlite3.Connection:
        db = self.state.connect()
        db.executescript(SCHEMA)
        return db

    def _begin(self, bucket: str, key: str) -> int | None:
        try:
            with self._db() as db:
                cur = db.execute(
                    "INSERT INTO uploads_v1 (store, bucket, key, host, pid, started) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (self.store, bucket, key, self.host, os.getpid(), time.time()),
                )
                return cur.lastrowid
        except sqlite3.Error:
            return None

    def _set(self, row: int, upload_id: str) -> None:
        try:
            with self._db() as db:
                db.execute("UPDATE uploads_v1 SET upload_id = ? WHERE id = ?", (upload_id, row))
        except sqlite3.Error:
            pass

    def _end(self, row: int) -> None:
        try:
            with self._db() as db:
                db.execute("DELETE FROM uploads_v1 WHERE id = ?", (row,))
                db.execute("DELETE FROM upload_sources_v1 WHERE id = ?", (row,))
        except sqlite3.Error:
            pass

    def _describe(self, row: int, size: int, mtime_ns: int | None, part_size: int) -> None:
        try:
            with self._db() as db:
                db.execute(
                    "INSERT OR REPLACE INTO upload_sources_v1 (id, size, mtime_ns, part_size) "
                    "VALUES (?, ?, ?, ?)",
                    (row, size, mtime_ns, part_size),
                )
        except sqlite3.Error:
            pass

    def _interrupted(self, bucket: str, key: str) -> list[tuple[int, str, int, int | None, int]]:
        """(row, upload id, size, mtime_ns, part size) of this key's uploads that a run which
        is gone left with their source recorded: the ones a run may resume."""
        try:
            with self._db() as db:
                rows = db.execute(
                    "SELECT u.id, u.upload_id, u.pid, u.started, s.size, s.mtime_ns, s.part_size "
                    "FROM uploads_v1 u JOIN upload_sources_v1 s ON s.id = u.id "
                    "WHERE u.store = ? AND u.host = ? AND u.bucket = ? AND u.key = ? "
                    "AND u.upload_id IS NOT NULL",
                    (self.store, self.host, bucket, key),
                ).fetchall()
        except sqlite3.Error:
            return []
        return [(i, u, size, ns, part) for i, u, pid, _, size, ns, part in rows if not alive(pid)]

    def _adopt(self, row: int) -> None:
        try:
            with self._db() as db:
                db.execute(
                    "UPDATE uploads_v1 SET pid = ?, host = ? WHERE id = ?",
                    (os.getpid(), self.host, row),
                )
        except sqlite3.Error:
            pass

    async def describe(self, row: int | None, size: int, mtime_ns: int | None, part: int) -> None:
        """Record what is being uploaded, so that a later run can tell the upload is of the
        same file and resume it."""
        if row is not None:
            await asyncio.to_thread(self._describe, row, size, mtime_ns, part)

    async def interrupted(
        self, bucket: str, key: str
    ) -> list[tuple[int, str, int, int | None, int]]:
        return await asyncio.to_thread(self._interrupted, bucket, key)

    async def adopt(self, row: int) -> None:
        """Take over an interrupted upload: this process now owns it."""
        await asyncio.to_thread(self._adopt, row)

    async def begin(self, bucket: str, key: str) -> int | None:
        """Record an upload about to be created (before its id is known)."""
        return await asyncio.to_thread(self._begin, bucket, key)

    async def created(self, row: int | None, upload_id: str) -> None:
        if row is not None:
            await asyncio.to_thread(self._set, row, upload_id)

    async def end(self, row: int | None) -> None:
        if row is not None:
            await asyncio.to_thread(self._end, row)

    def known_ids(self) -> set[str]:
        """Every upload id recorded for this store: uploads a sync here will resume or abort."""
        try:
            with self._db() as db:
                rows = db.execute(
                    "SELECT upload_id FROM uploads_v1 WHERE store = ? AND upload_id IS NOT NULL",
                    (self.store,),
                ).fetchall()
        except sqlite3.Error:
            return set()
        return {r[0] for r in rows}

    def orphans(
        self, *, mine: bool = False, now: float | None = None
    ) -> list[tuple[int, str, str, str | None, float]]:
        """Uploads of this store started on this host by processes that are gone, and with
        `mine` by this process too (called once its transfers are over, when every upload it
        still has on record is one whose end was lost). A gone run's upload whose source is
        recorded is left for RESUME_AGE, for a run to resume it."""
        try:
            with self._db() as db:
                rows = db.execute(
                    "SELECT u.id, u.bucket, u.key, u.upload_id, u.pid, u.started, s.id "
                    "FROM uploads_v1 u LEFT JOIN upload_sources_v1 s ON s.id = u.id "
                    "WHERE u.store = ? AND u.host = ?",
                    (self.store, self.host),
                ).fetchall()
        except sqlite3.Error:
            return []
        me = os.getpid()
        now = time.time() if now is None else now
        out = []
        for i, b, k, u, pid, s, described in rows:
            if mine and pid == me:
                out.append((i, b, k, u, s))
            elif not alive(pid):
                resumable = described is not None and u is not None and now - s < RESUME_AGE
                if not resumable:
                    out.append((i, b, k, u, s))
        return out


def _since(initiated: float | None, since: float) -> bool:
    """Whether an upload listed by the store was started after `since` (clock skew allowed)."""
    if initiated is None:
        return True
    return initiated < NO_CLOCK or initiated >= since - SKEW


# A store that makes multipart uploads (see `fssync.stores.base.Store.list_uploads`) has a
# `journal` attribute and two methods, used here and nowhere else:
#   await store.list_uploads(bucket, key) -> [(key, upload_id, initiated epoch seconds or None)]
#   await store.abort_upload(bucket, key, upload_id)


async def abort_twins(store: Any, bucket: str, key: str, keep: str, since: float) -> int:
    """Abort the uploads of `key` started since `since` other than `keep`.

    When the reply to CreateMultipartUpload is lost (the connection dropped after the server
    acted), the client's retry creates a second upload and the first one's id is never seen.
    Called when the create needed retries, this finds and aborts such twins."""
    aborted = 0
    for found, upload_id, initiated in await _call(store.retry, store.list_uploads, bucket, key):
        if found == key and upload_id != keep and _since(initiated, since):
            await _call(store.retry, store.abort_upload, bucket, key, upload_id)
            aborted += 1
    return aborted


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of an exception (botocore's shape, which store plugins copy)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


async def _call(retry: RetryPolicy, method: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """A clean-up call, tried as often as a file (`retry`, the store's policy): it runs on the
    same flaky network as the transfers."""
    for attempt in range(1 + retry.retries):
        try:
            return await method(*args)
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) in ("NoSuchUpload", "NoSuchKey") or attempt == retry.retries:
                raise
            await asyncio.sleep(retry.retry_delay(attempt + 1))
    raise AssertionError("unreachable")


async def abort_orphans(store: Any, journal: UploadJournal, *, mine: bool = False) -> int:
    """Abort the multipart uploads a killed run left on `store` (an S3 store); count them.

    An upload whose id was never recorded (killed between creating and recording it, or whose
    create reply was lost) is found by listing the uploads of that exact key started since the
    record was made."""
    aborted = 0
    for row, bucket, key, upload_id, started in await asyncio.to_thread(journal.orphans, mine=mine):
        ids = [upload_id] if upload_id else []
        if not upload_id:
            for found, uid, initiated in await _call(store.retry, store.list_uploads, bucket, key):
                if found == key and _since(initiated, started):
                    ids.append(uid)
        for uid in ids:
            try:
                await _call(store.retry, store.abort_upload, bucket, key, uid)
                aborted += 1
            except Exception as exc:  # noqa: BLE001 - already gone is as good as aborted
                if error_code(exc) != "NoSuchUpload":
                    raise
        await journal.end(row)
    return aborted


# ------------------------------------------------------------------------------ run steps


async def abort_since(store: Any, bucket: str, prefix: str, since: float) -> int:
    """Abort the multipart uploads under `prefix` started since `since`: what workers of this
    run that died left (their journals are on their own machines); count them."""
    aborted = 0
    for key, upload_id, initiated in await _call(store.retry, store.list_uploads, bucket, prefix):
        if _since(initiated, since):
            try:
                await _call(store.retry, store.abort_upload, bucket, key, upload_id)
                aborted += 1
            except Exception as exc:  # noqa: BLE001 - already gone is as good as aborted
                if error_code(exc) != "NoSuchUpload":
                    raise
    return aborted


async def abort_lost(store: Store, since: float, emit: Callable[[Event], None]) -> None:
    """Every batch of a run on other machines has landed: a multipart upload still open under
    the destination and begun since the run started was begun by a worker that died (its batch
    ran again elsewhere, and its journal is on its own machine); none may outlive the run."""
    if not store.features.multipart_journal:
        return  # not a store that makes multipart uploads
    bucket, _, prefix = store.location.root.partition("/")
    try:
        aborted = await abort_since(store, bucket, prefix + "/" if prefix else "", since)
    except Exception as exc:  # noqa: BLE001 - reported; the next run's clean-up tries again
        report_error(exc, emit)
        return
    if aborted:
        emit(Event("cleanup", {"temp_files": 0, "uploads_aborted": aborted}))


def attach_journal(store: Store, state: StateStore) -> None:
    """Give a destination store that makes multipart uploads a journal to record them in."""
    if store.features.multipart_journal:
        store.journal = UploadJournal(state, store.identity)


async def clean(store: Store, temps: Iterable[str], emit: Callable[[Event], None]) -> None:
    """Before transferring: remove what killed runs left at the destination (temporary files,
    multipart uploads). A failure here never stops the run; the next run tries again."""
    temps = list(temps)
    removed = await asyncio.to_thread(remove_stale, temps) if temps else []
    aborted = 0
    journal = store.journal
    if journal is not None:
        try:
            aborted = await abort_orphans(store, journal)
        except Exception as exc:  # noqa: BLE001
            report_error(exc, emit)
    if removed or aborted:
        emit(Event("cleanup", {"temp_files": len(removed), "uploads_aborted": aborted}))


async def sweep(store: Store, emit: Callable[[Event], None]) -> None:
    """After transferring (also after Ctrl-C): abort this run's multipart uploads whose end was
    lost (a create whose reply never came, an abort that failed): none may outlive the run."""
    journal = store.journal
    if journal is None:
        return
    try:
        aborted = await abort_orphans(store, journal, mine=True)
    except Exception as exc:  # noqa: BLE001
        report_error(exc, emit)
        return
    if aborted:
        emit(Event("cleanup", {"temp_files": 0, "uploads_aborted": aborted}))


def report_error(exc: BaseException, emit: Callable[[Event], None]) -> None:
    """A clean-up that failed, as an error event (the run goes on)."""
    from fssync.diagnose import diagnose

    where = "(multipart cleanup)"
    emit(Event("error", {"key": where, "error": diagnose(exc, where=where).message}))
