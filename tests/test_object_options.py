"""Object options on uploads, as the AWS CLI has them (--storage-class, --sse, --acl, the content
headers, --metadata, --content-type and a per-ending map), checked on moto on both S3 paths:
what the server stored is read back with boto3, and bad values stop the run before a request."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import fssync
from fssync.cli.main import main
from fssync.testing.servers import MotoAuth

from .helpers import make_tree, s3_args, s3_opts

pytestmark = pytest.mark.usefixtures("s3_backend")

BIG = (
    17 << 20
)  # over the multipart threshold (16 MiB): the options must reach CreateMultipartUpload


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    make_tree(
        root,
        {
            "a.zip": b"PK zip",
            "notes.log": b"log line\n",
            "page.html": b"<p>hi</p>",
            "big.bin": b"\x01" * BIG,
        },
    )
    return root


FLAGS = [
    "--storage-class",
    "standard_ia",
    "--sse",
    "--acl",
    "public-read",
    "--cache-control",
    "max-age=3600",
    "--content-disposition",
    "attachment",
    "--content-encoding",
    "identity",
    "--content-language",
    "en-GB",
    "--expires",
    "2030-01-02T03:04:05Z",
    "--metadata",
    "team=photos,owner=ana",
    "--metadata",
    "Project=x1",
    "--content-type",
    "application/x-fssync",
    "--content-type-map",
    ".zip:application/zip|.LOG:text/x-log",
]


def test_every_object_option_reaches_the_server(moto: MotoAuth, tree):
    ep = moto.endpoint
    name = ep.make_bucket()
    url = f"s3://{name}/p"
    assert main(["sync", str(tree), url, *s3_args(ep), *FLAGS]) == 0
    client = ep.client()
    for key in ("a.zip", "notes.log", "page.html", "big.bin"):
        head = client.head_object(Bucket=name, Key=f"p/{key}")
        assert head["StorageClass"] == "STANDARD_IA", key
        assert head["ServerSideEncryption"] == "AES256", key
        assert head["CacheControl"] == "max-age=3600", key
        assert head["ContentDisposition"] == "attachment", key
        assert head["ContentEncoding"] == "identity", key
        assert head["ContentLanguage"] == "en-GB", key
        assert head["Expires"] == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC), key
        meta = head["Metadata"]
        assert (meta["team"], meta["owner"], meta["project"]) == ("photos", "ana", "x1"), key
        assert "mtime" in meta, key  # fssync's own metadata is still written
        grants = client.get_object_acl(Bucket=name, Key=f"p/{key}")["Grants"]
        assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") for g in grants), key
    types = {
        key: client.head_object(Bucket=name, Key=f"p/{key}")["ContentType"]
        for key in ("a.zip", "notes.log", "page.html", "big.bin")
    }
    # the map first (endings compared without case), then --content-type over the guess
    assert types == {
        "a.zip": "application/zip",
        "notes.log": "text/x-log",
        "page.html": "application/x-fssync",
        "big.bin": "application/x-fssync",
    }
    # a second run moves nothing: SSE objects are not reported as changed or corrupt
    assert main(["sync", str(tree), url, *s3_args(ep), *FLAGS, "-c"]) == 0


def test_kms_key_implies_aws_kms_and_is_not_taken_for_corruption(moto: MotoAuth, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    make_tree(tmp_path / "s", {"x.txt": b"secret stuff", "big.bin": b"\x02" * BIG})
    options = s3_opts(ep, sse_kms_key_id="alias/fssync-test")
    report = fssync.sync(str(tmp_path / "s"), f"s3://{name}/k", **options)
    assert (report.copied, report.failed) == (2, 0)
    head = ep.client().head_object(Bucket=name, Key="k/x.txt")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("alias/fssync-test")
    again = fssync.sync(str(tmp_path / "s"), f"s3://{name}/k", **options)
    assert (again.copied, again.updated, again.failed) == (0, 0, 0)


def test_a_remote_carries_object_options(moto: MotoAuth, tmp_path, monkeypatch):
    ep = moto.endpoint
    name = ep.make_bucket()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[remotes.cold]
type = "s3"
bucket = "{name}"
endpoint-url = "{ep.url}"
region = "{ep.region}"
storage-class = "GLACIER_IR"
metadata = ["source=laptop"]
cache-control = "no-cache"
content-type-map = [".txt:text/x-note"]
"""
    )
    monkeypatch.setenv("FSSYNC_CONFIG", str(config))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ep.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ep.secret_key)
    make_tree(tmp_path / "s", {"n.txt": b"note"})
    assert main(["sync", str(tmp_path / "s"), "cold:notes"]) == 0
    head = ep.client().head_object(Bucket=name, Key="notes/n.txt")
    assert head["StorageClass"] == "GLACIER_IR"
    assert head["Metadata"]["source"] == "laptop"
    assert head["CacheControl"] == "no-cache"
    assert head["ContentType"] == "text/x-note"
    # the command line wins over the remote
    make_tree(tmp_path / "s", {"m.txt": b"other"})
    assert main(["sync", str(tmp_path / "s"), "cold:notes", "--storage-class", "STANDARD"]) == 0
    head = ep.client().head_object(Bucket=name, Key="notes/m.txt")
    assert head.get("StorageClass", "STANDARD") == "STANDARD"


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--storage-class", "COLDEST"], "storage class 'COLDEST' is not one of"),
        (["--sse", "rot13"], "--sse 'rot13' is not one of"),
        (["--sse", "AES256", "--sse-kms-key-id", "k"], "needs --sse aws:kms"),
        (["--acl", "everyone"], "ACL 'everyone' is not one of"),
        (["--cache-control", "max-age=1\r\nx-amz-acl: public-read"], "control characters"),
        (["--metadata", "a=b\nx-amz-acl: public-read"], "control characters"),
        (["--metadata", "mtime=1"], "written by fssync itself"),
        (["--metadata", "noequals"], "expected KEY=VALUE"),
        (["--metadata", "bad key=v"], "not a valid header name"),
        (["--content-type", "nonsense"], "is not a media type"),
        (["--content-type-map", ".zip"], "expected .EXT:TYPE"),
        (["--expires", "next tuesday"], "not an ISO 8601 time"),
    ],
)
def test_bad_object_options_stop_before_any_request(moto: MotoAuth, tmp_path, capsys, flags, words):
    ep = moto.endpoint
    name = ep.make_bucket()
    make_tree(tmp_path / "s", {"x.txt": b"x"})
    code = main(["sync", str(tmp_path / "s"), f"s3://{name}/p", *s3_args(ep), *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert words in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "Contents" not in ep.client().list_objects_v2(Bucket=name)


def test_the_python_api_checks_object_options_the_same_way(moto: MotoAuth, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    make_tree(tmp_path / "s", {"x.txt": b"x"})
    with pytest.raises(fssync.UsageError, match="storage class"):
        fssync.sync(str(tmp_path / "s"), f"s3://{name}/p", **s3_opts(ep, storage_class="nope"))
    assert "Contents" not in ep.client().list_objects_v2(Bucket=name)
    report = fssync.sync(
        str(tmp_path / "s"),
        f"s3://{name}/p",
        **s3_opts(ep, metadata={"k": "v"}, content_type_map=[".txt:text/x-t"]),
    )
    assert report.copied == 1
    head = ep.client().head_object(Bucket=name, Key="p/x.txt")
    assert (head["Metadata"]["k"], head["ContentType"]) == ("v", "text/x-t")
