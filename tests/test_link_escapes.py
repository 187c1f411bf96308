"""`--links` never lets a source write outside the destination.

A hostile source (a bucket, or a folder of plain files named ``*.fssync-link``) holds chains of
link files, each lexically inside the destination, that together would climb out of it once the
kernel follows the links made before them: ``c`` -> ``..``, ``c/x2`` -> ``../..``, then
``c/x2/x3`` -> ``..`` and so on, and a file ``c/x2/.../PWNED.txt`` below the last. fssync makes
links after every other file, never writes or makes a link through a symbolic link, and refuses
a link target that leads outside, saying why. Checked for chains of depth 1 to 5, in one run
and split over two (links first, then the file through the links already there), from S3 on
both paths and from a local folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fssync

from .helpers import make_tree, read_tree
from .helpers import s3_opts as opts

BASE = "a/b/c"
TALLY = {"escapes": 0, "refused": 0, "bytes_outside": 0}


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def chain(depth: int) -> tuple[dict[str, bytes], str]:
    """The link files of a chain of `depth` links, and the file written through it."""
    if depth == 1:  # one link can only try to climb out directly
        return {f"{BASE}.fssync-link": b"../../../../.."}, f"{BASE}/PWNED.txt"
    links = {f"{BASE}.fssync-link": b"..", f"{BASE}/x2.fssync-link": b"../.."}
    path = f"{BASE}/x2"
    for n in range(3, depth + 1):
        links[f"{path}/x{n}.fssync-link"] = b".."
        path += f"/x{n}"
    return links, f"{path}/PWNED.txt"


def everything(root: Path) -> dict[str, int]:
    """Every path below root (links not followed) with its size, folders as 0."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = st.st_size if os.path.isfile(path) else 0
    return out


def check_confined(tmp_path: Path, dst: Path, before: dict[str, int]) -> None:
    """Nothing new outside dst, and every link inside resolves inside it."""
    inside = os.path.relpath(dst, tmp_path) + os.sep
    new = {p: n for p, n in everything(tmp_path).items() if p not in before}
    outside = {p: n for p, n in new.items() if not p.startswith(inside) and p != inside[:-1]}
    outside = {p: n for p, n in outside.items() if p.split(os.sep)[0] not in ("state", "src")}
    TALLY["bytes_outside"] += sum(outside.values())
    assert outside == {}
    landed = [p for p in tmp_path.rglob("PWNED.txt") if (tmp_path / "src") not in p.parents]
    assert all(str(p.resolve()).startswith(str(dst.resolve()) + os.sep) for p in landed)
    real = str(dst.resolve()) + os.sep
    for dirpath, dirnames, filenames in os.walk(dst, followlinks=False):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                assert os.path.realpath(path).startswith(real), (path, os.readlink(path))


def failures(report: fssync.Report) -> dict[str, str]:
    got = {f.key: f.error for f in report.failures}
    assert all("permission denied" not in e for e in got.values())  # a reason, not a guess
    return got


class Source:
    """Where the hostile chain comes from: a moto bucket or a local folder of plain files."""

    def __init__(self, kind: str, tmp_path: Path, moto) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        if kind == "s3":
            self.ep = moto.endpoint
            self.bucket = self.ep.make_bucket()
            self.url = f"s3://{self.bucket}/p"
            self.options = opts(self.ep)
        else:
            self.url = str(tmp_path / "src")
            self.options = {}
            (tmp_path / "src").mkdir()

    def put(self, files: dict[str, bytes]) -> None:
        if self.kind == "s3":
            for key, body in files.items():
                self.ep.client().put_object(Bucket=self.bucket, Key=f"p/{key}", Body=body)
        else:
            make_tree(self.tmp_path / "src", files)

    def sync(self, dst: Path) -> fssync.Report:
        return fssync.sync(self.url, str(dst), links="store", **self.options)


@pytest.fixture(params=["s3-fast", "s3-s3fs", "local"])
def source(request, tmp_path, monkeypatch) -> Source:
    if request.param.startswith("s3"):
        monkeypatch.setenv("FSSYNC_S3_BACKEND", request.param[3:])
        return Source("s3", tmp_path, request.getfixturevalue("moto"))
    return Source("local", tmp_path, None)


def nested_destination(tmp_path: Path) -> Path:
    dst = tmp_path / "l1" / "l2" / "l3" / "l4" / "l5" / "l6" / "dst"
    dst.mkdir(parents=True)
    return dst


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_a_link_chain_and_its_file_in_one_run_stay_inside(source, tmp_path, depth):
    links, file = chain(depth)
    source.put({**links, file: b"pwned", "ok.txt": b"ok"})
    dst = nested_destination(tmp_path)
    before = everything(tmp_path)
    report = source.sync(dst)
    TALLY["escapes"] += 1
    check_confined(tmp_path, dst, before)
    # The file lands at its own key, in real folders; the links in its way are refused.
    assert (dst / file).read_bytes() == b"pwned" and not os.path.islink(dst / BASE)
    failed = failures(report)
    assert set(failed) == set(links)
    TALLY["refused"] += len(failed)
    assert read_tree(dst)["ok.txt"] == b"ok"


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_a_file_is_never_written_through_links_of_an_earlier_run(source, tmp_path, depth):
    links, file = chain(depth)
    source.put({**links, "ok.txt": b"ok"})
    dst = nested_destination(tmp_path)
    before = everything(tmp_path)
    first = source.sync(dst)
    TALLY["escapes"] += 1
    check_confined(tmp_path, dst, before)
    TALLY["refused"] += len(failures(first))
    # A link that leads outside was never made, whatever order the links were written in.
    source.put({file: b"pwned"})
    second = source.sync(dst)
    TALLY["escapes"] += 1
    check_confined(tmp_path, dst, before)
    failed = failures(second)
    TALLY["refused"] += len(failed)
    if file in failed:
        assert "symbolic link" in failed[file]
    else:  # the file went to real folders at its own key
        assert (dst / file).read_bytes() == b"pwned"
        assert os.path.realpath(dst / file) == str((dst / file).resolve())


def test_a_link_through_a_users_link_to_outside_is_not_made(tmp_path):
    src = tmp_path / "src"
    make_tree(src, {"l.fssync-link": b"ext/secret", "m.fssync-link": b"x/../..", "ok.txt": b"ok"})
    dst = tmp_path / "dst"
    dst.mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", dst / "ext")  # the user's own link, pointing away
    report = fssync.sync(str(src), str(dst), links="store")
    failed = failures(report)
    assert set(failed) == {"l.fssync-link", "m.fssync-link"}
    assert "resolves outside" in failed["l.fssync-link"]
    assert "after a folder name" in failed["m.fssync-link"]
    assert not os.path.lexists(dst / "l") and not os.path.lexists(dst / "m")


def test_a_file_is_not_written_below_a_link_in_the_destination(tmp_path):
    src = tmp_path / "src"
    make_tree(src, {"ext/new.txt": b"new", "ok.txt": b"ok"})
    dst = tmp_path / "dst"
    dst.mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", dst / "ext")
    report = fssync.sync(str(src), str(dst), links="store")
    assert "symbolic link" in failures(report)["ext/new.txt"]
    assert list((tmp_path / "outside").iterdir()) == []


def test_zz_nothing_was_written_outside_in_any_run():
    """Run last in this module: the sum over every run above (printed with -s)."""
    print(
        f"\nlink escapes tried: {TALLY['escapes']}, refusals reported: {TALLY['refused']}, "
        f"bytes written outside: {TALLY['bytes_outside']}"
    )
    assert TALLY["bytes_outside"] == 0
