"""The Python API takes the command line's options by the same names and checks them with the
same parsers, before anything is read or written; a Plan reads like a Report."""

from __future__ import annotations

import os

import pytest

import fssync

from .helpers import make_tree, read_tree

FILES = {"a.txt": b"alpha", "b/c.txt": b"charlie", "d.tmp": b"delta"}


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def src(tmp_path):
    make_tree(tmp_path / "src", FILES)
    return tmp_path / "src"


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"transfers": 0}, "must be at least 1"),
        ({"transfers": -1}, "must be at least 1"),
        ({"transfers": True}, "takes a value"),
        ({"max_delete": "abc"}, "not a count or a percentage"),
        ({"retries_sleep": "soon"}, "--retries-sleep"),
        ({"dry_run": "yes"}, "takes True or False"),
        ({"checksum": "yes"}, "takes True or False"),
        ({"dry_run": 1}, "takes True or False"),
        ({"links": "sideways"}, "takes 'store' or 'follow'"),
        ({"verbose": -1}, "takes a count"),
        ({"no_such_option": 1}, "unknown option(s) no_such_option"),
    ],
)
def test_bad_keywords_are_refused_before_anything_is_written(options, words, src, tmp_path):
    dst = tmp_path / "dst"
    with pytest.raises(fssync.UsageError) as info:
        fssync.sync(str(src), str(dst), delete=True, **options)
    assert words in str(info.value) and "\n" not in str(info.value)
    assert not dst.exists()


def test_max_delete_is_checked_before_the_copies(src, tmp_path):
    dst = tmp_path / "dst"
    make_tree(dst, {"old.txt": b"o"})
    with pytest.raises(fssync.UsageError):
        fssync.sync(str(src), str(dst), delete=True, max_delete="abc")
    assert read_tree(dst) == {"old.txt": b"o"}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"include": "*.txt"}, {"a.txt", "b/c.txt"}),
        ({"include": ["*.tmp"]}, {"d.tmp"}),
        ({"exclude": ["*.tmp"]}, {"a.txt", "b/c.txt"}),
        ({"filters": ["- b/**"]}, {"a.txt", "d.tmp"}),
        ({"exclude_regex": [r"\.tmp$"]}, {"a.txt", "b/c.txt"}),
    ],
)
def test_filter_flags_by_their_names(options, expected, src, tmp_path):
    fssync.sync(str(src), str(tmp_path / "dst"), **options)
    assert set(read_tree(tmp_path / "dst")) == expected


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"checksum": True}, "checksum differs"),
        ({"compare": "checksum"}, "checksum differs"),
        ({"size_only": True}, None),
        ({"compare": "size"}, None),
    ],
)
def test_compare_flags_by_their_names(options, reason, src, tmp_path):
    dst = tmp_path / "dst"
    fssync.sync(str(src), str(dst))
    (src / "a.txt").write_bytes(b"ALPHA")  # same size, same time: only a checksum tells
    os.utime(src / "a.txt", (1_700_000_000, 1_700_000_000))
    plan = fssync.plan(str(src), str(dst), **options)
    changed = {a.key: a.reason for a in plan.changes}
    if reason is None:
        assert changed == {}
    else:
        assert "a.txt" in changed and reason in changed["a.txt"]


def test_links_true_stores_links(src, tmp_path):
    os.symlink("a.txt", src / "link")
    report = fssync.sync(str(src), str(tmp_path / "dst"), links=True)
    assert report.ok
    assert os.readlink(tmp_path / "dst" / "link") == "a.txt"


@pytest.mark.parametrize(
    ("options", "name", "value"),
    [
        ({"no_state": True}, "state", False),
        ({"state": False}, "state", False),
        ({"state": True}, "state", True),
        ({"checksum": True}, "compare", "checksum"),
        ({"size_only": True}, "compare", "size"),
        ({"size_only": False}, "compare", "size-mtime"),
        ({"links": "follow"}, "links", "follow"),
        ({"copy_links": True}, "links", "follow"),
        ({"verbose": 2}, "verbose", 2),
        ({"transfers": "8"}, "transfers", 8),
        ({"transfers": 8}, "transfers", 8),
        ({"include": "*.jpg"}, "include", ["*.jpg"]),
    ],
)
def test_keywords_mean_what_the_flags_mean(options, name, value):
    from fssync.hooks.manager import make_hooks
    from fssync.settings.options import config_from_api

    config = config_from_api(make_hooks(), "sync", "a", "b", options)
    assert config.options[name] == value


def test_plan_reads_like_a_report(src, tmp_path):
    dst = tmp_path / "dst"
    make_tree(dst, {"a.txt": b"alpha", "gone.txt": b"g"})
    plan = fssync.plan(str(src), str(dst), delete=True, exclude=["*.tmp"])
    assert len(plan) == 4  # a.txt unchanged, b/c.txt new, d.tmp excluded, gone.txt deleted
    assert [a.key for a in plan] == ["a.txt", "b/c.txt", "d.tmp", "gone.txt"]
    assert (plan.copied, plan.updated, plan.deleted, plan.skipped, plan.excluded) == (1, 0, 1, 1, 1)
    assert plan.renamed == 0
    assert repr(plan) == (
        f"Plan(src={str(src)!r}, dst={str(dst)!r}, copied=1, updated=0, deleted=1, skipped=1, "
        "excluded=1, renamed=0)"
    )
    report = fssync.sync(str(src), str(dst), delete=True, exclude=["*.tmp"])
    assert (report.copied, report.deleted, report.skipped, report.excluded) == (
        plan.copied,
        plan.deleted,
        plan.skipped,
        plan.excluded,
    )


def test_repr_of_a_big_plan_stays_short(tmp_path):
    make_tree(tmp_path / "many", {f"f{i:04d}": b"x" for i in range(2000)})
    plan = fssync.plan(str(tmp_path / "many"), str(tmp_path / "dst"))
    assert len(plan) == 2000 and len(repr(plan)) < 300
