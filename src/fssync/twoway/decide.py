"""What to do with one path of a two-way sync (pure, table-tested).

Each side's change is found against what the state recorded for that side at the last sync,
so the two sides' mtime precisions are never compared with each other; the two sides are
compared only to tell a real conflict from equal content (a false conflict).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs

from fssync.model import Entry


class Change(enum.Enum):
    """A side's change since the recorded state."""

    NEW = "new"  # no record, present now
    ABSENT = "absent"  # no record, not present
    MODIFIED = "modified"
    DELETED = "deleted"
    UNCHANGED = "unchanged"


class Op(enum.Enum):
    NOTHING = "nothing"
    COPY_AB = "copy A->B"
    COPY_BA = "copy B->A"
    DELETE_A = "delete on A"
    DELETE_B = "delete on B"
    RECORD = "record"  # equal content on both sides: remember it, change nothing
    FORGET = "forget"  # gone from both sides: drop the record
    CONFLICT = "conflict"


@attrs.frozen
class Record:
    """What the state knew of a path on one side at the last sync."""

    size: int
    mtime: float | None = None
    etag: str | None = None
    md5: str | None = None

    @classmethod
    def of(cls, e: Entry) -> Record:
        return cls(e.size, _time(e), e.etag, e.md5)


def _time(e: Entry) -> float | None:
    """The file's mtime, else when its store wrote it (a store that keeps no mtime): either
    changes with an edit, and a side is only ever compared with its own record."""
    return e.mtime if e.mtime is not None else e.stamp


@attrs.frozen
class Decision:
    op: Op
    reason: str
    a: Change
    b: Change


def change(
    rec: Record | None, now: Entry | None, window: float = 0.0, mode: str = "size-mtime"
) -> Change:
    """The change of one side against its own record. The ETag or MD5 decides where both
    are known (a store whose mtime cannot be trusted); else the mtime, within `window`, the
    side's own precision. `mode` is --compare's: ``size`` looks at sizes only, ``existence``
    at nothing but presence, as a one-way sync does."""
    if rec is None:
        return Change.ABSENT if now is None else Change.NEW
    if now is None:
        return Change.DELETED
    if mode == "existence":
        return Change.UNCHANGED
    if now.size != rec.size:
        return Change.MODIFIED
    if mode == "size":
        return Change.UNCHANGED
    if now.etag and rec.etag:
        return Change.UNCHANGED if now.etag == rec.etag else Change.MODIFIED
    if now.md5 and rec.md5:
        return Change.UNCHANGED if now.md5 == rec.md5 else Change.MODIFIED
    when = _time(now)
    if when is not None and rec.mtime is not None and abs(when - rec.mtime) > window:
        return Change.MODIFIED
    return Change.UNCHANGED


Same = Callable[[Entry, Entry], bool]

_PRESENT = (Change.NEW, Change.MODIFIED, Change.UNCHANGED)


def decide(a: Change, b: Change, ea: Entry | None, eb: Entry | None, same: Same) -> Decision:
    """The one operation for a path, from both sides' changes. An edit always wins over a
    deletion (no edit is lost); both sides changed to different content is a conflict."""

    def d(op: Op, reason: str) -> Decision:
        return Decision(op, reason, a, b)

    U, M, D, N, X = Change.UNCHANGED, Change.MODIFIED, Change.DELETED, Change.NEW, Change.ABSENT
    changed = a is not U or b is not U
    both = a in _PRESENT and b in _PRESENT and ea is not None and eb is not None
    if both and changed and same(ea, eb):  # type: ignore[arg-type]
        return d(Op.RECORD, "same content on both sides")
    if both and not changed and proven_different(ea, eb):  # type: ignore[arg-type]
        # Neither side looks changed, yet the hashes differ (an edit that kept size and
        # mtime, seen once hashes are read): which side changed cannot be told.
        return d(Op.CONFLICT, "the content differs, though neither side looks changed")
    table: dict[tuple[Change, Change], tuple[Op, str]] = {
        (U, U): (Op.NOTHING, "unchanged"),
        (M, U): (Op.COPY_AB, "modified on A"),
        (U, M): (Op.COPY_BA, "modified on B"),
        (N, X): (Op.COPY_AB, "new on A"),
        (X, N): (Op.COPY_BA, "new on B"),
        (D, U): (Op.DELETE_B, "deleted on A"),
        (U, D): (Op.DELETE_A, "deleted on B"),
        (D, D): (Op.FORGET, "deleted on both sides"),
        (M, D): (Op.COPY_AB, "modified on A, deleted on B: the edit wins"),
        (D, M): (Op.COPY_BA, "modified on B, deleted on A: the edit wins"),
        (M, M): (Op.CONFLICT, "modified on both sides"),
        (N, N): (Op.CONFLICT, "new on both sides"),
        (X, X): (Op.NOTHING, "on neither side"),
    }
    op, reason = table.get((a, b), (Op.CONFLICT, f"{a.value} on A, {b.value} on B"))
    return d(op, reason)


CONFLICT_POLICIES = ("newer", "older", "larger", "smaller", "a", "b", "keep-both")
FIRST_RUN_POLICIES = ("newer", "a", "b", "keep-both")


@attrs.frozen
class Resolution:
    """Which side's version keeps the name, and whether the other is kept as a conflict copy."""

    winner: str  # "a" or "b"
    keep_loser: bool
    why: str

    @property
    def loser(self) -> str:
        return "b" if self.winner == "a" else "a"


def _when(e: Entry) -> float:
    t = e.mtime if e.mtime is not None else e.stamp
    return t if t is not None else 0.0


def resolve(policy: str, ea: Entry, eb: Entry) -> Resolution:
    """The winner of a conflict under a --conflict policy (ties go to the newer, then A)."""
    newer = "a" if _when(ea) >= _when(eb) else "b"
    older = "b" if newer == "a" else "a"
    if policy == "keep-both":
        return Resolution(newer, True, "keep-both: the newer keeps the name")
    if policy == "newer":
        return Resolution(newer, False, "--conflict newer")
    if policy == "older":
        return Resolution(older if _when(ea) != _when(eb) else "a", False, "--conflict older")
    if policy in ("larger", "smaller"):
        if ea.size == eb.size:
            return Resolution(newer, False, f"--conflict {policy}: equal sizes, the newer")
        larger = "a" if ea.size > eb.size else "b"
        smaller = "b" if larger == "a" else "a"
        return Resolution(larger if policy == "larger" else smaller, False, f"--conflict {policy}")
    if policy in ("a", "b"):
        return Resolution(policy, False, f"--conflict {policy}")
    raise ValueError(policy)


def resolve_first_run(policy: str, ea: Entry, eb: Entry) -> Resolution:
    """A path on both sides at the first run (no state), with different content: the chosen
    side keeps the name and the other version is always kept as a conflict copy, so a first
    run loses nothing."""
    if policy in ("newer", "keep-both"):
        return attrs.evolve(resolve("keep-both", ea, eb), why=f"first run ({policy})")
    if policy in ("a", "b"):
        return Resolution(policy, True, f"first run ({policy})")
    raise ValueError(policy)


def conflict_name(key: str, side: str, stamp: str, n: int = 1) -> str:
    """`dir/name.ext` -> `dir/name.conflict-<side>-<stamp>.ext` (a leading dot is part of the
    name, not an extension); `n` > 1 adds `-n` to the stamp where that name is taken."""
    if n > 1:
        stamp = f"{stamp}-{n}"
    folder, _, name = key.rpartition("/")
    base, dot, ext = name.rpartition(".")
    if not dot or not base:
        out = f"{name}.conflict-{side}-{stamp}"
    else:
        out = f"{base}.conflict-{side}-{stamp}.{ext}"
    return f"{folder}/{out}" if folder else out


def proven_same(x: Entry, y: Entry, window: float, by_time: bool = True) -> bool:
    """Whether two sides' files hold the same content, by what the listings prove: equal
    MD5s (an S3 single-part ETag is one), equal ETags, or equal sizes and mtimes within the
    coarser side's precision. Unknown is not the same: a conflict loses nothing.

    `by_time=False` takes no mtime for proof: two edits of one path since the last run, made
    within the window with the same size, are two versions, not one (a hash must tell)."""
    if x.size != y.size:
        return False
    xm = x.md5 or (x.etag if _single_part(x.etag) else None)
    ym = y.md5 or (y.etag if _single_part(y.etag) else None)
    if xm and ym:
        return xm == ym
    if x.etag and y.etag and x.etag == y.etag:
        return True
    if by_time and x.mtime is not None and y.mtime is not None:
        return abs(x.mtime - y.mtime) <= window
    return False


def edited_on_both(a: Change, b: Change, first_run: bool) -> bool:
    """Both sides wrote the path since the last run (not a first run's merge, where equal
    size and mtime are taken as equal content without reading every file)."""
    if a is Change.MODIFIED and b is Change.MODIFIED:
        return True
    return not first_run and a is Change.NEW and b is Change.NEW


def proven_different(x: Entry, y: Entry) -> bool:
    """Whether the listings prove the content differs: other sizes, or other MD5s."""
    if x.size != y.size:
        return True
    xm = x.md5 or (x.etag if _single_part(x.etag) else None)
    ym = y.md5 or (y.etag if _single_part(y.etag) else None)
    return bool(xm and ym and xm != ym)


def _single_part(etag: str | None) -> bool:
    return bool(etag) and len(etag or "") == 32 and "-" not in (etag or "")


@attrs.frozen
class Rename:
    """A path renamed on `side` since the last sync: the other side's `old` is moved to `new`."""

    side: str  # "a" or "b": where the rename was made
    old: str
    new: str
    strong: bool  # matched by MD5 or ETag, not by size and mtime alone


def find_renames(
    decisions: dict[str, Decision],
    records: dict[str, dict[str, Record]],
    files: dict[str, dict[str, Entry]],
    windows: dict[str, float],
) -> list[Rename]:
    """Pair, on each side, a path deleted there (the other side unchanged) with a path new
    there (absent on the other side) whose size and MD5, ETag or mtime equal the deleted
    path's record. Only one-to-one matches count: two candidates are no rename."""
    out: list[Rename] = []
    for side, other in (("a", "b"), ("b", "a")):
        delete_other = Op.DELETE_B if side == "a" else Op.DELETE_A
        copy_over = Op.COPY_AB if side == "a" else Op.COPY_BA
        gone = [k for k, d in decisions.items() if d.op is delete_other]
        new = [
            k
            for k, d in decisions.items()
            if d.op is copy_over and getattr(d, side) is Change.NEW and k not in files[other]
        ]
        by_size: dict[int, list[str]] = {}
        for k in gone:
            by_size.setdefault(records[side][k].size, []).append(k)
        matches: dict[str, list[tuple[str, bool]]] = {}
        for n in new:
            e = files[side][n]
            for k in by_size.get(e.size, ()):
                found = _same_as_record(records[side][k], e, windows[side])
                if found is not None:
                    matches.setdefault(n, []).append((k, found))
        olds: dict[str, int] = {}
        for cands in matches.values():
            for k, _ in cands:
                olds[k] = olds.get(k, 0) + 1
        for n, cands in sorted(matches.items()):
            if len(cands) == 1 and olds[cands[0][0]] == 1:
                out.append(Rename(side, cands[0][0], n, cands[0][1]))
    return out


def _same_as_record(rec: Record, e: Entry, window: float) -> bool | None:
    """Whether a new file's listing equals a record: True by a hash, False by size and mtime
    only, None when it differs or nothing can tell."""
    if e.size != rec.size:
        return None
    if e.md5 and rec.md5:
        return True if e.md5 == rec.md5 else None
    if e.etag and rec.etag:
        return True if e.etag == rec.etag else None
    when = _time(e)
    if when is not None and rec.mtime is not None and abs(when - rec.mtime) <= window:
        return False
    return None
