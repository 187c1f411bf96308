"""--multipart-threshold and --multipart-chunk-size (the AWS CLI's multipart settings): on both
S3 paths an upload is cut as asked, the parts are recorded so -c can check them, a remote of
the config file carries the settings, and values S3 cannot take are refused before any request."""

from __future__ import annotations

import os

import pytest

import fssync
from fssync.cli.main import main

from .helpers import make_tree, read_tree, s3_args, s3_opts

MIB = 1 << 20
pytestmark = pytest.mark.usefixtures("s3_backend")


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def _parts(client, name: str, key: str) -> tuple[int, str | None]:
    head = client.head_object(Bucket=name, Key=key)
    etag = head["ETag"].strip('"')
    count = int(etag.rsplit("-", 1)[1]) if "-" in etag else 1
    return count, head["Metadata"].get("fssync-part-size")


def test_files_are_cut_as_asked_and_checked_back(moto, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    files = {"six.bin": os.urandom(6 * MIB), "eleven.bin": os.urandom(11 * MIB)}
    make_tree(tmp_path / "src", files)
    url = f"s3://{name}/p"
    flags = ["--multipart-threshold", "5M", "--multipart-chunk-size", "5M"]
    assert main(["sync", str(tmp_path / "src"), url, *flags, *s3_args(ep)]) == 0
    client = ep.client()
    assert _parts(client, name, "p/six.bin") == (2, str(5 * MIB))
    assert _parts(client, name, "p/eleven.bin") == (3, str(5 * MIB))
    # The part size is recorded, so a checksum compare can prove these multipart objects equal.
    assert main(["check", str(tmp_path / "src"), url, "-c", *s3_args(ep)]) == 0
    report = fssync.sync(url, str(tmp_path / "back"), **s3_opts(ep))
    assert report.ok and read_tree(tmp_path / "back") == files


def test_by_default_a_six_mib_file_is_one_put(moto, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    make_tree(tmp_path / "src", {"six.bin": os.urandom(6 * MIB)})
    assert fssync.sync(str(tmp_path / "src"), f"s3://{name}/p", **s3_opts(ep)).ok
    assert _parts(ep.client(), name, "p/six.bin") == (1, None)
    # and from the Python API with the same names as the flags
    make_tree(tmp_path / "src2", {"six.bin": os.urandom(6 * MIB)})
    report = fssync.sync(
        str(tmp_path / "src2"), f"s3://{name}/q", multipart_threshold="1M", **s3_opts(ep)
    )
    assert report.ok and _parts(ep.client(), name, "q/six.bin") == (1, str(8 * MIB))


def test_a_remote_carries_the_part_size(moto, tmp_path, monkeypatch):
    ep = moto.endpoint
    name = ep.make_bucket()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[remotes.big]
type = "s3"
bucket = "{name}"
endpoint-url = "{ep.url}"
region = "{ep.region}"
multipart-threshold = "5M"
multipart-chunk-size = "6M"
"""
    )
    monkeypatch.setenv("FSSYNC_CONFIG", str(config))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ep.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ep.secret_key)
    make_tree(tmp_path / "s", {"seven.bin": os.urandom(7 * MIB)})
    assert main(["sync", str(tmp_path / "s"), "big:x"]) == 0
    assert _parts(ep.client(), name, "x/seven.bin") == (2, str(6 * MIB))


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--multipart-chunk-size", "4M"], "between 5 MiB and 5 GiB"),
        (["--multipart-chunk-size", "6G"], "between 5 MiB and 5 GiB"),
        (["--multipart-threshold", "6G"], "between 1 byte and 5 GiB"),
        (["--multipart-threshold", "big"], "not a size"),
    ],
)
def test_values_s3_cannot_take_are_refused(moto, tmp_path, capsys, flags, says):
    ep = moto.endpoint
    make_tree(tmp_path / "src", {"a": b"a"})
    code = main(["sync", str(tmp_path / "src"), f"s3://{ep.make_bucket()}/p", *flags, *s3_args(ep)])
    err = capsys.readouterr().err
    assert code == 2 and says in err and err.count("\n") == 1
