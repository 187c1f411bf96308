"""--modify-window (rclone's): modification times this close count as equal, on top of what
the stores can keep; in sync, check and the Python API, local and S3 on both paths."""

from __future__ import annotations

import os

import pytest

import fssync
from fssync.cli.main import main

from .helpers import make_tree, s3_args, s3_opts

FILES = {"a.txt": b"alpha", "b/c.bin": b"\x00" * 100}


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def _shift(root, seconds: float) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + int(seconds * 1e9)))


def test_local_times_within_the_window_are_equal(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src, FILES)
    assert fssync.sync(str(src), str(dst)).copied == 2
    _shift(dst, 1.5)  # a FAT disk rounds to 2 s
    assert fssync.plan(str(src), str(dst)).counts()["update"] == 2
    assert fssync.plan(str(src), str(dst), modify_window="2s").counts()["update"] == 0
    assert main(["check", str(src), str(dst), "--modify-window", "2s"]) == 0
    assert main(["check", str(src), str(dst)]) == 1
    assert fssync.sync(str(src), str(dst), modify_window="2s").updated == 0
    assert main(["sync", str(src), str(dst), "--modify-window", "1"]) == 0  # 1.5 s is outside
    assert fssync.plan(str(src), str(dst)).counts()["update"] == 0  # both were updated


@pytest.mark.usefixtures("s3_backend")
def test_s3_stored_mtimes_within_the_window_are_equal(moto, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    src = tmp_path / "src"
    make_tree(src, FILES)
    url = f"s3://{name}/p"
    assert fssync.sync(str(src), url, **s3_opts(ep)).copied == 2
    _shift(src, 30)  # touched again, same content: a clock half a minute off
    args = ["check", str(src), url, *s3_args(ep)]
    assert main(args) == 1  # the mtimes kept in the objects' metadata differ by 30 s
    assert main([*args, "--modify-window", "1m"]) == 0
    report = fssync.sync(str(src), url, modify_window="1m", **s3_opts(ep))
    assert report.ok and report.updated == 0 and report.skipped == 2


def test_a_bad_window_is_refused(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    assert main(["sync", str(tmp_path / "src"), str(tmp_path / "d"), "--modify-window", "x"]) == 2
    assert "--modify-window" in capsys.readouterr().err
    with pytest.raises(fssync.UsageError, match="modify-window"):
        fssync.sync(str(tmp_path / "src"), str(tmp_path / "d"), modify_window="soon")
