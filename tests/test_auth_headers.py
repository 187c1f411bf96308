"""Session tokens by flag, by environment and as a signed request header, against moto checking
AssumeRole credentials exactly; upload-only headers; strict header parsing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import fssync
from fssync.cli.main import main
from fssync.hooks.manager import registered
from fssync.plugin import RequestHeaders
from fssync.testing.proxy import S3Proxy
from fssync.testing.servers import MotoAuth, S3Endpoint

from .helpers import make_tree, read_tree, s3_args, s3_opts

# Each test runs on both S3 request paths: both sign the extra headers into every request.
pytestmark = pytest.mark.usefixtures("s3_backend")

FILES = {"a.txt": b"alpha", "dir/b.bin": b"b" * 3000}
WRONG_TOKEN = "FwoGZXIvYXdzEXAMPLEwrongTOKENvalue0123456789"


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    make_tree(tmp_path / "src", FILES)
    return tmp_path / "src"


@pytest.fixture
def role_bucket(moto: MotoAuth):
    """Temporary credentials from AssumeRole and a fresh bucket the role may write."""
    bucket = moto.endpoint.make_bucket()
    return moto.assume_role(), bucket


def objects(ep: S3Endpoint, bucket: str) -> dict[str, bytes]:
    client = ep.client()
    out = {}
    for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        out[obj["Key"]] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def token_args(way: str, creds: S3Endpoint, token: str | None, monkeypatch) -> list[str]:
    """Deliver key, secret and token the way `way` says; token None means leave it out."""
    base = ["--endpoint-url", creds.url, "--region", creds.region]
    keys = ["--access-key-id", creds.access_key, "--secret-access-key", creds.secret_key]
    if way == "flag":
        return base + keys + (["--session-token", token] if token else [])
    if way == "header":
        return base + keys + (["--header", f"x-amz-security-token:{token}"] if token else [])
    assert way in ("env", "env-keys-flag-token")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds.secret_key)
    if token and way == "env-keys-flag-token":  # as temporary-credentials.md shows
        return base + ["--session-token", token]
    if token:
        monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    return base


@pytest.mark.parametrize("way", ["flag", "env", "header", "env-keys-flag-token"])
def test_assumed_role_token_is_accepted(way, role_bucket, tree, capsys, monkeypatch, moto):
    creds, bucket = role_bucket
    args = token_args(way, creds, creds.session_token, monkeypatch)
    code = main(["sync", str(tree), f"s3://{bucket}/up", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert objects(moto.endpoint, bucket) == {f"up/{k}": v for k, v in FILES.items()}
    assert creds.session_token not in out + err and creds.secret_key not in out + err


@pytest.mark.parametrize("token", ["missing", "wrong"])
@pytest.mark.parametrize("way", ["flag", "env", "header", "env-keys-flag-token"])
def test_missing_or_wrong_token_fails_with_exit_4(
    way, token, role_bucket, tree, capsys, monkeypatch, moto
):
    creds, bucket = role_bucket
    value = None if token == "missing" else WRONG_TOKEN
    args = token_args(way, creds, value, monkeypatch)
    code = main(["sync", str(tree), f"s3://{bucket}/up", "--delete", *args])
    out, err = capsys.readouterr()
    assert code == 4, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    expected = "access key" if token == "missing" else "session token"
    assert expected in err, err
    assert objects(moto.endpoint, bucket) == {}
    assert WRONG_TOKEN not in out + err and creds.secret_key not in out + err


def test_token_header_is_signed_on_every_request(role_bucket, tree, capsys, moto):
    """The header travels on every request and is covered by the signature."""
    creds, bucket = role_bucket
    assert creds.session_token is not None
    with S3Proxy(creds.url) as proxy:
        args = token_args("header", creds, creds.session_token, None)
        args[args.index(creds.url)] = proxy.url
        code = main(["sync", str(tree), f"s3://{bucket}/p", *args])
        assert code == 0, capsys.readouterr().err
    ops = {r.operation for r in proxy.requests}
    assert {"ListObjectsV2", "PutObject"} <= ops
    for request in proxy.requests:
        assert request.headers["x-amz-security-token"] == creds.session_token
        assert "x-amz-security-token" in request.signed_headers


def test_upload_headers_go_on_uploads_only(bucket, tree, capsys):
    ep, name = bucket
    with S3Proxy(ep.url) as proxy:
        code = main(
            [
                "sync",
                str(tree),
                f"s3://{name}/u",
                *s3_args(ep, proxy.url),
                "--upload-header",
                "Cache-Control: max-age=60",
                "--upload-header",
                "x-amz-meta-origin:fssync-test",
                "--header",
                "x-amz-request-payer:requester",
            ]
        )
        assert code == 0, capsys.readouterr().err
        # a second run copies within the store: CopyObject carries them too
        code = main(
            [
                "sync",
                f"s3://{name}/u",
                f"s3://{name}/v",
                *s3_args(ep, proxy.url),
                "--upload-header",
                "x-amz-meta-origin:copied",
            ]
        )
        assert code == 0, capsys.readouterr().err
    uploads = [r for r in proxy.requests if r.operation in ("PutObject", "CopyObject")]
    others = [r for r in proxy.requests if r.operation not in ("PutObject", "CopyObject")]
    assert len(uploads) == 2 * len(FILES) and others
    for r in uploads:
        assert "x-amz-meta-origin" in r.headers and "x-amz-meta-origin" in r.signed_headers
    for r in others:
        assert "x-amz-meta-origin" not in r.headers and "cache-control" not in r.headers
    first_run = [r for r in proxy.requests if r.number <= len(FILES) + 1]
    assert all(r.headers.get("x-amz-request-payer") == "requester" for r in first_run)
    head = ep.client().head_object(Bucket=name, Key="u/a.txt")
    assert head["CacheControl"] == "max-age=60"
    assert head["Metadata"]["origin"] == "fssync-test"
    copies = [r for r in uploads if r.operation == "CopyObject"]
    assert copies and all(r.headers["x-amz-meta-origin"] == "copied" for r in copies)


def test_storage_class_upload_header(moto, tree, capsys):
    ep = moto.endpoint
    name = ep.make_bucket()
    code = main(
        [
            "sync",
            str(tree),
            f"s3://{name}/sc",
            *s3_args(ep),
            "--upload-header",
            "x-amz-storage-class:STANDARD_IA",
        ]
    )
    assert code == 0, capsys.readouterr().err
    listed = ep.client().list_objects_v2(Bucket=name)["Contents"]
    assert {o["StorageClass"] for o in listed} == {"STANDARD_IA"}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("no-colon-here", "expected Name:Value"),
        (":value", "header name before ':' is empty"),
        ("bad name:v", "not a valid header name"),
        ("x-amz-acl:", "is empty"),
        ("Authorization:AWS4 x", "cannot be overridden"),
        ("Host:example.com", "cannot be overridden"),
        ("TE:trailers", "cannot be overridden"),
        ("Upgrade:h2c", "cannot be overridden"),
        ("Keep-Alive:timeout=5", "cannot be overridden"),
        ("x-a:b\x01c", "control character"),
    ],
)
def test_malformed_header_is_a_usage_error(value, words, tree, tmp_path, capsys):
    for option in ("--header", "--upload-header"):
        code = main(["sync", str(tree), "s3://bucket/x", option, value])
        err = capsys.readouterr().err
        assert code == 2, err
        assert words in err and len(err.strip().splitlines()) == 1


def test_header_errors_never_echo_a_token(tree, capsys):
    secret = "IQoJb3JpZ2luX2VjEXAMPLESECRETTOKEN"
    code = main(["sync", str(tree), "s3://bucket/x", "--header", f"x-amz-security-token {secret}"])
    err = capsys.readouterr().err
    assert code == 2 and secret not in err
    code = main(["sync", str(tree), "s3://bucket/x", "--secret-acces-key", secret])
    err = capsys.readouterr().err
    assert code == 2 and "--secret-acces-key" in err and secret not in err


def test_token_given_twice_is_refused(tree, capsys):
    code = main(
        [
            "sync",
            str(tree),
            "s3://bucket/x",
            "--access-key-id",
            "ASIAEXAMPLE",
            "--secret-access-key",
            "secret-secret",
            "--session-token",
            "token-one-123",
            "--header",
            "x-amz-security-token:token-two-456",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "given twice" in err
    assert "token-one-123" not in err and "token-two-456" not in err


def test_same_header_twice_is_refused(tree, capsys):
    code = main(["sync", str(tree), "s3://bucket/x", "--header", "x-a:1", "--header", "X-A:2"])
    assert code == 2 and "twice" in capsys.readouterr().err


def test_a_token_without_any_keys_is_still_refused(role_bucket, tree, capsys, moto):
    """A token alone is refused once no layer gives its keys (exit 2, before any request)."""
    creds, bucket = role_bucket
    args = ["--endpoint-url", creds.url, "--region", creds.region, "--session-token", "T0KEN"]
    code = main(["sync", str(tree), f"s3://{bucket}/up", *args])
    err = capsys.readouterr().err
    assert code == 2 and "needs the access key id and secret access key" in err, err
    assert len(err.strip().splitlines()) == 1
    assert objects(moto.endpoint, bucket) == {}


@pytest.mark.parametrize("crt", ["crt", "no-crt"])
def test_token_header_works_with_either_botocore_signer(crt, role_bucket, tree, s3_backend, moto):
    """botocore signs with the CRT signer when awscrt is installed (`boto3[crt]`) and with its
    own otherwise; the token given as a header must reach the store under both."""
    creds, bucket = role_bucket
    args = token_args("header", creds, creds.session_token, None)
    env = dict(os.environ, BOTO_DISABLE_CRT="false" if crt == "crt" else "true")
    probe = "import botocore.compat as c; print(c.HAS_CRT)"
    has_crt = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True)
    assert has_crt.stdout.strip() == (b"True" if crt == "crt" else b"False")
    run = subprocess.run(
        [sys.executable, "-m", "fssync", "sync", str(tree), f"s3://{bucket}/{crt}", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert objects(moto.endpoint, bucket) == {f"{crt}/{k}": v for k, v in FILES.items()}
    assert creds.session_token not in run.stdout + run.stderr


class TenantHeaders:
    """A plugin's extra headers, as data: one on every request, one on uploads, one on reads."""

    @fssync.hookimpl
    def fssync_request_headers(self, location, config):
        if location.protocol != "s3":
            return None
        return RequestHeaders(
            every=[("x-amz-request-payer", "requester")],
            uploads=[("x-amz-meta-tenant", "blue")],
            operations={"GetObject": [("x-amz-expected-bucket-owner", "123456789012")]},
        )


def test_a_plugin_s_request_headers_are_signed_on_either_path(bucket, tree, tmp_path, s3_backend):
    """``fssync_request_headers`` reaches the fast client and s3fs alike (FSSYNC_S3_BACKEND
    forces each in turn, and fast never falls back), signed, each on its own requests."""
    ep, name = bucket
    plugin = TenantHeaders()
    with S3Proxy(ep.url) as proxy:
        opts = s3_opts(ep, endpoint_url=proxy.url)
        up = fssync.sync(str(tree), f"s3://{name}/t", plugins=[plugin], **opts)
        down = fssync.sync(f"s3://{name}/t", str(tmp_path / "back"), plugins=[plugin], **opts)
    assert up.copied == len(FILES) and down.copied == len(FILES)
    assert read_tree(tmp_path / "back") == FILES
    for r in proxy.requests:
        assert r.headers["x-amz-request-payer"] == "requester"
        assert "x-amz-request-payer" in r.signed_headers
        assert ("x-amz-meta-tenant" in r.headers) == (r.operation == "PutObject")
        owner = r.headers.get("x-amz-expected-bucket-owner")
        assert (owner == "123456789012") == (r.operation == "GetObject"), r.operation
    assert {"PutObject", "GetObject"} <= {r.operation for r in proxy.requests}
    head = ep.client().head_object(Bucket=name, Key="t/a.txt")
    assert head["Metadata"]["tenant"] == "blue"


def test_a_header_given_by_a_plugin_and_a_flag_is_refused(tree, capsys):
    """Which of two values S3 would see depends on the path: neither is picked silently."""
    with registered(TenantHeaders()):
        code = main(
            ["sync", str(tree), "s3://bucket/p", "--header", "X-Amz-Request-Payer:requester"]
        )
    err = capsys.readouterr().err
    assert code == 2 and "x-amz-request-payer is given twice" in err.lower()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
