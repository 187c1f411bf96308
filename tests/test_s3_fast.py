"""The fast S3 path (plugin fssync_plugins.s3_fast): its signer against botocore's, its HTTP client
against small local servers, and its store against both real S3 servers, next to the s3fs store.

The rest of the suite runs through the fast path too (it is the default where it can serve);
these tests pin down what is particular to it: byte-identical objects, credentials, and falling
back to s3fs whenever it cannot do everything the s3fs path would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys

import attrs
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.credentials import RefreshableCredentials
from hypothesis import given
from hypothesis import strategies as st

import fssync
from fssync.cli.main import main
from fssync.stores import Reader
from fssync.testing.servers import S3Endpoint
from fssync.transfer.retrying import RetryPolicy
from fssync_plugins.s3_fast import client as fast_client
from fssync_plugins.s3_fast.http import Pool
from fssync_plugins.s3_fast.resolve import CannotServe, Credentials, resolve
from fssync_plugins.s3_fast.sigv4 import Signer, canonical_query, uri_encode
from fssync_plugins.s3_fast.store import FastS3Store

from .helpers import SAMPLE, imported_after, make_tree
from .helpers import s3_opts as opts


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FSSYNC_S3_BACKEND", raising=False)


class StoreSpy:
    """Records which store served each location (a wrapper sees the hook's result)."""

    def __init__(self) -> None:
        self.stores: list[str] = []

    @fssync.hookimpl(wrapper=True)
    def fssync_open_store(self, location, storage_options, config, filesystem_plugins):
        store = yield
        if location.is_s3:
            self.stores.append("fast" if store is not None else "s3fs")
        return store


# --- the signer ---------------------------------------------------------------------------------


SIGNING_CASES = [
    ("GET", "b", "", [("list-type", "2"), ("prefix", "a b/ü"), ("max-keys", "1000")], {}, None),
    ("PUT", "b", "dir/spaces and ünïcode/ß.txt", [], {"content-type": "text/plain"}, "tok/+=="),
    ("PUT", "b", "a+b=c&d~e!'()*", [("partNumber", "3"), ("uploadId", "x/y+z")], {}, None),
    ("POST", "bucket.with.dots", "", [("delete", "")], {"content-md5": "abc=="}, None),
    ("HEAD", "b", "k", [], {"x-amz-meta-mtime": " 1700000000.5 "}, None),
]


@pytest.mark.parametrize(("method", "bucket", "key", "query", "headers", "token"), SIGNING_CASES)
def test_signer_matches_botocore(method, bucket, key, query, headers, token):
    """Same canonical request, string to sign and signature as botocore's S3 SigV4 signer."""
    amz_date = "20240229T235959Z"
    payload = "UNSIGNED-PAYLOAD"
    path = (
        "/"
        + uri_encode(bucket, keep_slash=False)
        + ("/" + uri_encode(key, keep_slash=True) if key else "")
    )
    qs = canonical_query(query)
    signed = {"host": "127.0.0.1:9000", **headers, "x-amz-date": amz_date}
    signed["x-amz-content-sha256"] = payload
    if token:
        signed["x-amz-security-token"] = token
    mine = Signer("eu-west-3").authorization(
        method, path, qs, dict(signed), payload, amz_date, "AKIDEXAMPLE", "secret/KEY+1"
    )

    request = AWSRequest(
        method=method,
        url=f"http://127.0.0.1:9000{path}" + (f"?{qs}" if qs else ""),
        headers={k: v for k, v in signed.items() if k != "host"},
    )
    request.context["timestamp"] = amz_date
    auth = S3SigV4Auth(BotoCredentials("AKIDEXAMPLE", "secret/KEY+1", token), "s3", "eu-west-3")
    auth._modify_request_before_signing(request)
    request.headers.replace_header("X-Amz-Content-SHA256", payload)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    assert mine.endswith(f"Signature={signature}")
    assert f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(request))}," in mine


# --- the HTTP client ----------------------------------------------------------------------------


async def _serve(answers: list[bytes], closes_after: int) -> tuple[asyncio.Server, list[int]]:
    """A tiny HTTP server: answers in turn, closing each connection after `closes_after`."""
    served: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count = 0
        try:
            while count < closes_after:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                writer.write(answers[len(served) % len(answers)])
                served.append(length)
                await writer.drain()
                count += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, served


def test_http_reuses_connections_and_retries_a_closed_one():
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"

    async def scenario() -> tuple[int, list[bytes]]:
        server, _ = await _serve([ok], closes_after=2)
        port = server.sockets[0].getsockname()[1]
        pool = Pool("127.0.0.1", port, tls=False, limit=1)
        bodies = []
        for _ in range(5):  # the server drops the connection after every second request
            _, body = await pool.request("GET", "/", {"host": "x"})
            bodies.append(body)
            await asyncio.sleep(0.01)
        await pool.close()
        server.close()
        return pool.opened, bodies

    opened, bodies = asyncio.run(scenario())
    assert bodies == [b"hi"] * 5
    assert opened == 3  # kept alive while the server allowed it


def test_http_reads_chunked_bodies_and_streams_large_uploads():
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
    )

    async def scenario() -> tuple[bytes, bytes, list[int]]:
        server, served = await _serve([chunked], closes_after=10)
        port = server.sockets[0].getsockname()[1]
        pool = Pool("127.0.0.1", port, tls=False, limit=2)
        _, first = await pool.request("PUT", "/k", {"host": "x"}, os.urandom(3 << 20))
        resp, _ = await pool.request("GET", "/k", {"host": "x"}, stream=True)
        second = await resp.read(2) + await resp.read(-1)
        resp.close()
        await pool.close()
        server.close()
        return first, second, served

    first, second, served = asyncio.run(scenario())
    assert first == second == b"abcde"
    assert served[0] == 3 << 20


# --- credentials and configuration --------------------------------------------------------------


def test_resolve_declines_what_it_does_not_understand(tmp_path):
    env = {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_ACCESS_KEY_ID": "AKIA",
        "AWS_SECRET_ACCESS_KEY": "s" * 20,
    }
    assert resolve({"endpoint_url": "http://127.0.0.1:1"}, env).endpoint == "http://127.0.0.1:1"
    with pytest.raises(CannotServe, match="session"):
        resolve({"endpoint_url": "http://127.0.0.1:1", "session": object()}, env)
    with pytest.raises(CannotServe, match="config_kwargs"):
        resolve({"config_kwargs": {"s3": {"addressing_style": "virtual"}}}, env)
    with pytest.raises(CannotServe, match="proxy"):
        resolve({"endpoint_url": "http://10.1.2.3:1"}, {**env, "HTTP_PROXY": "http://p:3128"})
    config = tmp_path / "config"
    config.write_text("[profile sso]\nsso_session = corp\nsso_account_id = 1\nregion = eu-west-1\n")
    with pytest.raises(CannotServe, match="sso"):
        resolve({"profile": "sso"}, {"AWS_CONFIG_FILE": str(config)})
    with pytest.raises(CannotServe, match="region"):  # s3fs can discover a bucket's region
        resolve({}, env)
    aws = resolve({"client_kwargs": {"region_name": "eu-west-1"}}, env)
    assert aws.endpoint == "https://s3.eu-west-1.amazonaws.com" and aws.virtual_host


def test_environment_keys_are_used_without_botocore(tmp_path):
    env = {"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_ACCESS_KEY_ID": "AKIA1",
           "AWS_SECRET_ACCESS_KEY": "secret-1", "AWS_SESSION_TOKEN": "tok", "AWS_REGION": "eu-west-2",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9/"}  # fmt: skip
    s = resolve({}, env)
    assert s.credentials() == ("AKIA1", "secret-1", "tok")
    assert (s.endpoint, s.region, s.identity) == (
        "http://127.0.0.1:9",
        "eu-west-2",
        "s3|http://127.0.0.1:9",
    )
    assert "secret-1" not in repr(s)


# --- against real servers -----------------------------------------------------------------------


def _head(ep: S3Endpoint, bucket: str, key: str) -> dict[str, object]:
    h = ep.client().head_object(Bucket=bucket, Key=key)
    return {k: h.get(k) for k in ("ETag", "Metadata", "ContentType", "ContentLength")}


def test_fast_and_s3fs_write_identical_objects(bucket, tmp_path):
    ep, name = bucket
    src = tmp_path / "src"
    make_tree(src, SAMPLE)
    spy = StoreSpy()
    for backend in ("fast", "s3fs"):
        report = fssync.sync(
            str(src), f"s3://{name}/{backend}", s3_backend=backend, plugins=[spy], **opts(ep)
        )
        assert (report.copied, report.failed) == (len(SAMPLE), 0)
    assert spy.stores == ["fast", "s3fs"]
    for key in SAMPLE:
        assert _head(ep, name, f"fast/{key}") == _head(ep, name, f"s3fs/{key}"), key
    # Each back end sees the other's objects as unchanged: same listing, same recorded state.
    for backend, other in (("fast", "s3fs"), ("s3fs", "fast")):
        again = fssync.sync(str(src), f"s3://{name}/{other}", s3_backend=backend, **opts(ep))
        assert again.copied + again.updated == 0 and again.skipped == len(SAMPLE)


def test_fast_path_pages_listings_and_batches_deletes(bucket):
    ep, name = bucket
    client = ep.client()
    keys = [f"p/k{i:03d}" for i in range(23)]
    for k in keys:
        client.put_object(Bucket=name, Key=k, Body=k.encode())
    location = fssync.Location(
        f"s3://{name}/p", "s3", f"{name}/p", fssync.Capabilities(keeps_mtime=True)
    )

    async def scenario() -> tuple[list[str], int, list[tuple[str, str]]]:
        settings = resolve(
            {"endpoint_url": ep.url, "key": ep.access_key, "secret": ep.secret_key}, {}
        )
        store = FastS3Store(location, settings, transfers=4)
        pages = []
        token = None
        while True:
            page = await store.client.list_page(name, "p/", token, max_keys=10)
            pages.append(len(page.objects))
            if not page.truncated:
                break
            token = page.next_token
        before = store.client.requests
        failed = await store.delete([k[2:] for k in keys[:15]])
        deletes = store.client.requests - before
        await store.close()
        return pages, deletes, failed

    pages, deletes, failed = asyncio.run(scenario())
    assert pages == [10, 10, 3]
    assert deletes == 1 and failed == []
    left = [o["Key"] for o in client.list_objects_v2(Bucket=name).get("Contents", [])]
    assert left == keys[15:]


def test_fast_path_with_session_token(moto, tmp_path):
    temp = moto.assume_role()
    name = moto.endpoint.make_bucket()
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", "d/b.txt": b"b" * 3000})
    spy = StoreSpy()
    report = fssync.sync(str(src), f"s3://{name}/t", plugins=[spy], **opts(temp))
    assert (report.copied, report.failed, spy.stores) == (2, 0, ["fast"])
    code = main(["sync", str(src), f"s3://{name}/u", "--endpoint-url", temp.url, "--access-key-id",
                 temp.access_key, "--secret-access-key", temp.secret_key, "--session-token",
                 "wrong" + (temp.session_token or ""), "--region", temp.region, "--s3-backend", "fast"])  # fmt: skip
    assert code == 4


def test_refreshable_credentials_are_asked_before_every_request(moto, tmp_path):
    """Credentials from botocore's chain are frozen per request, so a refresh takes effect."""
    refreshes = []

    def fetch() -> dict[str, str]:
        temp = moto.assume_role()
        refreshes.append(temp.access_key)
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(
            seconds=30
        )  # inside botocore's refresh window
        return {"access_key": temp.access_key, "secret_key": temp.secret_key,
                "token": temp.session_token, "expiry_time": soon.isoformat()}  # fmt: skip

    creds = Credentials(
        provider=RefreshableCredentials.create_from_metadata(fetch(), fetch, "test")
    )
    name = moto.endpoint.make_bucket()
    location = fssync.Location(
        f"s3://{name}/r", "s3", f"{name}/r", fssync.Capabilities(keeps_mtime=True)
    )
    settings = resolve(
        {"endpoint_url": moto.endpoint.url}, {"AWS_CONFIG_FILE": str(tmp_path / "x")}
    )
    settings = type(settings)(settings.endpoint, settings.region, settings.identity, False, creds)

    async def scenario() -> int:
        store = FastS3Store(location, settings, transfers=2)
        listing = await store.scan()
        await store.scan()
        await store.close()
        return len(listing.entries)

    assert asyncio.run(scenario()) == 0
    assert len(refreshes) >= 3  # the first fetch, then a refresh before each request
    assert len(set(refreshes)) == len(refreshes)


class HeaderPlugin:
    """Adds a signed header through botocore's events, as auth plugins do."""

    def __init__(self) -> None:
        self.signed = 0

    @fssync.hookimpl
    def fssync_filesystem_ready(self, location, filesystem, config):
        if location.protocol != "s3":
            return

        def add(request, **kwargs):
            request.headers["x-amz-meta-via"] = "plugin"
            self.signed += 1

        filesystem.s3.meta.events.register("before-sign.s3", add)


class Bystander:
    """Implements the hook but has nothing to do for these locations: it is still called only
    with real filesystems, never with a stand-in."""

    def __init__(self) -> None:
        self.given: list[str] = []

    @fssync.hookimpl
    def fssync_filesystem_ready(self, location, filesystem, config):
        self.given.append(type(filesystem).__name__)
        if config.get("no_such_option"):
            filesystem.s3.meta.events.register("before-sign.s3", print)


def test_a_plugin_that_adjusts_the_filesystem_gets_the_s3fs_path(bucket, tmp_path):
    ep, name = bucket
    make_tree(tmp_path / "src", {"a.txt": b"a"})
    spy, headers = StoreSpy(), HeaderPlugin()
    report = fssync.sync(
        str(tmp_path / "src"), f"s3://{name}/h", plugins=[spy, headers], **opts(ep)
    )
    assert report.copied == 1 and spy.stores == ["s3fs"] and headers.signed >= 1
    # Implementing the hook is what declares the need: the plugin's code is not run to find out
    spy, bystander = StoreSpy(), Bystander()
    fssync.sync(str(tmp_path / "src"), f"s3://{name}/i", plugins=[spy, bystander], **opts(ep))
    assert spy.stores == ["s3fs"] and bystander.given == ["S3FileSystem"]
    spy = StoreSpy()
    fssync.sync(str(tmp_path / "src"), f"s3://{name}/j", plugins=[spy], **opts(ep))
    assert spy.stores == ["fast"]


def test_forcing_fast_where_it_cannot_serve_is_a_usage_error(bucket, tmp_path, capsys):
    ep, name = bucket
    make_tree(tmp_path / "src", {"a.txt": b"a"})
    with pytest.raises(fssync.UsageError, match="need the s3fs filesystem"):
        fssync.sync(
            str(tmp_path / "src"),
            f"s3://{name}/h",
            s3_backend="fast",
            plugins=[HeaderPlugin()],
            **opts(ep),
        )
    assert ep.client().list_objects_v2(Bucket=name).get("KeyCount", 0) == 0


@pytest.mark.parametrize("cheap_ranges", [False, True], ids=["buffered", "from-file"])
def test_failed_multipart_upload_is_aborted(bucket, tmp_path, cheap_ranges):
    """A part that fails (here: the source breaks mid-file) aborts the whole upload."""
    ep, name = bucket

    class Broken(Reader):
        size = 40 << 20
        mtime = 1.0
        calls = 0
        ranged = True

        async def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("disk went away")
            return os.urandom(n)

        async def read_range(self, offset: int, length: int) -> bytes:
            if offset >= 20 << 20:
                raise OSError("disk went away")
            return os.urandom(length)

    Broken.cheap_ranges = cheap_ranges

    location = fssync.Location(
        f"s3://{name}/m", "s3", f"{name}/m", fssync.Capabilities(keeps_mtime=True)
    )
    settings = resolve({"endpoint_url": ep.url, "key": ep.access_key, "secret": ep.secret_key}, {})

    async def scenario() -> None:
        store = FastS3Store(location, settings, transfers=4)
        try:
            await store.write(fssync.Entry("big.bin", 40 << 20, mtime=1.0), Broken(), {})
        finally:
            await store.close()

    with pytest.raises(OSError, match="disk went away"):
        asyncio.run(scenario())
    assert not ep.client().list_multipart_uploads(Bucket=name).get("Uploads")
    assert ep.client().list_objects_v2(Bucket=name).get("KeyCount", 0) == 0


def test_retry_budget_is_bounded():
    """Connection failures are sent again as often as the policy says, then raised."""
    settings = resolve(
        {"endpoint_url": "http://127.0.0.1:9", "key": "AKIA", "secret": "s" * 20}, {}
    )
    policy = RetryPolicy(low_level_retries=3, low_level_sleep=0.0)
    client = fast_client.S3Client(
        settings.endpoint, "us-east-1", settings.credentials, connections=2, retry=policy
    )
    with pytest.raises(OSError):
        asyncio.run(client.list_page("b", "", None))
    assert client.requests == policy.sends == 4


# --- listing parser ------------------------------------------------------------------------------

_KEY_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), min_codepoint=32), max_size=20
)


@given(
    keys=st.lists(_KEY_TEXT, max_size=8),
    order=st.permutations(["Key", "LastModified", "ETag", "Size", "StorageClass"]),
    encoded=st.booleans(),
    truncated=st.booleans(),
)
def test_fast_listing_parser_agrees_with_elementtree(keys, order, encoded, truncated):
    """Whatever the keys hold (entities, quotes, '+', '%') and whatever the field order."""
    from urllib.parse import quote_plus
    from xml.etree import ElementTree as ET

    from fssync_plugins.s3_fast import xmlparse

    root = ET.Element("ListBucketResult", xmlns=xmlparse.NS)
    ET.SubElement(root, "Name").text = "b"
    if encoded:
        ET.SubElement(root, "EncodingType").text = "url"
    ET.SubElement(root, "IsTruncated").text = "true" if truncated else "false"
    for i, key in enumerate(keys):
        contents = ET.SubElement(root, "Contents")
        values = {
            "Key": quote_plus(key) if encoded else key,
            "LastModified": f"2024-01-0{i % 9 + 1}T00:00:00.000Z",
            "ETag": f'"{i:032x}"',
            "Size": str(i * 10),
            "StorageClass": "STANDARD",
        }
        for name in order:
            ET.SubElement(contents, name).text = values[name]
    if truncated:
        ET.SubElement(root, "NextContinuationToken").text = "t/+=&x"
    data = ET.tostring(root, encoding="utf-8")
    fast, tree = xmlparse.list_page(data), xmlparse._list_page_tree(data)
    assert fast.objects == tree.objects
    assert [o[0] for o in fast.objects] == keys
    assert (fast.truncated, fast.next_token) == (tree.truncated, tree.next_token)


# --- start-up and request counts ---------------------------------------------------------------

_HEAVY = ("botocore", "aiobotocore", "aiohttp", "s3fs", "fsspec")


def test_help_and_local_syncs_import_no_s3_libraries(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FSSYNC_"))}
    env["FSSYNC_STATE_DIR"] = str(tmp_path / "state")
    make_tree(tmp_path / "a", {"x.txt": b"x"})
    assert imported_after(["--help"], env, _HEAVY) == set()
    assert (
        imported_after(["sync", str(tmp_path / "a"), str(tmp_path / "b"), "-q"], env, _HEAVY)
        == set()
    )


def test_fast_s3_sync_imports_no_s3_libraries_and_reruns_with_one_listing(
    bucket, tmp_path, monkeypatch
):
    ep, name = bucket
    make_tree(tmp_path / "a", {f"d{i % 3}/f{i}.txt": b"x" * i for i in range(30)})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FSSYNC_"))}
    env.update(ep.env())
    env["FSSYNC_STATE_DIR"] = str(tmp_path / "state")
    env["AWS_CONFIG_FILE"] = str(tmp_path / "no-config")
    args = ["sync", str(tmp_path / "a"), f"s3://{name}/p", "--endpoint-url", ep.url, "-q"]
    assert imported_after(args, env, _HEAVY) == set()  # uploads, through the fast path
    assert imported_after(args, env, _HEAVY) == set()  # and the no-op re-run

    class Counting(StoreSpy):
        @fssync.hookimpl(wrapper=True)
        def fssync_open_store(self, location, storage_options, config, filesystem_plugins):
            store = yield
            self.opened = store
            return store

    spy = Counting()
    monkeypatch.setenv("FSSYNC_STATE_DIR", env["FSSYNC_STATE_DIR"])  # the state the CLI wrote
    again = fssync.sync(str(tmp_path / "a"), f"s3://{name}/p", plugins=[spy], **opts(ep))
    assert again.skipped == 30 and again.copied + again.updated == 0
    assert spy.opened.client.requests == 1  # one listing page, no request per object


def test_vvv_keeps_the_fast_path_and_shows_its_requests(bucket, tmp_path):
    """-vvv used to switch to the s3fs path (the log plugin hooked botocore's events): each
    store now logs its own requests, so the path a user debugs is the path they run."""
    ep, name = bucket
    make_tree(tmp_path / "a", {"x.txt": b"x"})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FSSYNC_"))}
    env.update(ep.env())
    env["FSSYNC_STATE_DIR"] = str(tmp_path / "state")
    env["AWS_CONFIG_FILE"] = str(tmp_path / "no-config")
    args = ["sync", str(tmp_path / "a"), f"s3://{name}/v", "--endpoint-url", ep.url]
    assert imported_after([*args, "-vvv"], env, _HEAVY) == set()  # still the fast path
    cmd = [sys.executable, "-m", "fssync", *args]
    loud = subprocess.run([*cmd, "-vvv"], env=env, capture_output=True, text=True, timeout=120)
    assert loud.returncode == 0, loud.stderr
    assert f"fssync.http: > GET {ep.url}/{name}?" in loud.stderr
    assert f"fssync.http: < 200 GET {ep.url}/{name}?" in loud.stderr
    assert ep.secret_key not in loud.stderr
    quieter = subprocess.run([*cmd, "-vv"], env=env, capture_output=True, text=True, timeout=120)
    assert quieter.returncode == 0, quieter.stderr
    assert "fssync.run:" in quieter.stderr and "fssync.http:" not in quieter.stderr


def test_bucket_region_redirect_is_followed_with_a_new_signature():
    """A bucket in another region answers 301 with its region; the request is signed again."""
    moved = (
        b"HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: eu-west-1\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    body = (
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<IsTruncated>false</IsTruncated></ListBucketResult>"
    )
    listing = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    seen: list[bytes] = []

    async def scenario() -> int:
        answers = [moved, listing]

        async def handle(reader, writer):
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    break
                seen.append(head)
                writer.write(answers[len(seen) - 1])
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        creds = Credentials(("AKIA", "secret-secret", None))
        client = fast_client.S3Client(f"http://127.0.0.1:{port}", "us-east-1", creds, connections=1)
        page = await client.list_page("b", "", None)
        await client.close()
        server.close()
        return len(page.objects)

    assert asyncio.run(scenario()) == 0
    assert b"/us-east-1/s3/" in seen[0] and b"/eu-west-1/s3/" in seen[1]


def test_the_plugins_that_need_a_filesystem_are_those_that_implement_the_hook():
    """Declared, not probed: a wrapper or a plugin that keeps the filesystem for later counts
    as much as one that uses it at once, and no plugin code runs to decide."""
    from fssync.hooks.manager import make_hooks

    calls: list[str] = []

    class Wrapper:
        @fssync.hookimpl(wrapper=True)
        def fssync_filesystem_ready(self, filesystem):
            calls.append("wrapper")
            return (yield)

    class Later:
        @fssync.hookimpl
        def fssync_filesystem_ready(self, location, filesystem, config):
            calls.append("later")

    class Headers:
        @fssync.hookimpl
        def fssync_request_headers(self, location, config):
            calls.append("headers")

    for plugins, needs in (([Wrapper()], 1), ([Later(), Headers()], 1), ([Headers()], 0)):
        hooks = make_hooks(entry_points=False, plugins=plugins)
        assert len(hooks.filesystem_plugins()) == needs, plugins
    assert calls == []


@pytest.mark.parametrize("encryption", [None, "aws:kms", "aws:kms:dsse"])
def test_parts_from_a_file_are_read_once_unless_the_etag_cannot_vouch(moto, tmp_path, encryption):
    """A local file's parts are hashed while they are sent and checked by their ETag; where the
    ETag is no MD5 (SSE-KMS, dual-layer SSE-KMS too), a part goes again with Content-MD5, and
    so do the next ones."""
    from fssync.testing.proxy import S3Proxy

    ep = moto.endpoint
    name = ep.make_bucket()
    data = os.urandom(17 << 20)  # three parts: 8 + 8 + 1 MiB
    make_tree(tmp_path / "src", {"big.bin": data})
    more = {"upload_header": [f"x-amz-server-side-encryption:{encryption}"]} if encryption else {}
    with S3Proxy(ep.url) as proxy:
        report = fssync.sync(
            str(tmp_path / "src"),
            f"s3://{name}/x",
            s3_backend="fast",
            **opts(ep, endpoint_url=proxy.url, **more),
        )
        parts = [r for r in proxy.requests if r.operation == "UploadPart"]
    assert (report.copied, report.failed) == (1, 0)
    got = ep.client().get_object(Bucket=name, Key="x/big.bin")
    assert got["Body"].read() == data
    with_md5 = [p for p in parts if "content-md5" in p.headers]
    if encryption is None:
        assert len(parts) == 3 and not with_md5  # one pass: no Content-MD5, the ETag vouches
    else:
        assert got.get("ServerSideEncryption") == encryption
        assert len(with_md5) == 3  # every part ended up sent with its Content-MD5


@attrs.frozen
class Recording(RetryPolicy):
    """The policy's waits, noted and cut to nothing."""

    seen: list[tuple[str, int]] = attrs.field(factory=list, eq=False)

    def request_delay(self, attempt: int, *, slow_down: bool = False) -> float:
        self.seen.append(("throttled" if slow_down else "short", attempt))
        return 0.0


def test_a_request_to_slow_down_waits_as_botocore_does(moto, fault_proxy):
    """SlowDown (503) is retried after the policy's longer waits (from 1 s by default, as
    botocore's standard mode on the s3fs path), a 500 after the short ones. Waits of
    milliseconds could not outlast a throttling storm of a few seconds."""
    policy = Recording()
    waits = policy.seen
    ep = moto.endpoint
    name = ep.make_bucket()
    proxy = fault_proxy(ep, schedule={1: "503", 2: "503", 3: "500"})
    settings = resolve(
        {"endpoint_url": proxy.url, "key": ep.access_key, "secret": ep.secret_key}, {}
    )
    client = fast_client.S3Client(
        settings.endpoint, ep.region, settings.credentials, connections=2, retry=policy
    )

    async def scenario():
        try:
            return await client.list_page(name, "", None)
        finally:
            await client.close()

    assert asyncio.run(scenario()).objects == []
    assert waits == [("throttled", 1), ("throttled", 2), ("short", 3)]
    default = RetryPolicy()
    slow = [default.request_delay(n, slow_down=True) for n in (1, 2, 3, 9) for _ in range(20)]
    assert all(0.5 <= d <= 20 for d in slow) and max(slow) > 10  # 1 s doubled, capped at 20
    assert all(0.025 <= default.request_delay(1) <= 0.05 for _ in range(20))
