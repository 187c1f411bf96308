"""Secret keys and session tokens appear nowhere in what fssync prints, at any verbosity, in
JSON, in error messages or (when a log file option exists) in the log."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

import fssync
from fssync.cli.main import build_parser, main
from fssync.testing.proxy import S3Proxy
from fssync.testing.servers import MotoAuth
from fssync_plugins import auth_sts

from .helpers import make_tree
from .test_auth_sts import ExpireFirstKey

FILES = {f"d/{i}.txt": b"x" * (i + 1) for i in range(6)}


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


@attrs.define
class Remember:
    """Wraps the STS plugin's provider to learn every secret it hands out."""

    secrets: list[str] = attrs.Factory(list)

    @fssync.hookimpl
    def fssync_credential_provider(self, location, config):
        inner = auth_sts.provider_for(location, config)
        return _Remembering(inner, self.secrets) if inner else None


class _Remembering(fssync.CredentialProvider):
    def __init__(self, inner, secrets):
        self.inner, self.secrets = inner, secrets
        self.description = inner.description

    async def fetch(self):
        creds = await self.inner.fetch()
        self.secrets += [creds.secret_access_key, creds.session_token]
        return creds


def leaks(text: str, secrets: list[str]) -> list[str]:
    """Secrets of which any 12 consecutive characters appear in text (the redacted form shows
    at most the last 4)."""
    found = []
    for secret in filter(None, set(secrets)):
        if any(secret[i : i + 12] in text for i in range(max(1, len(secret) - 11))):
            found.append(secret[-4:])
    return found


def log_args(tmp_path: Path) -> tuple[list[str], Path | None]:
    """--log-file, if this build has it (reporting may add it)."""
    sub = build_parser()._subparsers._group_actions[0]  # type: ignore[union-attr]
    sync = sub.choices["sync"]
    if any("--log-file" in a.option_strings for a in sync._actions):
        path = tmp_path / "fssync.log"
        return ["--log-file", str(path)], path
    return [], None


def test_no_secret_anywhere_at_full_verbosity(moto: MotoAuth, tmp_path, capsys):
    ep = moto.endpoint
    make_tree(tmp_path / "src", FILES)
    secrets = [ep.secret_key]
    printed = ""

    # 1. fssync fetches and, after ExpiredToken, refreshes credentials; -vvv and JSON events
    remember = Remember()
    bucket = ep.make_bucket()
    with S3Proxy(ep.url, ExpireFirstKey(after=3)) as proxy:
        report = fssync.sync(
            str(tmp_path / "src"),
            f"s3://{bucket}/a",
            plugins=[remember],
            console=True,
            json=True,
            verbose=3,
            endpoint_url=proxy.url,
            sts_endpoint_url=ep.url,
            access_key_id=ep.access_key,
            secret_access_key=ep.secret_key,
            role_arn=moto.role_arn,
            transfers=2,
        )
    assert report.ok and len(remember.secrets) >= 4  # two fetches: secret and token each
    secrets += remember.secrets
    out, err = capsys.readouterr()
    printed += out + err
    assert '"event": "credentials"' in out

    # 2. caller-supplied temporary credentials, token as a header, human output at -vvv
    temp = moto.assume_role()
    assert temp.session_token is not None
    secrets += [temp.secret_key, temp.session_token]
    extra, log = log_args(tmp_path)
    common = [
        "--endpoint-url",
        ep.url,
        "--access-key-id",
        temp.access_key,
        "--secret-access-key",
        temp.secret_key,
        "-vvv",
        *extra,
    ]
    header = ["--header", f"x-amz-security-token:{temp.session_token}"]
    assert main(["sync", str(tmp_path / "src"), f"s3://{bucket}/b", *common, *header]) == 0
    # 3. the same with --json, and a failing run (wrong token) for the error path
    assert (
        main(["sync", str(tmp_path / "src"), f"s3://{bucket}/c", "--json", *common, *header]) == 0
    )
    wrong = ["--session-token", temp.session_token[:-6] + "AAAAAA"]
    assert main(["sync", str(tmp_path / "src"), f"s3://{bucket}/d", "--json", *common, *wrong]) == 4
    # 4. STS refused, with the long-term secret on the command line
    bad = ["--role-arn", moto.role_arn, "--sts-endpoint-url", ep.url]
    assert (
        main(
            [
                "ls",
                f"s3://{bucket}",
                "--endpoint-url",
                ep.url,
                "--access-key-id",
                ep.access_key,
                "--secret-access-key",
                ep.secret_key + "x",
                *bad,
            ]
        )
        == 4
    )
    out, err = capsys.readouterr()
    printed += out + err
    if log is not None:
        printed += log.read_text()

    assert "copied" in printed and "session token" in printed  # the runs did print
    assert leaks(printed, secrets) == []
