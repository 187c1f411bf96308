"""The S3 object rules live once, in `fssync.stores.s3.objects`, and hold over both transports.

The first test reads the two S3 stores' code: neither defines a write, multipart, verification
or copy step of its own, so a behaviour change there lands once. The others drive the shared
layer through each adapter (botocore through s3fs's client, and the fast client) against the
real servers, and check what the server then holds with a separate boto3 client."""

from __future__ import annotations

import ast
import asyncio
import hashlib
import inspect
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import fssync
from fssync.model import Entry
from fssync.settings.location import parse
from fssync.state.db import StateStore
from fssync.state.leftovers import UploadJournal
from fssync.stores import Reader, S3ObjectStore, S3Transport
from fssync.stores.s3 import meta as s3meta
from fssync.stores.s3 import objects as s3objects
from fssync.testing.servers import S3Endpoint

ROOT = Path(__file__).resolve().parents[1]
STORE_MODULES = [
    ROOT / "src" / "fssync" / "stores" / "s3" / "s3fs_path.py",
    ROOT / "plugins" / "fssync_plugins" / "s3_fast" / "store.py",
    ROOT / "plugins" / "fssync_plugins" / "s3_fast" / "transport.py",
]
# What the shared layer owns: neither store nor adapter may define or reach for these (the
# adapters implement the protocol's requests, some of which share a store method's name).
SHARED_METHODS = {
    name for name, member in vars(S3ObjectStore).items() if inspect.isfunction(member)
}
REQUESTS = {name for name in vars(S3Transport) if not name.startswith("_")}
SHARED_RULES = {
    "abort_twins",
    "confirmed",
    "find",  # resume.find
    "journal",
    "known_md5",
    "opaque_etag",
    "options_problem",
    "source_mtime_ns",
    "stated_md5",
    "stated_parts",
    "stored_mtime_ns",
    "unconfirmed_put",
    "MD5_KEY",
    "MTIME_KEY",
    "PART_KEY",
    "PROBE_PART",
}


def names_in(path: Path) -> tuple[set[str], set[str]]:
    """(functions and methods defined, names and attributes used) in a module."""
    tree = ast.parse(path.read_text())
    defined: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            defined.add(node.name)
        elif isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.alias):
            used.add(node.asname or node.name.rsplit(".", 1)[-1])
    return defined, used


def test_both_s3_stores_write_read_and_verify_through_the_one_layer():
    from fssync.stores.s3.s3fs_path import S3Store
    from fssync_plugins.s3_fast.store import FastS3Store

    assert {"write", "_multipart", "_send_part", "_checks_content_md5", "_probe_content_md5",
            "_stored_md5", "set_mtime", "copy_within", "open"} <= SHARED_METHODS  # fmt: skip
    for store in (S3Store, FastS3Store):
        assert issubclass(store, S3ObjectStore)
        own = SHARED_METHODS & set(vars(store))
        assert not own, f"{store.__name__} defines {sorted(own)} again"
    for path in STORE_MODULES:
        defined, used = names_in(path)
        again = defined & (SHARED_METHODS - REQUESTS)
        assert not again, f"{path.name} defines {sorted(again)} again"
        assert not used & SHARED_RULES, f"{path.name} applies {sorted(used & SHARED_RULES)}"


# ------------------------------------------------------------------- the layer on real servers


class Bytes(Reader):
    """A source that is not a local file: read in order, no cheap ranges."""

    def __init__(self, data: bytes, mtime_ns: int) -> None:
        self._data, self._at = data, 0
        self.size, self.mtime, self.mtime_ns = len(data), mtime_ns / 1e9, mtime_ns

    async def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._at + n
        out, self._at = self._data[self._at : end], min(end, len(self._data))
        return out


def options_for(ep: S3Endpoint) -> dict[str, Any]:
    options: dict[str, Any] = {"endpoint_url": ep.url, "key": ep.access_key}
    options["secret"] = ep.secret_key
    options["client_kwargs"] = {"region_name": ep.region}
    if ep.session_token:
        options["token"] = ep.session_token
    return options


async def open_store(transport: str, ep: S3Endpoint, root: str) -> S3ObjectStore:
    location = fssync.Location(f"s3://{root}", "s3", root, fssync.Capabilities(keeps_mtime=True))
    if transport == "fast":
        from fssync_plugins.s3_fast.resolve import resolve
        from fssync_plugins.s3_fast.store import FastS3Store

        return FastS3Store(location, resolve(options_for(ep), {}), transfers=2)
    from fssync.stores.s3.s3fs_path import S3Store

    return await S3Store.connect(location, options_for(ep), transfers=2)


def on_store(
    transport: str, ep: S3Endpoint, root: str, scenario: Callable[[S3ObjectStore], Awaitable[Any]]
) -> Any:
    async def run() -> Any:
        store = await open_store(transport, ep, root)
        try:
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(run())


TRANSPORTS = pytest.mark.parametrize("transport", ["botocore", "fast"])
MTIME_NS = 1_700_000_000_250_000_000
MTIME = MTIME_NS / 1e9


@TRANSPORTS
def test_a_put_keeps_the_metadata_and_reads_back_verified(transport, bucket):
    ep, name = bucket
    data = os.urandom(3000)
    md5 = hashlib.md5(data).hexdigest()

    async def scenario(store: S3ObjectStore) -> tuple[Any, ...]:
        written = await store.write(Entry("a.bin", len(data)), Bytes(data, MTIME_NS), {})
        meta, opaque = await store.head(written)
        stat = await store.stat("a.bin")
        listed = Entry("a.bin", len(data), etag=written.etag)
        reader = await store.open(listed)
        whole = await reader.read(-1)
        learned = (reader.expected_md5, reader.mtime_ns)
        await reader.close()
        ranged = await (await store.open(listed)).read_range(10, 100)
        return written, meta, opaque, stat, whole, learned, ranged, await store.stat("gone")

    written, meta, opaque, stat, whole, learned, ranged, gone = on_store(
        transport, ep, f"{name}/p", scenario
    )
    assert (written.etag, written.md5, written.mtime) == (md5, md5, MTIME)
    held = ep.client().head_object(Bucket=name, Key="p/a.bin")["Metadata"]
    assert held[s3meta.MD5_KEY] == md5 and held[s3meta.MTIME_KEY] == "1700000000.250000000"
    assert meta == held and opaque is False
    assert (stat.size, stat.etag) == (len(data), md5)
    assert whole == data and learned == (md5, MTIME_NS)
    assert bytes(ranged) == data[10:110]
    assert gone is None


@TRANSPORTS
def test_a_range_of_an_object_overwritten_since_its_listing_is_refused(transport, bucket):
    """Ranges are asked "if the object is still the one listed" (If-Match)."""
    ep, name = bucket
    ep.client().put_object(Bucket=name, Key="p/a.bin", Body=b"old" * 100)
    etag = ep.client().head_object(Bucket=name, Key="p/a.bin")["ETag"].strip('"')
    ep.client().put_object(Bucket=name, Key="p/a.bin", Body=b"new" * 100)

    async def scenario(store: S3ObjectStore) -> None:
        reader = await store.open(Entry("a.bin", 300, etag=etag))
        await reader.read_range(0, 10)

    with pytest.raises(Exception) as caught:
        on_store(transport, ep, f"{name}/p", scenario)
    assert s3objects.error_code(caught.value) in ("PreconditionFailed", "412")


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@TRANSPORTS
@pytest.mark.parametrize("source", ["stream", "file"])
def test_a_multipart_upload_is_journalled_resumed_and_verified(transport, source, bucket, tmp_path):
    """A gone run's upload of the same file is taken over (its part 1 is not sent again); the
    completed object states its part size and MD5, and the journal holds nothing after."""
    ep, name = bucket
    data = os.urandom(17 << 20)
    md5 = hashlib.md5(data).hexdigest()
    part = s3meta.part_size_for(len(data))
    s3 = ep.client()
    meta = {s3meta.PART_KEY: str(part), s3meta.MD5_KEY: md5}  # as the gone run created it
    left = s3.create_multipart_upload(Bucket=name, Key="p/big.bin", Metadata=meta)["UploadId"]
    s3.upload_part(Bucket=name, Key="p/big.bin", UploadId=left, PartNumber=1, Body=data[:part])
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    os.utime(path, ns=(MTIME_NS, MTIME_NS))

    async def scenario(store: S3ObjectStore) -> tuple[Any, ...]:
        journal = UploadJournal(StateStore(tmp_path / "state.db"), store.identity)
        row = await journal.begin(name, "p/big.bin")
        assert row is not None
        await journal.created(row, left)
        await journal.describe(row, len(data), MTIME_NS, part)
        with journal._db() as db:  # as a killed run leaves it
            db.execute("UPDATE uploads_v1 SET pid = ? WHERE id = ?", (dead_pid(), row))
        store.journal = journal
        if source == "file":
            from fssync.stores.local import LocalStore

            local = LocalStore(parse(str(tmp_path)), is_source=True)
            reader = await local.open(Entry("big.bin", len(data), MTIME))
        else:
            reader = Bytes(data, MTIME_NS)
        written = await store.write(Entry("big.bin", len(data), MTIME, md5=md5), reader, {})
        await reader.close()
        back = await store.open(Entry("big.bin", len(data), etag=written.etag))
        assert await back.read(-1) == data
        await back.close()
        return (
            written,
            store.parts_kept,
            back.expected_parts,
            await journal.interrupted(name, "p/big.bin"),
        )

    written, kept, parts, interrupted = on_store(transport, ep, f"{name}/p", scenario)
    assert written.etag.endswith("-3") and written.md5 == md5
    assert kept == 1
    assert parts == (part, written.etag)
    assert interrupted == []
    assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    held = s3.head_object(Bucket=name, Key="p/big.bin")["Metadata"]
    assert held[s3meta.PART_KEY] == str(part) and held[s3meta.MD5_KEY] == md5


@TRANSPORTS
def test_server_side_steps_keep_what_they_must(transport, bucket):
    """set_mtime rewrites only the mtime (the content type kept); a move is a copy then a
    delete; deletes report nothing for keys that went."""
    ep, name = bucket
    s3 = ep.client()
    s3.put_object(Bucket=name, Key="p/a.txt", Body=b"hello", ContentType="text/x-kept")
    etag = s3.head_object(Bucket=name, Key="p/a.txt")["ETag"].strip('"')

    async def steps(store: S3ObjectStore) -> tuple[Any, ...]:
        touched = await store.set_mtime(Entry("a.txt", 5, etag=etag), 1_234_000_000_500)
        assert touched is not None
        head = s3.head_object(Bucket=name, Key="p/a.txt")
        moved = await store.move(touched, "b.txt")
        return touched, head, moved, await store.delete(["b.txt"])

    touched, head, moved, failed = on_store(transport, ep, f"{name}/p", steps)
    assert touched.mtime == 1_234.0000005 and touched.etag
    assert head["ContentType"] == "text/x-kept"
    assert head["Metadata"][s3meta.MTIME_KEY] == "1234.000000500"
    assert moved is not None and moved.key == "b.txt"
    assert failed == []
    assert s3.list_objects_v2(Bucket=name).get("KeyCount", 0) == 0


# ------------------------------------------------------------ a reader's facts stay fixed


class _Body:
    def __init__(self, reply: dict[str, Any], data: bytes) -> None:
        self.reply, self.status, self._data = reply, 206, data
        self.remaining = len(data)

    async def read(self, n: int = -1) -> bytes:
        data, self._data = self._data, b""
        return data

    def close(self) -> None:
        pass


class _Replies:
    """A transport whose ranged answers state other metadata each time."""

    reads_into = False

    def __init__(self) -> None:
        self.number = 0

    async def get(self, bucket, key, byte_range=None, if_match=None):  # type: ignore[no-untyped-def]
        self.number += 1
        md5 = f"{self.number:032x}"
        meta = {"mtime": str(1_700_000_000 + self.number), "md5": md5}
        return _Body({"Metadata": meta, "ETag": '"e"'}, b"x" * (byte_range[1] - byte_range[0] + 1))


def test_a_reader_takes_its_facts_from_the_first_reply_and_keeps_them():
    """A ranged download's later replies do not rewrite the reader's mtime or expected MD5
    while it is read: the facts are set once, before any byte is handed on."""

    class Store:
        ranges_ignored = False
        bucket = "b"
        transport = _Replies()

    reader = s3objects.S3Reader(Store(), "k", Entry("k", 8, etag="e"))  # type: ignore[arg-type]
    first = reader.stated
    assert (first.size, first.etag, first.expected_md5) == (8, "e", None)
    asyncio.run(reader.read_range(0, 4))
    learned = reader.stated
    assert learned.mtime == 1_700_000_001 and learned.expected_md5 == f"{1:032x}"
    assert learned.size == 8  # a range's length is not the file's size
    asyncio.run(reader.read_range(4, 4))
    assert reader.stated is learned  # the second reply changed nothing
