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
from fssync.stores import Reader, local
from fssync.stores.base import RANGE_STEP
from fssync_s3_fast.resolve import resolve
from fssync_s3_fast.store import PIECE, FastS3Store


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
        asyncio.run(local._write_ranges(fd, reader, size))
    finally:
        os.close(fd)


def test_a_range_cut_short_is_resumed_where_it_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "RANGE_SIZE", 1 << 20)
    monkeypatch.setattr(local, "RANGE_RETRY_SLEEP", 0.0)
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
    monkeypatch.setattr(local, "RANGE_SIZE", 1 << 20)
    monkeypatch.setattr(local, "RANGE_RETRY_SLEEP", 0.0)

    class Dead(Flaky):
        async def copy_range(self, offset, length, sink):  # type: ignore[no-untyped-def]
            self.asked.append((offset, length))
            raise ConnectionResetError("the server closed the connection")

    reader = Dead(os.urandom(2 << 20), cut=0)
    with pytest.raises(ExceptionGroup) as info:
        _download(reader, 2 << 20, str(tmp_path / "f"))
    assert info.group_contains(ConnectionResetError)
    assert len(reader.asked) == 2 * (1 + local.RANGE_RETRIES)  # bounded, then given up


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
