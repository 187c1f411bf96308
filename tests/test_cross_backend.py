"""Syncs between two remote backends, both directions, with --delete and with -c (by the
listed MD5s where both sides carry one: S3 single-part ETag, GCS, Azure; by reading the files
elsewhere): S3 <-> SFTP, Azure <-> S3, GCS <-> local, WebDAV <-> Azure, local <-> FTP. S3 is
moto, on both S3 request paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fssync

from .backend_fixtures import Place, make_place, place_files
from .helpers import make_tree, read_tree, s3_opts

FILES = {
    "one.txt": b"first file\n",
    "empty": b"",
    "deep/er/two.bin": os.urandom(70_000),
    "odd name #1 +%.txt": b"odd",
}


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def _config(tmp_path: Path, *places: Place) -> str:
    path = tmp_path / "remotes.toml"
    path.write_text("\n".join(p.toml for p in places))
    return str(path)


def _round(src: str, dst: str, opts: dict, read_dst, seed) -> None:
    """Fill src (via `seed`), sync, re-run, change + --delete, and -c when asked."""
    expected = dict(FILES)
    report = fssync.sync(src, dst, **opts)
    assert report.ok and report.copied == len(expected), report.failures
    assert read_dst() == expected
    again = fssync.sync(src, dst, **opts)
    assert again.ok and again.copied == again.updated == 0, again
    seed({"one.txt": b"first file, changed\n"}, remove=["empty"])
    expected["one.txt"] = b"first file, changed\n"
    del expected["empty"]
    changed = fssync.sync(src, dst, delete=True, **opts)
    assert changed.ok and changed.updated == 1 and changed.deleted == 1, changed
    assert read_dst() == expected
    # -c: by the listed MD5s where both sides have one, else by reading both files (their
    # sizes agree): either way the equal files are found equal and nothing moves.
    same = fssync.sync(src, dst, compare="checksum", delete=True, **opts)
    assert same.ok and same.copied == same.updated == same.deleted == 0, same


def _seed_local(root: Path):
    def seed(files, remove=()):
        make_tree(root, files, mtime=None)
        for key in remove:
            (root / key).unlink()

    return seed


def _seed_via(tmp_path: Path, url: str, opts: dict, name: str):
    """Fill a remote by syncing a local mirror of it there (the way under test elsewhere)."""
    mirror = tmp_path / f"mirror-{name}"
    make_tree(mirror, FILES)

    def seed(files=None, remove=()):
        if files:
            make_tree(mirror, files, mtime=None)
        for key in remove:
            (mirror / key).unlink()
        report = fssync.sync(str(mirror), url, delete=True, **opts)
        assert report.ok, report.failures

    seed()
    return seed


@pytest.mark.usefixtures("s3_backend")
@pytest.mark.parametrize("direction", ["s3-to-sftp", "sftp-to-s3"])
def test_s3_and_sftp(direction, moto, request, tmp_path):
    ep = moto.endpoint
    bucket = ep.make_bucket()
    sftp = make_place(request, "sftp", tmp_path)
    opts = {"config": _config(tmp_path, sftp), **s3_opts(ep)}
    s3_url = f"s3://{bucket}/data"
    if direction == "s3-to-sftp":
        seed = _seed_via(tmp_path, s3_url, opts, "s3")
        _round(s3_url, sftp.url(), opts, lambda: place_files(sftp, Path(opts["config"])), seed)
    else:
        seed = _seed_via(tmp_path, sftp.url(), opts, "sftp")
        down = tmp_path / "check"
        _round(sftp.url(), s3_url, opts, lambda: _via_local(s3_url, down, opts), seed)


def _via_local(url: str, folder: Path, opts: dict) -> dict[str, bytes]:
    report = fssync.sync(url, str(folder), delete=True, **opts)
    assert report.ok, report.failures
    return read_tree(folder)


@pytest.mark.usefixtures("s3_backend")
@pytest.mark.parametrize("direction", ["azure-to-s3", "s3-to-azure"])
def test_azure_and_s3_with_checksums(direction, moto, request, tmp_path):
    ep = moto.endpoint
    bucket = ep.make_bucket()
    az = make_place(request, "azure", tmp_path)
    opts = {"config": _config(tmp_path, az), **s3_opts(ep)}
    s3_url = f"s3://{bucket}/data"
    src, dst = (az.url(), s3_url) if direction == "azure-to-s3" else (s3_url, az.url())
    seed = _seed_via(tmp_path, src, opts, "src")
    _round(src, dst, opts, lambda: _via_local(dst, tmp_path / "check", opts), seed)
    # Both listings carry the MD5 of every file: -c moves nothing, without reading a byte.
    same = fssync.sync(src, dst, compare="checksum", **opts)
    assert same.ok and same.copied == same.updated == 0 and same.bytes == 0, same


@pytest.mark.parametrize("direction", ["gcs-to-local", "local-to-gcs"])
def test_gcs_and_local(direction, request, tmp_path):
    gcs = make_place(request, "gcs", tmp_path)
    opts = {"config": _config(tmp_path, gcs)}
    local = tmp_path / "local"
    if direction == "gcs-to-local":
        seed = _seed_via(tmp_path, gcs.url(), opts, "gcs")
        _round(gcs.url(), str(local), opts, lambda: read_tree(local), seed)
        same = fssync.sync(gcs.url(), str(local), compare="checksum", **opts)
    else:
        make_tree(local, FILES)
        seed = _seed_local(local)
        _round(str(local), gcs.url(), opts, lambda: place_files(gcs, Path(opts["config"])), seed)
        same = fssync.sync(str(local), gcs.url(), compare="checksum", **opts)
    assert same.ok and same.copied == same.updated == 0, same


@pytest.mark.parametrize("direction", ["webdav-to-azure", "azure-to-webdav"])
def test_webdav_and_azure(direction, request, tmp_path):
    dav = make_place(request, "webdav", tmp_path)
    az = make_place(request, "azure", tmp_path)
    opts = {"config": _config(tmp_path, dav, az)}
    src, dst = (dav, az) if direction == "webdav-to-azure" else (az, dav)
    seed = _seed_via(tmp_path, src.url(), opts, "src")
    _round(src.url(), dst.url(), opts, lambda: place_files(dst, Path(opts["config"])), seed)


@pytest.mark.parametrize("direction", ["local-to-ftp", "ftp-to-local"])
def test_local_and_ftp(direction, request, tmp_path):
    ftp = make_place(request, "ftp", tmp_path)
    opts = {"config": _config(tmp_path, ftp)}
    local = tmp_path / "local"
    if direction == "local-to-ftp":
        make_tree(local, FILES)
        _round(
            str(local),
            ftp.url(),
            opts,
            lambda: place_files(ftp, Path(opts["config"])),
            _seed_local(local),
        )
    else:
        seed = _seed_via(tmp_path, ftp.url(), opts, "ftp")
        _round(ftp.url(), str(local), opts, lambda: read_tree(local), seed)
