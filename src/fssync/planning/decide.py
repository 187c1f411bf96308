"""Decide what to do with each key (pure): compare rules and the plan builder.

Every rule is spelled out here and table-tested. Comparators answer "why must the destination
be updated?" with a `Reason` (or another short text), or None when the two entries count as
equal. Decisions taken after planning (a HEAD to read metadata, an mtime set instead of a copy)
look at the reason's code, never at its wording.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from operator import attrgetter

import attrs

from fssync.model import Action, Capabilities, Entry, Kind, Plan, Unchanged
from fssync.planning.bulk import collector_paused


@attrs.frozen
class Policy:
    """What the user asked for, passed in: decisions read nothing global."""

    delete: bool = False
    delete_excluded: bool = False
    ignore_existing: bool = False
    src_caps: Capabilities = Capabilities(keeps_mtime=True)
    dst_caps: Capabilities = Capabilities(keeps_mtime=True)
    # --modify-window: times this close count as equal, on top of what the stores can keep
    modify_window: float = 0.0
    # Derived once here, not on each of the million comparisons that read them.
    mtime_window: float = attrs.field(init=False)
    stamp_window: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(
            self,
            "mtime_window",
            max(self.src_caps.mtime_window, self.dst_caps.mtime_window, self.modify_window),
        )
        object.__setattr__(
            self,
            "stamp_window",
            max(self.src_caps.stamp_window, self.dst_caps.stamp_window, self.modify_window),
        )


class Reason(enum.StrEnum):
    """Why an action was planned, as a code with its text. A member is the text itself (a
    `str`), so it prints, compares and serialises as the text; decisions test the member
    (``action.reason is Reason.SOURCE_NEWER``, `NEEDS_METADATA`), so a change of wording, or a
    plugin's comparator that happens to use the same words, changes no decision."""

    NEW_FILE = "new file"
    NOT_IN_SOURCE = "not in source"
    UNCHANGED = "unchanged"
    EXISTS = "exists (--ignore-existing)"
    SIZE_DIFFERS = "size differs"
    MTIME_DIFFERS = "modification time differs"
    SOURCE_NEWER = "source is newer"
    # The destination cannot keep modification times (SFTP, FTP, WebDAV, GCS, Azure through
    # fsspec): the source's time was compared with when the destination wrote its copy.
    NO_MTIME = "source is newer than the destination's copy (it cannot keep modification times)"
    CHECKSUM_DIFFERS = "checksum differs"
    # --checksum without a hash both sides share: size and modification time decided.
    MTIME_DIFFERS_NO_CHECKSUM = "modification time differs (no common checksum)"
    SOURCE_NEWER_NO_CHECKSUM = "source is newer (no common checksum)"
    NO_MTIME_NO_CHECKSUM = (
        "source is newer than the destination's copy (it cannot keep modification times) "
        "(no common checksum)"
    )
    # An update whose content is proven equal on both sides: only the mtime is set.
    MTIME_ONLY = "same content (mtime set)"

    @property
    def code(self) -> str:
        """The stable name of the reason ("source-newer"), for machines."""
        return self.name.lower().replace("_", "-")


Comparator = Callable[[Entry, Entry, Policy], str | None]


@attrs.frozen
class CompareMode:
    """One ``--compare`` mode, as the ``fssync_compare_modes`` hook offers it.

    `function` decides one key present on both sides (a `Comparator`: a `Reason` or a short
    text when the destination must be updated, None when equal). `needs_hashes` asks fssync to
    compute content MD5s for both listings before planning, so the function sees `Entry.md5`
    set wherever a hash can be had (a checksum mode). `reasons` names the `Reason` codes the
    function returns (empty: it returns texts of its own), and `describe` is a line for people.
    A hook may still return a bare comparator: it becomes a mode that needs no hashes.
    """

    function: Comparator
    needs_hashes: bool = False
    reasons: frozenset[Reason] = frozenset()
    describe: str = ""

    @classmethod
    def of(cls, mode: CompareMode | Comparator) -> CompareMode:
        return mode if isinstance(mode, CompareMode) else cls(mode)

    def __call__(self, src: Entry, dst: Entry, policy: Policy) -> str | None:
        """A mode decides as its function does (planning calls `function` itself)."""
        return self.function(src, dst, policy)


# A filter answers for one key: True include, False exclude, None no opinion. The reason string
# is shown with --dry-run -v.
Verdict = tuple[bool, str] | None
KeyFilter = Callable[[str, Entry | None, Entry | None], Verdict]


def compare_size(src: Entry, dst: Entry, policy: Policy) -> str | None:
    return Reason.SIZE_DIFFERS if src.size != dst.size else None


def compare_size_mtime(src: Entry, dst: Entry, policy: Policy) -> str | None:
    """Size first; then exact mtimes when both sides know them; else the store's write time.

    - both mtimes known (a local file, or an object whose mtime fssync recorded): they must agree
      within the coarser backend's precision;
    - otherwise the destination's write time (S3 LastModified) says "not older than": update only
      when the source is newer than it, beyond that store's precision.
    """
    if src.size != dst.size:
        return Reason.SIZE_DIFFERS
    if src.mtime is not None and dst.mtime is not None:
        if abs(src.mtime - dst.mtime) > policy.mtime_window:
            return Reason.MTIME_DIFFERS
        return None
    when = src.mtime if src.mtime is not None else src.stamp
    if when is not None and dst.stamp is not None and when > dst.stamp + policy.stamp_window:
        return Reason.SOURCE_NEWER if policy.dst_caps.keeps_mtime else Reason.NO_MTIME
    return None


NO_MTIME = Reason.NO_MTIME


def compare_update(src: Entry, dst: Entry, policy: Policy) -> str | None:
    """Like size-mtime, but never replace a destination file that is newer than the source."""
    s = src.mtime if src.mtime is not None else src.stamp
    d = dst.mtime if dst.mtime is not None else dst.stamp
    if s is not None and d is not None and d > s + policy.mtime_window:
        return None
    return compare_size_mtime(src, dst, policy)


def compare_checksum(src: Entry, dst: Entry, policy: Policy) -> str | None:
    """Size, then content: the MD5s, or S3-style multipart ETags computed the same way.

    Without a hash both sides share, fall back to size and modification time.
    """
    if src.size != dst.size:
        return Reason.SIZE_DIFFERS
    if src.md5 and dst.md5:
        return None if src.md5 == dst.md5 else Reason.CHECKSUM_DIFFERS
    if src.etag and dst.etag and "-" in src.etag and "-" in dst.etag:
        return None if src.etag == dst.etag else Reason.CHECKSUM_DIFFERS
    reason = compare_size_mtime(src, dst, policy)
    return None if reason is None else _WITHOUT_CHECKSUM.get(reason, reason)


# What size-mtime's reasons become when --checksum had no hash to compare.
_WITHOUT_CHECKSUM: dict[str, Reason] = {
    Reason.MTIME_DIFFERS: Reason.MTIME_DIFFERS_NO_CHECKSUM,
    Reason.SOURCE_NEWER: Reason.SOURCE_NEWER_NO_CHECKSUM,
    Reason.NO_MTIME: Reason.NO_MTIME_NO_CHECKSUM,
}


def compare_existence(src: Entry, dst: Entry, policy: Policy) -> str | None:
    """Present on both sides means equal."""
    return None


_BY_TIME = frozenset({Reason.SIZE_DIFFERS, Reason.MTIME_DIFFERS, Reason.SOURCE_NEWER, NO_MTIME})
BUILTIN_MODES: Mapping[str, CompareMode] = {
    "size-mtime": CompareMode(
        compare_size_mtime, reasons=_BY_TIME, describe="size, then modification time"
    ),
    "size": CompareMode(
        compare_size, reasons=frozenset({Reason.SIZE_DIFFERS}), describe="size only"
    ),
    "update": CompareMode(
        compare_update, reasons=_BY_TIME, describe="like size-mtime; never replace newer files"
    ),
    "existence": CompareMode(compare_existence, describe="present on both sides means equal"),
    "checksum": CompareMode(
        compare_checksum,
        needs_hashes=True,
        reasons=frozenset(
            {Reason.SIZE_DIFFERS, Reason.CHECKSUM_DIFFERS, *_WITHOUT_CHECKSUM.values()}
        ),
        describe="size, then content MD5 (or ETag)",
    ),
}


def decide_both(key: str, s: Entry, d: Entry, policy: Policy, compare: Comparator) -> Action:
    """The action for a key present on both sides."""
    if policy.ignore_existing:
        return Action(Kind.SKIP, key, s, d, Reason.EXISTS)
    reason = compare(s, d, policy)
    if reason is None:
        return Action(Kind.SKIP, key, s, d, Reason.UNCHANGED)
    return Action(Kind.UPDATE, key, s, d, reason)


MTIME_ONLY = Reason.MTIME_ONLY

# Reasons that rest on what a listing cannot show: worth one HEAD to read the object's metadata.
NEEDS_METADATA = frozenset({Reason.SOURCE_NEWER, Reason.CHECKSUM_DIFFERS})


def is_reason(text: str, *codes: Reason) -> bool:
    """Whether `text` is one of these reason codes: the member itself, not a text that reads
    the same (a plugin comparator's own words decide nothing)."""
    return isinstance(text, Reason) and text in codes


def build_plan(
    src_name: str,
    dst_name: str,
    src: Mapping[str, Entry],
    dst: Mapping[str, Entry],
    policy: Policy,
    compare: Comparator,
    accept: KeyFilter | None = None,
) -> Plan:
    """One action per key on either side (destination-only keys only when deleting); the
    unchanged keys are counted in `Plan.unchanged` and become actions only when asked.

    This loop runs once per key of both listings (millions for a large bucket), so matching
    and `decide_both` are written out inline: the rules are the same.
    """
    with collector_paused():
        return _build_plan(src_name, dst_name, src, dst, policy, compare, accept)


def _build_plan(
    src_name: str,
    dst_name: str,
    src: Mapping[str, Entry],
    dst: Mapping[str, Entry],
    policy: Policy,
    compare: Comparator,
    accept: KeyFilter | None,
) -> Plan:
    # The source is walked in its own order (one look-up in the destination per key), the
    # destination-only keys are found by a set difference, and only the few actions that are
    # made get sorted: no sort of every key, no second look-up per key, no action per skip.
    changes: list[Action] = []
    add = changes.append
    get_dst = dst.get
    delete, ignore_existing = policy.delete, policy.ignore_existing
    drop_excluded = delete and policy.delete_excluded
    copy, update, remove = Kind.COPY, Kind.UPDATE, Kind.DELETE
    unchanged = 0
    new = 0  # source keys missing from the destination
    for key, s in src.items():
        d = get_dst(key)
        if accept is not None:
            verdict = accept(key, s, d)
            if verdict is not None and not verdict[0]:
                if d is None:
                    new += 1
                add(_excluded(key, s, d, verdict[1], drop_excluded))
                continue
        if d is None:
            new += 1
            add(Action(copy, key, s, None, Reason.NEW_FILE))
        elif ignore_existing:
            unchanged += 1
        else:
            reason = compare(s, d, policy)
            if reason is None:
                unchanged += 1
            else:
                add(Action(update, key, s, d, reason))
    if (delete or accept is not None) and len(dst) > len(src) - new:
        # A set difference of the key views runs in C on the hashes the dictionaries keep:
        # less than half the cost of a Python loop of look-ups at a million keys.
        for key in dst.keys() - src.keys():
            d = dst[key]
            if accept is not None:
                verdict = accept(key, None, d)
                if verdict is not None and not verdict[0]:
                    add(_excluded(key, None, d, verdict[1], drop_excluded))
                    continue
            if delete:
                add(Action(remove, key, None, d, Reason.NOT_IN_SOURCE))
    changes.sort(key=attrgetter("key"))
    reason = Reason.EXISTS if ignore_existing else Reason.UNCHANGED
    return Plan(
        src=src_name,
        dst=dst_name,
        changes=tuple(changes),
        src_count=len(src),
        dst_count=len(dst),
        unchanged=Unchanged(src, dst, unchanged, reason),
    )


def _excluded(key: str, s: Entry | None, d: Entry | None, why: str, drop: bool) -> Action:
    """A key a filter excluded: left alone, or deleted from the destination with
    --delete-excluded."""
    if d is not None and drop:
        return Action(Kind.DELETE, key, None, d, f"excluded ({why})")
    return Action(Kind.EXCLUDE, key, s, d, why)


def pair_renames(plan: Plan) -> Plan:
    """--track-renames: a new source file whose content equals a destination file about to be
    deleted becomes a move of that file. Content is equal when sizes match and the MD5s (or the
    multipart ETags) are equal; files without a hash are never paired."""

    def fingerprint(e: Entry) -> tuple[int, str] | None:
        if e.md5:
            return e.size, "md5:" + e.md5
        if e.etag and "-" in e.etag:
            return e.size, "etag:" + e.etag
        return None

    leaving: dict[tuple[int, str], list[Action]] = {}
    for a in plan.deletes:
        fp = fingerprint(a.dst) if a.dst is not None else None
        if fp is not None:
            leaving.setdefault(fp, []).append(a)
    if not leaving:
        return plan
    paired: set[str] = set()
    out: list[Action] = []
    for a in plan.changes:  # the skips are not needed: only copies are paired
        if a.kind is Kind.COPY and a.src is not None:
            fp = fingerprint(a.src)
            if fp is not None and leaving.get(fp):
                old = leaving[fp].pop()
                paired.add(old.key)
                out.append(Action(Kind.MOVE, a.key, a.src, old.dst, f"renamed from {old.key}"))
                continue
        out.append(a)
    kept = tuple(a for a in out if not (a.kind is Kind.DELETE and a.key in paired))
    return attrs.evolve(plan, changes=kept)


def parse_max_delete(text: str) -> tuple[float, bool]:
    """'25' -> (25, False); '10%' -> (10, True). Raises ValueError for anything else."""
    t = text.strip()
    percent = t.endswith("%")
    number = float(t[:-1] if percent else t)
    if not number < 2**63:  # also refuses inf and nan
        raise ValueError(t)
    if number < 0 or (not percent and number != int(number)) or (percent and number > 100):
        raise ValueError(t)
    return number, percent


def deletes_over_limit(deletes: int, dst_files: int, limit: str | None) -> str | None:
    """Why planned deletions exceed --max-delete, or None when they are within it."""
    if limit is None or deletes == 0:
        return None
    number, percent = parse_max_delete(limit)
    allowed = dst_files * number / 100 if percent else number
    if deletes > allowed:
        return f"{deletes} deletions planned, more than --max-delete {limit}"
    return None


def in_the_way(writes: Iterable[str], deletes: Iterable[str]) -> tuple[set[str], set[str]]:
    """Planned deletions that must happen before the writes, where a file and a folder cannot
    share a name: a file `x` to delete where `x/y` is to be written, and the files below a
    folder `x` to delete where a file `x` is to be written. Returns those deletions and the
    written keys whose (then empty) folder must go first."""
    writes = set(writes)
    prefixes: dict[str, str] = {}  # every parent folder of a write -> one write below it
    for key in writes:
        parts = key.split("/")
        for n in range(1, len(parts)):
            prefixes.setdefault("/".join(parts[:n]), key)
    early: set[str] = set()
    folders: set[str] = set()
    for key in deletes:
        if key in prefixes:
            early.add(key)  # a file where a folder is to be
            continue
        parts = key.split("/")
        for n in range(1, len(parts)):
            above = "/".join(parts[:n])
            if above in writes:
                early.add(key)  # below a folder where a file is to be
                folders.add(above)
                break
    return early, folders
