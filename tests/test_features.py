"""Declared store capabilities (`Store.features`), compare modes (`CompareMode`) and reason
codes (`Reason`): what callers rely on is declared, never guessed from attributes or words."""

from __future__ import annotations

import ast
from pathlib import Path

import attrs
import pytest

import fssync
from fssync import Entry, Kind, Policy
from fssync.planning.decide import (
    BUILTIN_MODES,
    NEEDS_METADATA,
    CompareMode,
    Reason,
    build_plan,
    compare_checksum,
    is_reason,
)
from fssync.plugin import S3_OPERATIONS, Features, Operations, Store
from fssync.settings.location import capabilities_of, parse
from fssync.stores.features import builtin_operations
from fssync.stores.generic import FsspecStore
from fssync.stores.local import LocalStore

from .helpers import make_tree

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


# ------------------------------------------------------------------------------ store features


def test_local_store_declares_what_it_does(tmp_path):
    f = LocalStore(parse(str(tmp_path)), is_source=False).features
    assert builtin_operations("file") is LocalStore.operations
    assert (f.positional_writes, f.ranged_reads, f.server_move) == (True, True, True)
    assert (f.head, f.server_copy, f.multipart_journal) == (False, False, False)
    # What the backend keeps comes from the location's capabilities, not a second table.
    assert (f.keeps_mtime, f.mtime_window, f.listing_has_mtime) == (True, 0.001, True)


def test_s3_stores_share_one_declaration_and_the_s3_capabilities():
    from fssync.stores.s3.s3fs_path import S3Store
    from fssync_plugins.s3_fast.store import FastS3Store

    assert S3Store.operations is FastS3Store.operations is S3_OPERATIONS
    assert builtin_operations("s3") is S3_OPERATIONS  # what `fssync backends` prints
    f = Features.of(S3_OPERATIONS, capabilities_of("s3"))
    assert f.head and f.server_copy and f.multipart_journal and not f.positional_writes
    assert f.hashes == {"md5", "etag"} and not f.listing_has_mtime


def test_other_fsspec_backends_take_their_precision_and_hashes_from_the_table():
    store = FsspecStore(parse("memory://x"), fs=object())
    assert builtin_operations("memory") is store.operations  # the backend's, not the class's
    assert builtin_operations("no-such-kind") is FsspecStore.operations
    assert store.features.head is False and store.features.server_move is True
    gcs = Features.of(builtin_operations("gs"), capabilities_of("gs"))
    # GCS keeps the source's mtime in object metadata, as S3 does
    assert gcs.hashes == {"md5"} and gcs.keeps_mtime is True


def test_a_plugin_store_declares_nothing_by_default_and_features_are_frozen(tmp_path):
    class Bare(Store):
        def __init__(self, location):
            self.location = location

        async def scan(self, progress=None): ...
        async def open(self, entry): ...
        async def write(self, entry, reader, options): ...
        async def delete(self, keys): ...

    f = Bare(parse(str(tmp_path))).features
    assert attrs.asdict(Operations()) == {k: getattr(f, k) for k in attrs.asdict(Operations())}
    assert not any(attrs.asdict(Operations()).values())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        f.head = True  # type: ignore[misc]


def test_no_capability_is_guessed_with_hasattr_or_getattr():
    """The design's rule: a capability is declared on the store, never guessed."""
    store_names = {"store", "src", "dst", "src_store", "dst_store", "source", "self.store"}
    bad = []
    for path in (ROOT / "src" / "fssync").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("hasattr", "getattr")
                and node.args
                and ast.unparse(node.args[0]) in store_names
            ):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert bad == []


# ------------------------------------------------------------------------------ reasons


def test_a_reason_is_its_text_and_has_a_code():
    assert Reason.SOURCE_NEWER == "source is newer"
    assert str(Reason.CHECKSUM_DIFFERS) == "checksum differs"
    assert Reason.SOURCE_NEWER_NO_CHECKSUM.code == "source-newer-no-checksum"
    assert len({r.value for r in Reason}) == len(Reason)  # no two codes share a text


def test_decisions_test_the_code_not_the_words():
    assert is_reason(Reason.SOURCE_NEWER, *NEEDS_METADATA)
    assert not is_reason("source is newer", *NEEDS_METADATA)  # a plugin's own words
    assert not is_reason(Reason.SIZE_DIFFERS, *NEEDS_METADATA)


E = Entry


@pytest.mark.parametrize(
    ("src", "dst", "expected"),
    [
        (E("k", 1, md5="a"), E("k", 2, md5="a"), Reason.SIZE_DIFFERS),
        (E("k", 1, md5="a"), E("k", 1, md5="b"), Reason.CHECKSUM_DIFFERS),
        (E("k", 1, 9.0), E("k", 1, 5.0), Reason.MTIME_DIFFERS_NO_CHECKSUM),
        (E("k", 1, None, 9.0), E("k", 1, None, 5.0), Reason.SOURCE_NEWER_NO_CHECKSUM),
        (E("k", 1, md5="a"), E("k", 1, md5="a"), None),
    ],
)
def test_checksum_reasons_are_codes(src, dst, expected):
    got = compare_checksum(src, dst, Policy())
    assert got is expected


def test_the_plan_carries_codes():
    src = {"new": E("new", 1, 1.0), "same": E("same", 1, 1.0), "big": E("big", 2, 1.0)}
    dst = {"same": E("same", 1, 1.0), "big": E("big", 1, 1.0), "old": E("old", 1, 1.0)}
    plan = build_plan("a", "b", src, dst, Policy(delete=True), BUILTIN_MODES["size"].function)
    reasons = {a.key: a.reason for a in plan.changes}
    assert reasons == {
        "new": Reason.NEW_FILE,
        "big": Reason.SIZE_DIFFERS,
        "old": Reason.NOT_IN_SOURCE,
    }
    assert all(isinstance(r, Reason) for r in reasons.values())
    assert {a.key: a.reason for a in plan.actions}["same"] is Reason.UNCHANGED


# ------------------------------------------------------------------------------ compare modes


def test_builtin_modes_declare_whether_they_need_hashes():
    assert {n for n, m in BUILTIN_MODES.items() if m.needs_hashes} == {"checksum"}
    assert all(isinstance(m, CompareMode) and m.describe for m in BUILTIN_MODES.values())
    plain = CompareMode.of(BUILTIN_MODES["size"].function)
    assert plain.needs_hashes is False and CompareMode.of(plain) is plain


class Recording:
    """A plugin offering a content mode of its own, as a declared mode or a bare function."""

    def __init__(self, needs_hashes: bool):
        self.needs_hashes = needs_hashes
        self.seen: list[tuple[str | None, str | None]] = []

    @fssync.hookimpl
    def fssync_compare_modes(self):
        def by_content(src, dst, policy):
            self.seen.append((src.md5, dst.md5))
            if src.md5 and dst.md5:
                return None if src.md5 == dst.md5 else Reason.CHECKSUM_DIFFERS
            return Reason.SIZE_DIFFERS if src.size != dst.size else None

        if self.needs_hashes:
            return {"content": CompareMode(by_content, needs_hashes=True)}
        return {"content": by_content}


def test_a_plugins_checksum_mode_gets_hashes(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src, {"a.txt": b"one", "b.txt": b"two"})
    make_tree(dst, {"a.txt": b"one", "b.txt": b"TWO"})  # same sizes and mtimes, b differs
    mode = Recording(needs_hashes=True)
    report = fssync.sync(str(src), str(dst), compare="content", plugins=[mode])
    assert len(mode.seen) == 2 and all(s and d for s, d in mode.seen)
    assert (report.updated, report.skipped) == (1, 1)
    assert (dst / "b.txt").read_bytes() == b"two"


def test_a_bare_comparator_gets_no_hashes(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src, {"a.txt": b"one"})
    make_tree(dst, {"a.txt": b"ONE"})
    mode = Recording(needs_hashes=False)
    plan = fssync.plan(str(src), str(dst), compare="content", plugins=[mode])
    assert mode.seen == [(None, None)]
    assert [a.kind for a in plan.changes] == []  # equal sizes, no hash: unchanged


def test_a_plugin_mode_is_listed_with_the_builtins(tmp_path):
    from fssync.hooks.manager import make_hooks

    hooks = make_hooks(plugins=[Recording(needs_hashes=True)])
    modes = hooks.compare_modes()
    assert modes["content"].needs_hashes and modes["checksum"].needs_hashes
    assert not modes["size"].needs_hashes
    assert Kind.UPDATE  # the public names a plugin compares with are importable


def test_an_undeclared_operation_is_never_called(tmp_path):
    """A store that implements move without declaring it is not asked: the transfer copies
    and drops the old file instead. The declaration decides, not a method that exists."""
    import asyncio

    from fssync.model import Action
    from fssync.transfer.actions import copy_one

    calls = []

    class Quiet(LocalStore):
        operations = Operations(positional_writes=True, ranged_reads=True)  # no server_move

        async def move(self, old, key):
            calls.append(key)
            return await super().move(old, key)

    make_tree(tmp_path / "d", {"old.txt": b"x"})
    make_tree(tmp_path / "s", {"new.txt": b"x"})
    src = LocalStore(parse(str(tmp_path / "s")), is_source=True)
    dst = Quiet(parse(str(tmp_path / "d")), is_source=False)
    old, new = E("old.txt", 1, 1_700_000_000.0), E("new.txt", 1, 1_700_000_000.0)
    move = Action(Kind.MOVE, "new.txt", new, old, "renamed")
    written = asyncio.run(copy_one(src, dst, move, {}))
    assert calls == [] and written.key == "new.txt"  # copied, then the old file dropped
    assert (tmp_path / "d" / "new.txt").read_bytes() == b"x"
    assert not (tmp_path / "d" / "old.txt").exists()


@pytest.mark.parametrize("name", sorted(BUILTIN_MODES))
def test_a_builtin_mode_returns_only_the_reasons_it_declares(name):
    """Every combination of sizes, mtimes, write times and hashes, on both kinds of
    destination (keeps mtimes or not): each answer is None or a declared `Reason`."""
    import itertools

    mode = BUILTIN_MODES[name]
    values = {
        "size": (1, 2),
        "mtime": (None, 5.0, 9.0),
        "stamp": (None, 5.0, 9.0),
        "md5": (None, "a", "b"),
        "etag": (None, "x-2", "y-2"),
    }
    keep = fssync.Capabilities(keeps_mtime=True)
    lose = fssync.Capabilities(keeps_mtime=False)
    combos = [
        dict(zip(values, combo, strict=True)) for combo in itertools.product(*values.values())
    ]
    seen = set()
    for s, d in itertools.product(combos[::3], combos[::2]):
        for caps in (keep, lose):
            got = mode.function(E("k", **s), E("k", **d), Policy(src_caps=keep, dst_caps=caps))
            assert got is None or (isinstance(got, Reason) and got in mode.reasons), (s, d, got)
            seen.add(got)
    assert seen - {None} <= mode.reasons


# ------------------------------------------------------------------------------ per backend


@pytest.mark.parametrize(
    "url", ["memory://x", "ftp://h/x", "webdav://h/x", "sftp://h/x", "gs://b/x", "az://c/x"]
)
def test_each_fsspec_backend_declares_its_own_operations(url):
    from fssync.stores.features import BUILTIN

    location = parse(url)
    store = FsspecStore(location, fs=object())
    assert store.operations is BUILTIN[location.protocol]
    f = store.features
    assert f.case_sensitive is location.capabilities.case_sensitive
    assert (f.name_max, f.key_max) == (
        location.capabilities.name_max,
        location.capabilities.key_max,
    )


def test_what_is_declared_per_backend():
    from fssync.stores.features import BUILTIN

    def ops(protocol):
        return {k for k, v in attrs.asdict(BUILTIN[protocol]).items() if v}

    assert "server_copy" not in ops("ftp") and "server_copy" in ops("webdav")
    assert {"server_copy", "recursive_listing", "ranged_reads"} <= ops("gs") == ops("abfs")
    assert "streaming_writes" not in ops("webdav")  # webdav4 spools an upload first
    assert ops("http") == ops("zip") == set()
    assert capabilities_of("s3").key_max == capabilities_of("gs").key_max == 1024
    assert capabilities_of("sftp").name_max == 255 and capabilities_of("memory").name_max is None


def test_declared_name_rules_refuse_keys_before_anything_is_sent():
    """check_keys comes from the declaration: a case-insensitive store refuses a pair that
    folds together; a key limit counts the root's path inside the bucket."""
    folding = attrs.evolve(
        parse("memory://x"), capabilities=fssync.Capabilities(False, case_sensitive=False)
    )
    store = FsspecStore(folding, fs=object())
    found = dict(store.check_keys(["A.txt", "a.txt", "b.txt"]))
    assert set(found) == {"A.txt", "a.txt"} and "case-insensitive store" in found["a.txt"]
    bucket = FsspecStore(parse("gs://bucket/pre"), fs=object())  # the key counts "pre/"
    assert bucket._key_prefix() == 4
    assert bucket.check_keys(["k" * 200 + "/" + "k" * 819]) == []  # 1,020 + 4 bytes
    (too_long,) = bucket.check_keys(["k" * 200 + "/" + "k" * 820])
    assert "longer than the 1024 bytes" in too_long[1]


def test_an_undeclared_server_copy_is_never_called(tmp_path):
    """A store that can copy on the server but does not declare it gets the bytes sent."""
    import asyncio

    from fssync.model import Action
    from fssync.transfer.actions import copy_one

    calls = []

    class Quiet(LocalStore):
        async def copy_within(self, source, entry, options):
            calls.append(entry.key)
            return entry

    make_tree(tmp_path / "s", {"f.txt": b"x"})
    src = LocalStore(parse(str(tmp_path / "s")), is_source=True)
    dst = Quiet(parse(str(tmp_path / "d")), is_source=False)
    assert not dst.features.server_copy
    new = E("f.txt", 1, 1_700_000_000.0)
    asyncio.run(copy_one(src, dst, Action(Kind.COPY, "f.txt", new, None, "new"), {}))
    assert calls == [] and (tmp_path / "d" / "f.txt").read_bytes() == b"x"


# ------------------------------------------------------------------------------ locks, shards


def test_exclusive_create_and_top_are_declared_operations(tmp_path):
    from fssync.stores.features import BUILTIN

    for ops in (LocalStore.operations, S3_OPERATIONS):
        assert ops.exclusive_create and ops.top
    for protocol in ("memory", "sftp", "ftp", "webdav", "gs", "abfs", "http"):
        assert not BUILTIN[protocol].exclusive_create and not BUILTIN[protocol].top
    assert not hasattr(Store, "exclusive_create")  # no class attribute left to probe


def test_a_lock_and_shards_follow_the_declaration_not_the_methods(tmp_path):
    """A store that has create_only and top but does not declare them gets no side lock
    and is refused for a sharded listing with one line; declared, it gets both."""
    import asyncio

    from fssync.errors import UsageError
    from fssync.execute.sharding import find_shards
    from fssync.twoway.lock import LOCK_KEY, SideLocks

    class Undeclared(LocalStore):
        operations = attrs.evolve(LocalStore.operations, exclusive_create=False, top=False)

    make_tree(tmp_path / "u", {"a/x": b"1"})
    make_tree(tmp_path / "d", {"a/x": b"1"})
    quiet = Undeclared(parse(str(tmp_path / "u")), is_source=False)
    declared = LocalStore(parse(str(tmp_path / "d")), is_source=False)

    async def lock_both() -> list[Store]:
        locks = SideLocks(lambda event: None)
        await locks.acquire([quiet, declared])
        held = list(locks.held)
        await locks.release()
        return held

    assert asyncio.run(lock_both()) == [declared]
    assert not (tmp_path / "u" / LOCK_KEY).exists()
    with pytest.raises(UsageError, match="cannot be listed in shards"):
        asyncio.run(find_shards(quiet, declared))
    shards = asyncio.run(find_shards(declared, declared))
    assert [s.prefix for s in shards][1:] == ["a/"]
