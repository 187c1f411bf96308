"""Other tools' metadata conventions on S3, read and written as they are (both S3 paths, moto and
SeaweedFS): exact nanosecond mtimes, every tool's stored mtime and MD5."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

import fssync

from .helpers import make_tree
from .helpers import s3_opts as opts

pytestmark = pytest.mark.usefixtures("s3_backend")

NS = 1_700_000_000_123_456_789  # a float holds this to ~240 ns only


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def _ns_tree(root, files, ns):
    make_tree(root, files, mtime=None)
    for key in files:
        os.utime(root / key, ns=(ns, ns))


def test_mtime_keeps_nanoseconds_up_and_down(bucket, tmp_path):
    """Uploaded as rclone writes it ('seconds.nnnnnnnnn', exact), and restored exactly."""
    ep, name = bucket
    client = ep.client()
    src = tmp_path / "s"
    files = {"small.txt": b"x" * 10, "big.bin": os.urandom((16 << 20) + 5)}
    _ns_tree(src, files, NS)
    fssync.sync(str(src), f"s3://{name}/n", **opts(ep))
    for key in files:
        meta = client.head_object(Bucket=name, Key=f"n/{key}")["Metadata"]
        assert meta["mtime"] == "1700000000.123456789"
    back = tmp_path / "b"
    fssync.sync(f"s3://{name}/n", str(back), **opts(ep))
    for key in files:
        assert (back / key).stat().st_mtime_ns == NS


def test_rclone_mtime_restored_to_the_nanosecond(bucket, tmp_path):
    ep, name = bucket
    ep.client().put_object(
        Bucket=name, Key="r/a.txt", Body=b"rclone", Metadata={"mtime": "1700000000.987654321"}
    )
    fssync.sync(f"s3://{name}/r", str(tmp_path / "b"), **opts(ep))
    assert (tmp_path / "b" / "a.txt").stat().st_mtime_ns == 1_700_000_000_987_654_321


@pytest.mark.parametrize(
    ("meta", "ns"),
    [
        ({"s3cmd-attrs": "atime:1/ctime:2/gid:0/mode:33188/mtime:1600000000/uid:0"}, 1600 * 10**15),
        ({"local-date-modified": "2023-11-14T22:13:20.250000Z"}, 1_700_000_000_250_000_000),
        ({"local-date-modified": "Tue, 14 Nov 2023 22:13:20 GMT"}, 1_700_000_000 * 10**9),
    ],
    ids=["s3cmd", "s3sync-iso", "s3sync-http-date"],
)
def test_download_restores_every_stored_mtime_convention(bucket, tmp_path, meta, ns):
    """The compare reads s3cmd's and S3 Sync's stored mtimes; a download restores them too."""
    ep, name = bucket
    ep.client().put_object(Bucket=name, Key="o/f.txt", Body=b"other tool", Metadata=meta)
    report = fssync.sync(f"s3://{name}/o", str(tmp_path / "b"), **opts(ep))
    assert report.copied == 1
    assert (tmp_path / "b" / "f.txt").stat().st_mtime_ns == ns


def _b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_multipart_upload_states_its_md5_as_rclone_does(bucket, tmp_path):
    """x-amz-meta-md5chksum (base64 of the raw MD5), known from a first pass over the file."""
    ep, name = bucket
    data = os.urandom((16 << 20) + 7)
    make_tree(tmp_path / "s", {"big.bin": data})
    fssync.sync(str(tmp_path / "s"), f"s3://{name}/m", **opts(ep))
    head = ep.client().head_object(Bucket=name, Key="m/big.bin")
    assert "-" in head["ETag"]  # multipart
    assert head["Metadata"]["md5chksum"] == _b64(data)
    assert head["Metadata"]["md5"] == hashlib.md5(data).hexdigest()


def test_large_multipart_states_its_md5_only_when_already_known(bucket, tmp_path, monkeypatch):
    """Above the first-pass limit the MD5 is written when a checksum run has it, only."""
    from fssync.stores.s3 import meta as s3meta

    monkeypatch.setattr(s3meta, "FIRST_PASS_MD5", 1 << 20)
    ep, name = bucket
    client = ep.client()
    data = os.urandom((16 << 20) + 7)
    make_tree(tmp_path / "s", {"big.bin": data})
    fssync.sync(str(tmp_path / "s"), f"s3://{name}/m", **opts(ep))
    assert "md5chksum" not in client.head_object(Bucket=name, Key="m/big.bin")["Metadata"]
    client.put_object(Bucket=name, Key="m/big.bin", Body=b"x" * len(data))  # same size
    report = fssync.sync(str(tmp_path / "s"), f"s3://{name}/m", compare="checksum", **opts(ep))
    assert report.updated == 1
    assert client.head_object(Bucket=name, Key="m/big.bin")["Metadata"]["md5chksum"] == _b64(data)


class Events:
    def __init__(self):
        self.events = []

    @fssync.hookimpl
    def fssync_event(self, event, config):
        self.events.append(event.to_json())

    def named(self, name):
        return [e for e in self.events if e["event"] == name]


def _multipart(client, bucket, key, data, part, **kwargs):
    """An object uploaded in parts as another tool does (its part size, its metadata)."""
    up = client.create_multipart_upload(Bucket=bucket, Key=key, **kwargs)
    parts = []
    for n, i in enumerate(range(0, len(data), part), start=1):
        r = client.upload_part(
            Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=data[i : i + part]
        )
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
    )


FOREIGN_MD5 = {
    "rclone": lambda data: {"mtime": "1700000000.5", "md5chksum": _b64(data)},
    "s3cmd": lambda data: {
        "s3cmd-attrs": f"md5:{hashlib.md5(data).hexdigest()}/mtime:1700000000/uid:0"
    },
}


@pytest.mark.parametrize("tool", sorted(FOREIGN_MD5))
def test_foreign_multipart_download_is_checked_by_its_stated_md5(
    bucket, fault_proxy, tmp_path, tool
):
    """A flipped byte in another tool's multipart object is caught by the MD5 it states."""
    ep, name = bucket
    data = os.urandom((5 << 20) + 1000)
    _multipart(ep.client(), name, "x/a.bin", data, 5 << 20, Metadata=FOREIGN_MD5[tool](data))
    proxy = fault_proxy(ep, schedule={2: "corrupt"})  # 1 is the listing, 2 the object's GET
    events = Events()
    report = fssync.sync(
        f"s3://{name}/x", str(tmp_path / "d"), plugins=[events], **opts(ep, endpoint_url=proxy.url)
    )
    assert report.failed == 0 and report.unverified_count == 0
    assert (tmp_path / "d" / "a.bin").read_bytes() == data
    (retry,) = events.named("retry")
    assert "MD5" in retry["error"] and "corrupted in transit" in retry["error"]


def test_multipart_download_without_a_stated_hash_is_reported_unverified(bucket, tmp_path, capsys):
    from fssync.cli.main import main

    from .helpers import s3_args

    ep, name = bucket
    data = os.urandom((5 << 20) + 1000)
    _multipart(ep.client(), name, "x/a.bin", data, 5 << 20)  # as the aws cli leaves it
    ep.client().put_object(Bucket=name, Key="x/b.txt", Body=b"single part: its ETag is an MD5")
    events = Events()
    report = fssync.sync(f"s3://{name}/x", str(tmp_path / "d"), plugins=[events], **opts(ep))
    assert report.copied == 2 and report.ok
    assert [e["key"] for e in events.named("unverified")] == ["a.bin"]
    assert (report.unverified_count, report.unverified) == (1, ("a.bin",))
    assert "1 not verified (size only)" in fssync.summary_line(report)
    code = main(["sync", f"s3://{name}/x", str(tmp_path / "e"), "-v", *s3_args(ep)])
    out = capsys.readouterr().out
    assert code == 0
    assert "? a.bin  (not verified: the source states no MD5 for it" in out


MIB, MB = 1 << 20, 1000 * 1000
# Each tool's default part size, and sizes a user may pick.
TOOL_PARTS = {
    "rclone": 5 * MIB,
    "aws": 8 * MIB,
    "s3cmd": 15 * MIB,
    "s5cmd": 50 * MIB,
    "custom-7MiB": 7 * MIB,
    "custom-6MB": 6 * MB,
}


@pytest.mark.parametrize("size_parts", [(1, 1), (3, 2), (4, 3), (41, 40), (1000, 999)])
@pytest.mark.parametrize("tool", sorted(TOOL_PARTS))
def test_candidate_part_sizes_hold_every_tool_default(tool, size_parts):
    from fssync.content.hashing import MAX_CANDIDATES, candidate_part_sizes

    part = TOOL_PARTS[tool]
    n, whole = size_parts
    size = whole * part + part // 3  # n parts, the last one short
    found = candidate_part_sizes(size, n)
    assert part in found or n == 1
    assert len(found) <= MAX_CANDIDATES
    assert all(-(-size // p) == n for p in found)


@pytest.mark.parametrize("tool", sorted(set(TOOL_PARTS) - {"s3cmd"}))
def test_checksum_recognises_each_tools_multipart_part_size(bucket, tmp_path, tool):
    """An identical file uploaded in parts by another tool is unchanged under -c."""
    ep, name = bucket
    part = TOOL_PARTS[tool]
    data = os.urandom(part + 1000)  # two parts: the smallest object that shows the part size
    _multipart(ep.client(), name, "p/x.bin", data, part)
    make_tree(tmp_path / "s", {"x.bin": data})
    events = Events()
    plan = fssync.plan(
        str(tmp_path / "s"), f"s3://{name}/p", compare="checksum", plugins=[events], **opts(ep)
    )
    assert [a.kind.name for a in plan.actions] == ["SKIP"]
    assert not events.named("metadata")  # decided from the listing's ETag, no HEAD


def _rclone_put(client, bucket, key, data, ns, part=None):
    """An object as rclone leaves it: its mtime ('seconds.nnnnnnnnn') and, in parts, md5chksum."""
    secs, frac = divmod(ns, 10**9)
    meta = {"mtime": f"{secs}.{frac:09d}"}
    if part is None:
        client.put_object(Bucket=bucket, Key=key, Body=data, Metadata=meta)
    else:
        _multipart(client, bucket, key, data, part, Metadata={**meta, "md5chksum": _b64(data)})


def test_older_version_over_an_rclone_bucket_is_synced(bucket, tmp_path):
    """The stored mtime, not the upload time, decides: a same-size file replaced by an older
    version differs from the object; one HEAD, remembered for the next run."""
    ep, name = bucket
    client = ep.client()
    _rclone_put(client, name, "r/a.txt", b"version 2", 1_700_000_000 * 10**9)
    _rclone_put(client, name, "r/same.txt", b"unchanged", 1_700_000_000 * 10**9)
    src = tmp_path / "s"
    make_tree(src, {"a.txt": b"version 1", "same.txt": b"unchanged"}, mtime=1_700_000_000)
    os.utime(src / "a.txt", (1_600_000_000, 1_600_000_000))  # the older version put back
    events = Events()
    report = fssync.sync(str(src), f"s3://{name}/r", plugins=[events], **opts(ep))
    assert (report.updated, report.skipped) == (1, 1)
    assert client.get_object(Bucket=name, Key="r/a.txt")["Body"].read() == b"version 1"
    assert events.named("metadata")[0]["objects"] == 2
    again = Events()
    report = fssync.sync(str(src), f"s3://{name}/r", plugins=[again], **opts(ep))
    assert report.updated == 0 and not again.named("metadata")  # remembered: no HEAD now


def test_round_trip_with_rclones_bucket_conventions(bucket, tmp_path):
    """Objects put as rclone puts them (mtime, md5chksum on a multipart object of a part size
    no candidate list holds) come down exact and verified, and go up again as unchanged."""
    ep, name = bucket
    client = ep.client()
    small, big = b"small file", os.urandom((5 << 20) + 12_345 + 1000)
    _rclone_put(client, name, "rc/small.txt", small, NS)
    _rclone_put(client, name, "rc/big.bin", big, NS + 1, part=(5 << 20) + 12_345)
    back = tmp_path / "b"
    events = Events()
    down = fssync.sync(f"s3://{name}/rc", str(back), plugins=[events], **opts(ep))
    assert (down.copied, down.unverified_count) == (2, 0)
    assert (back / "small.txt").stat().st_mtime_ns == NS
    assert (back / "big.bin").stat().st_mtime_ns == NS + 1
    assert (back / "big.bin").read_bytes() == big
    for compare in ("size-mtime", "checksum"):
        up = fssync.sync(str(back), f"s3://{name}/rc", compare=compare, **opts(ep))
        assert (up.copied, up.updated, up.skipped) == (0, 0, 2), compare
    meta = client.head_object(Bucket=name, Key="rc/big.bin")["Metadata"]
    assert meta["mtime"] == f"{(NS + 1) // 10**9}.{(NS + 1) % 10**9:09d}"  # not rewritten


def test_folder_downloaded_by_another_tool_gets_its_mtimes_set_not_downloaded(
    bucket, tmp_path, capsys
):
    """aws/s5cmd/s3cmd downloads give files the download time: with fssync's state present the
    mtimes differ, the content is proven equal (MD5 against the ETag), and only the mtime is
    set."""
    from fssync.cli.main import main

    from .helpers import s3_args

    ep, name = bucket
    files = {"a.txt": b"alpha", "d/b.bin": os.urandom(3000)}
    _ns_tree(tmp_path / "s", files, NS)
    fssync.sync(str(tmp_path / "s"), f"s3://{name}/t", **opts(ep))  # state records the mtimes
    other = tmp_path / "other"
    make_tree(other, files, mtime=1_750_000_000)  # as another tool left them: same bytes
    (other / "d" / "b.bin").write_bytes(files["d/b.bin"][:-1] + b"!")  # and one really changed
    os.utime(other / "d" / "b.bin", (1_750_000_000, 1_750_000_000))
    code = main(["sync", f"s3://{name}/t", str(other), "-v", *s3_args(ep)])
    out = capsys.readouterr().out
    assert code == 0
    assert "~ a.txt  (mtime set)" in out
    assert "* d/b.bin" in out
    assert (other / "a.txt").stat().st_mtime_ns == NS
    assert (other / "d" / "b.bin").read_bytes() == files["d/b.bin"]
    report = fssync.sync(f"s3://{name}/t", str(other), **opts(ep))
    assert report.updated + report.copied == 0


def test_metadata_only_change_by_another_tool_sets_the_mtime(bucket, tmp_path):
    """rclone updates an object's mtime in place (the ETag stays): fssync's record is stale, the
    file's content is proven equal, and the object gets the mtime, not a new upload."""
    ep, name = bucket
    client = ep.client()
    src = tmp_path / "s"
    _ns_tree(src, {"a.txt": b"same bytes"}, NS)
    fssync.sync(str(src), f"s3://{name}/m", **opts(ep))
    etag = client.head_object(Bucket=name, Key="m/a.txt")["ETag"]
    later = NS + 5 * 10**9
    client.copy_object(  # the metadata-only update, as rclone makes it
        Bucket=name,
        Key="m/a.txt",
        CopySource={"Bucket": name, "Key": "m/a.txt"},
        MetadataDirective="REPLACE",
        Metadata={"mtime": f"{later // 10**9}.{later % 10**9:09d}"},
        ContentType="text/plain",
    )
    assert client.head_object(Bucket=name, Key="m/a.txt")["ETag"] == etag
    os.utime(src / "a.txt", ns=(later, later))
    events = Events()
    report = fssync.sync(str(src), f"s3://{name}/m", plugins=[events], **opts(ep))
    assert report.bytes == 0 and report.failed == 0
    assert [e["key"] for e in events.named("mtime")] == ["a.txt"]
    head = client.head_object(Bucket=name, Key="m/a.txt")
    assert head["Metadata"]["mtime"] == f"{later // 10**9}.{later % 10**9:09d}"
    assert head["ContentType"] == "text/plain"  # kept by the in-place copy
    again = fssync.sync(str(src), f"s3://{name}/m", **opts(ep))
    assert again.updated + again.copied == 0


class BadOptions:
    """A plugin whose transfer options carry a line break (a header injection attempt)."""

    def __init__(self, options):
        self.options = options

    @fssync.hookimpl
    def fssync_transfer_options(self, action, location, config):
        return self.options


@pytest.mark.parametrize(
    "options",
    [
        {"Metadata": {"note": "a\r\nx-amz-acl: public-read"}},
        {"Metadata": {"bad\nkey": "value"}},
        {"ContentType": "text/plain\r\nx-amz-acl: public-read"},
        {"CacheControl": "max-age=1\n"},
    ],
    ids=["meta-value", "meta-key", "content-type", "cache-control"],
)
def test_line_breaks_in_transfer_options_are_refused_before_the_upload(bucket, tmp_path, options):
    ep, name = bucket
    make_tree(tmp_path / "s", {"a.txt": b"x"})
    with pytest.raises(fssync.UsageError, match="line break|not a valid header name") as err:
        fssync.sync(
            str(tmp_path / "s"), f"s3://{name}/h", plugins=[BadOptions(options)], **opts(ep)
        )
    assert "\n" not in str(err.value) and "public-read" not in str(err.value)
    assert ep.client().list_objects_v2(Bucket=name).get("KeyCount", 0) == 0


class BadHeaders:
    @fssync.hookimpl
    def fssync_storage_options(self, location, config):
        if location.protocol == "s3":
            return {"headers": (("x-amz-meta-note", "a\r\nx-injected: 1"),)}
        return None


def test_line_breaks_in_storage_option_headers_are_refused_before_any_request(bucket, tmp_path):
    ep, name = bucket
    make_tree(tmp_path / "s", {"a.txt": b"x"})
    with pytest.raises(fssync.UsageError, match="line break") as err:
        fssync.sync(str(tmp_path / "s"), f"s3://{name}/h", plugins=[BadHeaders()], **opts(ep))
    assert "injected" not in str(err.value)
    assert ep.client().list_objects_v2(Bucket=name).get("KeyCount", 0) == 0
