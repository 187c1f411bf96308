"""Nonsense that used to be accepted silently is refused with exit code 2 and one line: a URL
that lost its colon, flags that contradict each other (the last one winning unseen), flags
that do nothing without --delete, negative retry counts, a destination fssync cannot write."""

from __future__ import annotations

import os

import pytest

import fssync
from fssync.cli.main import main

from .helpers import make_tree


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def src(tmp_path):
    make_tree(tmp_path / "src", {"a.txt": b"alpha"})
    return tmp_path / "src"


def test_a_url_without_its_colon_is_refused(src, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["sync", str(src), "s3//bucket/x"])
    err = capsys.readouterr().err
    assert code == 2 and "write s3://bucket/x" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "s3").exists()  # before: ./s3/bucket/x was written, exit 0


@pytest.mark.parametrize("dst", ["s3:/bucket/x", "memory//x"])
def test_other_mistyped_urls(dst, src, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["sync", str(src), dst]) == 2
    assert "mistyped '://'" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["src"] or sorted(os.listdir(tmp_path)) == ["src", "state"]


def test_a_folder_called_s3_is_still_reachable(src, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["sync", str(src), "./s3//bucket"]) == 0
    assert (tmp_path / "s3" / "bucket" / "a.txt").read_bytes() == b"alpha"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-q", "-v"], "contradict each other"),
        (["--size-only", "-c"], "--size-only and -c both choose how to compare"),
        (["--compare", "size", "--checksum"], "--compare and --checksum both choose"),
        (["--checksum", "--compare", "size-mtime"], "--checksum and --compare both choose"),
        (["--track-renames"], "--track-renames only matters with --delete"),
        (["--delete-excluded"], "--delete-excluded only matters with sync --delete"),
        (["--allow-empty-source"], "--allow-empty-source only matters with --delete"),
        (["--max-delete", "5"], "--max-delete only matters with --delete"),
        (["--retries", "-5"], "must be 0 or more"),
        (["--retry-passes", "-1"], "must be 0 or more"),
        (["--retries-sleep", "-1"], "must be 0 or more seconds"),
        (["--low-level-retries", "-1"], "must be 0 or more"),
        (["--low-level-retries-sleep", "soon"], "is not a number of seconds"),
        (["--retries-max-sleep", "inf"], "must be 0 or more seconds"),
        (["--lock-wait", "nan"], "must be 0 or more seconds"),
    ],
)
def test_contradictions_exit_2(args, words, src, tmp_path, capsys):
    dst = tmp_path / "dst"
    code = main(["sync", str(src), str(dst), *args])
    err = capsys.readouterr().err
    assert code == 2 and words in err, err
    assert len(err.strip().splitlines()) == 1
    assert not dst.exists()


@pytest.mark.parametrize(
    "args", [["-c", "--checksum"], ["--compare", "size", "--size-only"], ["--delete", "-q"]]
)
def test_agreeing_flags_are_fine(args, src, tmp_path, capsys):
    assert main(["sync", str(src), str(tmp_path / "dst"), *args]) == 0, capsys.readouterr().err


def test_the_python_api_refuses_the_same(src, tmp_path):
    for options in ({"quiet": True, "verbose": 1}, {"checksum": True, "size_only": True}):
        with pytest.raises(fssync.UsageError):
            fssync.sync(str(src), str(tmp_path / "dst"), **options)
    with pytest.raises(fssync.UsageError):
        fssync.sync(str(src), str(tmp_path / "dst"), track_renames=True)


def test_check_refuses_delete_excluded(src, tmp_path, capsys):
    assert main(["check", str(src), str(src), "--delete-excluded"]) == 2


@pytest.mark.parametrize("dst", ["http://127.0.0.1:9/x", "https://127.0.0.1:9/x"])
def test_an_http_destination_is_refused_at_once(dst, src, capsys):
    code = main(["sync", str(src), dst])
    err = capsys.readouterr().err
    assert code == 2 and "a read-only location" in err, err
    assert len(err.strip().splitlines()) == 1
