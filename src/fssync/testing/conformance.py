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

import asyncio
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

__all__ = ["DENIED_FILES", "StoreConformance", "Target"]

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
# What a place that refuses writes holds before the permission test (`Target.denied`).
DENIED_FILES = {"keep.txt": b"kept", "old/gone.txt": b"not deleted"}


@attrs.frozen
class Target:
    """A fresh, empty place on the store under test, and how to reach it.

    `options` are keywords of `fssync.sync` (``config=...``, ``endpoint_url=...``); `args` the
    same as command-line arguments. `keeps_mtime` and `hashes` say what the store declares;
    by default they are read from `fssync.settings.location.parse(url).capabilities`.
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
    # A place on the same store whose server refuses this login every write and delete,
    # holding `DENIED_FILES`: its CLI arguments (a URL and options), and how to read what it
    # holds without fssync. Empty: the server here has no such place (the test says so).
    denied: Sequence[str] = ()
    denied_holds: Callable[[], Mapping[str, bytes]] | None = None

    def caps(self) -> tuple[bool, frozenset[str]]:
        from fssync.settings.location import parse

        if self.keeps_mtime is not None and self.hashes is not None:
            return self.keeps_mtime, self.hashes
        declared = parse(self.url, _remotes(self.options)).capabilities
        keeps = declared.keeps_mtime if self.keeps_mtime is None else self.keeps_mtime
        return keeps, declared.hashes if self.hashes is None else self.hashes


def _remotes(options: Mapping[str, Any]) -> dict[str, Any]:
    config = options.get("config")
    if not config:
        return {}
    from fssync.hooks.manager import make_hooks
    from fssync.settings.config import Config
    from fssync.settings.options import plugin_option_names
    from fssync.settings.remotes import load_remotes

    cfg = Config(command="sync", src="", dst="", options={"config": str(config)})
    return load_remotes(cfg, plugin_option_names(make_hooks()))


class _Events:
    """A plugin that keeps every event of a run: which files streamed bytes through fssync."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @fssync.hookimpl
    def fssync_event(self, event: Any, config: Any) -> None:
        self.seen.append((event.name, dict(event.fields)))

    def streamed(self) -> set[str]:
        """The keys written whose content passed through fssync (not copied or moved by the
        store itself: those events say ``server_side``)."""
        done = ("copy", "update", "move")
        return {str(f["key"]) for n, f in self.seen if n in done and not f.get("server_side")}


async def _opened(target: Target, url: str) -> Any:
    """The store fssync opens for `url` as a source, as a run opens it (plugins included)."""
    from fssync.engine import Run
    from fssync.hooks.manager import make_hooks
    from fssync.settings.options import config_from_api

    hooks = make_hooks()
    config = config_from_api(hooks, "sync", url, "unused-destination", dict(target.options))
    return await Run(config, hooks).open_side(is_source=True)


def _features(target: Target) -> Any:
    """The store's declared `Features` (what its open store says: `Store.features`), and the
    bytes a key limit counts before a key there."""

    async def look() -> Any:
        store = await _opened(target, target.url)
        try:
            return store.features, store._key_prefix()
        finally:
            await store.close()

    return asyncio.run(look())


def _sub(target: Target, name: str) -> str:
    return f"{target.url.rstrip('/')}/{name}"


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
    MANY = int(os.environ.get("FSSYNC_CONF_MANY", 2000))
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

    # -- what the store declares (`Store.features`) holds there --------------------------------

    def test_declared_server_copy(self, store_target: Target, tmp_path: Path):
        """Two folders of the store: a declared server-side copy sends no byte through fssync
        (no progress is counted for it) and the copy is whole; a store that declares none
        has its files streamed."""
        features, _ = _features(store_target)
        files = {"one.bin": os.urandom(300_000), "sub/two.txt": b"two"}
        src = tmp_path / "conf-src"
        _write(src, files, mtime=1_700_000_000.0)
        self.sync(store_target, str(src), _sub(store_target, "a"))
        events = _Events()
        report = self.sync(
            store_target, _sub(store_target, "a"), _sub(store_target, "b"), plugins=[events]
        )
        assert report.copied == len(files), report
        streamed = events.streamed()
        assert streamed == (set() if features.server_copy else set(files)), streamed
        back = tmp_path / "conf-back"
        self.sync(store_target, _sub(store_target, "b"), str(back))
        assert _read(back) == files

    def test_declared_server_move(self, store_target: Target, tmp_path: Path):
        """--track-renames: a declared server-side move renames on the store without sending
        the file again; a store without one gets the file streamed and the old name dropped."""
        features, _ = _features(store_target)
        data = os.urandom(200_000)
        files = {"m/old name.bin": data, "keep.txt": b"k"}
        self.there_and_back(store_target, files, tmp_path)
        src = tmp_path / "conf-src"
        (src / "m" / "old name.bin").rename(src / "m" / "new name.bin")
        events = _Events()
        report = self.sync(
            store_target,
            str(src),
            store_target.url,
            delete=True,
            track_renames=True,
            plugins=[events],
        )
        assert report.ok, report
        streamed = events.streamed()
        assert ("m/new name.bin" in streamed) is not features.server_move, streamed
        fresh = tmp_path / "conf-fresh"
        self.sync(store_target, store_target.url, str(fresh))
        assert _read(fresh) == {"m/new name.bin": data, "keep.txt": b"k"}

    def test_declared_case_sensitivity(self, store_target: Target, tmp_path: Path):
        """A case-sensitive store keeps 'Case.txt' and 'case.txt' apart; a store declared
        case-insensitive refuses the pair before anything is sent (one would overwrite the
        other), and its name in another case reaches the same file."""
        features, _ = _features(store_target)
        files = {"Case.txt": b"upper", "case.txt": b"lower", "other.txt": b"o"}
        if features.case_sensitive:
            self.there_and_back(store_target, files, tmp_path)
            return
        src = tmp_path / "conf-src"
        _write(src, files)
        report = fssync.sync(str(src), store_target.url, **store_target.options)
        assert sorted(f.key for f in report.failures) == ["Case.txt", "case.txt"], report
        assert report.copied == 1, report
        again = tmp_path / "conf-again"
        _write(again, {"OTHER.TXT": b"O!"})  # the same file there: replaced, never doubled
        self.sync(store_target, str(again), store_target.url)
        back = tmp_path / "conf-back"
        self.sync(store_target, store_target.url, str(back))
        assert list(_read(back).values()) == [b"O!"]

    def test_declared_name_limits(self, store_target: Target, tmp_path: Path):
        """A name of the declared `name_max` bytes and a path of `key_max` bytes are written
        and read back; one byte more is refused before any request, reported as not written."""
        features, prefix = _features(store_target)
        fits: dict[str, bytes] = {}
        over: list[str] = []
        if features.name_max is not None:
            fits["n" * features.name_max] = b"name"
            over.append("o" * (features.name_max + 1))
        if features.key_max is not None:
            room = features.key_max - prefix
            parts = ["k" * 200] * ((room - 1) // 201)
            tail = room - 201 * len(parts)
            key = "/".join([*parts, "t" * tail])
            assert len(key.encode()) + prefix == features.key_max
            fits[key] = b"key"
            over.append(key[:-1] + "uu")
        if not fits:
            fits["x" * 200] = b"long"  # no limit declared: a long name is still kept
        self.there_and_back(store_target, fits, tmp_path)
        if not over:
            return
        # A local disk cannot hold these names: they come from fsspec's memory store.
        import fsspec

        memory = fsspec.filesystem("memory")
        where = f"conf-over-{os.urandom(6).hex()}"
        for key in over:
            memory.pipe_file(f"/{where}/{key}", b"!")
        report = fssync.sync(f"memory://{where}", store_target.url, **store_target.options)
        memory.rm(f"/{where}", recursive=True)
        assert sorted(f.key for f in report.failures) == sorted(over), report
        assert all(f.kind == "conflict" for f in report.failures), report.failures
        assert report.copied == 0, report

    def test_declared_mtime_precision(self, store_target: Target, tmp_path: Path):
        """A kept mtime comes back within the declared window (a sub-second source time on a
        store of whole seconds is within one second, never further)."""
        features, _ = _features(store_target)
        if not features.keeps_mtime:
            return  # declared not kept: test_mtimes_kept_or_declared_not_kept checks that
        src, back = tmp_path / "conf-src", tmp_path / "conf-back"
        _write(src, {"p.txt": b"precise"})
        ns = 1_700_000_000_123_456_789
        os.utime(src / "p.txt", ns=(ns, ns))
        self.sync(store_target, str(src), store_target.url)
        self.sync(store_target, store_target.url, str(back))
        got = (back / "p.txt").stat().st_mtime_ns
        assert abs(got - ns) <= features.mtime_window * 1e9, (got, ns, features.mtime_window)

    def test_declared_hashes_are_the_listed_content_hashes(
        self, store_target: Target, tmp_path: Path
    ):
        """Each declared hash is in the store's listing and is the content's; a store that
        declares none lists none (so -c reads the files to compare)."""
        features, _ = _features(store_target)
        files = {"h/a.bin": os.urandom(5000), "h/b.txt": b"bee", "h/empty": b""}
        self.there_and_back(store_target, files, tmp_path)
        known = {"md5", "etag"}
        assert features.hashes <= known, f"no check for the declared {features.hashes - known}"

        async def listing() -> Any:
            store = await _opened(store_target, store_target.url)
            try:
                return (await store.scan()).entries
            finally:
                await store.close()

        entries = asyncio.run(listing())
        assert set(entries) == set(files)
        for key, data in files.items():
            e, md5 = entries[key], hashlib.md5(data).hexdigest()
            if "md5" in features.hashes:
                assert (e.md5 or (e.etag if "etag" in features.hashes else None)) == md5, e
            if "etag" in features.hashes:
                assert e.etag == md5, e  # a single-part upload's ETag is its MD5
            if not features.hashes:
                assert e.md5 is None, e

    def test_declared_ranged_reads(self, store_target: Target, tmp_path: Path):
        """A store that declares ranged reads answers any range with exactly its bytes (what
        parallel downloads ask for); one that does not has readers that say so, and fssync
        then reads its files start to end."""
        features, _ = _features(store_target)
        data = os.urandom(3 << 20)
        src = tmp_path / "conf-src"
        _write(src, {"r.bin": data})
        self.sync(store_target, str(src), store_target.url)

        async def ranges() -> list[bytes | None]:
            store = await _opened(store_target, store_target.url)
            try:
                entry = (await store.scan()).entries["r.bin"]
                reader = await store.open(entry)
                try:
                    assert reader.ranged is features.ranged_reads
                    if not features.ranged_reads:
                        return []
                    asks = ((0, 10), (1 << 20, 4096), (len(data) - 7, 7))
                    return [await reader.read_range(o, n) for o, n in asks]
                finally:
                    await reader.close()
            finally:
                await store.close()

        got = asyncio.run(ranges())
        if features.ranged_reads:
            want = [data[:10], data[1 << 20 : (1 << 20) + 4096], data[-7:]]
            assert [bytes(g or b"") for g in got] == want

    def test_permission_denied_is_one_line_and_deletes_nothing(
        self, store_target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ):
        """A sync with --delete into a place whose server refuses writes: each refused file
        is one line naming the permission problem (and the held deletions one more), the
        exit code is the documented one for failed files (3), no traceback, and the place
        holds what it held: nothing written, nothing deleted."""
        from fssync.cli.main import main

        if not store_target.denied or store_target.denied_holds is None:
            pytest.skip("no place on this server refuses writes to this login")
        assert dict(store_target.denied_holds()) == DENIED_FILES
        src = tmp_path / "conf-src"
        _write(src, {"keep.txt": b"changed!", "new.txt": b"new"})
        code = main(["sync", str(src), *store_target.denied, "--delete", "-q"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 3, (code, err)
        assert not any("Traceback" in line for line in err), err
        refused = sorted(line for line in err if line.startswith("! "))
        assert [line.split(":")[0] for line in refused] == ["! keep.txt", "! new.txt"], err
        assert all("permission denied" in line for line in refused), err
        assert [line for line in err if not line.startswith("! ")] == [
            "fssync: not deleting 1 file(s): some transfers failed"
        ], err
        assert dict(store_target.denied_holds()) == DENIED_FILES  # nothing written or deleted

    def test_errors_are_one_line_with_a_documented_code(
        self, store_target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ):
        from fssync.cli.main import main

        cases = dict(store_target.failures)
        missing = store_target.url.rstrip("/") + "/no-such-folder-here"
        cases.setdefault("missing root", [missing, str(tmp_path / "out"), *store_target.args])
        for name, argv in cases.items():
            code = main(["sync", *argv])
            err = capsys.readouterr().err.strip().splitlines()
            assert code in DOCUMENTED, (name, code, err)
            assert len(err) == 1 and err[0].startswith("fssync: error:"), (name, err)
            assert "Traceback" not in err[0]
