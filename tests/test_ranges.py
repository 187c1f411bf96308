"""Large downloads: ranges fetched in parallel and written piece by piece at their offsets.

The S3 paths are covered end to end (with faults) in test_faults.py; these tests pin the
writer's own promises with small readers of their own: a range cut short is resumed from its
first byte not yet written, memory stays bounded whatever the range size, and the fast path
hands pieces on as they arrive."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

import fssync
import fssync.plugin
import fssync.settings.location
from fssync.content.integrity import PartHasher, RangeParts
from fssync.stores import Reader, local
from fssync.stores.base import RANGE_STEP
from fssync.stores.local import FileWriter
from fssync.transfer import ranges
from fssync.transfer.retrying import RetryPolicy
from fssync_plugins.s3_fast.resolve import resolve
from fssync_plugins.s3_fast.store import PIECE, FastS3Store

NO_WAIT = RetryPolicy(low_level_sleep=0.0)


class Flaky(Reader):
    """A ranged source whose first request for each 1 MiB range longer than `cut` bytes breaks
    after `cut` bytes."""

    ranged = True

    def __init__(self, data: bytes, cut: int) -> None:
        self.data = data
        self.size = len(data)
        self.cut = cut
        self.asked: list[tuple[int, int]] = []
        self.broken: set[int] = set()

    async def read(self, n: int = -1) -> bytes:
        raise AssertionError("a large file is read by ranges")

    async def read_range(self, offset: int, length: int) -> bytes:
        self.asked.append((offset, length))
        return self.data[offset : offset + length]

    async def copy_range(self, offset, length, sink):  # type: ignore[no-untyped-def]
        self.asked.append((offset, length))
        if offset % (1 << 20) == 0 and length > self.cut and offset not in self.broken:
            self.broken.add(offset)
            await sink(self.data[offset : offset + self.cut], offset)
            raise ConnectionResetError("the server closed the connection")
        await sink(self.data[offset : offset + length], offset)


def _download(reader: Reader, size: int, path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        asyncio.run(ranges.fetch(FileWriter(fd), reader, size, NO_WAIT))
    finally:
        os.close(fd)


def test_a_range_cut_short_is_resumed_where_it_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(ranges, "RANGE_SIZE", 1 << 20)
    data = os.urandom((4 << 20) + 123)
    reader = Flaky(data, cut=300_000)
    _download(reader, len(data), str(tmp_path / "f"))
    assert (tmp_path / "f").read_bytes() == data
    starts = sorted({o for o, _ in reader.asked if o % (1 << 20) == 0})
    assert starts == [0, 1 << 20, 2 << 20, 3 << 20, 4 << 20]
    # Each retry asks for the rest of its range only, from the first byte not yet written.
    resumed = sorted((o, n) for o, n in reader.asked if o % (1 << 20))
    assert resumed == [(s + 300_000, min(1 << 20, len(data) - s) - 300_000) for s in starts[:4]]


def test_a_range_that_keeps_failing_fails_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(ranges, "RANGE_SIZE", 1 << 20)

    class Dead(Flaky):
        async def copy_range(self, offset, length, sink):  # type: ignore[no-untyped-def]
            self.asked.append((offset, length))
            raise ConnectionResetError("the server closed the connection")

    reader = Dead(os.urandom(2 << 20), cut=0)
    with pytest.raises(ExceptionGroup) as info:
        _download(reader, 2 << 20, str(tmp_path / "f"))
    assert info.group_contains(ConnectionResetError)
    assert len(reader.asked) == 2 * NO_WAIT.sends  # bounded by the policy, then given up


def test_large_ranges_are_asked_in_bounded_steps_by_default(tmp_path):
    """A store without its own copy_range is asked for at most RANGE_STEP bytes at a time, so
    larger ranges do not mean larger buffers."""

    class Plain(Flaky):
        copy_range = Reader.copy_range

    size = 300 << 20
    data = bytes(size)  # zeros: cheap to hold, and the file's content is still checked
    reader = Plain(data, cut=0)
    _download(reader, size, str(tmp_path / "f"))
    assert max(n for _, n in reader.asked) <= RANGE_STEP
    assert sum(n for _, n in reader.asked) == size
    assert os.path.getsize(tmp_path / "f") == size


def test_the_fast_path_hands_a_range_on_in_pieces(bucket):
    ep, name = bucket
    data = os.urandom((3 * PIECE) + 999)
    ep.client().put_object(Bucket=name, Key="r/big.bin", Body=data)
    location = fssync.Location(
        f"s3://{name}/r", "s3", f"{name}/r", fssync.Capabilities(keeps_mtime=True)
    )
    settings = resolve({"endpoint_url": ep.url, "key": ep.access_key, "secret": ep.secret_key}, {})
    pieces: list[tuple[int, int, str]] = []

    async def sink(piece: object, at: int) -> None:
        view = memoryview(piece)  # type: ignore[arg-type]
        pieces.append((at, len(view), hashlib.sha256(view).hexdigest()))

    async def scenario() -> None:
        store = FastS3Store(location, settings, transfers=4)
        try:
            reader = await store.open(fssync.Entry("big.bin", len(data), mtime=1.0))
            await reader.copy_range(100, len(data) - 200, sink)
            # read_range gives the same bytes whole (it is copy_range into one buffer)
            assert await reader.read_range(PIECE - 5, PIECE + 10) == data[PIECE - 5 : 2 * PIECE + 5]
            await reader.close()
        finally:
            await store.close()

    asyncio.run(scenario())
    assert max(n for _, n, _ in pieces) == PIECE
    at = 100
    for offset, n, digest in pieces:
        assert offset == at
        assert digest == hashlib.sha256(data[at : at + n]).hexdigest()
        at += n
    assert at == len(data) - 100


def _pieces(data: bytes, step: int, piece: int) -> list[tuple[int, bytes]]:
    """Ranges of `step` bytes in a shuffled order, each cut into pieces in its own order."""
    import random

    starts = list(range(0, len(data), step))
    random.Random(7).shuffle(starts)
    out = []
    for start in starts:
        end = min(start + step, len(data))
        out += [(at, data[at : min(at + piece, end)]) for at in range(start, end, piece)]
    return out


def test_ranges_in_any_order_are_hashed_part_by_part_to_the_multipart_etag():
    data = os.urandom((20 << 20) + 5)
    whole = PartHasher(4 << 20)
    whole.update(data)
    parts = RangeParts(4 << 20, len(data))
    for at, piece in _pieces(data, 8 << 20, 1 << 20):
        parts.update(piece, at)
    assert parts.etag() == whole.etag()
    # Ranges that start inside a part cannot be hashed so: the file is then hashed whole.
    unaligned = RangeParts(4 << 20, len(data))
    for at, piece in _pieces(data, 3 << 20, 1 << 20):
        unaligned.update(piece, at)
    assert unaligned.etag() is None
    missing = RangeParts(4 << 20, len(data))
    for at, piece in _pieces(data, 8 << 20, 1 << 20)[1:]:
        missing.update(piece, at)
    assert missing.etag() is None


@pytest.mark.parametrize("fault", [None, "corrupt"])
def test_a_multipart_download_is_checked_as_it_arrives(
    moto, fault_proxy, tmp_path, monkeypatch, s3_backend, fault
):
    """An object fssync uploaded in parts comes down in part-aligned ranges whose ETag is
    checked from the bytes as they pass, not read back from disk; a flipped byte in one range
    is still caught, and the file fetched again."""
    from fssync.content import integrity

    from .helpers import make_tree, s3_opts

    monkeypatch.setattr(ranges, "RANGE_THRESHOLD", 4 << 20)
    reread: list[str] = []
    real = integrity._etag_file
    monkeypatch.setattr(integrity, "_etag_file", lambda p, s: reread.append(p) or real(p, s))
    ep = moto.endpoint
    name = ep.make_bucket()
    data = os.urandom((17 << 20) + 3)  # three 8 MiB parts, the last one short
    make_tree(tmp_path / "s", {"big.bin": data})
    assert fssync.sync(str(tmp_path / "s"), f"s3://{name}/p", **s3_opts(ep)).failed == 0
    head = ep.client().head_object(Bucket=name, Key="p/big.bin")
    assert head["ETag"].strip('"').endswith("-3")
    # Request 1 lists; 2-4 are the three ranges.
    proxy = fault_proxy(ep, schedule={3: fault} if fault else {})
    back = tmp_path / "back"
    report = fssync.sync(f"s3://{name}/p", str(back), **s3_opts(ep, endpoint_url=proxy.url))
    assert report.failed == 0 and report.copied == 1
    assert hashlib.sha256((back / "big.bin").read_bytes()).digest() == (
        hashlib.sha256(data).digest()
    )
    assert reread == []  # checked from the pieces, never read back
    assert report.retries == (1 if fault else 0)  # the flipped byte was caught


def test_stated_parts_that_cannot_describe_the_object_are_not_used():
    """Part metadata rewritten by another tool, or hostile (a 1-byte part size would make a
    hasher per byte), is ignored rather than trusted."""
    from fssync.content.integrity import _fits

    assert _fits((8 << 20, "ab-3"), (17 << 20) + 3)
    assert _fits((8 << 20, "ab-1"), 0)  # an empty object uploaded in one part
    assert not _fits((8 << 20, "ab-2"), (17 << 20) + 3)  # the count does not match
    assert not _fits((1, "ab-20000000"), 20_000_000)  # more parts than S3 allows
    assert not _fits((8 << 20, "ab"), 1)  # no part count at all


def _multipart_source(request, server, tmp_path, monkeypatch):
    """A bucket holding o/big.bin (12 MiB) uploaded in 5 MiB parts by another tool (boto3), so
    no hash can check its content; downloads of it come in 1 MiB ranges."""
    from boto3.s3.transfer import TransferConfig

    ep = request.getfixturevalue(server)
    ep = getattr(ep, "endpoint", ep)
    monkeypatch.setattr(ranges, "RANGE_THRESHOLD", 4 << 20)
    monkeypatch.setattr(ranges, "RANGE_SIZE", 1 << 20)
    name = ep.make_bucket()
    s3 = ep.client()
    (tmp_path / "old.bin").write_bytes(os.urandom(12 << 20))
    parts = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    s3.upload_file(str(tmp_path / "old.bin"), name, "o/big.bin", Config=parts)
    assert "-" in s3.head_object(Bucket=name, Key="o/big.bin")["ETag"]
    return ep, name, s3


@pytest.mark.parametrize("server", ["moto", "seaweed"])
def test_an_object_overwritten_during_a_ranged_download_is_not_stored_torn(
    request, tmp_path, monkeypatch, s3_backend, server
):
    """Ranges are asked "if the object is still the one listed" (If-Match): an object
    overwritten after the first range arrived cannot lend the rest of its bytes to the file.
    The object here was uploaded in parts by another tool, so no hash could catch the mix.
    The 412 makes fssync ask the store for the object as it is now and copy that version,
    whole, in the same run."""
    from .helpers import s3_opts

    ep, name, s3 = _multipart_source(request, server, tmp_path, monkeypatch)
    new = os.urandom((12 << 20) + 7)

    class Overwrite:
        done = False
        errors: list[str] = []

        @fssync.hookimpl
        def fssync_event(self, event, config):
            if event.name == "progress" and not self.done:  # the first range has arrived
                self.done = True
                s3.put_object(Bucket=name, Key="o/big.bin", Body=new)
            if event.name == "retry":
                self.errors.append(event.fields["error"])

    back = tmp_path / "back"
    hook = Overwrite()
    report = fssync.sync(f"s3://{name}/o", str(back), plugins=[hook], **s3_opts(ep))
    assert hook.done  # the object was overwritten after the first range had arrived
    assert report.failed == 0 and report.copied == 1
    assert (back / "big.bin").read_bytes() == new  # the new version, whole: not a mix
    assert any("changed on the source while it was downloaded" in e for e in hook.errors)
    assert not [p for p in back.rglob("*") if ".fssync-tmp-" in p.name]


@pytest.mark.parametrize("server", ["moto", "seaweed"])
def test_a_changed_object_that_cannot_be_refreshed_is_reported_not_stored(
    request, tmp_path, monkeypatch, s3_backend, server
):
    """When the store cannot say what the object is now (here: deleted after the first range),
    the file is reported and nothing is stored; the next run sees the source as it is."""
    from .helpers import s3_opts

    ep, name, s3 = _multipart_source(request, server, tmp_path, monkeypatch)

    class Replace:
        done = False

        @fssync.hookimpl
        def fssync_event(self, event, config):
            if event.name == "progress" and not self.done:
                self.done = True  # overwritten, then gone: no version to copy
                s3.put_object(Bucket=name, Key="o/big.bin", Body=b"x" * (12 << 20))
                s3.delete_object(Bucket=name, Key="o/big.bin")

    back = tmp_path / "back"
    hook = Replace()
    report = fssync.sync(f"s3://{name}/o", str(back), plugins=[hook], **s3_opts(ep))
    assert hook.done and report.failed == 1 and report.copied == 0
    assert not [p for p in back.rglob("*") if p.is_file()]  # neither torn nor temporary


def test_ranged_copies_work_where_there_is_no_pread_or_pwrite(tmp_path, monkeypatch):
    """Windows has neither: ranges are then read through a handle of their own and written
    by seeking first."""
    from .helpers import make_tree

    monkeypatch.setattr(ranges, "RANGE_THRESHOLD", 4 << 20)
    monkeypatch.setattr(ranges, "RANGE_SIZE", 1 << 20)
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    data = os.urandom((9 << 20) + 3)
    make_tree(tmp_path / "src", {"big.bin": data, "small.txt": b"line\nline\r\n"})
    monkeypatch.setattr(local, "PREAD", None)
    monkeypatch.setattr(local, "PWRITE", None)
    report = fssync.sync(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert report.failed == 0 and report.copied == 2
    assert (tmp_path / "dst" / "big.bin").read_bytes() == data
    assert (tmp_path / "dst" / "small.txt").read_bytes() == b"line\nline\r\n"


def test_a_server_that_ignores_range_costs_one_streamed_get(
    moto, fault_proxy, tmp_path, monkeypatch, s3_backend
):
    """A server that answers every ranged GET with the whole object (200 where 206 was asked):
    the download notices the first such answer, takes none of its bytes, and reads the object
    once from start to end; it used to read the whole object into memory for every range and
    ask again and again (a 100 MiB object: 124 whole-object GETs, then a failure)."""
    from .helpers import make_tree, s3_opts

    monkeypatch.setattr(ranges, "RANGE_THRESHOLD", 4 << 20)
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    ep = moto.endpoint
    name = ep.make_bucket()
    data = os.urandom((24 << 20) + 11)  # four 8 MiB parts, the last one short: three ranges
    make_tree(tmp_path / "s", {"big.bin": data})
    assert fssync.sync(str(tmp_path / "s"), f"s3://{name}/g", **s3_opts(ep)).failed == 0
    s3 = ep.client()
    fetched: dict[str, bytes] = {}

    def whole(path: str) -> bytes:
        bucket, _, key = path.lstrip("/").partition("/")
        if path not in fetched:
            fetched[path] = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return fetched[path]

    proxy = fault_proxy(ep, rate=1.0, kinds=["ignore-range"], methods=["GET"], whole_object=whole)
    back = tmp_path / "back"
    report = fssync.sync(f"s3://{name}/g", str(back), **s3_opts(ep, endpoint_url=proxy.url))
    assert report.failed == 0 and report.copied == 1, report.failures
    assert hashlib.sha256((back / "big.bin").read_bytes()).digest() == (
        hashlib.sha256(data).digest()
    )
    assert proxy.stats.applied["ignore-range"] >= 1  # the server did ignore a range
    gets = proxy.stats.methods["GET"]
    # the listing, the ranges in flight when the first whole answer came, one streamed GET
    assert gets <= 1 + ranges.RANGE_PARALLEL + 1, gets
    assert report.retries == 0


# ------------------------------------------------------- the transfer stage runs the ranges


class Memory(fssync.plugin.PositionalWriter):
    def __init__(self) -> None:
        self.data = bytearray()

    def write_at(self, data, offset: int) -> None:  # type: ignore[no-untyped-def]
        end = offset + len(data)
        if len(self.data) < end:
            self.data.extend(bytes(end - len(self.data)))
        self.data[offset:end] = data

    def truncate(self) -> None:
        self.data.clear()


class Positional(fssync.plugin.Store):
    """A destination that only opens, fills and commits: it declares positional writes and
    knows nothing of ranges, which the transfer stage fetches for it."""

    operations = fssync.plugin.Operations(positional_writes=True)

    def __init__(self, location: fssync.Location) -> None:
        self.location = location
        self.files: dict[str, bytes] = {}

    async def scan(self, progress=None):  # type: ignore[no-untyped-def]
        raise AssertionError("not listed here")

    async def open(self, entry):  # type: ignore[no-untyped-def]
        raise AssertionError("not a source")

    async def delete(self, keys):  # type: ignore[no-untyped-def]
        return []

    async def write(self, entry, reader, options):  # type: ignore[no-untyped-def]
        raise AssertionError("a large ranged file goes through write_ranged")

    async def write_ranged(self, entry, reader, fill):  # type: ignore[no-untyped-def]
        writer = Memory()
        await fill(writer)
        await reader.verify(None)
        self.files[entry.key] = bytes(writer.data)
        return entry


def test_a_large_download_is_fetched_as_ranges_by_the_transfer_stage(tmp_path, monkeypatch):
    from fssync.model import Action, Kind
    from fssync.stores.local import LocalStore
    from fssync.transfer.actions import copy_one

    monkeypatch.setattr(ranges, "RANGE_THRESHOLD", 4 << 20)
    monkeypatch.setattr(ranges, "RANGE_SIZE", 1 << 20)
    data = os.urandom((6 << 20) + 5)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "big.bin").write_bytes(data)
    src = LocalStore(fssync.settings.location.parse(str(tmp_path / "s")), is_source=True)
    dst = Positional(fssync.settings.location.parse("memory://x"))
    entry = fssync.Entry(key="big.bin", size=len(data))
    asked: list[tuple[int, int]] = []
    real = local.LocalReader.read_range

    async def noted(self, offset, length):  # type: ignore[no-untyped-def]
        asked.append((offset, length))
        return await real(self, offset, length)

    monkeypatch.setattr(local.LocalReader, "read_range", noted)
    action = Action(Kind.COPY, "big.bin", entry, None, "new file")
    asyncio.run(copy_one(src, dst, action, {}, retry=NO_WAIT))
    assert dst.files["big.bin"] == data
    assert sorted(o for o, _ in asked) == [n << 20 for n in range(7)]  # 1 MiB ranges, once each
