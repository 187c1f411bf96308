"""Every compare rule and plan rule, as literal tables."""

from __future__ import annotations

import attrs
import pytest

from fssync import BUILTIN_MODES, Capabilities, Entry, Kind, Policy
from fssync.planning.decide import NO_MTIME, build_plan, compare_size_mtime
from fssync.settings.location import parse

LOCAL = Capabilities(keeps_mtime=True, mtime_window=0.001, stamp_window=0.001)
S3 = Capabilities(keeps_mtime=True, mtime_window=0.001, stamp_window=1.0, listing_has_mtime=False)
MEM = Capabilities(keeps_mtime=False, stamp_window=0.001)
# The declared rows of the protocol table, not copies of them.
FTP = parse("ftp://host/x").capabilities
SFTP = parse("sftp://host/x").capabilities
DAV = parse("webdav://host/x").capabilities


def E(
    size: int = 10, mtime: float | None = None, stamp: float | None = None, etag: str | None = None
) -> Entry:  # noqa: N802
    return Entry(key="k", size=size, mtime=mtime, stamp=stamp, etag=etag)


# (name, src, dst, src caps, dst caps, expected reason or None)
SIZE_MTIME = [
    ("sizes differ", E(10, 100.0, 100.0), E(11, 100.0, 100.0), LOCAL, LOCAL, "size differs"),
    ("same mtime", E(10, 100.0, 100.0), E(10, 100.0, 100.0), LOCAL, LOCAL, None),
    ("mtime within window", E(10, 100.0), E(10, 100.0005), LOCAL, LOCAL, None),
    ("mtime beyond window", E(10, 100.0), E(10, 100.01), LOCAL, LOCAL, "modification time differs"),
    ("dst older mtime", E(10, 200.0), E(10, 100.0), LOCAL, LOCAL, "modification time differs"),
    (
        "dst newer exact mtime still differs",
        E(10, 100.0),
        E(10, 200.0),
        LOCAL,
        LOCAL,
        "modification time differs",
    ),
    # S3 object without a known mtime: LastModified is the upload time, "not older than"
    ("uploaded after edit", E(10, 100.0, 100.0), E(10, None, 150.0), LOCAL, S3, None),
    ("edited after upload", E(10, 200.0, 200.0), E(10, None, 150.0), LOCAL, S3, "source is newer"),
    ("edit within S3's 1 s precision", E(10, 150.5, 150.5), E(10, None, 150.0), LOCAL, S3, None),
    ("S3 object with recorded mtime equal", E(10, 100.0), E(10, 100.0, 150.0), LOCAL, S3, None),
    (
        "S3 object with recorded mtime differs",
        E(10, 90.0),
        E(10, 100.0, 150.0),
        LOCAL,
        S3,
        "modification time differs",
    ),
    # download: S3 source without recorded mtime, local copy stamped with LastModified
    ("downloaded copy", E(10, None, 150.0), E(10, 150.0, 150.0), S3, LOCAL, None),
    (
        "object replaced later",
        E(10, None, 300.0),
        E(10, 150.0, 150.0),
        S3,
        LOCAL,
        "source is newer",
    ),
    # stores that cannot keep mtimes (memory): the copy's creation time is "not older than"
    ("memory copy", E(10, 100.0, 100.0), E(10, None, 120.0), LOCAL, MEM, None),
    ("nothing known", E(10), E(10), MEM, MEM, None),
    # backends that keep no mtime, at their declared precision: FTP lists minutes, so an edit
    # 30 s after the upload cannot be told apart; one 2 minutes later can, and says why
    ("FTP: within its minute", E(10, 180.0, 180.0), E(10, None, 150.0), LOCAL, FTP, None),
    ("FTP: edited later", E(10, 300.0, 300.0), E(10, None, 150.0), LOCAL, FTP, NO_MTIME),
    ("WebDAV: edited later", E(10, 152.0, 152.0), E(10, None, 150.0), LOCAL, DAV, NO_MTIME),
    ("WebDAV: within its second", E(10, 150.5, 150.5), E(10, None, 150.0), LOCAL, DAV, None),
    # SFTP keeps mtimes in whole seconds: the copy of 150.7 holds 150
    ("SFTP: its whole second", E(10, 150.7), E(10, 150.0, 150.0), LOCAL, SFTP, None),
    (
        "SFTP: edited later",
        E(10, 152.0),
        E(10, 150.0, 150.0),
        LOCAL,
        SFTP,
        "modification time differs",
    ),
]


@pytest.mark.parametrize(
    ("name", "src", "dst", "sc", "dc", "expected"), SIZE_MTIME, ids=[c[0] for c in SIZE_MTIME]
)
def test_size_mtime(name, src, dst, sc, dc, expected):
    assert compare_size_mtime(src, dst, Policy(src_caps=sc, dst_caps=dc)) == expected


OTHER_MODES = [
    ("size", E(10, 1.0), E(10, 999.0), None),
    ("size", E(10, 1.0), E(12, 1.0), "size differs"),
    ("existence", E(10, 1.0), E(99, 999.0), None),
    ("update", E(10, 100.0), E(11, 200.0), None),  # destination newer: never replaced
    ("update", E(10, 200.0), E(11, 100.0), "size differs"),
    ("update", E(10, 200.0), E(10, 100.0), "modification time differs"),
]


@pytest.mark.parametrize(("mode", "src", "dst", "expected"), OTHER_MODES)
def test_other_modes(mode, src, dst, expected):
    assert BUILTIN_MODES[mode](src, dst, Policy(src_caps=LOCAL, dst_caps=LOCAL)) == expected


def entries(**sizes: int) -> dict[str, Entry]:
    return {k: Entry(key=k, size=v, mtime=100.0, stamp=100.0) for k, v in sizes.items()}


def kinds(plan) -> dict[str, Kind]:
    return {a.key: a.kind for a in plan.actions}


def test_plan_copies_updates_skips_and_keeps_extra_files_without_delete():
    plan = build_plan(
        "a",
        "b",
        entries(new=1, same=2, changed=3),
        entries(same=2, changed=4, extra=5),
        Policy(),
        compare_size_mtime,
    )
    assert kinds(plan) == {"new": Kind.COPY, "same": Kind.SKIP, "changed": Kind.UPDATE}
    assert plan.bytes == 1 + 3


def test_plan_deletes_only_when_asked():
    plan = build_plan(
        "a", "b", entries(x=1), entries(x=1, extra=5), Policy(delete=True), compare_size_mtime
    )
    assert kinds(plan) == {"x": Kind.SKIP, "extra": Kind.DELETE}


def test_excluded_destination_file_is_not_deleted_unless_delete_excluded():
    def no_tmp(key, s, d):
        return (False, "- *.tmp") if key.endswith(".tmp") else None

    src, dst = entries(a=1, b_tmp=1), entries(**{"c.tmp": 2})
    plan = build_plan("a", "b", src, dst, Policy(delete=True), compare_size_mtime, no_tmp)
    assert kinds(plan)["c.tmp"] is Kind.EXCLUDE
    plan = build_plan(
        "a", "b", src, dst, Policy(delete=True, delete_excluded=True), compare_size_mtime, no_tmp
    )
    assert kinds(plan)["c.tmp"] is Kind.DELETE


def test_ignore_existing_skips_changed_files():
    plan = build_plan(
        "a", "b", entries(x=1), entries(x=2), Policy(ignore_existing=True), compare_size_mtime
    )
    assert kinds(plan) == {"x": Kind.SKIP}


def test_plan_is_sorted_and_counts():
    plan = build_plan("a", "b", entries(b=1, a=1, c=1), {}, Policy(), compare_size_mtime)
    assert [a.key for a in plan.actions] == ["a", "b", "c"]
    assert plan.counts()["copy"] == 3


def test_unchanged_keys_are_counted_and_listed_in_key_order_only_when_asked():
    # The source in a scrambled order, as a folder walk gives it.
    src = dict(sorted(entries(d=1, b=2, a=3, e=4, c=5).items(), reverse=True))
    dst = entries(a=3, b=2, c=9, d=1, z=7)
    plan = build_plan("a", "b", src, dst, Policy(delete=True), compare_size_mtime)
    assert [(a.key, a.kind) for a in plan.changes] == [
        ("c", Kind.UPDATE),
        ("e", Kind.COPY),
        ("z", Kind.DELETE),
    ]
    assert plan.counts()["skip"] == 3
    assert [(a.key, a.kind) for a in plan.actions] == [
        ("a", Kind.SKIP),
        ("b", Kind.SKIP),
        ("c", Kind.UPDATE),
        ("d", Kind.SKIP),
        ("e", Kind.COPY),
        ("z", Kind.DELETE),
    ]
    skip = plan.actions[0]
    assert (skip.src, skip.dst, skip.reason) == (src["a"], dst["a"], "unchanged")
    assert plan.action_for("b") == plan.actions[1] and plan.action_for("c") == plan.actions[2]
    assert plan.action_for("nowhere") is None
    assert plan.of(Kind.SKIP) == (plan.actions[0], plan.actions[1], plan.actions[3])


def test_plans_with_the_same_actions_are_equal_however_their_skips_are_held():
    plan = build_plan("a", "b", entries(x=1, y=2), entries(x=1, y=3), Policy(), compare_size_mtime)
    spelled_out = attrs.evolve(plan, changes=plan.actions, unchanged=None)
    assert spelled_out == plan and hash(spelled_out) == hash(plan)
    assert spelled_out.counts() == plan.counts()


@pytest.mark.parametrize(
    ("deletes", "files", "limit", "over"),
    [
        (5, 100, None, False),
        (5, 100, "5", False),
        (6, 100, "5", True),
        (10, 100, "10%", False),
        (11, 100, "10%", True),
        (1, 5, "0", True),
        (0, 5, "0", False),
    ],
)
def test_max_delete(deletes, files, limit, over):
    from fssync.planning.decide import deletes_over_limit

    assert (deletes_over_limit(deletes, files, limit) is not None) is over
