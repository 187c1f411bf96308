"""End to end between local folders and memory filesystems: no servers needed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import fsspec
import pytest

import fssync
from fssync import Kind
from fssync.cli.main import main

from .helpers import SAMPLE, make_tree, mtimes, read_tree


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    make_tree(root, SAMPLE)
    return root


def test_local_to_local_copies_everything_with_mtimes(src, tmp_path):
    dst = tmp_path / "dst"
    report = fssync.sync(str(src), str(dst))
    assert report.copied == len(SAMPLE) and report.failed == 0
    assert read_tree(dst) == SAMPLE
    assert mtimes(dst) == pytest.approx(mtimes(src), abs=1e-6)
    assert report.bytes == sum(len(v) for v in SAMPLE.values())


def test_rerun_is_a_noop_and_an_edit_moves_one_file(src, tmp_path):
    dst = tmp_path / "dst"
    fssync.sync(str(src), str(dst))
    again = fssync.sync(str(src), str(dst))
    assert (again.copied, again.updated, again.skipped) == (0, 0, len(SAMPLE))
    (src / "a.txt").write_bytes(b"ALPHA\n")  # same size, new mtime
    os.utime(src / "a.txt", (1_800_000_000, 1_800_000_000))
    edit = fssync.sync(str(src), str(dst))
    assert (edit.copied, edit.updated) == (0, 1)
    assert (dst / "a.txt").read_bytes() == b"ALPHA\n"


def test_size_only_misses_a_same_size_edit(src, tmp_path):
    dst = tmp_path / "dst"
    fssync.sync(str(src), str(dst))
    (src / "a.txt").write_bytes(b"ALPHA\n")
    assert fssync.sync(str(src), str(dst), compare="size").updated == 0


def test_delete_only_with_flag_and_after_copies(src, tmp_path):
    dst = tmp_path / "dst"
    make_tree(dst, {"stale.txt": b"old", "dir/old.bin": b"x"})
    kept = fssync.sync(str(src), str(dst))
    assert kept.deleted == 0 and (dst / "stale.txt").exists()
    report = fssync.sync(str(src), str(dst), delete=True)
    assert report.deleted == 2
    assert read_tree(dst) == SAMPLE


def test_dry_run_changes_nothing(src, tmp_path):
    dst = tmp_path / "dst"
    make_tree(dst, {"stale.txt": b"old"})
    before = read_tree(dst)
    report = fssync.sync(str(src), str(dst), delete=True, dry_run=True)
    assert report.dry_run and read_tree(dst) == before
    assert report.copied == 0 and report.deleted == 0
    plan = fssync.plan(str(src), str(dst), delete=True)
    assert {a.key for a in plan.of(Kind.COPY)} == set(SAMPLE)
    assert [a.key for a in plan.deletes] == ["stale.txt"]


def test_empty_source_with_delete_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    dst = tmp_path / "dst"
    make_tree(dst, {"precious.txt": b"keep me"})
    with pytest.raises(fssync.UsageError, match="allow-empty-source"):
        fssync.sync(str(tmp_path / "empty"), str(dst), delete=True)
    assert (dst / "precious.txt").exists()
    report = fssync.sync(str(tmp_path / "empty"), str(dst), delete=True, allow_empty_source=True)
    assert report.deleted == 1


@pytest.mark.parametrize("pair", ["memory->local", "local->memory", "memory->memory"])
def test_memory_filesystem_in_every_direction(pair, src, tmp_path):
    mem = fsspec.filesystem("memory")
    tag = f"/t{os.getpid()}-{pair.replace('->', '-')}"
    first, second = pair.split("->")
    if first == "memory":
        for key, data in SAMPLE.items():
            mem.pipe_file(f"{tag}/src/{key}", data)
        source = f"memory://{tag}/src"
    else:
        source = str(src)
    dest = f"memory://{tag}/dst" if second == "memory" else str(tmp_path / "out")
    report = fssync.sync(source, dest)
    assert report.copied == len(SAMPLE) and report.failed == 0
    if second == "memory":
        got = {k: mem.cat_file(f"{tag}/dst/{k}") for k in SAMPLE}
    else:
        got = read_tree(tmp_path / "out")
    assert got == SAMPLE
    again = fssync.sync(source, dest)
    assert again.copied + again.updated == 0


def test_leftover_temp_files_are_never_listed_as_user_files(src, tmp_path):
    dst = tmp_path / "dst"
    fssync.sync(str(src), str(dst))
    leftover = dst / ".a.txt.fssync-tmp-deadbeef0000"
    leftover.write_bytes(b"partial")
    plan = fssync.plan(str(dst), str(tmp_path / "other"))
    assert all(".fssync-tmp-" not in a.key for a in plan.actions)


# --- the command line ------------------------------------------------------------------------


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_sync_json_ends_with_summary(src, tmp_path, capsys):
    code, out, err = run_cli(capsys, "sync", str(src), str(tmp_path / "dst"), "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert all("event" in line for line in lines)
    summary = lines[-1]
    assert summary["event"] == "summary"
    assert set(summary) == {
        "event",
        "copied",
        "updated",
        "deleted",
        "renamed",
        "skipped",
        "failed",
        "bytes",
        "seconds",
        "dry_run",
    }
    assert summary["copied"] == len(SAMPLE)


def test_cli_dry_run_prints_sigils(src, tmp_path, capsys):
    dst = tmp_path / "dst"
    make_tree(dst, {"stale.txt": b"x", "a.txt": b"changed-size"})
    code, out, _ = run_cli(capsys, "sync", str(src), str(dst), "--dry-run", "--delete")
    assert code == 0
    assert "+ dir/b.txt" in out and "* a.txt" in out and "- stale.txt" in out
    assert (dst / "stale.txt").exists()


def test_a_dry_run_summary_says_what_would_be_done(src, tmp_path, capsys):
    dst = tmp_path / "dst"
    make_tree(dst, {"stale.txt": b"x", "a.txt": b"changed-size", "empty.bin": b""})
    planned = sum(len(v) for k, v in SAMPLE.items() if k != "empty.bin")
    args = ["sync", str(src), str(dst), "--dry-run", "--delete"]
    code, out, _ = run_cli(capsys, *args)
    assert code == 0
    last = out.splitlines()[-1]
    copies = len(SAMPLE) - 2
    assert last.startswith(
        f"dry run, nothing changed: would copy {copies}, update 1, delete 1; 1 unchanged, 0 failed; "
        f"would transfer {fssync.human_bytes(planned)} (planned in "
    ), last
    code, out, _ = run_cli(capsys, *args, "--json")
    summary = json.loads(out.splitlines()[-1])
    assert (summary["copied"], summary["updated"], summary["deleted"]) == (0, 0, 0)
    assert summary["would"] == {
        "copy": copies,
        "update": 1,
        "delete": 1,
        "move": 0,
        "bytes": planned,
    }
    report = fssync.sync(str(src), str(dst), delete=True, dry_run=True)
    assert report.copied == 0 and report.planned["copy"] == copies
    assert report.planned_moves == 0 and report.planned_bytes == planned


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["sync", "/definitely/not/here", "{tmp}/dst"], 2, "does not exist"),
        (["sync", "s3://", "{tmp}/dst"], 2, "names no bucket"),
        (["sync", "nosuch://x", "{tmp}/dst"], 2, "unknown protocol"),
        (["sync", "{tmp}/src", "{tmp}/dst", "--transfers", "0"], 2, "at least 1"),
        (["sync", "{tmp}/src", "{tmp}/dst", "--no-such-flag"], 2, "unrecognized"),
        (["sync", "{tmp}/src", "{tmp}/dst", "--compare", "bogus"], 2, "unknown compare mode"),
        (["sync", "{tmp}/src", "{tmp}/src/inner"], 2, "overlap"),
        (["sync", "{tmp}/src/a.txt", "{tmp}/dst"], 2, "is a file"),
        (["sync", "{tmp}/src", "s3://bucket/x", "--endpoint-url", "ftp://x"], 2, "http://"),
        (["sync", "{tmp}/src", "s3://bucket/x", "--access-key-id", "AKIA"], 2, "go together"),
        (["frobnicate"], 2, "invalid choice"),
    ],
)
def test_bad_input_exit_code_and_one_line(args, code, words, src, tmp_path, capsys):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    got, out, err = run_cli(capsys, *args)
    assert got == code
    assert words in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_check_exit_codes(src, tmp_path, capsys):
    dst = tmp_path / "dst"
    code, out, _ = run_cli(capsys, "check", str(src), str(dst))
    assert code == 1 and "+ a.txt" in out
    fssync.sync(str(src), str(dst))
    code, _, _ = run_cli(capsys, "check", str(src), str(dst))
    assert code == 0


def test_version_and_plugins(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and fssync.__version__ in out
    code, out, _ = run_cli(capsys, "plugins", "--json")
    data = json.loads(out)
    names = {p["name"] for p in data["plugins"]}
    assert {"s3", "auth_static", "report_console", "compare"} <= names
    assert "size-mtime" in data["compare_modes"]


def test_max_delete_holds_every_deletion_and_exits_3(src, tmp_path, capsys):
    dst = tmp_path / "dst"
    make_tree(dst, {f"old{i}.txt": b"x" for i in range(4)})
    code, out, err = run_cli(capsys, "sync", str(src), str(dst), "--delete", "--max-delete", "3")
    assert code == 3 and "more than --max-delete 3" in err
    assert all((dst / f"old{i}.txt").exists() for i in range(4))  # nothing deleted
    assert (dst / "a.txt").exists()  # copies still ran
    code, _, _ = run_cli(capsys, "sync", str(src), str(dst), "--delete", "--max-delete", "50%")
    assert code == 0 and not (dst / "old0.txt").exists()


def test_bad_max_delete_is_usage_error(src, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sync", str(src), str(tmp_path / "d"), "--max-delete", "lots")
    assert code == 2 and "not a count or a percentage" in err


def test_file_folder_conflict_is_reported_not_retried(tmp_path):
    make_tree(tmp_path / "s", {"a": b"file"})
    make_tree(tmp_path / "d", {"a/inner.txt": b"folder"})
    events = []

    class Recorder:
        @fssync.hookimpl
        def fssync_event(self, event, config):
            events.append(event.name)

    report = fssync.sync(str(tmp_path / "s"), str(tmp_path / "d"), plugins=[Recorder()])
    assert report.failed == 1 and "folder is in the way" in report.failures[0].error
    assert "retry" not in events  # retrying cannot help
    assert (tmp_path / "d" / "a" / "inner.txt").read_bytes() == b"folder"
