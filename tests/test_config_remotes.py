"""Named remotes from the config file, and the precedence rule command line > environment >
config file > defaults, as a table over the plugins' own answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import fssync
from fssync.cli.main import main
from fssync.hooks.manager import make_hooks
from fssync.settings.config import Config
from fssync.settings.location import parse
from fssync.settings.options import config_from_api, plugin_option_names
from fssync.settings.remotes import load_remotes
from fssync.testing.servers import MotoAuth

from .helpers import make_tree

REMOTE = """
[remotes.archive]
type = "s3"
bucket = "photos-archive"
prefix = "backup"
endpoint-url = "http://file.example:9000"
region = "file-region-1"
"""


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture(scope="module")
def hooks():
    return make_hooks()


def resolve(
    hooks, tmp_path: Path, toml: str, env: dict[str, str], **cli: Any
) -> tuple[fssync.Location, Config]:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    base = config_from_api(
        hooks, "sync", "archive:2024", str(tmp_path), {"config": str(path), **cli}
    )
    config = Config(command="sync", src=base.src, dst=base.dst, options=base.options, environ=env)
    location = parse(config.src, load_remotes(config, plugin_option_names(hooks)))
    return location, config


def options_of(hooks, tmp_path, toml, env, **cli) -> dict[str, Any]:
    location, config = resolve(hooks, tmp_path, toml, env, **cli)
    return hooks.storage_options(location, config)


# (command line, environment, expected endpoint): the file always says file.example
ENDPOINTS = [
    ({}, {}, "http://file.example:9000"),
    ({}, {"AWS_ENDPOINT_URL": "http://env.example"}, "http://env.example"),
    (
        {},
        {"AWS_ENDPOINT_URL": "http://env.example", "AWS_ENDPOINT_URL_S3": "http://s3env.example"},
        "http://s3env.example",
    ),
    ({"endpoint_url": "http://cli.example"}, {}, "http://cli.example"),
    (
        {"endpoint_url": "http://cli.example"},
        {"AWS_ENDPOINT_URL": "http://env.example"},
        "http://cli.example",
    ),
]


@pytest.mark.parametrize(("cli", "env", "expected"), ENDPOINTS)
def test_endpoint_precedence(hooks, tmp_path, cli, env, expected):
    assert options_of(hooks, tmp_path, REMOTE, env, **cli)["endpoint_url"] == expected


REGIONS = [
    ({}, {}, "file-region-1"),
    ({}, {"AWS_DEFAULT_REGION": "default-env"}, "default-env"),
    ({}, {"AWS_DEFAULT_REGION": "default-env", "AWS_REGION": "env-region"}, "env-region"),
    ({"region": "cli-region"}, {"AWS_REGION": "env-region"}, "cli-region"),
]


@pytest.mark.parametrize(("cli", "env", "expected"), REGIONS)
def test_region_precedence(hooks, tmp_path, cli, env, expected):
    opts = options_of(hooks, tmp_path, REMOTE, env, **cli)
    assert opts["client_kwargs"]["region_name"] == expected


def test_defaults_when_nothing_is_set(hooks, tmp_path):
    toml = '[remotes.archive]\nbucket = "photos-archive"\n'
    opts = options_of(hooks, tmp_path, toml, {})
    assert opts == {}  # no endpoint, region or credentials: the SDK's defaults apply


FILE_KEYS = REMOTE + 'access-key-id = "AKIAFILE"\nsecret-access-key-env = "ARCHIVE_SECRET"\n'
ENV_KEYS = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret"}
CLI_KEYS = {"access_key_id": "AKIACLI", "secret_access_key": "cli-secret"}

# (config file, environment, command line) -> (method, key or profile, token)
CREDENTIALS = [
    pytest.param(
        FILE_KEYS, {"ARCHIVE_SECRET": "file-secret"}, {}, ("keys", "AKIAFILE", None), id="file"
    ),
    pytest.param(
        FILE_KEYS, {"ARCHIVE_SECRET": "s", **ENV_KEYS}, {}, ("keys", "AKIAENV", None), id="env>file"
    ),
    pytest.param(FILE_KEYS, ENV_KEYS, CLI_KEYS, ("keys", "AKIACLI", None), id="cli>env"),
    pytest.param(
        REMOTE,
        {**ENV_KEYS, "AWS_SESSION_TOKEN": "stale-env-token"},
        CLI_KEYS,
        ("keys", "AKIACLI", None),
        id="env-token-not-on-cli-keys",
    ),
    pytest.param(
        REMOTE,
        ENV_KEYS,
        {"session_token": "cli-token"},
        ("keys", "AKIAENV", "cli-token"),
        id="cli-token-on-env-keys",
    ),
    pytest.param(
        REMOTE + 'profile = "archive"\n',
        ENV_KEYS,
        {},
        ("keys", "AKIAENV", None),
        id="env-keys>file-profile",
    ),
    pytest.param(
        REMOTE + 'profile = "archive"\n',
        {},
        {},
        ("profile", "archive", None),
        id="file-profile",
    ),
    pytest.param(
        REMOTE,
        {**ENV_KEYS, "AWS_PROFILE": "p"},
        {},
        ("keys", "AKIAENV", None),
        id="env-keys>env-profile",
    ),
    pytest.param(
        REMOTE, ENV_KEYS, {"profile": "cli"}, ("profile", "cli", None), id="cli-profile>env-keys"
    ),
    pytest.param(
        REMOTE + "anonymous = true\n", {}, {}, ("anonymous", None, None), id="file-anonymous"
    ),
    pytest.param(
        REMOTE + "anonymous = true\n",
        ENV_KEYS,
        {},
        ("keys", "AKIAENV", None),
        id="env>file-anonymous",
    ),
    pytest.param(REMOTE, {}, {}, ("default", None, None), id="default-chain"),
]


@pytest.mark.parametrize(("toml", "env", "cli", "expected"), CREDENTIALS)
def test_credential_precedence(hooks, tmp_path, toml, env, cli, expected):
    location, config = resolve(hooks, tmp_path, toml, env, **cli)
    auth = fssync.resolve_static(config, location)
    method, who, token = expected
    assert auth.method == method
    assert (auth.profile if method == "profile" else auth.access_key_id) == who
    assert auth.session_token == token
    opts = hooks.storage_options(location, config)
    if method == "keys":
        assert (opts["key"], opts.get("token")) == (who, token)
    assert repr(auth).count("secret") <= 1 and "file-secret" not in repr(auth)


def test_sts_settings_and_headers_from_the_file(hooks, tmp_path):
    from fssync_plugins import auth_sts

    toml = REMOTE + (
        'role-arn = "arn:aws:iam::1:role/r"\nsts-duration = 1800\n'
        'header = ["x-amz-request-payer:requester"]\n'
        'upload-header = ["x-amz-storage-class:STANDARD_IA", "Cache-Control:no-cache"]\n'
    )
    location, config = resolve(hooks, tmp_path, toml, {}, **CLI_KEYS)
    provider = auth_sts.provider_for(location, config)
    assert provider is not None and provider.request.duration == 1800
    assert provider.request.role_arn == "arn:aws:iam::1:role/r"
    location, config = resolve(hooks, tmp_path, toml, {}, sts_duration=7200, **CLI_KEYS)
    assert auth_sts.provider_for(location, config).request.duration == 7200  # CLI wins

    from fssync_plugins import s3

    location, config = resolve(
        hooks, tmp_path, toml, {}, upload_header=["Cache-Control:max-age=5"], **CLI_KEYS
    )
    every, upload = s3.headers_for(config, location)
    assert {h.name: h.value for h in every} == {"x-amz-request-payer": "requester"}
    assert {h.name.lower(): h.value for h in upload} == {
        "x-amz-storage-class": "STANDARD_IA",
        "cache-control": "max-age=5",  # the command line replaced the file's header
    }


def test_remote_root_joins_bucket_prefix_and_path(tmp_path, hooks):
    location, _ = resolve(hooks, tmp_path, REMOTE, {})
    assert (location.protocol, location.root) == ("s3", "photos-archive/backup/2024")
    assert location.url == "archive:2024" and location.remote is not None
    assert "file.example" not in repr(location.remote)  # settings stay out of reprs


# --- the config file end to end and its errors ---------------------------------------------


def test_sync_to_a_named_remote(moto: MotoAuth, tmp_path, capsys, monkeypatch):
    ep = moto.endpoint
    bucket = ep.make_bucket()
    config = tmp_path / "conf" / "fssync" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f"""
[remotes.archive]
type = "s3"
bucket = "{bucket}"
prefix = "backup"
endpoint-url = "{ep.url}"
region = "{ep.region}"
access-key-id-env = "ARCHIVE_KEY"
secret-access-key-env = "ARCHIVE_SECRET"
"""
    )
    monkeypatch.setenv("ARCHIVE_KEY", ep.access_key)
    monkeypatch.setenv("ARCHIVE_SECRET", ep.secret_key)
    make_tree(tmp_path / "photos", {"a.jpg": b"jpeg", "2024/b.jpg": b"jpeg2"})
    # found at the default user path ($XDG_CONFIG_HOME/fssync/config.toml)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "conf"))
    assert main(["sync", str(tmp_path / "photos"), "archive:photos"]) == 0
    keys = {o["Key"] for o in ep.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"backup/photos/a.jpg", "backup/photos/2024/b.jpg"}
    # FSSYNC_CONFIG names it too; `ls` resolves remotes the same way
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("FSSYNC_CONFIG", str(config))
    capsys.readouterr()
    assert main(["ls", "-r", "archive:photos"]) == 0
    out, err = capsys.readouterr()
    assert "2024/b.jpg" in out and ep.secret_key not in out + err


@pytest.mark.parametrize(
    ("toml", "target", "words"),
    [
        (REMOTE, "nosuch:x", "unknown remote 'nosuch'"),
        ("[remotes.archive\n", "archive:x", "not valid TOML"),
        (REMOTE + 'endpiont = "x"\n', "archive:x", "unknown setting 'endpiont'"),
        (
            REMOTE + 'secret-access-key-env = "UNSET_VAR_FSSYNC"\naccess-key-id = "A"\n',
            "archive:x",
            "UNSET_VAR_FSSYNC",
        ),
        ('[remotes.archive]\ntype = "s3"\n', "archive:x", "needs bucket"),
        ("[other]\n", "archive:x", "unknown table"),
        (REMOTE.replace("http://file.example:9000", "ftp://x"), "archive:x", "http://"),
    ],
)
def test_config_file_errors_are_usage_errors(tmp_path, capsys, toml, target, words):
    config = tmp_path / "c.toml"
    config.write_text(toml)
    make_tree(tmp_path / "src", {"a": b"a"})
    code = main(["sync", str(tmp_path / "src"), target, "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert words in err and len(err.strip().splitlines()) == 1


def test_missing_named_config_file(tmp_path, capsys, monkeypatch):
    make_tree(tmp_path / "src", {"a": b"a"})
    monkeypatch.setenv("FSSYNC_CONFIG", str(tmp_path / "missing.toml"))
    code = main(["sync", str(tmp_path / "src"), str(tmp_path / "dst")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_local_path_with_a_colon_is_written_with_dot_slash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_tree(tmp_path / "src", {"a": b"a"})
    report = fssync.sync("src", "./notes:2024")
    assert report.copied == 1 and (tmp_path / "notes:2024" / "a").exists()
    with pytest.raises(fssync.LocationError, match="write ./notes:2024"):
        fssync.sync("src", "notes:2024")


def test_unrelated_aws_variables_do_not_break_a_local_sync(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a-secret-without-its-key")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "not-a-url")
    make_tree(tmp_path / "src", {"a": b"a"})
    assert fssync.sync(str(tmp_path / "src"), str(tmp_path / "dst")).copied == 1
    with pytest.raises(fssync.UsageError, match="AWS_SECRET_ACCESS_KEY is set"):
        fssync.plan(str(tmp_path / "src"), "s3://bucket/x")
