"""Decide what to do with each key (pure): compare rules and the plan builder.

Every rule is spelled out here and table-tested. Comparators answer "why must the destination
be updated?" with a short reason, or None when the two entries count as equal.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import attrs

from .location import Capabilities
from .matching import all_keys
from .model import Action, Entry, Kind, Plan


@attrs.frozen
class Policy:
    """What the user asked for, passed in: decisions read nothing global."""

    delete: bool = False
    delete_excluded: bool = False
    ignore_existing: bool = False
    src_caps: Capabilities = Capabilities(keeps_mtime=True)
    dst_caps: Capabilities = Capabilities(keeps_mtime=True)
    # Derived once here, not on each of the million comparisons that read them.
    mtime_window: float = attrs.field(init=False)
    stamp_window: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(
            self, "mtime_window", max(self.src_caps.mtime_window, self.dst_caps.mtime_window)
        )
        object.__setattr__(
            self, "stamp_window", max(self.src_caps.stamp_window, self.dst_caps.stamp_window)
        )


Comparator = Callable[[Entry, Entry, Policy], str | None]
# A filter answers for one key: True include, False exclude, None no opinion. The reason string
# is shown with --dry-run -v.
Verdict = tuple[bool, str] | None
KeyFilter = Callable[[str, Entry | None, Entry | None], Verdict]


def compare_size(src: Entry, dst: Entry, policy: Policy) -> str | None:
    return "size differs" if src.size != dst.size else None


def compare_size_mtime(src: Entry, dst: Entry, policy: Policy) -> str | None:
    """Size first; then exact mtimes when both sides know them; else the store's write time.

    - both mtimes known (a local file, or an object whose mtime fssync recorded): they must agree
      within the coarser backend's precision;
    - otherwise the destination's write time (S3 LastModified) says "not older than": update only
      when the source is newer than it, beyond that store's precision.
    """
    if src.size != dst.size:
        return "size differs"
    if src.mtime is not None and dst.mtime is not None:
        if abs(src.mtime - dst.mtime) > policy.mtime_window:
            return "modification time differs"
        return None
    when = src.mtime if src.mtime is not None else src.stamp
    if when is not None and dst.stamp is not None and when > dst.stamp + policy.stamp_window:
        return "source is newer"
    return None


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
        return "size differs"
    if src.md5 and dst.md5:
        return None if src.md5 == dst.md5 else "checksum differs"
    if src.etag and dst.etag and "-" in src.etag and "-" in dst.etag:
        return None if src.etag == dst.etag else "checksum differs"
    reason = compare_size_mtime(src, dst, policy)
    return f"{reason} (no common checksum)" if reason else None


compare_checksum.needs_hashes = True  # type: ignore[attr-defined]


def needs_hashes(compare: Comparator) -> bool:
    """Whether a comparator wants content hashes computed before planning."""
    return bool(getattr(compare, "needs_hashes", False))


def compare_existence(src: Entry, dst: Entry, policy: Policy) -> str | None:
    """Present on both sides means equal."""
    return None


BUILTIN_MODES: Mapping[str, Comparator] = {
    "size-mtime": compare_size_mtime,
    "size": compare_size,
    "update": compare_update,
    "existence": compare_existence,
    "checksum": compare_checksum,
}


def decide_both(key: str, s: Entry, d: Entry, policy: Policy, compare: Comparator) -> Action:
    """The action for a key present on both sides."""
    if policy.ignore_existing:
        return Action(Kind.SKIP, key, s, d, "exists (--ignore-existing)")
    reason = compare(s, d, policy)
    if reason is None:
        return Action(Kind.SKIP, key, s, d, "unchanged")
    return Action(Kind.UPDATE, key, s, d, reason)


# Reasons that rest on what a listing cannot show: worth one HEAD to read the object's metadata.
NEEDS_METADATA = frozenset({"source is newer", "checksum differs"})


def build_plan(
    src_name: str,
    dst_name: str,
    src: Mapping[str, Entry],
    dst: Mapping[str, Entry],
    policy: Policy,
    compare: Comparator,
    accept: KeyFilter | None = None,
) -> Plan:
    """One action per key on either side (destination-only keys only when deleting).

    This loop runs once per key of both listings (millions for a large bucket), so matching
    and `decide_both` are written out inline: the rules are the same.
    """
    with _collector_paused():
        return _build_plan(src_name, dst_name, src, dst, policy, compare, accept)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while planning allocates one action per key.

    Entries and actions hold no reference cycles (reference counting frees them), but every
    few thousand new objects the collector would walk all the objects alive, millions of listed
    entries among them: without the pause that is more than half of planning's time at scale.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build_plan(
    src_name: str,
    dst_name: str,
    src: Mapping[str, Entry],
    dst: Mapping[str, Entry],
    policy: Policy,
    compare: Comparator,
    accept: KeyFilter | None,
) -> Plan:
    actions: list[Action] = []
    add = actions.append
    get_src, get_dst = src.get, dst.get
    delete, ignore_existing = policy.delete, policy.ignore_existing
    copy, update, skip, remove = Kind.COPY, Kind.UPDATE, Kind.SKIP, Kind.DELETE
    for key in all_keys(src, dst):
        s = get_src(key)
        d = get_dst(key)
        if accept is not None:
            verdict = accept(key, s, d)
            if verdict is not None and not verdict[0]:
                if d is not None and delete and policy.delete_excluded:
                    add(Action(remove, key, None, d, f"excluded ({verdict[1]})"))
                else:
                    add(Action(Kind.EXCLUDE, key, s, d, verdict[1]))
                continue
        if s is None:
            if delete:
                add(Action(remove, key, None, d, "not in source"))
        elif d is None:
            add(Action(copy, key, s, None, "new file"))
        elif ignore_existing:
            add(Action(skip, key, s, d, "exists (--ignore-existing)"))
        else:
            reason = compare(s, d, policy)
            if reason is None:
                add(Action(skip, key, s, d, "unchanged"))
            else:
                add(Action(update, key, s, d, reason))
    return Plan(
        src=src_name, dst=dst_name, actions=tuple(actions), src_count=len(src), dst_count=len(dst)
    )


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
    for a in plan.actions:
        if a.kind is Kind.COPY and a.src is not None:
            fp = fingerprint(a.src)
            if fp is not None and leaving.get(fp):
                old = leaving[fp].pop()
                paired.add(old.key)
                out.append(Action(Kind.MOVE, a.key, a.src, old.dst, f"renamed from {old.key}"))
                continue
        out.append(a)
    kept = tuple(a for a in out if not (a.kind is Kind.DELETE and a.key in paired))
    return attrs.evolve(plan, actions=kept)


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
