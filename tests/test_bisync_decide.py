"""The two-way decision table, every combination of both sides' changes (pure)."""

from __future__ import annotations

import itertools

import pytest

from fssync.model import Entry
from fssync.twoway.decide import (
    CONFLICT_POLICIES,
    Change,
    Op,
    Record,
    change,
    conflict_name,
    decide,
    resolve,
    resolve_first_run,
)

U, M, D, N, X = Change.UNCHANGED, Change.MODIFIED, Change.DELETED, Change.NEW, Change.ABSENT

OLD = Entry("k", 3, 100.0)
EDIT_A = Entry("k", 5, 200.0)
EDIT_B = Entry("k", 7, 300.0)


def entry_for(c: Change, edit: Entry) -> Entry | None:
    return {U: OLD, M: edit, D: None, N: edit, X: None}[c]


def by_content(x: Entry, y: Entry) -> bool:
    return x.size == y.size


# (A's change, B's change) -> the operation, with different content where both are present.
TABLE = {
    (U, U): Op.NOTHING,
    (U, M): Op.COPY_BA,
    (U, D): Op.DELETE_A,
    (M, U): Op.COPY_AB,
    (M, M): Op.CONFLICT,
    (M, D): Op.COPY_AB,  # the edit wins over the deletion
    (D, U): Op.DELETE_B,
    (D, M): Op.COPY_BA,
    (D, D): Op.FORGET,
    (N, N): Op.CONFLICT,
    (N, X): Op.COPY_AB,
    (X, N): Op.COPY_BA,
    (X, X): Op.NOTHING,
}

WITH_RECORD = (U, M, D)
WITHOUT_RECORD = (N, X)


def test_the_table_covers_every_possible_combination():
    possible = set(itertools.product(WITH_RECORD, WITH_RECORD))
    possible |= set(itertools.product(WITHOUT_RECORD, WITHOUT_RECORD))
    assert set(TABLE) == possible


@pytest.mark.parametrize(("a", "b"), list(TABLE), ids=lambda c: c.value)
def test_decision(a, b):
    d = decide(a, b, entry_for(a, EDIT_A), entry_for(b, EDIT_B), by_content)
    assert d.op is TABLE[(a, b)]
    assert (d.a, d.b) == (a, b)
    assert d.reason


@pytest.mark.parametrize(("a", "b"), [(M, M), (N, N), (M, U), (U, M)], ids=str)
def test_equal_content_on_both_sides_is_never_a_conflict(a, b):
    same = Entry("k", 9, 1.0)
    d = decide(a, b, same, same, by_content)
    assert d.op is Op.RECORD


def test_unchanged_sides_with_different_hashes_are_a_conflict():
    x, y = Entry("k", 3, 1.0, md5="m1"), Entry("k", 3, 1.0, md5="m2")
    assert decide(U, U, x, y, by_content).op is Op.CONFLICT


def test_unchanged_equal_content_is_nothing_not_a_record():
    assert decide(U, U, OLD, OLD, by_content).op is Op.NOTHING


@pytest.mark.parametrize(
    ("rec", "now", "window", "expected"),
    [
        (None, None, 0, X),
        (None, OLD, 0, N),
        (Record(3, 100.0), None, 0, D),
        (Record(3, 100.0), OLD, 0, U),
        (Record(4, 100.0), OLD, 0, M),
        (Record(3, 99.0), OLD, 0, M),
        (Record(3, 99.0), OLD, 2.0, U),  # the side's own precision
        (Record(3, 100.0, "e1"), Entry("k", 3, None, etag="e1"), 0, U),
        (Record(3, 100.0, "e1"), Entry("k", 3, 100.0, etag="e2"), 0, M),  # ETag beats mtime
        (Record(3, 50.0, "e1"), Entry("k", 3, 100.0, etag="e1"), 0, U),
        (Record(3, None, None, "m1"), Entry("k", 3, 7.0, md5="m2"), 0, M),
        (Record(3, None, None, "m1"), Entry("k", 3, 7.0, md5="m1"), 0, U),
        (Record(3, None), Entry("k", 3, 7.0), 0, U),  # nothing more to tell by
        # a store that keeps no mtime (SFTP, WebDAV): when it wrote the file
        (Record.of(Entry("k", 3, None, stamp=5.0)), Entry("k", 3, None, stamp=5.0), 0, U),
        (Record.of(Entry("k", 3, None, stamp=5.0)), Entry("k", 3, None, stamp=9.0), 0, M),
    ],
)
def test_change_against_the_record(rec, now, window, expected):
    assert change(rec, now, window) is expected


A_NEW = Entry("k", 1, 200.0)
B_BIG = Entry("k", 9, 100.0)


@pytest.mark.parametrize(
    ("policy", "winner", "keep"),
    [
        ("newer", "a", False),
        ("older", "b", False),
        ("larger", "b", False),
        ("smaller", "a", False),
        ("a", "a", False),
        ("b", "b", False),
        ("keep-both", "a", True),
    ],
)
def test_conflict_policies(policy, winner, keep):
    r = resolve(policy, A_NEW, B_BIG)
    assert (r.winner, r.keep_loser) == (winner, keep)
    assert r.loser != r.winner


def test_every_policy_is_tested():
    assert set(CONFLICT_POLICIES) == {"newer", "older", "larger", "smaller", "a", "b", "keep-both"}


def test_equal_sizes_fall_back_to_the_newer():
    assert resolve("larger", Entry("k", 1, 5.0), Entry("k", 1, 9.0)).winner == "b"


@pytest.mark.parametrize(
    ("policy", "winner"), [("newer", "a"), ("keep-both", "a"), ("a", "a"), ("b", "b")]
)
def test_a_first_run_keeps_the_loser(policy, winner):
    r = resolve_first_run(policy, A_NEW, B_BIG)
    assert r.winner == winner and r.keep_loser


@pytest.mark.parametrize(
    ("key", "out"),
    [
        ("a.txt", "a.conflict-b-D.txt"),
        ("dir/sub/a.tar.gz", "dir/sub/a.tar.conflict-b-D.gz"),
        ("noext", "noext.conflict-b-D"),
        (".bashrc", ".bashrc.conflict-b-D"),
        ("d.x/name", "d.x/name.conflict-b-D"),
    ],
)
def test_conflict_names(key, out):
    assert conflict_name(key, "b", "D") == out


def test_a_taken_conflict_name_gets_a_number():
    assert conflict_name("a.txt", "a", "D", 2) == "a.conflict-a-D-2.txt"


def _renames(files_a, records_a, window=0.001):
    from fssync.twoway.decide import Decision, find_renames

    decisions = {}
    for k in records_a:
        if k not in files_a:
            decisions[k] = Decision(Op.DELETE_B, "deleted on A", D, U)
    for k in files_a:
        if k not in records_a:
            decisions[k] = Decision(Op.COPY_AB, "new on A", N, X)
    records = {"a": records_a, "b": dict(records_a)}
    files = {"a": files_a, "b": {k: Entry(k, r.size, r.mtime) for k, r in records_a.items()}}
    return [
        (r.side, r.old, r.new, r.strong)
        for r in find_renames(decisions, records, files, {"a": window, "b": window})
    ]


@pytest.mark.parametrize(
    ("files_a", "records_a", "expected"),
    [
        # same size and mtime: a rename, not proven by a hash
        ({"new": Entry("new", 3, 100.0)}, {"old": Record(3, 100.0)}, [("a", "old", "new", False)]),
        # same MD5: proven
        (
            {"new": Entry("new", 3, 500.0, md5="m")},
            {"old": Record(3, 100.0, md5="m")},
            [("a", "old", "new", True)],
        ),
        # other MD5, or other size, or other mtime: a deletion and a new file
        ({"new": Entry("new", 3, 100.0, md5="x")}, {"old": Record(3, 100.0, md5="m")}, []),
        ({"new": Entry("new", 4, 100.0)}, {"old": Record(3, 100.0)}, []),
        ({"new": Entry("new", 3, 101.0)}, {"old": Record(3, 100.0)}, []),
        # two candidates for one new file, or two new files for one old: no guessing
        (
            {"new": Entry("new", 3, 100.0)},
            {"old1": Record(3, 100.0), "old2": Record(3, 100.0)},
            [],
        ),
        ({"n1": Entry("n1", 3, 100.0), "n2": Entry("n2", 3, 100.0)}, {"old": Record(3, 100.0)}, []),
    ],
)
def test_renames_are_one_to_one_matches_of_a_deleted_record(files_a, records_a, expected):
    assert _renames(files_a, records_a) == expected


def test_the_state_and_the_listings_are_joined_once_per_path():
    from fssync.errors import FatalError
    from fssync.twoway.run import _union

    r = Record(1, 1.0)
    recorded = iter([("b", r, r), ("d", r, None), ("é", None, r)])
    got = [(k, ra is not None, rb is not None) for k, ra, rb in _union(["a", "b", "c"], recorded)]
    assert got == [
        ("a", False, False),
        ("b", True, True),
        ("c", False, False),
        ("d", True, False),
        ("é", False, True),
    ]
    with pytest.raises(FatalError, match="not in key order"):
        list(_union(["a"], iter([("c", r, r), ("b", r, r)])))


@pytest.mark.parametrize(
    ("mode", "rec", "now", "expected"),
    [
        ("size", Record(3, 99.0, "e1"), Entry("k", 3, 100.0, etag="e2"), U),  # sizes only
        ("size", Record(4, 100.0), OLD, M),
        ("existence", Record(4, 99.0), OLD, U),
        ("existence", Record(4, 99.0), None, D),
        ("existence", None, OLD, N),
        ("checksum", Record(3, 100.0, None, "m1"), Entry("k", 3, 100.0, md5="m2"), M),
    ],
)
def test_change_follows_the_compare_mode(mode, rec, now, expected):
    assert change(rec, now, 0.0, mode) is expected
