"""`fssync credentials`: temporary credentials for other tools, as shell exports or as the JSON
a credential_process prints; the printed credentials work."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

import fssync
from fssync.cli.main import main
from fssync.testing.servers import MotoAuth

from .helpers import make_tree

FILES = {"a.txt": b"alpha", "b/c.txt": b"charlie"}


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def sts_args(moto: MotoAuth) -> list[str]:
    ep = moto.endpoint
    return [
        "--role-arn",
        moto.role_arn,
        "--sts-endpoint-url",
        ep.url,
        "--access-key-id",
        ep.access_key,
        "--secret-access-key",
        ep.secret_key,
    ]


def test_exports_are_usable_credentials(moto: MotoAuth, tmp_path, capsys, monkeypatch):
    code = main(["credentials", *sts_args(moto)])
    out, err = capsys.readouterr()
    assert code == 0, err
    exported = {}
    for line in out.splitlines():
        assert line.startswith("export ")
        name, _, value = line[len("export ") :].partition("=")
        exported[name] = shlex.split(value)[0]
    assert set(exported) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
    }
    assert exported["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    # hand them to a sync through the standard variables, as another tool would use them
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, exported[name])
    make_tree(tmp_path / "src", FILES)
    bucket = moto.endpoint.make_bucket()
    report = fssync.sync(str(tmp_path / "src"), f"s3://{bucket}/e", endpoint_url=moto.endpoint.url)
    assert report.ok and report.copied == len(FILES)


def test_json_works_as_a_credential_process(moto: MotoAuth, tmp_path, capsys, monkeypatch):
    code = main(["credentials", "--json", *sts_args(moto)])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["Version"] == 1 and doc["AccessKeyId"].startswith("ASIA")
    assert doc["SessionToken"] and doc["Expiration"].endswith("Z")
    # botocore runs `fssync credentials --json` itself for a profile with credential_process
    command = " ".join(
        shlex.quote(a)
        for a in [sys.executable, "-m", "fssync", "credentials", "--json", *sts_args(moto)]
    )
    aws_config = tmp_path / "aws-config"
    aws_config.write_text(f"[profile fetched]\ncredential_process = {command}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    make_tree(tmp_path / "src", FILES)
    bucket = moto.endpoint.make_bucket()
    report = fssync.sync(
        str(tmp_path / "src"),
        f"s3://{bucket}/p",
        endpoint_url=moto.endpoint.url,
        profile="fetched",
        region="us-east-1",
    )
    assert report.ok and report.copied == len(FILES)


def test_without_an_sts_method_it_is_a_usage_error(capsys):
    code = main(["credentials", "--access-key-id", "AKIAX", "--secret-access-key", "s3cr3t-s3cr3t"])
    err = capsys.readouterr().err
    assert code == 2 and "--role-arn" in err and "s3cr3t-s3cr3t" not in err


def test_sts_refusal_is_exit_4(moto: MotoAuth, capsys):
    args = sts_args(moto)
    args[args.index(moto.endpoint.secret_key)] = "wrong-wrong-wrong-wrong"
    code = main(["credentials", *args])
    out, err = capsys.readouterr()
    assert code == 4 and out == "" and "STS refused" in err


def test_credentials_from_a_remote(moto: MotoAuth, tmp_path: Path, capsys, monkeypatch):
    ep = moto.endpoint
    config = tmp_path / "fssync.toml"
    config.write_text(
        f"""
[remotes.work]
type = "s3"
bucket = "unused-bucket"
role-arn = "{moto.role_arn}"
sts-endpoint-url = "{ep.url}"
access-key-id = "{ep.access_key}"
secret-access-key-env = "WORK_SECRET"
"""
    )
    monkeypatch.setenv("WORK_SECRET", ep.secret_key)
    code = main(["credentials", "work:", "--json", "--config", str(config)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["AccessKeyId"].startswith("ASIA")


def test_seed_scenario_from_the_how_to(moto: MotoAuth, tmp_path, capsys, monkeypatch):
    """Temporary credentials from STS; key and secret as usual, the token as the request
    header; a local folder uploaded. Then the same with fssync fetching them itself."""
    ep = moto.endpoint
    assert main(["credentials", "--json", *sts_args(moto)]) == 0
    handed_out = json.loads(capsys.readouterr().out)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", handed_out["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", handed_out["SecretAccessKey"])
    token = handed_out["SessionToken"]
    make_tree(tmp_path / "photos", {"2024/a.jpg": b"a" * 10, "2024/b.jpg": b"b" * 20})
    bucket = ep.make_bucket()
    url = f"s3://{bucket}/photos"
    header = ["--header", f"x-amz-security-token:{token}"]
    assert main(["sync", str(tmp_path / "photos"), url, "--endpoint-url", ep.url, *header]) == 0
    keys = {o["Key"] for o in ep.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"photos/2024/a.jpg", "photos/2024/b.jpg"}

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ep.access_key)  # now the long-term keys
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ep.secret_key)
    make_tree(tmp_path / "photos", {"2024/c.jpg": b"c"})
    capsys.readouterr()
    code = main(
        ["sync", str(tmp_path / "photos"), url, "--endpoint-url", ep.url, "-v"]
        + ["--role-arn", moto.role_arn, "--sts-endpoint-url", ep.url]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "+ 2024/c.jpg" in out and "credentials (initial)" in err
    assert "from environment variable AWS_ACCESS_KEY_ID" in err
    assert token not in out + err and ep.secret_key not in out + err
