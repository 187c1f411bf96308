"""fssync check: sigils, --combined, list files, the same compare modes and filters as sync,
--json, and exit codes."""

from __future__ import annotations

import argparse
import json
import os

import pytest

import fssync
from fssync.cli.main import main
from fssync.hooks.manager import registered

from .helpers import make_tree


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def sides(tmp_path):
    """One file of each kind: only in source, only in destination, differing, equal."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src, {"new.txt": b"n", "same.txt": b"s", "changed.txt": b"v2!", "touched.txt": b"t"})
    make_tree(dst, {"old.txt": b"o", "same.txt": b"s", "changed.txt": b"v1"})
    make_tree(dst, {"touched.txt": b"t"}, mtime=1_600_000_000.0)  # same size, other mtime
    return src, dst


def check(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_sigils_and_summary(sides, capsys):
    code, out, err = check(capsys, *map(str, sides))
    assert code == 1
    *changes, summary = out.splitlines()
    assert sorted(changes) == ["* changed.txt", "* touched.txt", "+ new.txt", "- old.txt"]
    assert summary.startswith(
        "4 difference(s): 1 only in source, 1 only in destination, 2 differ, 1 equal"
    )
    assert err == ""  # the summary is on stdout, as sync's is


def test_combined_and_reasons(sides, capsys):
    code, out, _ = check(capsys, *map(str, sides), "--combined", "-v")
    assert code == 1
    lines = out.splitlines()
    assert "= same.txt  (unchanged)" in lines
    assert "* changed.txt  (size differs)" in lines and "+ new.txt  (new file)" in lines


def test_list_files(sides, tmp_path, capsys):
    lists = {name: tmp_path / f"{name}.txt" for name in ("dst", "src", "differ", "match")}
    args = [*map(str, sides), "--missing-on-dst", str(lists["dst"])]
    args += ["--missing-on-src", str(lists["src"]), "--differ", str(lists["differ"])]
    args += ["--match", str(lists["match"]), "-q"]
    code, out, err = check(capsys, *args)
    assert code == 1 and out == "" and err == ""
    assert lists["dst"].read_text() == "new.txt\n"
    assert lists["src"].read_text() == "old.txt\n"
    assert lists["differ"].read_text() == "changed.txt\ntouched.txt\n"
    assert lists["match"].read_text() == "same.txt\n"


def test_same_compare_modes_as_sync(sides, capsys):
    code, out, _ = check(capsys, *map(str, sides), "--compare", "size")
    assert code == 1 and "* touched.txt" not in out and "* changed.txt" in out


class SkipTxtChanges:
    """A filter plugin: check must honour it exactly as sync does."""

    @fssync.hookimpl
    def fssync_key_filters(self, config):
        return [lambda key, src, dst: (False, "ignored") if key.startswith("changed") else None]


def test_same_filters_as_sync(sides, capsys):
    with registered(SkipTxtChanges()):
        code, out, err = check(capsys, *map(str, sides))
    assert code == 1 and "changed.txt" not in out and "2 differ" not in err
    plan = fssync.check(*map(str, sides), plugins=[SkipTxtChanges()])
    assert "changed.txt" not in {a.key for a in plan.actions if a.kind is not fssync.Kind.EXCLUDE}


def test_json(sides, capsys):
    code, out, _ = check(capsys, *map(str, sides), "--json", "--combined")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert {(r["event"], r["sigil"], r["key"]) for r in rows[:-1]} == {
        ("difference", "+", "new.txt"),
        ("difference", "-", "old.txt"),
        ("difference", "*", "changed.txt"),
        ("difference", "*", "touched.txt"),
        ("equal", "=", "same.txt"),
    }
    assert rows[-1] == {
        "event": "summary",
        "differences": 4,
        "missing_on_dst": 1,
        "missing_on_src": 1,
        "differ": 2,
        "match": 1,
        "src_files": 4,
        "dst_files": 4,
    }


def test_json_without_combined_counts_the_equal_files_without_listing_them(sides, capsys):
    code, out, _ = check(capsys, *map(str, sides), "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert {r["event"] for r in rows[:-1]} == {"difference"}
    assert (rows[-1]["differences"], rows[-1]["match"]) == (4, 1)


def test_equal_trees_exit_0_and_lists_are_still_written(tmp_path, capsys):
    make_tree(tmp_path / "a", {"x": b"1", "y/z": b"2"})
    fssync.sync(str(tmp_path / "a"), str(tmp_path / "b"))
    listed = tmp_path / "missing.txt"
    code, out, err = check(
        capsys, str(tmp_path / "a"), str(tmp_path / "b"), "--missing-on-dst", str(listed)
    )
    assert code == 0 and out.startswith("0 difference(s)") and len(out.splitlines()) == 1
    assert listed.read_text() == ""


def test_a_list_file_that_cannot_be_written_is_a_usage_error(sides, tmp_path, capsys):
    code, _, err = check(capsys, *map(str, sides), "--differ", str(tmp_path / "no" / "x.txt"))
    assert code == 2 and "--differ" in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "no")


def _options_of(command: str) -> set[str]:
    from fssync.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {o for a in sub.choices[command]._actions for o in a.option_strings}


def test_each_command_offers_only_the_options_it_uses():
    sync, check, ls, creds = map(_options_of, ("sync", "check", "ls", "credentials"))
    uploads = {"--upload-header", "--no-guess-mime-type", "--storage-class", "--report"}
    assert uploads <= sync and not uploads & (check | ls | creds)
    filters = {"--include", "--exclude", "--files-from", "--min-size", "--delete-excluded"}
    assert filters <= sync & check and not filters & (ls | creds)
    assert {"--local-case-insensitive", "-L"} <= sync & check and "-L" in ls
    assert "--local-case-insensitive" not in ls
    assert not {"-L", "--endpoint-url", "--header", "--anonymous", "--s3-backend"} & creds
    assert {"--role-arn", "--sts-endpoint-url", "--access-key-id", "--region"} <= creds
    assert {"--endpoint-url", "--header", "--role-arn", "--s3-backend"} <= ls & check


@pytest.mark.parametrize("command", ["sync", "check", "ls", "credentials"])
def test_help_ends_with_examples(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    tail = out.split("\nexamples:\n", 1)[1]  # the examples come last, after every option
    assert f"fssync {command} " in tail


def test_an_option_a_command_does_not_use_is_refused(tmp_path, capsys):
    assert main(["ls", str(tmp_path), "--include", "*.txt"]) == 2
    assert "unrecognized arguments: --include" in capsys.readouterr().err
