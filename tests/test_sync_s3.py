"""End to end against real S3 servers (moto with auth checks, and SeaweedFS), every direction."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

import fssync
from fssync.cli.main import main
from fssync.testing.servers import S3Endpoint

from .helpers import SAMPLE, make_tree, mtimes, read_tree
from .helpers import s3_args as cli_opts
from .helpers import s3_opts as opts

# Each test runs on both S3 request paths (the fast plugin and s3fs).
pytestmark = pytest.mark.usefixtures("s3_backend")


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def bucket_objects(ep: S3Endpoint, name: str, prefix: str = "") -> dict[str, bytes]:
    client = ep.client()
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"][len(prefix) :]
            out[key] = client.get_object(Bucket=name, Key=obj["Key"])["Body"].read()
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    make_tree(root, SAMPLE)
    return root


def test_upload_rerun_download_roundtrip(bucket, tree, tmp_path):
    ep, name = bucket
    url = f"s3://{name}/data"
    up = fssync.sync(str(tree), url, **opts(ep))
    assert (up.copied, up.failed) == (len(SAMPLE), 0)
    assert bucket_objects(ep, name, "data/") == SAMPLE
    head = ep.client().head_object(Bucket=name, Key="data/a.txt")
    assert float(head["Metadata"]["mtime"]) == pytest.approx(1_700_000_000.0)
    assert head["ContentType"] == "text/plain"

    again = fssync.sync(str(tree), url, **opts(ep))
    assert again.copied + again.updated == 0 and again.skipped == len(SAMPLE)

    back = tmp_path / "back"
    down = fssync.sync(url, str(back), **opts(ep))
    assert down.copied == len(SAMPLE)
    assert read_tree(back) == SAMPLE
    assert mtimes(back) == pytest.approx(mtimes(tree), abs=1e-3)
    down_again = fssync.sync(url, str(back), **opts(ep))
    assert down_again.copied + down_again.updated == 0


def test_download_without_recorded_state_uses_object_metadata(bucket, tree, tmp_path, monkeypatch):
    ep, name = bucket
    fssync.sync(str(tree), f"s3://{name}/p", **opts(ep))
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "fresh-state"))  # another machine
    back = tmp_path / "back"
    fssync.sync(f"s3://{name}/p", str(back), **opts(ep))
    assert mtimes(back) == pytest.approx(mtimes(tree), abs=1e-3)  # from x-amz-meta-mtime on GET
    again = fssync.sync(f"s3://{name}/p", str(back), **opts(ep))
    assert again.copied + again.updated == 0


def test_upload_is_noop_without_state_too(bucket, tree):
    ep, name = bucket
    fssync.sync(str(tree), f"s3://{name}/p", state=False, **opts(ep))
    again = fssync.sync(str(tree), f"s3://{name}/p", state=False, **opts(ep))
    assert again.copied + again.updated == 0


def test_edit_and_delete_on_s3(bucket, tree):
    ep, name = bucket
    url = f"s3://{name}/x"
    fssync.sync(str(tree), url, **opts(ep))
    (tree / "a.txt").write_bytes(b"ALPHA\n")  # same size, later mtime
    os.utime(tree / "a.txt", (1_800_000_000, 1_800_000_000))
    (tree / "dir" / "b.txt").unlink()
    report = fssync.sync(str(tree), url, delete=True, **opts(ep))
    assert (report.copied, report.updated, report.deleted) == (0, 1, 1)
    expected = {k: v for k, v in SAMPLE.items() if k != "dir/b.txt"} | {"a.txt": b"ALPHA\n"}
    assert bucket_objects(ep, name, "x/") == expected


def test_s3_to_s3_server_side_copy(bucket, tree):
    ep, name = bucket
    fssync.sync(str(tree), f"s3://{name}/one", **opts(ep))
    report = fssync.sync(f"s3://{name}/one", f"s3://{name}/two", **opts(ep))
    assert report.copied == len(SAMPLE)
    assert bucket_objects(ep, name, "two/") == SAMPLE
    meta = ep.client().head_object(Bucket=name, Key="two/a.txt")["Metadata"]
    assert float(meta["mtime"]) == pytest.approx(1_700_000_000.0)
    again = fssync.sync(f"s3://{name}/one", f"s3://{name}/two", **opts(ep))
    assert again.copied + again.updated == 0


def test_multipart_upload_and_ranged_download(bucket, tmp_path):
    ep, name = bucket
    src = tmp_path / "big"
    data = os.urandom(20 << 20)
    make_tree(src, {"big.bin": data})
    report = fssync.sync(str(src), f"s3://{name}/big", **opts(ep))
    assert report.copied == 1 and report.bytes == len(data)
    etag = ep.client().head_object(Bucket=name, Key="big/big.bin")["ETag"].strip('"')
    assert etag.endswith("-3")  # 8 MiB parts
    back = tmp_path / "back"
    fssync.sync(f"s3://{name}/big", str(back), **opts(ep))
    assert (back / "big.bin").read_bytes() == data
    assert not ep.client().list_multipart_uploads(Bucket=name).get("Uploads")


def test_folder_markers_are_not_files(bucket, tmp_path):
    ep, name = bucket
    client = ep.client()
    client.put_object(Bucket=name, Key="m/folder/", Body=b"")
    client.put_object(Bucket=name, Key="m/folder/file.txt", Body=b"hello")
    plan = fssync.plan(f"s3://{name}/m", str(tmp_path / "out"), **opts(ep))
    assert [a.key for a in plan.actions] == ["folder/file.txt"]


def test_dry_run_writes_nothing_to_s3(bucket, tree):
    ep, name = bucket
    report = fssync.sync(str(tree), f"s3://{name}/d", dry_run=True, **opts(ep))
    assert report.dry_run and report.copied == 0
    assert bucket_objects(ep, name) == {}


def test_cli_upload_json(bucket, tree, capsys):
    ep, name = bucket
    code = main(["sync", str(tree), f"s3://{name}/cli", "--json", *cli_opts(ep)])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["copied"] == len(SAMPLE) and summary["failed"] == 0
    assert ep.secret_key not in out + err


def test_cli_ls(bucket, tree, capsys):
    ep, name = bucket
    fssync.sync(str(tree), f"s3://{name}/ls", **opts(ep))
    assert main(["ls", "-r", "--json", f"s3://{name}/ls", *cli_opts(ep)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["key"]: r["size"] for r in rows} == {k: len(v) for k, v in SAMPLE.items()}


def test_vv_says_which_s3_path_serves_the_run(bucket, tree, capsys, s3_backend, monkeypatch):
    ep, name = bucket
    assert main(["sync", str(tree), f"s3://{name}/vv", "-vv", *cli_opts(ep)]) == 0
    err = capsys.readouterr().err
    [line] = [x for x in err.splitlines() if "S3 requests go through" in x]
    path = "the fast path" if s3_backend == "fast" else "s3fs"
    assert line == (
        f"fssync.run: s3://{name}/vv: S3 requests go through {path} "
        + ("(fssync's own signed requests; --s3-backend fast)" if path != "s3fs" else "")
        + ("(--s3-backend s3fs)" if path == "s3fs" else "")
    )
    monkeypatch.delenv("FSSYNC_S3_BACKEND")  # auto: the fast path serves a plain endpoint
    assert main(["sync", str(tree), f"s3://{name}/vv", "-vv", *cli_opts(ep)]) == 0
    err = capsys.readouterr().err
    assert f"s3://{name}/vv: S3 requests go through the fast path" in err
    assert "--s3-backend auto)" in err


@pytest.mark.parametrize("record", ["state", "metadata"])
def test_cli_ls_shows_the_stored_mtime_not_the_upload_time(
    bucket, tree, capsys, tmp_path, monkeypatch, record
):
    ep, name = bucket
    fssync.sync(str(tree), f"s3://{name}/lt", **opts(ep))
    if record == "metadata":  # another machine: no local record, the object's metadata tells
        monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "other-state"))
    assert main(["ls", f"s3://{name}/lt", *cli_opts(ep)]) == 0
    rows = capsys.readouterr().out.splitlines()
    shown = {line.split()[-1]: line for line in rows}
    assert "2023-11-14 22:13:20  a.txt" in shown["a.txt"]  # make_tree's mtime, 1_700_000_000
    assert "DIR" in shown["dir/"]
    assert main(["ls", "-r", "--json", f"s3://{name}/lt", *cli_opts(ep)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["mtime"] for r in rows} == {1_700_000_000.0}
    assert all(r["modified"] > 1_700_000_000.0 for r in rows)  # the upload time, kept apart


# --- failures that stop the run: exit code 4, one line, nothing written -------------------------


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def test_missing_bucket(s3, tree, capsys):
    code, err = run_cli(capsys, "sync", str(tree), "s3://no-such-bucket-fssync/x", *cli_opts(s3))
    assert code == 4 and "bucket does not exist" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_wrong_secret_is_rejected(bucket, tree, capsys):
    ep, name = bucket
    args = cli_opts(ep)
    args[args.index(ep.secret_key)] = "wrong-secret-0000000000000000"
    code, err = run_cli(capsys, "sync", str(tree), f"s3://{name}/x", "--delete", *args)
    assert code == 4 and ("signature" in err or "access key" in err), err
    assert "wrong-secret-0000000000000000" not in err
    assert bucket_objects(ep, name) == {}


def test_unknown_key_is_rejected(bucket, tree, capsys):
    ep, name = bucket
    args = cli_opts(ep)
    args[args.index(ep.access_key)] = "AKIAUNKNOWNKEY000000"
    code, err = run_cli(capsys, "sync", str(tree), f"s3://{name}/x", *args)
    assert code == 4, err
    assert bucket_objects(ep, name) == {}


def test_refused_connection(tree, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, err = run_cli(
        capsys,
        "sync",
        str(tree),
        "s3://bucket/x",
        "--endpoint-url",
        f"http://127.0.0.1:{port}",
        "--access-key-id",
        "AKIAX",
        "--secret-access-key",
        "secretsecret",
        "--retries",
        "0",
    )
    assert code == 4 and "cannot connect" in err
    assert len(err.strip().splitlines()) == 1


def test_endpoint_and_keys_from_the_environment_only(s3_env, tree, capsys):
    name = s3_env.make_bucket()
    code = main(["sync", str(tree), f"s3://{name}/env"])  # AWS_ENDPOINT_URL and keys from env
    assert code == 0, capsys.readouterr().err
    assert bucket_objects(s3_env, name, "env/") == SAMPLE


def test_large_download_uses_parallel_ranges(bucket, tmp_path, monkeypatch):
    from fssync.transfer import ranges

    monkeypatch.setattr(ranges, "RANGE_THRESHOLD", 4 << 20)
    monkeypatch.setattr(ranges, "RANGE_SIZE", 1 << 20)
    ep, name = bucket
    data = os.urandom((6 << 20) + 12345)
    ep.client().put_object(
        Bucket=name, Key="r/big.bin", Body=data, Metadata={"mtime": "1600000000.5"}
    )
    back = tmp_path / "back"
    report = fssync.sync(f"s3://{name}/r", str(back), **opts(ep))
    assert report.copied == 1
    assert (back / "big.bin").read_bytes() == data
    assert (back / "big.bin").stat().st_mtime == pytest.approx(1600000000.5)
