"""A conformance suite for stores: what every backend must do for fssync to keep trees in step.

A plugin author subclasses `StoreConformance` in a test module and gives one fixture,
``store_target``, returning a `Target`: a fresh, empty location on the store and the options
that reach it. Every test then syncs real files there and back through fssync itself::

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store_target(self, tmp_path):
            return Target(url="mystore://bucket/" + uuid.uuid4().hex, options={...})

Sizes are kept modest so a suite runs in seconds: the large file is `LARGE` bytes (20 MiB),
the listing test makes `MANY` files (2,000); a subclass may change either. Errors are checked
through the command line: one line on stderr and a documented exit code.
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

import fssync

__all__ = ["StoreConformance", "Target"]

# Names stores get wrong: spaces, both Unicode normal forms of one word, URL syntax, dots.
ODD_NAMES = (
    "with space.txt",
    unicodedata.normalize("NFC", "caf\u00e9-nfc.txt"),
    unicodedata.normalize("NFD", "cafe\u0301-nfd.txt"),
    "hash#tag.txt",
    "per%cent%20.txt",
    "plus+sign.txt",
    ".hidden",
    "dir.with.dots/..leading-dots.txt",
    "deep/er/still deeper/f.txt",
)
# Exit codes a failure to reach or use a store may have (docs/reference/exit-codes.md).
DOCUMENTED = (2, 3, 4)


@attrs.frozen
class Target:
    """A fresh, empty place on the store under test, and how to reach it.

    `options` are keywords of `fssync.sync` (``config=...``, ``endpoint_url=...``); `args` the
    same as command-line arguments. `keeps_mtime` and `hashes` say what the store declares;
    by default they are read from `fssync.location.parse(url).capabilities`.
    """

    url: str
    options: Mapping[str, Any] = attrs.field(factory=dict)
    args: Sequence[str] = ()
    keeps_mtime: bool | None = None
    hashes: frozenset[str] | None = None
    # CLI arguments (a URL and options) that must fail: a missing root, a wrong password, ...
    failures: Mapping[str, Sequence[str]] = attrs.field(factory=dict)
    # Puts files straight into the store (its server's folder, a bulk API), so the listing
    # test need not upload thousands of files one by one; None: fssync uploads them.
    seed: Callable[[Mapping[str, bytes]], None] | None = None

    def caps(self) -> tuple[bool, frozenset[str]]:
        from ..location import parse

        if self.keeps_mtime is not None and self.hashes is not None:
            return self.keeps_mtime, self.hashes
        declared = parse(self.url, _remotes(self.options)).capabilities
        keeps = declared.keeps_mtime if self.keeps_mtime is None else self.keeps_mtime
        return keeps, declared.hashes if self.hashes is None else self.hashes


def _remotes(options: Mapping[str, Any]) -> dict[str, Any]:
    config = options.get("config")
    if not config:
        return {}
    from ..config import Config
    from ..hooks.manager import make_hooks
    from ..options import plugin_option_names
    from ..remotes import load_remotes

    cfg = Config(command="sync", src="", dst="", options={"config": str(config)})
    return load_remotes(cfg, plugin_option_names(make_hooks()))


def _write(root: Path, files: Mapping[str, bytes], mtime: float | None = None) -> None:
    for key, data in files.items():
        path = root.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))


def _read(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


class StoreConformance:
    """The contract. Subclass it and provide the ``store_target`` fixture."""

    LARGE = int(os.environ.get("FSSYNC_CONF_LARGE", 64 << 20))
    MANY = 2000
    # The most Python memory (tracemalloc's peak) a transfer of LARGE may hold: under the file's
    # size, so a store that holds a whole file fails. Stores stream in pieces of up to 8 MiB,
    # several at once, hence a file this large.
    MEMORY_LIMIT = 48 << 20

    @pytest.fixture
    def store_target(self) -> Target:  # pragma: no cover - the subclass gives it
        raise NotImplementedError("a StoreConformance subclass must define store_target")

    @pytest.fixture(autouse=True)
    def _conformance_state(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "fssync-state"))

    # -- helpers -----------------------------------------------------------------------------

    def sync(self, target: Target, src: str, dst: str, **more: Any) -> fssync.Report:
        report = fssync.sync(src, dst, **{**target.options, **more})
        assert report.ok, (report.failures, report.error)
        return report

    def there_and_back(self, target: Target, files: Mapping[str, bytes], tmp: Path) -> Path:
        src, back = tmp / "conf-src", tmp / "conf-back"
        _write(src, files, mtime=1_700_000_000.0)
        up = self.sync(target, str(src), target.url)
        assert up.copied == len(files), up
        down = self.sync(target, target.url, str(back))
        assert down.copied == len(files), down
        assert _read(back) == dict(files)
        return back

    # -- the contract ------------------------------------------------------------------------

    def test_odd_names_and_empty_files_round_trip(self, store_target: Target, tmp_path: Path):
        files = {name: name.encode() for name in ODD_NAMES}
        files["empty"] = b""
        files["deep/er/empty too"] = b""
        self.there_and_back(store_target, files, tmp_path)

    def test_rerun_moves_nothing(self, store_target: Target, tmp_path: Path):
        files = {"a.txt": b"a", "b/c.txt": b"c" * 1000, "d/e/f.bin": os.urandom(10_000)}
        back = self.there_and_back(store_target, files, tmp_path)
        up = self.sync(store_target, str(tmp_path / "conf-src"), store_target.url)
        down = self.sync(store_target, store_target.url, str(back))
        for report in (up, down):
            assert report.copied == report.updated == report.deleted == 0, report
            assert report.bytes == 0, report

    def test_mtimes_kept_or_declared_not_kept(self, store_target: Target, tmp_path: Path):
        keeps, _ = store_target.caps()
        back = self.there_and_back(store_target, {"t.txt": b"time"}, tmp_path)
        got = (back / "t.txt").stat().st_mtime
        if keeps:
            assert abs(got - 1_700_000_000.0) <= 1.0, got
        else:
            # Not kept: the download is stamped with when the store wrote it, never the
            # source's time, and a re-run still moves nothing (the write time is compared).
            assert got > 1_700_000_000.0 + 1.0, got
            again = self.sync(store_target, str(tmp_path / "conf-src"), store_target.url)
            assert again.copied == again.updated == 0, again

    def test_checksum_mode_finds_a_same_size_change(self, store_target: Target, tmp_path: Path):
        """-c: equal files compare equal (so a declared hash is the content's), and one changed
        byte with the same size and time is found, by a listed hash or by reading."""
        files = {"h1.bin": os.urandom(3000), "h2.txt": b"known content"}
        back = self.there_and_back(store_target, files, tmp_path)
        opts = {**store_target.options, "compare": "checksum"}
        plan = fssync.check(store_target.url, str(back), **opts)
        assert not plan.changes, plan.changes
        path = back / "h1.bin"
        stat = path.stat()
        data = bytearray(path.read_bytes())
        data[10] ^= 0xFF
        path.write_bytes(bytes(data))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        plan = fssync.check(store_target.url, str(back), **opts)
        assert [a.key for a in plan.changes] == ["h1.bin"], plan.changes
        assert "checksum" in plan.changes[0].reason

    def test_deletes(self, store_target: Target, tmp_path: Path):
        files = {"keep.txt": b"k", "gone.txt": b"g", "sub/gone too.txt": b"g2"}
        self.there_and_back(store_target, files, tmp_path)
        src = tmp_path / "conf-src"
        (src / "gone.txt").unlink()
        (src / "sub" / "gone too.txt").unlink()
        report = self.sync(store_target, str(src), store_target.url, delete=True)
        assert report.deleted == 2, report
        fresh = tmp_path / "conf-fresh"
        self.sync(store_target, store_target.url, str(fresh))
        assert _read(fresh) == {"keep.txt": b"k"}

    def test_large_file_in_bounded_memory(self, store_target: Target, tmp_path: Path):
        src, back = tmp_path / "conf-src", tmp_path / "conf-back"
        src.mkdir()
        big = src / "large.bin"
        digest = hashlib.md5()
        with big.open("wb") as f:
            for _ in range(self.LARGE >> 20):
                block = os.urandom(1 << 20)
                digest.update(block)
                f.write(block)
        peaks = []
        for a, b in ((str(src), store_target.url), (store_target.url, str(back))):
            tracemalloc.start()
            try:
                report = self.sync(store_target, a, b)
                peaks.append(tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
            assert report.copied == 1 and report.bytes == self.LARGE, report
        assert hashlib.md5((back / "large.bin").read_bytes()).hexdigest() == digest.hexdigest()
        assert max(peaks) < self.MEMORY_LIMIT, f"peak Python memory {peaks} for {self.LARGE}"

    def test_many_keys_listed(self, store_target: Target, tmp_path: Path):
        files = {f"many/{i // 100:02d}/file-{i:05d}": b"%d" % i for i in range(self.MANY)}
        src = tmp_path / "conf-src"
        _write(src, files)
        if store_target.seed is not None:
            store_target.seed(files)
        else:
            up = self.sync(store_target, str(src), store_target.url)
            assert up.copied == self.MANY, up
        # Every key listed, with its size (a size compare reads nothing but the listings).
        plan = fssync.check(str(src), store_target.url, compare="size", **store_target.options)
        assert plan.dst_count == self.MANY and not plan.changes, plan.changes[:3]
        (src / "many/00/file-00000").write_bytes(b"longer")
        plan = fssync.check(str(src), store_target.url, compare="size", **store_target.options)
        assert [a.key for a in plan.changes] == ["many/00/file-00000"]

    def test_errors_are_one_line_with_a_documented_code(
        self, store_target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ):
        from ..cli import main

        cases = dict(store_target.failures)
        missing = store_target.url.rstrip("/") + "/no-such-folder-here"
        cases.setdefault("missing root", [missing, str(tmp_path / "out"), *store_target.args])
        for name, argv in cases.items():
            code = main(["sync", *argv])
            err = capsys.readouterr().err.strip().splitlines()
            assert code in DOCUMENTED, (name, code, err)
            assert len(err) == 1 and err[0].startswith("fssync: error:"), (name, err)
            assert "Traceback" not in err[0]
