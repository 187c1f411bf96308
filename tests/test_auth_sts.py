"""STS: fssync fetches temporary credentials itself (AssumeRole, GetFederationToken,
GetSessionToken), refreshes them before they expire and when the store says they have, and
stops once with exit code 4 when a token it was given expires."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

import fssync
from fssync.cli.main import main
from fssync.testing.proxy import Recorded, Reply, S3Proxy, expired_token, s3_error
from fssync.testing.servers import MotoAuth, S3Endpoint
from fssync_plugins import auth_sts

from .helpers import make_tree

# Each test runs on both S3 request paths: the fast plugin refreshes through a KeySource, the
# s3fs store through botocore's refreshable credentials.
pytestmark = pytest.mark.usefixtures("s3_backend")

FILES = {f"f{i:02d}.txt": f"file {i}\n".encode() * (i + 1) for i in range(12)}


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    make_tree(tmp_path / "src", FILES)
    return tmp_path / "src"


def objects(ep: S3Endpoint, bucket: str, prefix: str = "") -> dict[str, bytes]:
    client = ep.client()
    out = {}
    for obj in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        key = obj["Key"][len(prefix) :]
        out[key] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def long_term(ep: S3Endpoint, s3_url: str | None = None) -> list[str]:
    """The IAM user's keys; S3 at `s3_url` (a proxy) or the server, STS always the server."""
    return [
        "--endpoint-url",
        s3_url or ep.url,
        "--sts-endpoint-url",
        ep.url,
        "--access-key-id",
        ep.access_key,
        "--secret-access-key",
        ep.secret_key,
        "--region",
        ep.region,
    ]


def events(out: str, name: str) -> list[dict]:
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [r for r in rows if r["event"] == name]


# --- AssumeRole end to end against moto's checks ------------------------------------------------


def test_role_arn_fetches_credentials_and_syncs(moto: MotoAuth, tree, capsys):
    ep = moto.endpoint
    bucket = ep.make_bucket()
    code = main(
        ["sync", str(tree), f"s3://{bucket}/r", "--role-arn", moto.role_arn, "--json"]
        + long_term(ep)
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert objects(ep, bucket, "r/") == FILES
    (fetched,) = events(out, "credentials")
    assert fetched["why"] == "initial" and fetched["access_key_id"].startswith("ASIA")
    assert "AssumeRole" in fetched["provider"] and ep.secret_key not in out + err


def test_role_arn_with_wrong_long_term_secret_fails_before_writing(moto: MotoAuth, tree, capsys):
    ep = moto.endpoint
    bucket = ep.make_bucket()
    args = long_term(ep)
    args[args.index(ep.secret_key)] = "not-the-secret-0000000000"
    code = main(["sync", str(tree), f"s3://{bucket}/r", "--role-arn", moto.role_arn, *args])
    err = capsys.readouterr().err
    assert code == 4 and "STS refused assume role" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "not-the-secret" not in err
    assert objects(ep, bucket) == {}


@attrs.define
class TamperedToken:
    """A third-party plugin whose provider hands out AssumeRole credentials with the token left
    out or replaced: fssync must sign with exactly what the provider gives."""

    token: str | None

    @fssync.hookimpl
    def fssync_credential_provider(self, location, config):
        inner = auth_sts.provider_for(location, config)
        return _Tampered(inner, self.token) if inner else None


class _Tampered(fssync.CredentialProvider):
    def __init__(self, inner: fssync.CredentialProvider, token: str | None):
        self.inner, self.token = inner, token

    async def fetch(self) -> fssync.Credentials:
        creds = await self.inner.fetch()
        return attrs.evolve(creds, session_token=self.token)


@pytest.mark.parametrize(
    ("token", "words"), [(None, "access key"), ("FwoGZXIvYXdzEwrongWRONGwrong", "session token")]
)
def test_fetched_role_with_missing_or_wrong_token_fails(moto: MotoAuth, tree, token, words):
    ep = moto.endpoint
    bucket = ep.make_bucket()
    options = {
        "endpoint_url": ep.url,
        "sts_endpoint_url": ep.url,
        "access_key_id": ep.access_key,
        "secret_access_key": ep.secret_key,
        "role_arn": moto.role_arn,
        "delete": True,
    }
    with pytest.raises(fssync.AuthError, match=words) as caught:
        fssync.sync(str(tree), f"s3://{bucket}/t", plugins=[TamperedToken(token)], **options)
    assert caught.value.exit_code == 4
    assert objects(ep, bucket) == {}


# --- refresh when the store says ExpiredToken ------------------------------------------------


@attrs.define
class ExpireFirstKey:
    """Answer ExpiredToken to requests signed with the first access key, after `after` of them."""

    after: int
    first: str | None = None
    seen: int = 0
    refused: int = 0

    def __call__(self, request: Recorded) -> Reply | None:
        key = request.access_key
        if self.first is None:
            self.first = key
        if key != self.first:
            return None
        self.seen += 1
        if self.seen > self.after:
            self.refused += 1
            return expired_token()
        return None


def test_expired_token_mid_run_is_refreshed_and_the_run_finishes(moto: MotoAuth, tree, capsys):
    ep = moto.endpoint
    bucket = ep.make_bucket()
    rule = ExpireFirstKey(after=4)
    with S3Proxy(ep.url, rule) as proxy:
        code = main(
            [
                "sync",
                str(tree),
                f"s3://{bucket}/e",
                "--role-arn",
                moto.role_arn,
                "--transfers",
                "4",
                "--json",
                *long_term(ep, proxy.url),
            ]
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert objects(ep, bucket, "e/") == FILES
    assert rule.refused >= 1  # the store really did refuse some requests
    keys = {r.access_key for r in proxy.requests}
    assert len(keys) >= 2  # later requests were signed with new credentials
    fetched = events(out, "credentials")
    assert [f["why"] for f in fetched][:2] == ["initial", "expired"]
    assert len(fetched) <= 1 + rule.refused  # no refresh storm
    assert not events(out, "failed")


@pytest.mark.parametrize("way", ["flag", "header"])
def test_caller_token_that_expires_stops_the_run_once(moto: MotoAuth, tree, capsys, way):
    creds = moto.assume_role()
    bucket = moto.endpoint.make_bucket()
    assert creds.session_token is not None
    token = (
        ["--session-token", creds.session_token]
        if way == "flag"
        else ["--header", f"x-amz-security-token:{creds.session_token}"]
    )
    rule = ExpireFirstKey(after=3)
    with S3Proxy(creds.url, rule) as proxy:
        code = main(
            [
                "sync",
                str(tree),
                f"s3://{bucket}/x",
                "--delete",
                "--transfers",
                "2",
                "--endpoint-url",
                proxy.url,
                "--access-key-id",
                creds.access_key,
                "--secret-access-key",
                creds.secret_key,
                *token,
            ]
        )
    out, err = capsys.readouterr()
    assert code == 4
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "expired" in lines[0] and "Traceback" not in err
    assert rule.refused <= 2  # stopped at once instead of failing every remaining file
    assert len(objects(moto.endpoint, bucket)) < len(FILES)
    assert creds.session_token not in out + err


# --- refresh before expiry, with an injected clock -------------------------------------------


@attrs.define
class Clock:
    offset: float = 0.0

    def __call__(self) -> float:
        import time

        return time.time() + self.offset


@attrs.define
class ClockedSts:
    """The STS plugin's provider with a clock the test moves. STS stamps expiry in real time;
    credentials issued when our clock is ahead last as long from *our* now."""

    clock: Clock
    providers: list = attrs.Factory(list)

    @fssync.hookimpl
    def fssync_credential_provider(self, location, config):
        inner = auth_sts.provider_for(location, config, clock=self.clock)
        if inner is None:
            return None
        self.providers.append(inner)
        return _Shifted(inner, self.clock)


class _Shifted(fssync.CredentialProvider):
    def __init__(self, inner: fssync.CredentialProvider, clock: Clock):
        self.inner, self.clock = inner, clock

    def now(self) -> float:
        return self.clock()

    async def fetch(self) -> fssync.Credentials:
        creds = await self.inner.fetch()
        assert creds.expires is not None
        return attrs.evolve(creds, expires=creds.expires + self.clock.offset)


def test_credentials_are_refreshed_before_they_expire(moto: MotoAuth, tree):
    ep = moto.endpoint
    bucket = ep.make_bucket()
    clock = Clock()
    plugin = ClockedSts(clock)
    seen: list[Recorded] = []

    def later(request: Recorded) -> None:
        seen.append(request)
        if len(seen) == 4:  # 700 of the 900 seconds pass: inside the refresh window
            clock.offset = 700.0

    with S3Proxy(ep.url, later) as proxy:
        report = fssync.sync(
            str(tree),
            f"s3://{bucket}/b",
            plugins=[plugin],
            endpoint_url=proxy.url,
            sts_endpoint_url=ep.url,
            access_key_id=ep.access_key,
            secret_access_key=ep.secret_key,
            role_arn=moto.role_arn,
            sts_duration=900,
            transfers=1,
        )
    assert report.ok and report.copied == len(FILES)
    assert objects(ep, bucket, "b/") == FILES
    (provider,) = plugin.providers
    assert provider.fetches == 2  # once at the start, once before expiry; not on every request
    keys = [r.access_key for r in proxy.requests]
    assert len(set(keys)) == 2 and keys.index(keys[-1]) >= 4


# --- federation and session tokens: what is sent -------------------------------------------


@pytest.mark.parametrize(
    ("method", "label"), [("federation", "federation"), ("session", "session")]
)
def test_sts_token_is_signed_into_every_request(moto_open: MotoAuth, tree, capsys, method, label):
    ep = moto_open.endpoint
    bucket = ep.make_bucket()
    sts = ep.client("sts")
    if method == "federation":
        expected = sts.get_federation_token(Name="fssync")["Credentials"]
    else:
        expected = sts.get_session_token()["Credentials"]
    with S3Proxy(ep.url) as proxy:
        code = main(
            ["sync", str(tree), f"s3://{bucket}/fed", "--sts", method, *long_term(ep, proxy.url)]
        )
        assert code == 0, capsys.readouterr().err
    assert objects(ep, bucket, "fed/") == FILES
    assert len(proxy.requests) >= 1 + len(FILES)
    for request in proxy.requests:
        assert request.access_key == expected["AccessKeyId"] != ep.access_key
        assert request.headers["x-amz-security-token"] == expected["SessionToken"]
        assert "x-amz-security-token" in request.signed_headers


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--sts", "assume-role"], "--role-arn"),
        (["--sts", "session", "--role-arn", "arn:aws:iam::1:role/x"], "goes with AssumeRole"),
        (["--role-arn", "arn:aws:iam::1:role/x", "--sts-duration", "100"], "at least 900"),
        (["--role-arn", "arn:aws:iam::1:role/x", "--sts-duration", "50000"], "outside"),
        (["--sts", "session", "--sts-policy", "/nonexistent.json"], "applies to"),
        (["--sts", "federation", "--sts-policy", "/nonexistent.json"], "cannot read"),
        (["--sts", "federation", "--sts-name", "x"], "2 to 32"),
        (["--sts", "session", "--mfa-serial", "arn:aws:iam::1:mfa/u"], "go together"),
        (["--sts", "federation", "--header", "x-amz-security-token:abcdefgh"], "drop the"),
        (["--sts", "session", "--anonymous"], "drop --anonymous"),
    ],
)
def test_bad_sts_settings_are_usage_errors(args, words, tree, capsys):
    code = main(["sync", str(tree), "s3://bucket/x", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert words in err and len(err.strip().splitlines()) == 1


def test_access_denied_to_the_bucket_is_exit_4(moto: MotoAuth, tree, capsys):
    """Credentials the store knows but may not use on this bucket (moto enforces no bucket
    policies, so the proxy answers as S3 does): one line, exit 4, nothing written."""
    ep = moto.endpoint
    bucket = ep.make_bucket()

    def deny(request: Recorded) -> Reply | None:
        if request.operation in ("ListObjectsV2", "PutObject"):
            return s3_error("AccessDenied", "Access Denied", status=403)
        return None

    with S3Proxy(ep.url, deny) as proxy:
        code = main(
            ["sync", str(tree), f"s3://{bucket}/p", "--role-arn", moto.role_arn, "--delete"]
            + long_term(ep, proxy.url)
        )
    err = capsys.readouterr().err
    assert code == 4, err
    assert "access denied" in err and len(err.strip().splitlines()) == 1
    assert [r.operation for r in proxy.requests] == ["ListObjectsV2"]


class _FailsToRefresh(fssync.CredentialProvider):
    def __init__(self, inner: fssync.CredentialProvider):
        self.inner, self.calls = inner, 0
        self.description = inner.description

    async def fetch(self) -> fssync.Credentials:
        self.calls += 1
        if self.calls > 1:
            raise fssync.AuthError("STS refused assume role (AccessDenied: role removed)")
        return await self.inner.fetch()


class FailingRefresh:
    @fssync.hookimpl
    def fssync_credential_provider(self, location, config):
        inner = auth_sts.provider_for(location, config)
        return _FailsToRefresh(inner) if inner else None


_FAILING_REFRESH_RUN = """
import json, os, sys
import fssync
from fssync.testing.proxy import S3Proxy
from tests.test_auth_sts import ExpireFirstKey, FailingRefresh
args = json.loads(os.environ["FSSYNC_TEST_ARGS"])
with S3Proxy(args.pop("upstream"), ExpireFirstKey(after=3)) as proxy:
    try:
        fssync.sync(args.pop("src"), args.pop("dst"), plugins=[FailingRefresh()], console=True,
                    endpoint_url=proxy.url, **args)
    except fssync.FssyncError as exc:
        print(f"fssync: error: {exc}", file=sys.stderr)
        sys.exit(int(exc.exit_code))
"""


def test_refresh_that_fails_stops_the_run_with_one_line(moto: MotoAuth, tree, tmp_path):
    """In a fresh interpreter (pytest's own log capture would hide what logging prints)."""
    import os
    import subprocess
    import sys

    ep = moto.endpoint
    bucket = ep.make_bucket()
    args = {
        "upstream": ep.url,
        "src": str(tree),
        "dst": f"s3://{bucket}/f",
        "sts_endpoint_url": ep.url,
        "access_key_id": ep.access_key,
        "secret_access_key": ep.secret_key,
        "role_arn": moto.role_arn,
        "delete": True,
    }
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, FSSYNC_TEST_ARGS=json.dumps(args), PYTHONPATH=str(root))
    done = subprocess.run(
        [sys.executable, "-c", _FAILING_REFRESH_RUN],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 4, done.stderr
    assert done.stderr.strip().splitlines() == [
        "fssync: error: STS refused assume role (AccessDenied: role removed)"
    ]
