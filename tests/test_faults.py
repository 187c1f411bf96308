"""A flaky network between fssync and S3: faults injected by a proxy, nothing lost.

Every run here goes through `fssync.testing.faultproxy.FaultProxy`, which answers some requests
with 500 / 503 SlowDown, resets connections before or after the server saw the request, cuts
replies short, delays them, flips a byte, or denies access. The runs must end with every object
byte-identical to its source (compared by SHA-256), no temporary files and no unfinished
multipart uploads, and must report exactly the files that could not be saved.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

import fssync
from fssync.testing.servers import S3Endpoint

from .helpers import make_tree, s3_args, s3_opts

# Each test runs on both S3 request paths (the fast plugin and s3fs).
pytestmark = pytest.mark.usefixtures("s3_backend")

TOTALS = {"faults": 0, "requests": 0, "runs": 0}


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def mixed_tree(seed: int) -> dict[str, bytes]:
    """Small files, an empty one, one just under and one over the multipart threshold."""
    rnd = __import__("random").Random(seed)
    files = {f"d{i % 4}/f{i}.bin": rnd.randbytes(rnd.randrange(1, 40_000)) for i in range(40)}
    files["empty"] = b""
    files["big/multi.bin"] = rnd.randbytes(17 << 20)  # two parts
    return files


class OnlyOurRetries:
    """Turn off botocore's own retries, so every fault reaches fssync's retry machinery (and
    no botocore back-off of up to seconds slows the test). The fast path's client retries with
    back-offs of milliseconds and takes no botocore settings: it is tested as it ships."""

    @fssync.hookimpl
    def fssync_storage_options(self, location, config):
        if location.protocol == "s3" and os.environ.get("FSSYNC_S3_BACKEND") != "fast":
            return {"config_kwargs": {"retries": {"total_max_attempts": 1, "mode": "standard"}}}
        return None


def opts(ep: S3Endpoint, url: str) -> dict[str, object]:
    """Through `url` (a fault proxy), with short waits between retries."""
    return s3_opts(ep, endpoint_url=url, retries_sleep=0.01)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bucket_hashes(ep: S3Endpoint, name: str, prefix: str) -> dict[str, str]:
    client = ep.client()
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=name, Key=obj["Key"])["Body"].read()
            out[obj["Key"][len(prefix) :]] = sha(body)
    return out


def local_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha(p.read_bytes()) for p in root.rglob("*") if p.is_file()
    }


def open_uploads(ep: S3Endpoint, name: str) -> list[str]:
    resp = ep.client().list_multipart_uploads(Bucket=name)
    return [u["Key"] for u in resp.get("Uploads", [])]


class Events:
    def __init__(self) -> None:
        self.seen: list[fssync.Event] = []

    @fssync.hookimpl
    def fssync_event(self, event: fssync.Event, config: fssync.Config) -> None:
        self.seen.append(event)

    def named(self, name: str) -> list[dict]:
        return [dict(e.fields) for e in self.seen if e.name == name]


@pytest.mark.parametrize("rate", [0.05, 0.20])
def test_round_trip_through_faults_loses_nothing(bucket, fault_proxy, tmp_path, rate):
    ep, name = bucket
    files = mixed_tree(seed=int(rate * 100))
    src = tmp_path / "src"
    make_tree(src, files)
    want = {k: sha(v) for k, v in files.items()}

    ours = OnlyOurRetries()
    fast = {"retries": 10, "retries_sleep": 0.001}  # up to 0.5 s for the last retry
    up_proxy = fault_proxy(ep, rate=rate, seed=11, delay=0.05)
    up = fssync.sync(
        str(src), f"s3://{name}/data", plugins=[ours], **{**opts(ep, up_proxy.url), **fast}
    )
    assert (up.failed, up.copied) == (0, len(files)), up.failures
    assert bucket_hashes(ep, name, "data/") == want
    assert open_uploads(ep, name) == []

    down_proxy = fault_proxy(ep, rate=rate, seed=12, delay=0.05)
    back = tmp_path / "back"
    down = fssync.sync(
        f"s3://{name}/data", str(back), plugins=[ours], **{**opts(ep, down_proxy.url), **fast}
    )
    assert (down.failed, down.copied) == (0, len(files)), down.failures
    assert local_hashes(back) == want  # byte-identical, and no temporary file anywhere

    for proxy in (up_proxy, down_proxy):
        assert proxy.stats.injected > 0, "the proxy injected no fault: the test proved nothing"
        TOTALS["faults"] += proxy.stats.injected
        TOTALS["requests"] += proxy.stats.requests
    TOTALS["runs"] += 2


def test_a_truncated_download_is_retried_not_stored(moto, fault_proxy, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    data = os.urandom(300_000)
    ep.client().put_object(Bucket=name, Key="x/a.bin", Body=data)
    # Request 1 lists the bucket; request 2 is the GET of a.bin.
    proxy = fault_proxy(ep, schedule={2: "truncate"})
    events = Events()
    report = fssync.sync(
        f"s3://{name}/x", str(tmp_path / "d"), plugins=[events], **opts(ep, proxy.url)
    )
    assert report.failed == 0
    assert (tmp_path / "d" / "a.bin").read_bytes() == data
    assert [e["key"] for e in events.named("retry")] == ["a.bin"]
    assert proxy.stats.faults["truncate"] == 1


def test_a_corrupted_download_is_caught_by_its_md5(moto, fault_proxy, tmp_path):
    """A flipped byte keeps the length: only the check against the ETag (an MD5) sees it."""
    ep = moto.endpoint
    name = ep.make_bucket()
    data = os.urandom(100_000)
    ep.client().put_object(Bucket=name, Key="x/a.bin", Body=data)
    proxy = fault_proxy(ep, schedule={2: "corrupt"})
    events = Events()
    report = fssync.sync(
        f"s3://{name}/x", str(tmp_path / "d"), plugins=[events], **opts(ep, proxy.url)
    )
    assert report.failed == 0
    assert (tmp_path / "d" / "a.bin").read_bytes() == data
    (retry,) = events.named("retry")
    assert "MD5" in retry["error"] and "corrupted in transit" in retry["error"]


def test_a_corrupted_multipart_download_is_caught_by_its_etag(moto, fault_proxy, tmp_path):
    """An object fssync uploaded in parts has no whole-content MD5; its multipart ETag, with the
    part size fssync keeps in its metadata, catches the flipped byte."""
    ep = moto.endpoint
    name = ep.make_bucket()
    data = os.urandom(17 << 20)
    make_tree(tmp_path / "s", {"big.bin": data})
    up = fssync.sync(str(tmp_path / "s"), f"s3://{name}/x", **opts(ep, ep.url))
    assert up.failed == 0
    assert "-" in ep.client().head_object(Bucket=name, Key="x/big.bin")["ETag"]
    proxy = fault_proxy(ep, schedule={2: "corrupt"})
    events = Events()
    report = fssync.sync(
        f"s3://{name}/x", str(tmp_path / "d"), plugins=[events], **opts(ep, proxy.url)
    )
    assert report.failed == 0
    assert (tmp_path / "d" / "big.bin").read_bytes() == data
    (retry,) = events.named("retry")
    assert "ETag" in retry["error"] and "corrupted in transit" in retry["error"]


def test_a_corrupted_download_that_never_heals_is_reported(moto, fault_proxy, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    ep.client().put_object(Bucket=name, Key="x/a.bin", Body=os.urandom(10_000))
    ep.client().put_object(Bucket=name, Key="x/b.bin", Body=b"fine")
    proxy = fault_proxy(ep, kinds=["corrupt"], rate=1.0, methods=["GET"])
    # Only object GETs are corrupted (the listing is a GET too: it must survive a flipped byte
    # or fail loudly; here it is excluded by letting the first request through).
    proxy.schedule[1] = "delay"
    report = fssync.sync(
        f"s3://{name}/x",
        str(tmp_path / "d"),
        retries=1,
        **opts(ep, proxy.url),
    )
    assert report.failed == 2 and report.copied == 0
    assert {f.key for f in report.failures} == {"a.bin", "b.bin"}
    assert not (tmp_path / "d").exists() or list((tmp_path / "d").iterdir()) == []


def test_a_corrupted_upload_is_refused_by_content_md5(moto, fault_proxy, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    data = os.urandom(50_000)
    make_tree(tmp_path / "s", {"a.bin": data})
    proxy = fault_proxy(ep, kinds=["corrupt"], rate=1.0, methods=["PUT"])
    proxy.max_requests = 1000
    events = Events()
    report = fssync.sync(
        str(tmp_path / "s"),
        f"s3://{name}/x",
        plugins=[events],
        retries=0,
        retry_passes=0,
        **opts(ep, proxy.url),
    )
    # Every PUT arrives with a flipped byte. moto ignores Content-MD5 and stores it; the ETag in
    # its reply gives it away, the object read back confirms it, and the file is reported. The
    # object is left as it is: a mismatch never deletes (it may be all there is of the file).
    # (SeaweedFS refuses such a PUT with BadDigest.)
    assert report.failed == 1
    assert "other bytes than were sent" in report.failures[0].error
    assert ep.client().list_objects_v2(Bucket=name).get("KeyCount", 0) == 1


def test_a_corrupted_upload_is_retried_until_it_lands_whole(moto, fault_proxy, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    small, part = os.urandom(50_000), os.urandom(17 << 20)
    make_tree(tmp_path / "s", {"a.bin": small, "big.bin": part})
    # Half the PUTs (single objects and parts) arrive corrupted.
    proxy = fault_proxy(ep, kinds=["corrupt"], rate=0.5, methods=["PUT"], seed=1)
    report = fssync.sync(str(tmp_path / "s"), f"s3://{name}/x", **opts(ep, proxy.url))
    assert report.failed == 0
    assert proxy.stats.faults["corrupt"] >= 1
    got = ep.client().get_object(Bucket=name, Key="x/a.bin")["Body"].read()
    assert got == small
    assert ep.client().get_object(Bucket=name, Key="x/big.bin")["Body"].read() == part


def test_permanent_errors_are_not_retried(moto, fault_proxy, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    make_tree(tmp_path / "s", {"a.txt": b"a"})
    proxy = fault_proxy(ep, kinds=["403"], rate=1.0, methods=["PUT"])
    events = Events()
    report = fssync.sync(
        str(tmp_path / "s"), f"s3://{name}/x", plugins=[events], **opts(ep, proxy.url)
    )
    assert report.failed == 1 and "access denied" in report.failures[0].error
    assert events.named("retry") == [] and events.named("retry_pass") == []
    assert proxy.stats.faults["403"] == 1  # sent once, never again


def test_a_second_pass_saves_files_whose_retries_ran_out(moto, fault_proxy, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    data = os.urandom(1000)
    ep.client().put_object(Bucket=name, Key="x/a.bin", Body=data)
    # The GET of a.bin is cut short twice: with --retries 1 the first pass gives up on it.
    proxy = fault_proxy(ep, schedule={2: "truncate", 3: "truncate"})
    events = Events()
    report = fssync.sync(
        f"s3://{name}/x", str(tmp_path / "d"), plugins=[events], retries=1, **opts(ep, proxy.url)
    )
    assert report.failed == 0 and report.copied == 1
    assert events.named("retry_pass") == [{"pass": 2, "files": 1}]
    assert events.named("failed") == []  # a failure cured by the second pass is not reported
    assert (tmp_path / "d" / "a.bin").read_bytes() == data


def test_the_cli_exits_3_and_lists_each_failure(moto, fault_proxy, tmp_path, capsys):
    from fssync.cli.main import main

    ep = moto.endpoint
    name = ep.make_bucket()
    make_tree(tmp_path / "s", {"a.txt": b"a", "b.txt": b"b", "c.txt": b"c"})
    proxy = fault_proxy(ep, kinds=["403"], rate=1.0, methods=["PUT"])
    code = main(
        [
            "sync",
            str(tmp_path / "s"),
            f"s3://{name}/x",
            "--endpoint-url",
            proxy.url,
            "--access-key-id",
            ep.access_key,
            "--secret-access-key",
            ep.secret_key,
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    for key in ("a.txt", "b.txt", "c.txt"):
        assert f"! {key}:" in err


@pytest.mark.parametrize("kind", ["truncate", "reset-after", "corrupt"])
def test_ranged_download_through_faults_lands_whole(moto, fault_proxy, tmp_path, monkeypatch, kind):
    """A large file comes down as parallel ranges, each received straight into its buffer on
    the fast path; a range cut short, reset or flipped is fetched again and nothing torn is
    renamed into place."""
    from fssync.transfer import ranges

    monkeypatch.setattr(ranges, "RANGE_THRESHOLD", 4 << 20)
    monkeypatch.setattr(ranges, "RANGE_SIZE", 1 << 20)
    ep = moto.endpoint
    name = ep.make_bucket()
    data = os.urandom((6 << 20) + 777)
    make_tree(tmp_path / "s", {"big.bin": data})
    # Uploaded by fssync, so the download can check the multipart ETag (part size in metadata).
    up = fssync.sync(str(tmp_path / "s"), f"s3://{name}/r", **opts(ep, ep.url))
    assert up.failed == 0
    # Request 1 lists; 2-8 are the first attempt's seven ranges: two of them fail (a schedule,
    # not a rate: with ranges in parallel a random draw could fail every attempt).
    proxy = fault_proxy(ep, schedule={3: kind, 6: kind})
    back = tmp_path / "back"
    report = fssync.sync(f"s3://{name}/r", str(back), retries=6, **opts(ep, proxy.url))
    assert report.failed == 0 and report.copied == 1
    assert sha((back / "big.bin").read_bytes()) == sha(data)
    assert not [p for p in back.rglob("*") if ".fssync-tmp-" in p.name]
    assert proxy.stats.injected  # faults did happen
    gets = proxy.stats.requests  # every one a GET: the listing and the ranges
    if kind == "corrupt":
        # A flipped byte shows only in the whole file's ETag: the file is fetched again.
        assert gets >= 1 + 7 + 7
    else:
        # A range cut short or reset is fetched again on its own: one listing, seven ranges
        # and the two that failed, not the whole file again.
        assert gets == 1 + 7 + 2


# ---------------------------------------------------------------------------- stalls (issue 11)

STALL = 2.0  # the stall timeout these tests set (--stall-timeout)
MEASURED: dict[str, list[float]] = {"stalls": []}  # seconds each stall lasted, for the record


@pytest.mark.parametrize(("size", "number"), [(10 << 20, 2), (17 << 20, 3)], ids=["put", "part"])
def test_a_stalled_upload_is_sent_again(moto, fault_proxy, tmp_path, size, number):
    """A server that stops reading mid-upload (a 10 MiB PUT; the first 8 MiB part of a
    multipart upload): the send makes no progress for the stall timeout, so the request is
    dropped and sent again, instead of waiting for ever (request 1 lists, 2 is the PUT or
    creates the upload, 3 is the first part)."""
    ep = moto.endpoint
    name = ep.make_bucket()
    data = os.urandom(size)
    make_tree(tmp_path / "s", {"f.bin": data})
    proxy = fault_proxy(ep, schedule={number: "stall-request"}, stall=25.0)
    report = fssync.sync(
        str(tmp_path / "s"), f"s3://{name}/x", stall_timeout=STALL, **opts(ep, proxy.url)
    )
    assert report.failed == 0, report.failures
    assert ep.client().get_object(Bucket=name, Key="x/f.bin")["Body"].read() == data
    assert proxy.stats.applied["stall-request"] == 1
    assert proxy.stats.outlasted == 0  # fssync let go of the stalled request by itself
    assert open_uploads(ep, name) == []
    MEASURED["stalls"] += proxy.stats.stalls


def test_a_stalled_download_is_fetched_again(moto, fault_proxy, tmp_path):
    """A reply that stops half-way through its body is dropped after the stall timeout and
    the file fetched again (request 1 lists, 2 is the GET)."""
    ep = moto.endpoint
    name = ep.make_bucket()
    data = os.urandom(3 << 20)
    ep.client().put_object(Bucket=name, Key="x/a.bin", Body=data)
    proxy = fault_proxy(ep, schedule={2: "stall-reply"}, stall=25.0)
    report = fssync.sync(
        f"s3://{name}/x", str(tmp_path / "d"), stall_timeout=STALL, **opts(ep, proxy.url)
    )
    assert report.failed == 0, report.failures
    assert (tmp_path / "d" / "a.bin").read_bytes() == data
    assert proxy.stats.applied["stall-reply"] == 1 and proxy.stats.outlasted == 0
    MEASURED["stalls"] += proxy.stats.stalls


def test_a_bad_stall_timeout_is_refused(moto, tmp_path):
    from fssync.cli.main import main

    ep = moto.endpoint
    for bad in ("0", "-1", "nan", "soon"):
        args = ["sync", str(tmp_path), "s3://b/x", "--stall-timeout", bad, *s3_args(ep)]
        assert main(args) == 2


# ------------------------------------------------------------------- reply ETags (issue 11)

ETAGS: dict[str, int] = {"rewritten": 0, "lost": 0}  # for the record


def _update_tree(root: Path, generation: int) -> dict[str, bytes]:
    files = {f"f{i}.bin": os.urandom(200_000 + i) for i in range(5)}
    make_tree(root, files, mtime=time.time() + 30 * generation)  # newer than the objects
    return files


def test_a_reply_etag_that_is_no_md5_never_loses_an_object(moto, fault_proxy, tmp_path):
    """Every PUT reply comes back with an ETag that is not the MD5 of what was sent (as from a
    store whose ETags are not MD5s). An update of 5 files used to delete each object it had
    just written: 5 objects before, 0 after. Now the first mismatch reads the object back,
    finds the bytes sent, and the store is known not to give MD5s: all 5 are updated, in this
    run and the next, and nothing is deleted."""
    ep = moto.endpoint
    name = ep.make_bucket()
    src = tmp_path / "s"
    _update_tree(src, 0)
    assert fssync.sync(str(src), f"s3://{name}/x", **opts(ep, ep.url)).failed == 0
    for generation in (1, 2):  # two runs: neither reports the updates as corrupt
        files = _update_tree(src, generation)
        proxy = fault_proxy(ep, rate=1.0, kinds=["etag"], methods=["PUT"])
        report = fssync.sync(str(src), f"s3://{name}/x", **opts(ep, proxy.url))
        assert (report.failed, report.updated) == (0, 5), report.failures
        assert proxy.stats.applied["etag"] >= 5  # every PUT's reply was rewritten
        held = bucket_hashes(ep, name, "x/")
        assert held == {k: sha(v) for k, v in files.items()}  # 5 objects, the new versions
        assert proxy.stats.methods["DELETE"] == 0
        assert proxy.stats.methods["GET"] <= 1 + 5  # the listing; read-backs until it is known
        ETAGS["rewritten"] += proxy.stats.applied["etag"]
        ETAGS["lost"] += 5 - len(held)


def test_an_update_stored_wrong_is_reported_and_nothing_deleted(moto, fault_proxy, tmp_path):
    """Every PUT arrives with a flipped byte (moto ignores Content-MD5 and stores it): each
    update is sent again, then reported; the objects stay, none is deleted."""
    ep = moto.endpoint
    name = ep.make_bucket()
    src = tmp_path / "s"
    _update_tree(src, 0)
    assert fssync.sync(str(src), f"s3://{name}/x", **opts(ep, ep.url)).failed == 0
    _update_tree(src, 1)
    proxy = fault_proxy(ep, rate=1.0, kinds=["corrupt"], methods=["PUT"])
    report = fssync.sync(
        str(src), f"s3://{name}/x", retries=1, retry_passes=0, **opts(ep, proxy.url)
    )
    assert report.failed == 5 and report.updated == 0
    assert all("other bytes than were sent" in f.error for f in report.failures)
    assert proxy.stats.methods["PUT"] == 5 * 2  # each sent, then sent again
    assert proxy.stats.methods["DELETE"] == 0
    assert len(bucket_hashes(ep, name, "x/")) == 5  # nothing deleted
    # The objects left behind have the right size and mtime metadata, but the state file
    # says they hold other bytes: the next run sends them again instead of skipping them.
    proxy.rate = 0.0  # the same endpoint (the state file is per endpoint), now without faults
    again = fssync.sync(str(src), f"s3://{name}/x", **opts(ep, proxy.url))
    assert (again.failed, again.updated) == (0, 5)
    assert bucket_hashes(ep, name, "x/") == local_hashes(src)


@pytest.mark.parametrize("server", ["moto", "seaweed"])
def test_mismatched_part_etags_never_lose_the_previous_version(
    request, fault_proxy, tmp_path, server
):
    """Every UploadPart and CompleteMultipartUpload reply carries another ETag. Whatever the
    server (moto does not check Content-MD5, so nothing vouches for the parts; SeaweedFS does,
    and is then taken to give ETags that are no MD5s, but refuses the completion that names
    the rewritten ETags), the upload is aborted, the file reported, and the object that was
    there before is untouched."""
    ep = request.getfixturevalue(server)
    ep = getattr(ep, "endpoint", ep)
    name = ep.make_bucket()
    old = os.urandom(1000)
    ep.client().put_object(Bucket=name, Key="x/big.bin", Body=old)
    make_tree(tmp_path / "s", {"big.bin": os.urandom(17 << 20)}, mtime=time.time() + 30)
    proxy = fault_proxy(ep, rate=1.0, kinds=["etag"], methods=["PUT", "POST"])
    report = fssync.sync(
        str(tmp_path / "s"), f"s3://{name}/x", retries=0, retry_passes=0, **opts(ep, proxy.url)
    )
    assert report.failed == 1
    assert ep.client().get_object(Bucket=name, Key="x/big.bin")["Body"].read() == old
    assert proxy.stats.applied["etag"] >= 2
    deletes = [target for method, target in proxy.stats.targets if method == "DELETE"]
    # the abort of the upload (sent again if a reply was slow under load), never the object
    assert deletes and all("uploadId=" in target for target in deletes), deletes
    assert open_uploads(ep, name) == []
    ETAGS["rewritten"] += proxy.stats.applied["etag"]


@pytest.mark.parametrize("server", ["moto", "seaweed"])
def test_the_content_md5_probe_tells_servers_that_check_it(request, s3_backend, server):
    """A part whose ETag is no MD5 is accepted only from a server that refuses a wrong
    Content-MD5 (it checked the bytes itself): SeaweedFS does, moto does not."""
    import asyncio

    ep = request.getfixturevalue(server)
    ep = getattr(ep, "endpoint", ep)
    name = ep.make_bucket()
    location = fssync.Location(
        f"s3://{name}/p", "s3", f"{name}/p", fssync.Capabilities(keeps_mtime=True)
    )
    options = {"endpoint_url": ep.url, "key": ep.access_key, "secret": ep.secret_key}
    options["client_kwargs"] = {"region_name": ep.region}
    if ep.session_token:
        options["token"] = ep.session_token
    s3 = ep.client()
    upload = s3.create_multipart_upload(Bucket=name, Key="p/k")["UploadId"]

    async def probe() -> bool:
        if s3_backend == "fast":
            from fssync_plugins.s3_fast.resolve import resolve
            from fssync_plugins.s3_fast.store import FastS3Store

            store: object = FastS3Store(location, resolve(options, {}), transfers=2)
        else:
            from fssync.stores.s3.s3fs_path import S3Store

            store = await S3Store.connect(location, options, transfers=2)
        try:
            return bool(await store._checks_content_md5("p/k", upload))  # type: ignore[attr-defined]
        finally:
            await store.close()  # type: ignore[attr-defined]

    try:
        assert asyncio.run(probe()) is (server == "seaweed")
    finally:
        s3.abort_multipart_upload(Bucket=name, Key="p/k", UploadId=upload)
