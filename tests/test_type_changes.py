"""A file that became a folder, or a folder that became a file, converges in a local
destination with --delete: what is in the way is deleted first (under the same guards as any
deletion), then the new one is written. Without --delete, or when a guard holds deletions, the
old one stays and the write is reported, as before."""

from __future__ import annotations

import pytest

import fssync

from .helpers import make_tree, read_tree
from .helpers import s3_opts as opts


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def test_a_file_replaced_by_a_folder_converges(tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    make_tree(src, {"x/y": b"now a folder", "keep.txt": b"k"})
    make_tree(dst, {"x": b"was a file", "keep.txt": b"k", "old.txt": b"o"})
    report = fssync.sync(str(src), str(dst), delete=True)
    assert report.failed == 0 and report.deletes_held is None, report.failures
    assert report.copied == 1 and report.deleted == 2
    assert read_tree(dst) == {"x/y": b"now a folder", "keep.txt": b"k"}
    again = fssync.sync(str(src), str(dst), delete=True)
    assert again.copied + again.updated + again.deleted + again.failed == 0


def test_a_folder_replaced_by_a_file_converges(tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    make_tree(src, {"x": b"now a file"})
    make_tree(dst, {"x/y": b"1", "x/z/w": b"2", "x/z/v/u": b"3"})
    report = fssync.sync(str(src), str(dst), delete=True)
    assert report.failed == 0 and report.deletes_held is None, report.failures
    assert report.copied == 1 and report.deleted == 3
    assert read_tree(dst) == {"x": b"now a file"}
    assert (dst / "x").is_file()
    again = fssync.sync(str(src), str(dst), delete=True)
    assert again.copied + again.updated + again.deleted + again.failed == 0


def test_without_delete_the_old_one_stays(tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    make_tree(src, {"x/y": b"new"})
    make_tree(dst, {"x": b"old"})
    report = fssync.sync(str(src), str(dst))
    assert report.failed == 1 and report.deleted == 0
    assert read_tree(dst) == {"x": b"old"}


def test_max_delete_still_holds_what_is_in_the_way(tmp_path):
    src, dst = tmp_path / "s", tmp_path / "d"
    make_tree(src, {"x/y": b"new", "a": b"a"})
    make_tree(dst, {"x": b"old", "a": b"a"})
    report = fssync.sync(str(src), str(dst), delete=True, max_delete="0")
    assert report.deleted == 0 and report.failed == 1
    assert report.deletes_held  # the write failed with the file in its way: nothing deleted
    assert read_tree(dst) == {"x": b"old", "a": b"a"}


def test_the_old_file_is_kept_by_backup_dir_before_it_goes(tmp_path):
    src, dst, old = tmp_path / "s", tmp_path / "d", tmp_path / "old"
    make_tree(src, {"x/y": b"new"})
    make_tree(dst, {"x": b"was a file"})
    report = fssync.sync(str(src), str(dst), delete=True, backup_dir=str(old))
    assert report.failed == 0 and report.deleted == 1
    assert read_tree(dst) == {"x/y": b"new"} and read_tree(old) == {"x": b"was a file"}


@pytest.mark.usefixtures("s3_backend")
def test_a_bucket_whose_object_became_a_prefix_converges(tmp_path, moto):
    ep = moto.endpoint
    name = ep.make_bucket()
    client = ep.client()
    client.put_object(Bucket=name, Key="p/x", Body=b"a file")
    client.put_object(Bucket=name, Key="p/z/w", Body=b"a folder")
    dst = tmp_path / "d"
    first = fssync.sync(f"s3://{name}/p", str(dst), delete=True, **opts(ep))
    assert first.failed == 0 and read_tree(dst) == {"x": b"a file", "z/w": b"a folder"}
    client.delete_object(Bucket=name, Key="p/x")
    client.put_object(Bucket=name, Key="p/x/y", Body=b"now a folder")
    client.delete_object(Bucket=name, Key="p/z/w")
    client.put_object(Bucket=name, Key="p/z", Body=b"now a file")
    second = fssync.sync(f"s3://{name}/p", str(dst), delete=True, **opts(ep))
    assert second.failed == 0 and second.deletes_held is None, second.failures
    assert read_tree(dst) == {"x/y": b"now a folder", "z": b"now a file"}
    third = fssync.sync(f"s3://{name}/p", str(dst), delete=True, **opts(ep))
    assert third.copied + third.updated + third.deleted + third.failed == 0


def test_which_deletions_are_in_the_way():
    from fssync.planning.decide import in_the_way

    early, folders = in_the_way(
        ["x/y", "a", "q/r/s"], ["x", "a/b", "a/c/d", "q", "q/r", "other", "xx", "ab/c"]
    )
    assert early == {"x", "a/b", "a/c/d", "q", "q/r"}
    assert folders == {"a"}
