"""Messages that used to mislead: each case ends with one line that names the real cause and the
documented exit code, never a library's exception name, and never a value that may be a
secret."""

from __future__ import annotations

import socket

import pytest

from fssync.cli.main import main
from fssync.testing.servers import MotoAuth, S3Endpoint

from .helpers import make_tree


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def src(tmp_path):
    make_tree(tmp_path / "src", {"a.txt": b"alpha"})
    return tmp_path / "src"


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("command", ["sync", "credentials"])
def test_a_malformed_role_arn_is_a_usage_error(command, src, tmp_path, capsys):
    sides = [str(src), "s3://bucket/x"] if command == "sync" else []
    keys = ["--access-key-id", "AKIAEXAMPLE", "--secret-access-key", "s3cr3t-value"]
    code = main([command, *sides, "--role-arn", "my-role", *keys, "--region", "us-east-1"])
    err = one_line(capsys)
    assert code == 2 and "'my-role' (--role-arn) is not a role ARN" in err, err
    assert "s3cr3t-value" not in err


@pytest.mark.usefixtures("s3_backend")
def test_keys_from_sts_refused_by_the_store_name_sts(
    moto: MotoAuth, seaweed: S3Endpoint, src, capsys
):
    """STS on one server, the store on another that never issued those keys: the advice is about
    the STS endpoint, not about --access-key-id (which the user did not give for the store)."""
    bucket = seaweed.make_bucket()
    code = main(
        [
            "sync",
            str(src),
            f"s3://{bucket}/x",
            "--endpoint-url",
            seaweed.url,
            "--region",
            seaweed.region,
            "--sts-endpoint-url",
            moto.endpoint.url,
            "--role-arn",
            moto.role_arn,
            "--access-key-id",
            moto.endpoint.access_key,
            "--secret-access-key",
            moto.endpoint.secret_key,
        ]
    )
    err = one_line(capsys)
    assert code == 4, err
    assert "the store refused the temporary credentials fetched with STS AssumeRole" in err
    assert "--sts-endpoint-url" in err and "check --access-key-id" not in err


@pytest.fixture
def no_such_host(monkeypatch):
    """The resolver answers 'no such name' for one host name (no query leaves the machine)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "no-such-host.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "http://no-such-host.invalid:9000"


@pytest.mark.usefixtures("s3_backend")
def test_an_unresolvable_host_says_so(no_such_host, src, capsys):
    code = main(
        [
            "sync",
            str(src),
            "s3://bucket/x",
            "--endpoint-url",
            no_such_host,
            "--access-key-id",
            "AKIAEXAMPLE",
            "--secret-access-key",
            "s3cr3t-value",
            "--region",
            "us-east-1",
            "--retries",
            "0",
        ]
    )
    err = one_line(capsys)
    assert code == 4 and "its name does not resolve" in err, err
    assert "gaierror" not in err


@pytest.mark.usefixtures("s3_backend")
def test_a_missing_profile_says_so(src, tmp_path, capsys, monkeypatch):
    config = tmp_path / "aws-config"
    config.write_text("[profile other]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    code = main(["sync", str(src), "s3://bucket/x", "--profile", "nope", "--region", "us-east-1"])
    err = one_line(capsys)
    assert code == 2 and "profile 'nope' is not in the AWS config" in err, err
    assert "ProfileNotFound" not in err


@pytest.mark.parametrize(
    ("extra", "shown", "hidden"),
    [
        (["--secret-acess-key", "s3cr3t-value"], "--secret-acess-key and the value after it", None),
        (["--secret-acess-key=s3cr3t-value"], "--secret-acess-key (with a value, not shown)", None),
        (["s3cr3t-value"], "word 4 of the command line", None),
    ],
)
def test_unrecognized_arguments_are_named_without_values(
    extra, shown, hidden, src, tmp_path, capsys
):
    code = main(["sync", str(src), str(tmp_path / "dst"), *extra])
    err = one_line(capsys)
    assert code == 2 and shown in err, err
    assert "s3cr3t-value" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["sync", "{src}", "{dst}", "--debug"],
        ["--debug", "sync", "{src}", "{dst}"],
        ["sync", "--debug", "{src}", "{dst}"],
    ],
)
def test_debug_goes_before_or_after_the_command(argv, src, tmp_path, capsys):
    argv = [a.format(src=src, dst=tmp_path / "dst") for a in argv]
    assert main(argv) == 0, capsys.readouterr().err
    assert (tmp_path / "dst" / "a.txt").read_bytes() == b"alpha"


def test_debug_after_the_command_really_debugs(tmp_path):
    from fssync.cli.main import build_parser

    parser = build_parser()
    assert parser.parse_args(["sync", "a", "b", "--debug"]).debug is True
    assert parser.parse_args(["--debug", "sync", "a", "b"]).debug is True
    assert parser.parse_args(["sync", "a", "b"]).debug is False


def test_version_after_the_command(capsys):
    assert main(["sync", "--version"]) == 0
    assert capsys.readouterr().out.startswith("fssync ")
