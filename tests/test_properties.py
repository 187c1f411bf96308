"""Properties that must hold for any tree: checked with hypothesis."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fssync
from fssync import Entry, Kind, Policy
from fssync.planning.decide import build_plan, compare_size_mtime, deletes_over_limit
from fssync_plugins.filter_rules.rules import RuleSet

from .helpers import make_tree, read_tree

names = st.sampled_from(["a", "b", "c.txt", "d.jpg", "e.tmp", "f"])
keys = st.lists(names, min_size=1, max_size=3).map("/".join)
trees = st.dictionaries(keys, st.binary(max_size=40), max_size=12).filter(
    # a key may not be both a file and a folder
    lambda t: not any(k != o and o.startswith(k + "/") for k in t for o in t)
)


def compatible(src: dict[str, bytes], dst: dict[str, bytes]) -> bool:
    """No key is a file on one side and a folder on the other (that conflict is reported, and
    tested on its own)."""
    both = set(src) | set(dst)
    return not any(o.startswith(k + "/") for k in both for o in both)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(src=trees, dst=trees, delete=st.booleans())
def test_after_sync_the_plan_is_empty(src, dst, delete, monkeypatch):
    if not compatible(src, dst):
        return
    base = Path(tempfile.mkdtemp())
    try:
        monkeypatch.setenv("FSSYNC_STATE_DIR", str(base / "state"))
        make_tree(base / "s", src)
        (base / "s").mkdir(exist_ok=True)
        make_tree(base / "d", dst, mtime=1_600_000_000)
        report = fssync.sync(
            str(base / "s"), str(base / "d"), delete=delete, allow_empty_source=delete
        )
        assert report.failed == 0
        plan = fssync.plan(str(base / "s"), str(base / "d"), delete=delete)
        assert not plan.transfers and (not delete or not plan.deletes)
        got = read_tree(base / "d")
        for key, data in src.items():
            assert got[key] == data
        if delete:
            assert set(got) == set(src)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def entries(tree: dict[str, bytes]) -> dict[str, Entry]:
    return {k: Entry(k, len(v), mtime=1.0, stamp=1.0) for k, v in tree.items()}


rules = st.lists(
    st.tuples(
        st.sampled_from(["+", "-"]), st.sampled_from(["*.txt", "*.tmp", "/a/**", "b/", "*", "c.*"])
    ),
    max_size=4,
).map(lambda rs: [f"{sign} {pat}" for sign, pat in rs])


@given(src=trees, dst=trees, rule_texts=rules)
def test_a_filtered_path_is_never_deleted(src, dst, rule_texts):
    ruleset = RuleSet.build(rule_texts)
    plan = build_plan(
        "s",
        "d",
        entries(src),
        entries(dst),
        Policy(delete=True),
        compare_size_mtime,
        lambda key, s, d: ruleset.decide(key),
    )
    for action in plan.deletes:
        verdict = ruleset.decide(action.key)
        assert verdict is None or verdict[0], f"{action.key} deleted despite {verdict}"
    for action in plan.of(Kind.EXCLUDE):
        assert action.kind is not Kind.DELETE


@given(
    extra=st.integers(0, 50),
    present=st.integers(0, 50),
    limit=st.integers(0, 60),
    percent=st.booleans(),
)
def test_max_delete_is_never_exceeded(extra, present, limit, percent):
    spec = f"{min(limit, 100)}%" if percent else str(limit)
    dst_files = extra + present
    held = deletes_over_limit(extra, dst_files, spec)
    allowed = dst_files * min(limit, 100) / 100 if percent else limit
    if held is None:
        assert extra <= allowed
    else:
        assert extra > allowed
