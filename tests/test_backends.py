"""Each writable backend end to end against its real server (SFTP on asyncssh, FTP on
pyftpdlib, WebDAV on wsgidav, GCS on gcp-storage-emulator, Azure Blob on Azurite): upload,
re-run, change, --delete, download, and -c where the listing carries hashes."""

from __future__ import annotations

import os

import pytest

import fssync

from .backend_fixtures import WRITABLE, make_place, place_files
from .helpers import make_tree, read_tree

FILES = {
    "a.txt": b"alpha\n",
    "empty.bin": b"",
    "dir/b.txt": b"bravo" * 100,
    "odd #1 +%?.txt": b"odd",
    "dir/sub/c.bin": os.urandom(200_000),
    "spaces and \u00fcn\u00efcode/\u00df.txt": b"unicode name",
}
HASHED = {"gcs", "azure"}


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


@pytest.mark.parametrize("kind", WRITABLE)
def test_upload_rerun_delete_download(kind, request, tmp_path):
    place = make_place(request, kind, tmp_path)
    src = tmp_path / "src"
    make_tree(src, FILES)
    opts = {"config": str(place.config)}

    report = fssync.sync(str(src), place.url(), **opts)
    assert report.ok and report.copied == len(FILES), report.failures
    assert place_files(place, place.config) == FILES

    again = fssync.sync(str(src), place.url(), **opts)
    assert again.ok and again.copied == again.updated == 0, again

    (src / "a.txt").write_bytes(b"alpha, longer now\n")
    (src / "dir/b.txt").unlink()
    changed = fssync.sync(str(src), place.url(), delete=True, **opts)
    assert changed.ok and changed.updated == 1 and changed.deleted == 1, changed
    expected = read_tree(src)
    assert place_files(place, place.config) == expected

    down = tmp_path / "down"
    back = fssync.sync(place.url(), str(down), **opts)
    assert back.ok and back.copied == len(expected), back.failures
    assert read_tree(down) == expected
    assert fssync.sync(place.url(), str(down), **opts).copied == 0

    if kind in HASHED:
        # The listing's MD5 against the local file's: equal content, no transfer; a changed
        # byte of the same size is found by the hash alone.
        same = fssync.sync(place.url(), str(down), compare="checksum", **opts)
        assert same.ok and same.copied == same.updated == 0, same
        target = down / "dir/sub/c.bin"
        data = bytearray(target.read_bytes())
        data[0] ^= 0xFF
        stat = target.stat()
        target.write_bytes(bytes(data))
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        fixed = fssync.sync(place.url(), str(down), compare="checksum", **opts)
        assert fixed.ok and fixed.updated == 1, fixed
        assert read_tree(down) == expected


def test_sftp_key_login(request, tmp_path):
    place = make_place(request, "sftp", tmp_path, key_login=True)
    assert "password" not in place.toml
    src = tmp_path / "src"
    make_tree(src, {"k.txt": b"by key"})
    report = fssync.sync(str(src), place.url(), config=str(place.config))
    assert report.ok and report.copied == 1, report.failures
    assert place_files(place, place.config) == {"k.txt": b"by key"}


def test_http_is_a_read_only_source(http_server, tmp_path):
    base = http_server.root / f"site-{os.urandom(4).hex()}"
    files = {"index.txt": b"top", "docs/a b.txt": b"space", "docs/x+y%z.txt": b"odd"}
    make_tree(base, files)
    url = f"{http_server.url}/{base.name}/"
    down = tmp_path / "down"
    report = fssync.sync(url, str(down))
    assert report.ok and report.copied == len(files), report.failures
    assert read_tree(down) == files
    assert fssync.sync(url, str(down)).copied == 0
    with pytest.raises(fssync.UsageError, match="read-only"):
        fssync.sync(str(down), url)


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_archives_are_read_only_sources(kind, tmp_path):
    import tarfile
    import zipfile

    files = {"a.txt": b"in the archive", "d/e/f.bin": os.urandom(5000)}
    make_tree(tmp_path / "tree", files)
    archive = tmp_path / f"pack.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as z:
            for key, data in files.items():
                z.writestr(key, data)
    else:
        with tarfile.open(archive, "w") as t:
            t.add(tmp_path / "tree", arcname=".")
    down = tmp_path / "down"
    url = f"{kind}://{archive}"
    report = fssync.sync(url, str(down))
    assert report.ok and report.copied == len(files), report.failures
    assert read_tree(down) == files
    assert fssync.sync(url, str(down)).copied == 0
