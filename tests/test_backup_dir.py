"""--backup-dir and --suffix: files a sync replaces or deletes are kept, never lost; local and
S3 destinations (both S3 paths, moto and SeaweedFS), and what happens when a backup fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fssync
from fssync.cli.main import main
from fssync.transfer.backup import backup_key, is_backup_name

from .helpers import make_tree, read_tree, s3_args, s3_opts


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


OLD = {
    "keep.txt": b"same",
    "edit.txt": b"old words",
    "gone/x.bin": b"old x",
    "big.dat": b"o" * 5000,
}
NEW = {"keep.txt": b"same", "edit.txt": b"new words!", "big.dat": b"n" * 6000}


def _new_tree(root: Path) -> None:
    """NEW with later mtimes, except keep.txt, which stays as the destination has it."""
    make_tree(root, NEW, mtime=1_800_000_000.0)
    os.utime(root / "keep.txt", (1_700_000_000.0, 1_700_000_000.0))


@pytest.mark.parametrize(
    ("key", "suffix", "keep", "expected"),
    [
        ("a/b.txt", "", False, "a/b.txt"),
        ("a/b.txt", "-old", False, "a/b.txt-old"),
        ("a/b.txt", "-old", True, "a/b-old.txt"),
        ("a/b.tar.gz", "~", True, "a/b.tar~.gz"),
        (".bashrc", ".bak", True, ".bashrc.bak"),
        ("noext", ".bak", True, "noext.bak"),
    ],
)
def test_backup_names(key, suffix, keep, expected):
    assert backup_key(key, suffix, keep) == expected
    assert is_backup_name(expected, suffix, keep) == bool(suffix)


def test_local_backup_dir_keeps_replaced_and_deleted_files_as_hard_links(tmp_path, capsys):
    src, dst, old = tmp_path / "src", tmp_path / "dst", tmp_path / "old"
    _new_tree(src)
    make_tree(dst, OLD)
    inode = os.stat(dst / "edit.txt").st_ino
    code = main(["sync", str(src), str(dst), "--delete", "--backup-dir", str(old), "-v"])
    assert code == 0
    assert read_tree(dst) == NEW
    assert read_tree(old) == {k: OLD[k] for k in ("edit.txt", "gone/x.bin", "big.dat")}
    assert os.stat(old / "edit.txt").st_ino == inode  # linked, not copied
    assert os.stat(old / "edit.txt").st_mtime == 1_700_000_000.0
    out = capsys.readouterr().out
    assert "~ edit.txt  (kept as edit.txt" in out and "- gone/x.bin" in out
    # the next change replaces the older backup of the same name
    make_tree(src, {"edit.txt": b"newest"}, mtime=1_900_000_000.0)
    assert main(["sync", str(src), str(dst), "--backup-dir", str(old)]) == 0
    assert (old / "edit.txt").read_bytes() == b"new words!"


def test_suffix_alone_keeps_backups_beside_and_never_deletes_them(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    _new_tree(src)
    make_tree(dst, OLD)
    flags = ["--delete", "--suffix", "-2026", "--suffix-keep-extension"]
    assert main(["sync", str(src), str(dst), *flags]) == 0
    tree = read_tree(dst)
    assert tree["edit-2026.txt"] == b"old words" and tree["gone/x-2026.bin"] == b"old x"
    assert {k: tree[k] for k in NEW} == NEW
    # a second run with --delete leaves the backups alone (the source has no such files)
    report = fssync.sync(
        str(src), str(dst), delete=True, suffix="-2026", suffix_keep_extension=True
    )
    assert report.deleted == 0 and "edit-2026.txt" in read_tree(dst)


def test_a_failed_backup_leaves_the_destination_file_as_it_was(tmp_path, capsys):
    src, dst, old = tmp_path / "src", tmp_path / "dst", tmp_path / "old"
    _new_tree(src)
    make_tree(dst, OLD)
    old.mkdir()
    (old / "gone").write_text("a file where the backup needs a folder")
    code = main(["sync", str(src), str(dst), "--delete", "--backup-dir", str(old)])
    err = capsys.readouterr().err
    assert code == 3
    assert "gone/x.bin" in err and "backup failed" in err
    assert (dst / "gone" / "x.bin").read_bytes() == b"old x"  # not deleted
    assert (dst / "edit.txt").read_bytes() == b"new words!"  # its backup worked


def test_dry_run_keeps_nothing(tmp_path):
    src, dst, old = tmp_path / "src", tmp_path / "dst", tmp_path / "old"
    _new_tree(src)
    make_tree(dst, OLD)
    assert main(["sync", str(src), str(dst), "--delete", "--backup-dir", str(old), "-n"]) == 0
    assert not old.exists() and read_tree(dst) == OLD


@pytest.mark.parametrize("inside", ["dst", "src"])
def test_a_backup_dir_that_overlaps_a_side_is_refused(tmp_path, capsys, inside):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src, NEW)
    make_tree(dst, OLD)
    backup = tmp_path / inside / "backups"
    assert main(["sync", str(src), str(dst), "--backup-dir", str(backup)]) == 2
    assert "overlap" in capsys.readouterr().err
    assert read_tree(dst) == OLD


@pytest.mark.usefixtures("s3_backend")
def test_s3_backup_dir_server_side(bucket, tmp_path):
    ep, name = bucket
    src = tmp_path / "src"
    make_tree(src, OLD)
    url = f"s3://{name}/live"
    assert fssync.sync(str(src), url, **s3_opts(ep)).failed == 0
    _new_tree(tmp_path / "src2")
    args = [*s3_args(ep), "--delete", "--backup-dir", f"s3://{name}/old", "--suffix", ".v1"]
    assert main(["sync", str(tmp_path / "src2"), url, *args]) == 0
    client = ep.client()

    def body(key: str) -> bytes:
        return client.get_object(Bucket=name, Key=key)["Body"].read()

    assert body("old/edit.txt.v1") == b"old words"
    assert body("old/gone/x.bin.v1") == b"old x"
    assert body("live/edit.txt") == b"new words!"
    # metadata came along with the server-side copy: the old mtime is still there
    meta = client.head_object(Bucket=name, Key="old/edit.txt.v1")["Metadata"]
    assert float(meta["mtime"]) == pytest.approx(1_700_000_000.0)
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=name, Prefix="live/")["Contents"]}
    assert "live/gone/x.bin" not in keys


@pytest.mark.usefixtures("s3_backend")
def test_download_with_a_local_backup_dir(bucket, tmp_path):
    ep, name = bucket
    _new_tree(tmp_path / "up")
    url = f"s3://{name}/d"
    assert fssync.sync(str(tmp_path / "up"), url, **s3_opts(ep)).failed == 0
    dst, old = tmp_path / "dst", tmp_path / "old"
    make_tree(dst, OLD)
    report = fssync.sync(url, str(dst), delete=True, backup_dir=str(old), **s3_opts(ep))
    assert report.failed == 0
    assert read_tree(dst) == NEW
    assert read_tree(old) == {k: OLD[k] for k in ("edit.txt", "gone/x.bin", "big.dat")}


def test_streamed_backup_between_backends(tmp_path):
    """A backup folder on another backend than the destination is written by streaming."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    _new_tree(src)
    make_tree(dst, OLD)
    report = fssync.sync(str(src), str(dst), delete=True, backup_dir="memory://fssync-bk/old")
    assert report.failed == 0
    import fsspec

    fs = fsspec.filesystem("memory")
    assert fs.cat("/fssync-bk/old/edit.txt") == b"old words"
    assert fs.cat("/fssync-bk/old/gone/x.bin") == b"old x"
