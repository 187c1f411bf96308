"""--sse-c / --sse-c-key: objects encrypted with the user's own key, on SeaweedFS (which, like
AWS, refuses to serve such an object without the key), both S3 paths: single-part and multipart
uploads, downloads, a no-op re-run, server-side backups, and the key never printed."""

from __future__ import annotations

import base64
import os

import botocore.exceptions
import pytest

import fssync
from fssync.cli.main import main

from .helpers import make_tree, read_tree, s3_args, s3_opts

MIB = 1 << 20
KEY = os.urandom(32)
KEY_ARG = "base64:" + base64.b64encode(KEY).decode()
pytestmark = pytest.mark.usefixtures("s3_backend")


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def _get(client, name: str, key: str, with_key: bool) -> bytes:
    extra = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY} if with_key else {}
    return client.get_object(Bucket=name, Key=key, **extra)["Body"].read()


def test_upload_download_and_rerun_with_a_customer_key(seaweed, tmp_path, capsys):
    name = seaweed.make_bucket()
    client = seaweed.client()
    files = {"small.txt": b"secret words", "big.bin": os.urandom(17 * MIB)}
    make_tree(tmp_path / "src", files)
    url = f"s3://{name}/enc"
    flags = ["--sse-c", "--sse-c-key", KEY_ARG, *s3_args(seaweed)]
    assert main(["sync", str(tmp_path / "src"), url, *flags, "-vv", "--json"]) == 0
    printed = capsys.readouterr()
    key_b64 = base64.b64encode(KEY).decode()
    assert key_b64 not in printed.out + printed.err  # the key is a secret
    for key, data in files.items():
        assert _get(client, name, f"enc/{key}", with_key=True) == data
        with pytest.raises(botocore.exceptions.ClientError):
            _get(client, name, f"enc/{key}", with_key=False)  # really encrypted with the key
        head = client.head_object(
            Bucket=name, Key=f"enc/{key}", SSECustomerAlgorithm="AES256", SSECustomerKey=KEY
        )
        assert head["SSECustomerAlgorithm"] == "AES256"
    again = fssync.sync(str(tmp_path / "src"), url, sse_c_key=KEY_ARG, **s3_opts(seaweed))
    assert again.ok and again.copied + again.updated == 0
    assert main(["sync", url, str(tmp_path / "back"), *flags]) == 0
    assert read_tree(tmp_path / "back") == files
    assert main(["check", str(tmp_path / "src"), url, *flags]) == 0
    # without the key the objects cannot be read back: one line, a failure exit, no traceback
    code = main(["sync", url, str(tmp_path / "nokey"), *s3_args(seaweed)])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err, err


def test_backups_are_copied_server_side_with_the_key(seaweed, tmp_path):
    name = seaweed.make_bucket()
    client = seaweed.client()
    make_tree(tmp_path / "src", {"a.txt": b"first"})
    url = f"s3://{name}/live"
    opts = {**s3_opts(seaweed), "sse_c_key": KEY_ARG}
    assert fssync.sync(str(tmp_path / "src"), url, **opts).ok
    make_tree(tmp_path / "src", {"a.txt": b"second version"}, mtime=1_900_000_000.0)
    report = fssync.sync(str(tmp_path / "src"), url, backup_dir=f"s3://{name}/old", **opts)
    assert report.ok and report.updated == 1
    assert _get(client, name, "old/a.txt", with_key=True) == b"first"
    assert _get(client, name, "live/a.txt", with_key=True) == b"second version"


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--sse-c"], "give --sse-c-key"),
        (["--sse-c-key", "too short"], "32 bytes"),
        (["--sse-c-key", "base64:***"], "not valid base64"),
        (["--sse-c", "AES128", "--sse-c-key", "k" * 32], "AES256 only"),
        (["--sse", "--sse-c-key", "k" * 32], "exclude each other"),
        (["--sse-c-key", "fileb:///nonexistent/key"], "cannot read the key file"),
    ],
)
def test_bad_keys_are_refused_before_any_request(seaweed, tmp_path, capsys, flags, says):
    make_tree(tmp_path / "src", {"a": b"a"})
    url = f"s3://{seaweed.make_bucket()}/p"
    assert main(["sync", str(tmp_path / "src"), url, *flags, *s3_args(seaweed)]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_a_key_file_holds_raw_bytes(seaweed, tmp_path):
    name = seaweed.make_bucket()
    (tmp_path / "key.bin").write_bytes(KEY)
    make_tree(tmp_path / "src", {"a.txt": b"alpha"})
    opts = {**s3_opts(seaweed), "sse_c_key": f"fileb://{tmp_path / 'key.bin'}"}
    assert fssync.sync(str(tmp_path / "src"), f"s3://{name}/p", **opts).ok
    assert _get(seaweed.client(), name, "p/a.txt", with_key=True) == b"alpha"
