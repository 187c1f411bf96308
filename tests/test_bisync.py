"""fssync bisync end to end: local<->local and local<->S3 (SeaweedFS, both S3 paths)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

import fssync
from fssync.cli.main import main
from fssync.testing.servers import S3Endpoint

from .helpers import s3_args, s3_opts

T0 = 1_700_000_000.0


class Local:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.url = str(root)

    def put(self, key: str, data: bytes, mtime: float | None = None) -> None:
        p = self.root / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        t = mtime if mtime is not None else time.time()
        os.utime(p, (t, t))

    def remove(self, key: str) -> None:
        (self.root / key).unlink()

    def tree(self) -> dict[str, bytes]:
        out = {}
        for dirpath, _, names in os.walk(self.root):
            for name in names:
                p = Path(dirpath) / name
                out[p.relative_to(self.root).as_posix()] = p.read_bytes()
        return out


class S3:
    def __init__(self, ep: S3Endpoint, bucket: str) -> None:
        self.ep, self.bucket, self.prefix = ep, bucket, "side/"
        self.client = ep.client()
        self.url = f"s3://{bucket}/side"

    def put(self, key: str, data: bytes, mtime: float | None = None) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def remove(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def tree(self) -> dict[str, bytes]:
        out = {}
        pages = self.client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                body = self.client.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                out[obj["Key"][len(self.prefix) :]] = body
        return out


class Pair:
    def __init__(self, a: Local, b: Local | S3, state: Path, extra: dict[str, Any]) -> None:
        self.a, self.b, self.state, self.extra = a, b, state, extra

    def run(self, **options: Any) -> fssync.Report:
        return fssync.bisync(
            self.a.url, self.b.url, state_dir=str(self.state), **self.extra, **options
        )

    def cli(self, *args: str) -> int:
        more = s3_args(self.b.ep) if isinstance(self.b, S3) else []
        return main(
            ["bisync", self.a.url, self.b.url, "--state-dir", str(self.state), *more, *args]
        )


@pytest.fixture(params=["local", "s3-fast", "s3-s3fs"])
def pair(request, tmp_path, monkeypatch) -> Pair:
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "cache"))
    a = Local(tmp_path / "a")
    if request.param == "local":
        return Pair(a, Local(tmp_path / "b"), tmp_path / "state", {})
    monkeypatch.setenv("FSSYNC_S3_BACKEND", request.param.removeprefix("s3-"))
    ep: S3Endpoint = request.getfixturevalue("seaweed")
    return Pair(a, S3(ep, ep.make_bucket()), tmp_path / "state", s3_opts(ep))


def test_first_run_merges_and_never_deletes(pair):
    pair.a.put("only-a.txt", b"a", T0)
    pair.a.put("dir/both.txt", b"same", T0)
    pair.b.put("only-b.txt", b"b", T0)
    pair.b.put("dir/both.txt", b"same", T0)
    report = pair.run()
    assert report.exit_code == 0
    want = {"only-a.txt": b"a", "only-b.txt": b"b", "dir/both.txt": b"same"}
    assert pair.a.tree() == pair.b.tree() == want
    assert report.conflicts == ()
    assert pair.run().copied == 0  # nothing left to do


def test_first_run_with_different_content_keeps_both(pair):
    pair.a.put("doc.txt", b"from a, older", T0)
    pair.b.put("doc.txt", b"from b, newer!", T0 + 100)
    report = pair.run()
    a, b = pair.a.tree(), pair.b.tree()
    assert a == b
    assert len(a) == 2 and len(report.conflicts) == 1
    kept = next(k for k in a if k != "doc.txt")
    assert kept.startswith("doc.conflict-") and kept.endswith(".txt")
    assert {a["doc.txt"], a[kept]} == {b"from a, older", b"from b, newer!"}
    assert "doc.txt" in report.conflicts[0] and kept in report.conflicts[0]


def synced(pair: Pair, files: dict[str, bytes]) -> None:
    for k, v in files.items():
        pair.a.put(k, v, T0)
    assert pair.run().exit_code == 0
    assert pair.b.tree() == files


def test_edits_and_deletes_on_each_side(pair):
    synced(pair, {"a1": b"1", "a2": b"2", "b1": b"3", "b2": b"4", "keep": b"5"})
    pair.a.put("a1", b"edited on a", T0 + 10)
    pair.a.remove("a2")
    pair.b.put("b1", b"edited on b", T0 + 10)
    pair.b.remove("b2")
    pair.a.put("new-a", b"new", T0 + 10)
    pair.b.put("new-b", b"new too", T0 + 10)
    report = pair.run()
    assert report.exit_code == 0, report.failures
    want = {
        "a1": b"edited on a",
        "b1": b"edited on b",
        "keep": b"5",
        "new-a": b"new",
        "new-b": b"new too",
    }
    assert pair.a.tree() == pair.b.tree() == want
    assert report.deleted == 2
    again = pair.run()
    assert (again.copied, again.updated, again.deleted) == (0, 0, 0)


def test_an_edit_wins_over_a_deletion(pair):
    synced(pair, {"x": b"1", "y": b"2", "z": b"3", "w": b"4"})
    pair.a.put("x", b"edited", T0 + 10)
    pair.b.remove("x")
    pair.a.remove("y")
    pair.b.put("y", b"edited too", T0 + 10)
    report = pair.run()
    assert report.exit_code == 0
    assert (
        pair.a.tree() == pair.b.tree() == {"x": b"edited", "y": b"edited too", "z": b"3", "w": b"4"}
    )


@pytest.mark.parametrize(
    ("policy", "winner"),
    [
        ("newer", "b"),
        ("older", "a"),
        ("larger", "b"),
        ("smaller", "a"),
        ("a", "a"),
        ("b", "b"),
        ("keep-both", "b"),
    ],
)
def test_conflicts_under_each_policy(pair, policy, winner):
    synced(pair, {"c.txt": b"base", "other": b"o"})
    pair.a.put("c.txt", b"A edit", T0 + 10)
    time.sleep(0.01)
    pair.b.put("c.txt", b"B's longer edit", time.time() + 100)
    report = pair.run(conflict=policy)
    assert report.exit_code == 0, report.failures
    a, b = pair.a.tree(), pair.b.tree()
    assert a == b
    content = {"a": b"A edit", "b": b"B's longer edit"}
    assert a["c.txt"] == content[winner]
    [line] = report.conflicts
    assert "c.txt" in line
    if policy == "keep-both":
        [kept] = [k for k in a if k.startswith("c.conflict-")]
        assert a[kept] == content["a"] and kept in line
    else:
        assert set(a) == {"c.txt", "other"}
        assert "overwritten" in line  # the lost edit is named


def test_equal_edits_on_both_sides_are_not_a_conflict(pair):
    synced(pair, {"f": b"base"})
    pair.a.put("f", b"same edit", T0 + 10)
    pair.b.put("f", b"same edit", T0 + 20)
    report = pair.run()
    assert report.conflicts == () and report.exit_code == 0
    assert pair.a.tree() == pair.b.tree() == {"f": b"same edit"}


@pytest.mark.parametrize("start", ["edited", "new"])
def test_two_edits_of_one_size_and_one_mtime_are_a_conflict_not_one_version(tmp_path, start):
    """Both sides wrote the path since the last run, with the same size and the very same
    mtime (two edits in one clock tick): the hashes tell, and both versions are kept."""
    a, b = Local(tmp_path / "a"), Local(tmp_path / "b")
    pair = Pair(a, b, tmp_path / "state", {})
    synced(pair, {"f": b"base", "other": b"o"})
    if start == "new":  # a path new on both sides since the last run
        a.remove("f"), b.remove("f")
        assert pair.run().exit_code == 0
    a.put("f", b"A's edit", T0 + 50)
    b.put("f", b"B's edit", T0 + 50)
    report = pair.run()
    assert report.exit_code == 0, report.failures
    tree = a.tree()
    assert tree == b.tree()
    assert {b"A's edit", b"B's edit"} <= set(tree.values())
    [line] = report.conflicts
    assert "f" in line


def test_max_delete_stops_before_changing_anything(pair):
    synced(pair, {f"f{i}": b"x" for i in range(4)})
    for i in range(3):
        pair.a.remove(f"f{i}")
    pair.b.put("new", b"n", T0)
    report_code = pair.cli()
    assert report_code == 3
    assert set(pair.b.tree()) == {"f0", "f1", "f2", "f3", "new"}  # nothing deleted
    assert set(pair.a.tree()) == {"f3"}  # and nothing copied either
    assert pair.cli("--max-delete", "100%") == 0
    assert set(pair.a.tree()) == set(pair.b.tree()) == {"f3", "new"}


def test_check_access_aborts_when_the_sentinel_is_missing(pair, capsys):
    synced(pair, {".fssync-check": b"", "f": b"1"})
    pair.b.remove(".fssync-check")
    pair.a.remove("f")
    assert pair.cli("--check-access") == 4
    assert "missing on B" in capsys.readouterr().err
    assert "f" in pair.b.tree()
    pair.b.put(".fssync-check", b"", T0)
    assert pair.cli("--check-access") == 0
    assert "f" not in pair.b.tree()


def test_dry_run_changes_nothing(pair, capsys):
    synced(pair, {"f": b"1", "g": b"2"})
    pair.a.put("f", b"edited", T0 + 5)
    pair.b.remove("g")
    assert pair.cli("--dry-run") == 0
    out = capsys.readouterr().out
    assert "> f" in out and "- g" in out
    assert pair.b.tree()["f"] == b"1" and "g" in pair.a.tree()


def test_json_events_and_conflict_in_the_summary(pair, capsys):
    synced(pair, {"c": b"base"})
    pair.a.put("c", b"aaaa", T0 + 10)
    pair.b.put("c", b"bbbbbbbb", T0 + 20)
    capsys.readouterr()
    assert pair.cli("--json") == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    summary = lines[-1]
    assert summary["event"] == "summary" and len(summary["conflicts"]) == 1
    assert any(x["event"] == "bisync_conflict" for x in lines)


def test_bad_policy_is_a_usage_error(pair, capsys):
    assert pair.cli("--conflict", "random") == 2
    assert "--conflict" in capsys.readouterr().err


class ChooseA:
    """A plugin that settles every conflict for A."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    @fssync.hookimpl
    def fssync_resolve_conflict(self, key, a, b, config):
        self.asked.append(key)
        return "a"


def test_a_plugin_resolves_conflicts(pair):
    synced(pair, {"c": b"base"})
    pair.a.put("c", b"A's", T0 + 10)
    pair.b.put("c", b"B's longer", T0 + 20)  # newer and larger: the policy would pick B
    plugin = ChooseA()
    report = pair.run(plugins=[plugin])
    assert plugin.asked == ["c"]
    assert pair.a.tree() == pair.b.tree() == {"c": b"A's"}
    assert "overwritten" in report.conflicts[0]


class EditDuringRun:
    """Edits a file on B after the listing, before the run changes it."""

    def __init__(self, side: Local | S3, key: str) -> None:
        self.side, self.key = side, key

    @fssync.hookimpl
    def fssync_event(self, event, config):
        if event.name == "plan":
            self.side.put(self.key, b"edited during the run", T0 + 50)


def test_a_path_changed_during_the_run_is_left_for_the_next(pair):
    synced(pair, {"f": b"1", "g": b"2"})
    pair.a.put("f", b"new on a", T0 + 10)
    pair.a.put("g", b"also new", T0 + 10)
    report = pair.run(plugins=[EditDuringRun(pair.b, "f")])
    assert report.exit_code == 3
    assert [(f.key, f.kind) for f in report.failures] == [("f", "changed")]
    assert pair.b.tree() == {"f": b"edited during the run", "g": b"also new"}
    # the next run sees both edits: a conflict, nothing lost
    report = pair.run()
    assert report.exit_code == 0
    tree = pair.a.tree()
    assert tree == pair.b.tree()
    assert {b"new on a", b"edited during the run"} <= set(tree.values())


def test_two_runs_of_the_same_pair_exclude_each_other(pair, capsys):
    from fssync.settings.config import Config
    from fssync.settings.location import parse
    from fssync.state.locks import pair_lock

    synced(pair, {"f": b"1"})
    a, b = parse(pair.a.url).url, parse(pair.b.url).url
    with pair_lock(a, b, Config(command="bisync", src=a, dst=b), pair.state):
        assert pair.cli() == 4
    err = capsys.readouterr().err
    assert f"another fssync run (pid {os.getpid()} on " in err and " since " in err
    assert pair.cli() == 0


def test_interrupted_state_needs_no_resync(pair):
    """A record lost for some paths (as a run killed between a copy and its record leaves)
    makes those paths new on both sides: equal content is recorded, nothing is copied."""
    import sqlite3

    synced(pair, {"f": b"1", "g": b"2"})
    db = sqlite3.connect(pair.state / "bisync.sqlite")
    with db:
        db.execute("DELETE FROM bisync_v1 WHERE key = 'f'")
    db.close()
    report = pair.run()
    assert report.exit_code == 0 and report.conflicts == ()
    assert (report.copied, report.updated) == (0, 0)
    pair.a.remove("f")
    assert pair.run().deleted == 1  # recorded again: the deletion is carried over
    assert pair.b.tree() == {"g": b"2"}


def test_a_filter_change_needs_no_resync(pair):
    synced(pair, {"keep.txt": b"k", "log/x.log": b"l"})
    # newly excluded: left alone on both sides, even when deleted on one, and forgotten
    pair.a.remove("log/x.log")
    report = pair.run(exclude=["log/**"])
    assert report.exit_code == 0 and report.deleted == 0
    assert "log/x.log" in pair.b.tree()
    # included again: no record, so a first run for that path: merged back, never deleted
    report = pair.run()
    assert report.exit_code == 0 and report.deleted == 0
    assert pair.a.tree() == pair.b.tree() == {"keep.txt": b"k", "log/x.log": b"l"}


def rename_on(side: Local | S3, old: str, new: str) -> None:
    if isinstance(side, Local):
        (side.root / new).parent.mkdir(parents=True, exist_ok=True)
        os.rename(side.root / old, side.root / new)
    else:
        source = {"Bucket": side.bucket, "Key": side.prefix + old}
        side.client.copy_object(Bucket=side.bucket, Key=side.prefix + new, CopySource=source)
        side.remove(old)


def test_renames_on_either_side_are_moves_not_copies(pair):
    files = {f"old/{i}.txt": b"content" * (50 + i) for i in range(3)}
    synced(pair, {**files, "other": b"o", "b-side": b"renamed on B"})
    inodes = (
        {k: (pair.b.root / k).stat().st_ino for k in files} if isinstance(pair.b, Local) else {}
    )
    for i in range(3):  # a folder renamed on A: 3 of 5 files "deleted", over --max-delete 50%
        rename_on(pair.a, f"old/{i}.txt", f"new/{i}.txt")
    rename_on(pair.b, "b-side", "moved/b-side")
    report = pair.run()
    assert report.exit_code == 0, report.failures
    assert (report.renamed, report.copied, report.updated, report.deleted) == (4, 0, 0, 0)
    expected = {f"new/{i}.txt": files[f"old/{i}.txt"] for i in range(3)}
    expected |= {"other": b"o", "moved/b-side": b"renamed on B"}
    assert pair.a.tree() == pair.b.tree() == expected
    for i in range(3):  # a local side's file was renamed in place, not written again
        if inodes:
            assert (pair.b.root / f"new/{i}.txt").stat().st_ino == inodes[f"old/{i}.txt"]
    # the moved paths are recorded: nothing more to do, and a later edit is carried over
    again = pair.run()
    assert (again.renamed, again.copied, again.updated, again.deleted) == (0, 0, 0, 0)
    pair.b.put("new/0.txt", b"edited after the move", T0 + 100)
    assert pair.run().updated == 1
    assert pair.a.tree()["new/0.txt"] == b"edited after the move"


def test_a_rename_with_an_edit_is_a_deletion_and_a_copy(pair):
    synced(pair, {"f.txt": b"first", "g": b"g", "h": b"h"})
    rename_on(pair.a, "f.txt", "f2.txt")
    pair.a.put("f2.txt", b"first, edited", T0 + 50)
    report = pair.run()
    assert report.exit_code == 0, report.failures
    assert (report.renamed, report.copied, report.deleted) == (0, 1, 1)
    assert pair.b.tree() == {"f2.txt": b"first, edited", "g": b"g", "h": b"h"}


def test_a_dry_run_names_the_rename(pair, capsys):
    synced(pair, {"f": b"1", "g": b"2"})
    rename_on(pair.a, "f", "f-renamed")
    assert pair.cli("--dry-run", "--json") == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    would = [x for x in lines if x["event"] == "would"]
    assert would == [
        {
            "event": "would",
            "kind": "rename",
            "sigil": ">",
            "key": "f-renamed",
            "reason": "renamed from f on A",
        }
    ]
    assert set(pair.b.tree()) == {"f", "g"}


def test_checksum_mode_sees_a_same_size_edit_with_the_mtime_kept(pair):
    synced(pair, {"f": b"AAAA", "g": b"g"})
    pair.a.put("f", b"BBBB", T0)  # same size, same mtime as recorded
    report = pair.run(compare="checksum")
    # the record holds no hash yet: which side changed cannot be told, so both are kept
    assert report.exit_code == 0 and len(report.conflicts) == 1
    tree = pair.a.tree()
    assert tree == pair.b.tree() and {b"AAAA", b"BBBB"} <= set(tree.values())
    # now the record holds the hash: the next same-size edit is a plain copy
    pair.b.put("f", b"CCCC", T0)
    report = pair.run(compare="checksum")
    assert report.exit_code == 0 and report.conflicts == ()
    assert pair.a.tree()["f"] == b"CCCC"


def test_the_report_file_carries_the_conflicts(pair, tmp_path):
    synced(pair, {"c": b"base"})
    pair.a.put("c", b"aaaa", T0 + 10)
    pair.b.put("c", b"bbbbbbbb", T0 + 20)
    out = tmp_path / "run.json"
    assert pair.cli("--report", str(out)) == 0
    doc = json.loads(out.read_text())
    assert doc["exit_code"] == 0
    [line] = doc["conflicts"]
    assert line.startswith("conflict c: modified on both sides") and "B's keeps the name" in line


def test_the_python_api_raises_on_a_missing_check_file(pair):
    synced(pair, {"f": b"1"})
    with pytest.raises(fssync.FatalError, match="--check-access"):
        pair.run(check_access=True)
    with pytest.raises(fssync.UsageError):
        pair.run(conflict="bogus")


def test_backup_dir_keeps_what_is_replaced_or_deleted_on_either_side(pair, tmp_path):
    synced(pair, {"f": b"old f", "g": b"old g", "h": b"old h", "c": b"base", "x": b"x"})
    pair.a.put("f", b"new f", T0 + 10)  # replaces B's f
    pair.a.remove("g")  # deletes B's g
    pair.b.put("h", b"new h", T0 + 10)  # replaces A's h
    pair.a.put("c", b"A's c", T0 + 10)
    pair.b.put("c", b"B's c!", T0 + 20)  # a conflict that A wins: B's edit is overwritten
    backups = Local(tmp_path / "kept")
    report = pair.run(backup_dir=backups.url, conflict="a")
    assert report.exit_code == 0, report.failures
    assert backups.tree() == {"b/f": b"old f", "b/g": b"old g", "a/h": b"old h", "b/c": b"B's c!"}
    assert pair.a.tree() == pair.b.tree()


def test_any_fsspec_backend_pairs_with_a_local_folder(tmp_path):
    """memory:// stands for the stores without a re-check of their own (SFTP, WebDAV ...)."""
    import uuid

    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/bisync-{uuid.uuid4().hex}"
    fs.pipe(f"{root}/m.txt", b"in memory")
    a = Local(tmp_path / "a")
    a.put("l.txt", b"local", T0)
    url, state = f"memory://{root}", str(tmp_path / "state")
    assert fssync.bisync(a.url, url, state_dir=state).exit_code == 0
    assert a.tree() == {"l.txt": b"local", "m.txt": b"in memory"}
    assert fs.cat(f"{root}/l.txt") == b"local"
    a.put("m.txt", b"edited locally", T0 + 10)
    fs.rm(f"{root}/l.txt")
    report = fssync.bisync(a.url, url, state_dir=state)
    assert report.exit_code == 0, report.failures
    assert a.tree() == {"m.txt": b"edited locally"}
    assert fs.cat(f"{root}/m.txt") == b"edited locally"


def test_a_first_run_cut_short_leaves_records_that_count(pair):
    """Records of a first run that never finished still carry a later deletion over."""
    import sqlite3

    synced(pair, {"f": b"1", "g": b"2"})
    db = sqlite3.connect(pair.state / "bisync.sqlite")
    with db:
        db.execute("DELETE FROM bisync_pairs_v1")  # as if the first run had not finished
    db.close()
    pair.a.remove("f")
    report = pair.run()
    assert report.exit_code == 0 and report.deleted == 1
    assert pair.b.tree() == {"g": b"2"}


def test_suffix_keeps_replaced_and_deleted_files_beside_themselves_unsynced(pair):
    synced(pair, {"f.txt": b"old f", "g.txt": b"old g", "h.txt": b"old h", "x": b"x", "y": b"y"})
    pair.a.put("f.txt", b"new f", T0 + 10)  # replaces B's f.txt
    pair.a.remove("g.txt")  # deletes B's g.txt
    pair.b.put("h.txt", b"new h", T0 + 10)  # replaces A's h.txt
    report = pair.run(suffix="-old", suffix_keep_extension=True)
    assert report.exit_code == 0, report.failures
    assert pair.a.tree() == {"f.txt": b"new f", "h.txt": b"new h", "h-old.txt": b"old h"} | {
        "x": b"x",
        "y": b"y",
    }
    assert pair.b.tree() == {
        "f.txt": b"new f",
        "f-old.txt": b"old f",
        "g-old.txt": b"old g",
        "h.txt": b"new h",
        "x": b"x",
        "y": b"y",
    }
    # the kept files stay on their own side: never copied over, never deleted
    again = pair.run(suffix="-old", suffix_keep_extension=True)
    assert (again.copied, again.updated, again.deleted) == (0, 0, 0)
    assert "f-old.txt" not in pair.a.tree() and "h-old.txt" not in pair.b.tree()


def test_suffix_with_backup_dir_names_the_kept_files(pair, tmp_path):
    synced(pair, {"f": b"old f", "g": b"g", "h": b"h"})
    pair.b.put("f", b"new f", T0 + 10)
    backups = Local(tmp_path / "kept")
    report = pair.run(backup_dir=backups.url, suffix=".bak")
    assert report.exit_code == 0, report.failures
    assert backups.tree() == {"a/f.bak": b"old f"}


def test_max_transfer_stops_and_the_next_plain_run_carries_on(pair, capsys):
    synced(pair, {"base": b"b", "gone": b"g", "keep1": b"k", "keep2": b"k"})
    new = {f"n{i}": bytes([i]) * 100_000 for i in range(5)}
    for k, v in new.items():
        pair.a.put(k, v, T0 + 10)
    pair.a.remove("gone")
    code = pair.cli("--max-transfer", "150K", "--cutoff-mode", "soft", "--transfers", "1")
    assert code == 8
    err = capsys.readouterr().err
    assert "--max-transfer" in err and "left for the next run; deletions held" in err
    copied = [k for k in new if k in pair.b.tree()]
    assert 1 <= len(copied) < 5
    assert "gone" in pair.b.tree()  # deletions are held at a limit
    report = pair.run()
    assert report.exit_code == 0, report.failures
    assert (report.copied, report.deleted) == (5 - len(copied), 1)
    assert pair.a.tree() == pair.b.tree()


def test_max_duration_is_a_limit_too(pair):
    synced(pair, {"f": b"1"})
    pair.a.put("g", b"2", T0 + 10)
    report = pair.run(max_duration="0s")
    assert report.exit_code == 10 and report.copied == 0
    assert pair.run().copied == 1


def test_bwlimit_paces_the_run(pair, capsys):
    synced(pair, {"f": b"1"})
    files = {f"big{i}": os.urandom(512 * 1024) for i in range(3)}
    for k, v in files.items():
        pair.a.put(k, v, T0 + 10)
    assert pair.cli("--bwlimit", "1M", "--json") == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert any(x["event"] == "bwlimit" for x in lines)
    assert lines[-1]["seconds"] >= 1.4  # 1.5 MiB at 1 MiB/s: never faster than the limit
    assert pair.b.tree() == {"f": b"1", **files}


def test_size_only_ignores_a_touch_as_a_one_way_sync_does(pair):
    synced(pair, {"f": b"1234", "g": b"g", "h": b"h"})
    pair.a.put("f", b"abcd", T0 + 100)  # same size, newer: not a change by size
    report = pair.run(compare="size")
    assert (report.copied, report.updated) == (0, 0)
    pair.a.put("f", b"abcde", T0 + 200)
    assert pair.run(compare="size").updated == 1
    assert pair.b.tree()["f"] == b"abcde"
