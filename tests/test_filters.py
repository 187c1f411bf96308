"""Filter semantics as a table, the units, and the plugin end to end."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import fssync
from fssync.cli.main import main
from fssync_plugins.filter_rules.rules import RuleError, RuleSet, folders_marked
from fssync_plugins.filter_rules.units import parse_age, parse_size

from .helpers import make_tree, read_tree

# (rule, key, matches?)
PATTERNS = [
    ("- *.jpg", "a.jpg", True),
    ("- *.jpg", "dir/sub/a.jpg", True),  # unanchored: any depth
    ("- *.jpg", "a.jpgx", False),
    ("- /*.jpg", "a.jpg", True),  # anchored at the root
    ("- /*.jpg", "dir/a.jpg", False),
    ("- *", "dir/a", True),  # '*' matches the last segment at any depth
    ("- /*", "dir/a", False),
    ("- /dir/*", "dir/a", True),
    ("- /dir/*", "dir/sub/a", False),  # '*' does not cross '/'
    ("- /dir/**", "dir/sub/a", True),
    ("- dir/**", "x/dir/sub/a", True),
    ("- file?.txt", "file1.txt", True),
    ("- file?.txt", "file10.txt", False),
    ("- file?.txt", "file/.txt", False),  # '?' does not match '/'
    ("- [ab]*.txt", "b1.txt", True),
    ("- [^ab]*.txt", "b1.txt", False),
    ("- [^ab]*.txt", "c1.txt", True),
    ("- [!ab]*.txt", "b1.txt", True),  # as in rclone, '!' is a member of the set, not "not"
    ("- [!ab]*.txt", "!1.txt", True),
    ("- *.{jpg,png}", "x/y.png", True),
    ("- *.{jpg,png}", "x/y.gif", False),
    ("- cache/", "cache/a", True),  # a folder and all it holds
    ("- cache/", "x/cache/a/b", True),
    ("- cache/", "cache", False),  # a file named cache is not the folder
    ("- /cache/", "x/cache/a", False),
    ("- a\\*b", "a*b", True),  # escaped star
    ("- a\\*b", "axb", False),
    ("-re \\.tmp$", "x/y.tmp", True),
    ("-re ^logs/\\d+", "logs/2026", True),
    ("-re ^logs/\\d+", "old/logs/2026", False),
]


@pytest.mark.parametrize(("rule", "key", "matches"), PATTERNS)
def test_pattern_table(rule, key, matches):
    assert (RuleSet.build([rule]).decide(key) is not None) is matches


# (rules in order, key, expected verdict)
ORDERED = [
    (["+ *.jpg", "- *"], "a.jpg", (True, "+ *.jpg")),
    (["+ *.jpg", "- *"], "a.png", (False, "- *")),
    (["- secret/**", "+ *.txt"], "secret/a.txt", (False, "- secret/** (folder secret/)")),
    (["+ *.txt", "- secret/**"], "secret/a.txt", (True, "+ *.txt")),
    (["+ *.txt"], "a.png", None),  # a '+' rule implies nothing (only --include does)
    (["+ *.txt", "- /**"], "a.png", (False, "matched no include rule")),  # what --include adds
    (["+ /*.txt", "- /**"], "d/a.png", (False, "matched no include rule (folder d/)")),
    (["- *.bak"], "a.png", None),  # no opinion: included
    (["- *.bak", "!", "+ *.txt"], "a.bak", None),  # '!' clears
    (["- /raw/**", "+ *.jpg"], "raw/a.jpg", (False, "- /raw/** (folder raw/)")),
]


@pytest.mark.parametrize(("rules", "key", "verdict"), ORDERED)
def test_first_match_wins(rules, key, verdict):
    assert RuleSet.build(rules).decide(key) == verdict


@pytest.mark.parametrize(
    "bad", ["* foo", "+", "- [abc", "- {a,b", "+re (", "x *.jpg", "- a]", "- a}", "- ***", "- /"]
)
def test_bad_rules_are_clear_errors(bad):
    with pytest.raises(RuleError) as info:
        RuleSet.build([bad])
    assert "\n" not in str(info.value)


def test_units():
    assert parse_size("10M") == 10 << 20
    assert parse_size("1.5k") == 1536
    assert parse_size("123") == 123
    assert parse_size("2GiB") == 2 << 30
    now = 1_000_000.0
    assert parse_age("2d", now) == now - 2 * 86400
    assert parse_age("1h30m", now) == now - 5400
    assert parse_age("90", now) == now - 90
    assert parse_age("2026-01-31", now) > 1.7e9
    for bad in ("ten", "5X"):
        with pytest.raises(ValueError):
            parse_size(bad)
    with pytest.raises(ValueError):
        parse_age("yesterday", now)


def test_marker_folders():
    assert folders_marked(["a/.nosync", "a/x", "b/c/.nosync", ".nosync"], ".nosync") == (
        "",
        "a/",
        "b/c/",
    )


# --- the same files as rclone ----------------------------------------------------------------

RCLONE = json.loads((Path(__file__).parent / "data" / "rclone_filters.json").read_text("utf-8"))


@pytest.mark.parametrize("case", RCLONE["cases"], ids=[c["name"] for c in RCLONE["cases"]])
def test_selects_what_rclone_selects(case, tmp_path, capsys):
    """Each rule list selects, on the recorded tree, exactly the files rclone listed (the
    answers in tests/data/rclone_filters.json were recorded with rclone itself)."""
    src, rules = tmp_path / "src", tmp_path / "rules"
    make_tree(src, {key: b"x" for key in RCLONE["tree"]})
    rules.mkdir()
    for name, text in RCLONE["rule_files"].items():
        (rules / name).write_text(text, encoding="utf-8")
    argv = []
    for flag, value in case["flags"]:
        if value.startswith("{file:"):
            value = str(rules / value[len("{file:") : -1])
        argv += [flag, value]
    dst = tmp_path / "dst"
    dst.mkdir()
    code = main(["sync", str(src), str(dst), "--no-state", *argv])
    assert code == 0, capsys.readouterr().err
    assert sorted(read_tree(dst)) == case["rclone"]


# --- end to end ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    make_tree(
        src,
        {
            "a.jpg": b"j" * 10,
            "b.txt": b"t" * 2000,
            "keep/c.txt": b"c",
            "skip/.nosync": b"",
            "skip/d.txt": b"d",
            "tmp/e.tmp": b"e",
        },
    )
    return src


def test_cli_filters_in_order_and_size_limits(tree, tmp_path, capsys):
    dst = tmp_path / "dst"
    code = main(
        [
            "sync",
            str(tree),
            str(dst),
            "--exclude",
            "*.tmp",
            "--exclude-if-present",
            ".nosync",
            "--max-size",
            "1K",
            "--include",
            "*.txt",
            "--include",
            "*.jpg",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert set(read_tree(dst)) == {"a.jpg", "keep/c.txt"}  # b.txt is larger than 1K


def test_excluded_destination_files_survive_delete(tree, tmp_path):
    dst = tmp_path / "dst"
    make_tree(dst, {"old.tmp": b"x", "gone.txt": b"y"})
    report = fssync.sync(str(tree), str(dst), delete=True, filters=["- *.tmp"])
    got = read_tree(dst)
    assert "old.tmp" in got and "gone.txt" not in got
    assert report.deleted == 1
    report = fssync.sync(
        str(tree), str(dst), delete=True, filters=["- *.tmp"], delete_excluded=True
    )
    assert "old.tmp" not in read_tree(dst) and report.deleted == 1


def test_filter_from_and_files_from(tree, tmp_path):
    rules = tmp_path / "rules.txt"
    rules.write_text("# comment\n- skip/**\n+ *.txt\n- *\n")
    listed = tmp_path / "list.txt"
    listed.write_text("b.txt\nkeep/c.txt\n")
    dst = tmp_path / "dst"
    fssync.sync(str(tree), str(dst), filters=[f"@filter:{rules}"], files_from=str(listed))
    assert set(read_tree(dst)) == {"b.txt", "keep/c.txt"}


def test_age_filter(tree, tmp_path):
    import os

    os.utime(tree / "b.txt", (time.time(), time.time()))  # fresh; the rest are from 2023
    dst = tmp_path / "dst"
    fssync.sync(str(tree), str(dst), max_age="1d")
    assert set(read_tree(dst)) == {"b.txt"}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--filter", "* nope"], "bad filter rule"),
        (["--min-size", "lots"], "not a size"),
        (["--max-age", "someday"], "not an age"),
        (["--filter-from", "/no/such/rules"], "cannot read filter file"),
        (["--files-from", "/no/such/list"], "cannot read --files-from"),
        (["--exclude", "[oops"], "unclosed"),
    ],
)
def test_bad_filter_input_exits_2(args, words, tree, tmp_path, capsys):
    code = main(["sync", str(tree), str(tmp_path / "dst"), *args])
    err = capsys.readouterr().err
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_dry_run_verbose_names_the_rule(tree, tmp_path, capsys):
    code = main(["sync", str(tree), str(tmp_path / "dst"), "--dry-run", "-v", "--exclude", "*.tmp"])
    out = capsys.readouterr().out
    assert code == 0 and "! tmp/e.tmp  (- *.tmp)" in out


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("tmp/e.tmp", "tmp/e.tmp is excluded: - *.tmp"),
        ("b.txt", "b.txt would be copied: new file"),
        ("skip/d.txt", "is excluded: folder has an --exclude-if-present marker"),
        ("nope.txt", "is left alone"),
    ],
)
def test_explain_says_which_rule_decided(path, words, tree, tmp_path, capsys):
    dst = tmp_path / "dst"
    code = main(
        [
            "sync",
            str(tree),
            str(dst),
            "--exclude",
            "*.tmp",
            "--exclude-if-present",
            ".nosync",
            "--explain",
            path,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and words in out
    assert not dst.exists() or read_tree(dst) == {}
