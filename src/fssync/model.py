"""Immutable values that flow through the pipeline.

Nothing here does I/O: listing turns fsspec info dicts into `Entry` values, the pure stages turn
entries into a `Plan`, and the transfer stage turns actions into `Outcome`s.
"""

from __future__ import annotations

import enum
import functools
from collections import Counter
from collections.abc import Iterator, Mapping
from operator import attrgetter
from typing import Any

import attrs

from fssync.errors import ExitCode
from fssync.planning.bulk import collector_paused


class Side(enum.Enum):
    SRC = "src"
    DST = "dst"


@attrs.frozen
class Capabilities:
    """What a backend can remember and how precisely, so `decide` can compare fairly.

    `mtime_window` is the difference in seconds below which two modification times count as
    equal. `keeps_mtime` says whether fssync can store a file's mtime there (local: utime; S3:
    object metadata). `stamp_window` is the precision of the store's own write time (FTP lists
    minutes, zip keeps two seconds): planning never compares more finely than the coarser side.
    `hashes` names the content hashes its listing carries that fssync compares ("md5", "etag"),
    which ``-c`` can use without reading a byte; `read_only` stores are sources only.

    Names: `case_sensitive` is False where ``A.txt`` and ``a.txt`` name one file; `name_max`
    is the most UTF-8 bytes one name between slashes may have (a folder tree's limit), and
    `key_max` the most a whole path in the store may have, root included (an object store's
    key limit); None where fssync knows no limit. Keys beyond them are skipped and reported
    before anything is sent (`Store.check_keys`), never sent to fail one by one.
    """

    keeps_mtime: bool
    mtime_window: float = 0.001
    stamp_window: float = 1.0
    listing_has_mtime: bool = True
    hashes: frozenset[str] = frozenset()
    read_only: bool = False
    case_sensitive: bool = True
    name_max: int | None = None
    key_max: int | None = None


@attrs.frozen(slots=True)
class Entry:
    """One file on one side, keyed by its POSIX path relative to the location root.

    `mtime` is the file's own modification time when it is known exactly (a local file, or an
    object whose original mtime fssync or another tool recorded). `stamp` is when the store last
    wrote it (S3 `LastModified`); it only says "not older than". `etag` is the store's entity tag
    without quotes (for a local file in checksum mode: the S3-style ETag of its content). `md5` is
    the hex MD5 of the content when known.
    """

    key: str
    size: int
    mtime: float | None = None
    stamp: float | None = None
    etag: str | None = None
    md5: str | None = None


class Kind(enum.Enum):
    """What the plan says to do with one key; the value is the sigil users see."""

    COPY = "+"
    UPDATE = "*"
    DELETE = "-"
    SKIP = "="
    EXCLUDE = "!"
    MOVE = ">"  # --track-renames: the destination file is moved, not uploaded again


@attrs.frozen(slots=True)
class Action:
    kind: Kind
    key: str
    src: Entry | None
    dst: Entry | None
    reason: str

    @property
    def size(self) -> int:
        """Bytes this action moves (0 for deletes and skips)."""
        if self.kind in (Kind.COPY, Kind.UPDATE) and self.src is not None:
            return self.src.size
        return 0


@attrs.frozen
class Unchanged:
    """The keys a plan leaves alone because they are equal on both sides: counted, and made into
    `SKIP` actions only when someone asks for every action. A re-run of a million-object sync
    is mostly such keys, and an action for each would be most of planning's time.

    `src` and `dst` are the listings the plan was made from, shared, not copied.
    """

    src: Mapping[str, Entry] = attrs.field(repr=False)
    dst: Mapping[str, Entry] = attrs.field(repr=False)
    count: int
    reason: str = "unchanged"

    def merged(self, changes: tuple[Action, ...]) -> tuple[Action, ...]:
        """`changes` (in key order) with a skip for every key on both sides that has none."""
        with collector_paused():
            decided = {a.key for a in changes}
            skip, reason = Kind.SKIP, self.reason
            # One pass over either side with one look-up in the other, as planning does.
            if len(self.dst) >= len(self.src):
                get_src = self.src.get
                out = [
                    Action(skip, key, s, d, reason)
                    for key, d in self.dst.items()
                    if (s := get_src(key)) is not None and key not in decided
                ]
            else:
                get_dst = self.dst.get
                out = [
                    Action(skip, key, s, d, reason)
                    for key, s in self.src.items()
                    if (d := get_dst(key)) is not None and key not in decided
                ]
            out.extend(changes)
            # Python's sort merges ordered runs in linear time: the skips are in key order
            # when taken from an S3 listing (the larger side, usually), the changes always are.
            out.sort(key=attrgetter("key"))
            return tuple(out)


#: Plan.counts() key -> the name of the same count on Report (and on Plan).
_REPORT_COUNTS = {
    "copy": "copied",
    "update": "updated",
    "delete": "deleted",
    "skip": "skipped",
    "exclude": "excluded",
    "move": "renamed",
}


@attrs.frozen(eq=False, repr=False)
class Plan:
    """Everything a run would do, decided before anything is written.

    `changes` holds the actions one by one, in key order: every copy, update, deletion and
    exclusion, and the skips a later step decided. The keys that are simply equal on both sides
    are only counted, in `unchanged`; `actions` adds their skips in key order when asked.
    """

    src: str
    dst: str
    changes: tuple[Action, ...]
    src_count: int = 0
    dst_count: int = 0
    unchanged: Unchanged | None = None

    @functools.cached_property
    def actions(self) -> tuple[Action, ...]:
        """One action per key, in key order, the skips included (made on first use)."""
        if self.unchanged is None or not self.unchanged.count:
            return self.changes
        return self.unchanged.merged(self.changes)

    def action_for(self, key: str) -> Action | None:
        """The action for one key, without making every skip."""
        for a in self.changes:
            if a.key == key:
                return a
        u = self.unchanged
        if u is not None and key in u.src and key in u.dst:
            return Action(Kind.SKIP, key, u.src[key], u.dst[key], u.reason)
        return None

    def of(self, *kinds: Kind) -> tuple[Action, ...]:
        held = self.actions if Kind.SKIP in kinds else self.changes
        return tuple(a for a in held if a.kind in kinds)

    @property
    def transfers(self) -> tuple[Action, ...]:
        """Copies, updates and moves: everything that runs before deletions."""
        return self.of(Kind.COPY, Kind.UPDATE, Kind.MOVE)

    @property
    def deletes(self) -> tuple[Action, ...]:
        return self.of(Kind.DELETE)

    @property
    def bytes(self) -> int:
        copy, update = Kind.COPY, Kind.UPDATE  # Action.size inlined: a plan may hold millions
        return sum(
            a.src.size
            for a in self.changes
            if (a.kind is copy or a.kind is update) and a.src is not None
        )

    def counts(self) -> Mapping[str, int]:
        by_kind = Counter(a.kind for a in self.changes)  # enum names looked up once, not per action
        if self.unchanged is not None:
            by_kind[Kind.SKIP] += self.unchanged.count
        return {k.name.lower(): by_kind[k] for k in Kind}

    def __len__(self) -> int:
        """Keys in the plan: every action, the unchanged skips included."""
        return len(self.changes) + (self.unchanged.count if self.unchanged is not None else 0)

    def __iter__(self) -> Iterator[Action]:
        """Every action in key order, as `actions`."""
        return iter(self.actions)

    def __repr__(self) -> str:
        """Counts, not entries: a plan may hold millions."""
        by_kind = self.counts()
        counts = ", ".join(f"{name}={by_kind[kind]}" for kind, name in _REPORT_COUNTS.items())
        return f"Plan(src={self.src!r}, dst={self.dst!r}, {counts})"

    # The counts by the names a Report gives them, for what the plan would do.
    @property
    def copied(self) -> int:
        return self.counts()["copy"]

    @property
    def updated(self) -> int:
        return self.counts()["update"]

    @property
    def deleted(self) -> int:
        return self.counts()["delete"]

    @property
    def skipped(self) -> int:
        return self.counts()["skip"]

    @property
    def excluded(self) -> int:
        return self.counts()["exclude"]

    @property
    def renamed(self) -> int:
        return self.counts()["move"]

    def _compared(self) -> tuple[object, ...]:
        return (self.src, self.dst, self.actions, self.src_count, self.dst_count)

    def __eq__(self, other: object) -> bool:
        """Plans are equal when they do the same, however their skips are held."""
        if not isinstance(other, Plan):
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())


@attrs.frozen(slots=True)
class Outcome:
    """The result of one action: done, or failed with a one-line reason."""

    action: Action
    ok: bool
    bytes: int = 0
    error: str | None = None
    # What the destination looks like now, when the transfer learned it (for the state store).
    written: Entry | None = None
    retryable: bool = False  # a failure that another pass may cure (not a permanent error)
    touched: bool = False  # only the mtime was set: the content was proven equal already
    server_side: bool = False  # the store copied or moved it: no byte passed through fssync


@attrs.frozen
class Failure:
    key: str
    kind: str
    error: str


@attrs.frozen
class Sample:
    """Progress at one moment of a run: `seconds` after the start, `bytes` and `files` written
    so far. A report's timeline is a short series of these (the throughput chart)."""

    seconds: float
    bytes: int
    files: int


@attrs.frozen
class Transfer:
    """One finished copy or update, kept for the largest-transfers list of a report."""

    key: str
    kind: str
    bytes: int
    seconds: float


@attrs.frozen
class Report:
    """What a run did. `failed` counts failures; `failures` names them.

    `error` is set when the run stopped early (a fatal error, an interrupt): the counts are then
    what was done before it stopped, and `exit_code` is the code the command line exits with.
    """

    copied: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    failures: tuple[Failure, ...] = ()
    excluded: int = 0
    renamed: int = 0
    deletes_held: str | None = None  # why deletions were not run, when they were planned
    started: float | None = None  # wall-clock time (seconds since the epoch) the run started
    retries: int = 0  # transfer attempts that failed and were tried again
    timeline: tuple[Sample, ...] = ()
    largest: tuple[Transfer, ...] = ()  # the largest transfers, largest first
    planned_files: int = 0  # copies, updates and deletes the plan held
    planned_bytes: int = 0
    # The plan by kind: what a dry run would have done (a dry run's copied etc. stay 0).
    planned_copies: int = 0
    planned_updates: int = 0
    planned_deletes: int = 0
    planned_moves: int = 0
    error: str | None = None
    abort_code: int | None = None  # the exit code of a run that stopped early
    # Files copied whose content no hash the source states could check (size only): the
    # first keys (reporting.UNVERIFIED_KEPT), and how many there were.
    unverified: tuple[str, ...] = ()
    unverified_count: int = 0
    # fssync bisync: one line per conflict, naming the path, the winner and where the other
    # version went (kept as a conflict copy, or overwritten).
    conflicts: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.deletes_held is None and self.error is None

    @property
    def exit_code(self) -> int:
        """The command line's exit code for this run (see the exit-code reference)."""
        if self.abort_code is not None:
            return self.abort_code
        return int(ExitCode.OK if self.ok else ExitCode.PARTIAL)

    @property
    def rate(self) -> float:
        """Bytes written per second over the whole run (0 when nothing was timed)."""
        return self.bytes / self.seconds if self.seconds > 0 else 0.0

    @property
    def planned(self) -> dict[str, int]:
        """The plan by kind, and the bytes its copies and updates move."""
        return {
            "copy": self.planned_copies,
            "update": self.planned_updates,
            "delete": self.planned_deletes,
            "move": self.planned_moves,
            "bytes": self.planned_bytes,
        }

    def summary(self) -> dict[str, Any]:
        out = {
            "event": "summary",
            "copied": self.copied,
            "updated": self.updated,
            "deleted": self.deleted,
            "renamed": self.renamed,
            "skipped": self.skipped,
            "failed": self.failed,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "dry_run": self.dry_run,
        }
        if self.dry_run:
            out["would"] = self.planned  # nothing was done: say what would have been
        if self.conflicts:
            out["conflicts"] = list(self.conflicts)
        return out


@attrs.frozen
class Event:
    """A reporting event: `name` plus JSON-ready fields (never secrets)."""

    name: str
    fields: Mapping[str, Any] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.name, **self.fields}


def redact(secret: str | None) -> str:
    """Show at most the last four characters of a secret."""
    if not secret:
        return ""
    return "****" + (secret[-4:] if len(secret) > 12 else "")
