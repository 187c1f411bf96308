"""``--executor dask``: runs spread over a Dask cluster of worker processes on 127.0.0.1, against
SeaweedFS and local folders, on both S3 request paths; the workers list and plan their shards
(``--list-on workers``, the default) or only transfer (``--list-on driver``). Each test runs a
few hundred files, in batches small enough that the runs still make as many shards and batches
(so tasks) as a large run would, and one runs the issue's 20,000 (local -> S3 -> S3); the
speed figures are the bench's (``python3 -m bench.dask``)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import fssync
from fssync.cli.main import main
from fssync.execute.executors import Sealed
from fssync.hooks.manager import registered
from fssync.model import Event
from fssync.testing.servers import S3Endpoint
from fssync_plugins import dask as dask_plugin

from .helpers import make_tree, read_tree, s3_args, s3_opts

distributed = pytest.importorskip("distributed")

FILES = 600  # 30 folders of 20 files; BATCH keeps 8 batches of the whole run
BATCH = 80


def local_cluster(state: Path) -> distributed.LocalCluster:
    """Two single-threaded worker processes and their scheduler, loopback only, no dashboard;
    the workers keep their state (multipart journal) in `state`, as they see the environment
    of the moment they start."""
    before = os.environ.get("FSSYNC_STATE_DIR")
    os.environ["FSSYNC_STATE_DIR"] = str(state)
    try:
        return distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            host="127.0.0.1",
        )
    finally:
        if before is None:
            del os.environ["FSSYNC_STATE_DIR"]
        else:
            os.environ["FSSYNC_STATE_DIR"] = before


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[distributed.LocalCluster]:
    with local_cluster(tmp_path_factory.mktemp("workers-state")) as made:
        yield made


@pytest.fixture(autouse=True)
def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    with registered(dask_plugin):  # the plugin's entry point is not installed in a checkout
        yield


def tree(n: int = FILES) -> dict[str, bytes]:
    """Small files of many sizes (0 to 1,499 bytes) in 30 folders."""
    return {f"d{i % 30:02d}/f{i:05d}.bin": os.urandom(i * 37 % 1500) for i in range(n)}


def objects(ep: S3Endpoint, bucket: str, prefix: str) -> dict[str, bytes]:
    client = ep.client()
    out: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            out[key[len(prefix) :]] = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return out


def counts(report: fssync.Report) -> tuple[int, ...]:
    return (report.copied, report.updated, report.deleted, report.skipped, report.failed)


class Events:
    def __init__(self) -> None:
        self.seen: list[Event] = []

    @fssync.hookimpl
    def fssync_event(self, event: Event) -> None:
        self.seen.append(event)

    def named(self, name: str) -> list[Event]:
        return [e for e in self.seen if e.name == name]


BIG = 6 << 20  # over the tests' --multipart-threshold: sent in parts


def mixed(n: int = FILES) -> dict[str, bytes]:
    """`tree(n)`, two multipart-sized files in a folder of their own, and a file at the root."""
    return {
        **tree(n),
        "big/one.bin": os.urandom(BIG),
        "big/two.bin": os.urandom(BIG + 12345),
        "top.txt": b"at the root",
    }


@pytest.mark.parametrize(("list_on", "tasks"), [("workers", 8), ("driver", 8)])
def test_local_to_s3_then_s3_to_s3_on_the_cluster(
    cluster, seaweed, tmp_path, s3_backend, list_on, tasks
):
    files = mixed()
    src = tmp_path / "src"
    make_tree(src, files)
    bucket = seaweed.make_bucket()
    # the workers started before this test chose the request path: the option reaches them
    dask = dict(
        executor="dask",
        scheduler=cluster.scheduler_address,
        batch_files=BATCH,
        s3_backend=s3_backend,
        list_on=list_on,
        multipart_threshold="5M",
        multipart_chunk_size="5M",
    )
    events = Events()
    with registered(events):
        up = fssync.sync(str(src), f"s3://{bucket}/a", **s3_opts(seaweed, **dask))
    assert counts(up) == (len(files), 0, 0, 0, 0)
    assert objects(seaweed, bucket, "a/") == files
    # every file's copy event reached the driver's reporters once; BATCH files a task (603
    # files: 8 tasks), with the sharded listing the small shards' files packed in tasks (32
    # shards: 30 folders of 20 files, big/ and the root's file, four or five shards a task)
    copied = [e.fields["key"] for e in events.named("copy")]
    assert sorted(copied) == sorted(files)
    assert [e.fields["tasks"] for e in events.named("executor")] == [tasks]
    if list_on == "workers":
        assert [e.fields["count"] for e in events.named("shards")] == [32]

    across = fssync.sync(f"s3://{bucket}/a", f"s3://{bucket}/b", **s3_opts(seaweed, **dask))
    assert counts(across) == (len(files), 0, 0, 0, 0)
    assert across.bytes == sum(map(len, files.values()))
    assert objects(seaweed, bucket, "b/") == files
    again = fssync.sync(str(src), f"s3://{bucket}/a", **s3_opts(seaweed, **dask))
    assert counts(again) == (0, 0, 0, len(files), 0)
    assert seaweed.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def listed_md5s(ep: S3Endpoint, bucket: str, prefix: str) -> dict[str, str]:
    """Key -> ETag of every object under `prefix`, from the listing alone (a single PUT's ETag,
    and a copy's, is the MD5 of the bytes on SeaweedFS)."""
    out: dict[str, str] = {}
    pages = ep.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for obj in page.get("Contents", []):
            out[obj["Key"][len(prefix) :]] = obj["ETag"].strip('"')
    return out


def test_twenty_thousand_files_local_to_s3_then_s3_to_s3(
    cluster, seaweed, seaweed_buckets, tmp_path
):
    """The issue's size: 20,000 files of mixed sizes (0 to 16 KiB, in 100 folders) up from a
    folder and then across buckets on the two-worker cluster, byte-identical after (each
    object's MD5 from the listing against the file's), each file counted once, and a re-run
    that moves nothing."""
    import hashlib

    body = os.urandom(16 << 10)
    files = {
        f"d{i % 100:02d}/f{i:06d}.bin": body[i % 977 : i % 977 + (i * 7919) % (15 << 10)]
        for i in range(20_000)
    }
    make_tree(tmp_path / "src", files)
    want = {k: hashlib.md5(v, usedforsecurity=False).hexdigest() for k, v in files.items()}
    bucket, other = seaweed_buckets(), seaweed_buckets()  # 40,000 objects: deleted after
    dask = dict(executor="dask", scheduler=cluster.scheduler_address)
    up = fssync.sync(str(tmp_path / "src"), f"s3://{bucket}/t", **s3_opts(seaweed, **dask))
    assert counts(up) == (len(files), 0, 0, 0, 0)
    assert listed_md5s(seaweed, bucket, "t/") == want
    across = fssync.sync(f"s3://{bucket}/t", f"s3://{other}/t", **s3_opts(seaweed, **dask))
    assert counts(across) == (len(files), 0, 0, 0, 0)
    assert listed_md5s(seaweed, other, "t/") == want
    again = fssync.sync(f"s3://{bucket}/t", f"s3://{other}/t", **s3_opts(seaweed, **dask))
    assert counts(again) == (0, 0, 0, len(files), 0)


PLAN_PROBE = """
import json
import os

import fssync


@fssync.hookimpl
def fssync_plan_ready(plan, config):
    log = config.environ.get("FSSYNC_TEST_PLAN_LOG")
    if log:
        keys = sorted(a.key for a in plan.transfers)
        with open(log, "a") as out:
            out.write(json.dumps({"pid": os.getpid(), "src": plan.src, "keys": keys}) + "\\n")
"""


def installed_on_the_workers(cluster, site: Path) -> Iterator[None]:
    """A plugin installed (a distribution with an fssync entry point) in the workers only."""
    (site / "fssync_plan_probe.py").write_text(PLAN_PROBE)
    meta = site / "fssync_plan_probe-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: fssync-plan-probe\nVersion: 1.0\n")
    (meta / "entry_points.txt").write_text("[fssync]\nplan_probe = fssync_plan_probe\n")
    where = str(site)
    with distributed.Client(cluster) as client:
        client.run(lambda: sys.path.insert(0, where))
    try:
        yield
    finally:
        with distributed.Client(cluster) as client:
            client.run(lambda: sys.path.remove(where))


def test_a_plugin_on_the_workers_sees_each_shards_plan(cluster, tmp_path, monkeypatch):
    """fssync_plan_ready is called where each shard's plan is whole: on the worker that made
    it, before any of the run is written, so the plans together hold every transfer once."""
    files = tree(90)
    src = tmp_path / "src"
    make_tree(src, {**files, "top.txt": b"root"})
    log = tmp_path / "plans.jsonl"
    monkeypatch.setenv("FSSYNC_TEST_PLAN_LOG", str(log))
    (tmp_path / "site").mkdir()
    dask = dict(executor="dask", scheduler=cluster.scheduler_address, batch_files=10)
    with contextlib.contextmanager(installed_on_the_workers)(cluster, tmp_path / "site"):
        report = fssync.sync(str(src), str(tmp_path / "dst"), **dask)
    assert report.copied == 91
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == 31  # the root's files and 30 folders: one plan each
    assert sorted(k for r in rows for k in r["keys"]) == sorted([*files, "top.txt"])
    assert {r["src"] for r in rows} == {str(src)}
    assert os.getpid() not in {r["pid"] for r in rows}  # the driver has no plan to give


def test_a_flat_prefix_is_listed_in_key_ranges_on_the_workers(cluster, seaweed, monkeypatch):
    """S3 -> S3 from a prefix with no folders: the driver cuts key ranges (StartAfter), each
    worker lists its range on both sides, and a --delete run then deletes across ranges."""
    from fssync.execute import sharding

    monkeypatch.setattr(sharding, "GLANCE", 50)  # the driver's look: else 1,000 keys
    bucket = seaweed.make_bucket()
    client = seaweed.client()
    files = {f"k{i:04d}.bin": os.urandom(i % 700) for i in range(0, 600, 3)}
    for key, body in files.items():
        client.put_object(Bucket=bucket, Key=f"flat/{key}", Body=body)
    dask = dict(executor="dask", scheduler=cluster.scheduler_address, batch_files=50)
    events = Events()
    with registered(events):
        report = fssync.sync(f"s3://{bucket}/flat", f"s3://{bucket}/c", **s3_opts(seaweed, **dask))
    assert counts(report) == (len(files), 0, 0, 0, 0)
    assert objects(seaweed, bucket, "c/") == files
    [shards] = [e.fields["count"] for e in events.named("shards")]
    assert shards >= 8  # ranges, not the one shard of the root's files
    gone = sorted(files)[::40]  # in several ranges
    client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"flat/{k}"} for k in gone]})
    again = fssync.sync(
        f"s3://{bucket}/flat", f"s3://{bucket}/c", delete=True, **s3_opts(seaweed, **dask)
    )
    assert counts(again) == (0, 0, len(gone), len(files) - len(gone), 0)
    assert objects(seaweed, bucket, "c/") == {k: v for k, v in files.items() if k not in gone}


def test_same_report_and_events_as_in_process(cluster, tmp_path):
    files = tree(300)  # 5 batches with --list-on driver
    src = tmp_path / "src"
    make_tree(src, files)
    runs = {}
    dask = dict(executor="dask", scheduler=cluster.scheduler_address, batch_files=60)
    for name, opts in (
        ("in-process", {}),
        ("dask", dask),
        ("dask, listed by the driver", {**dask, "list_on": "driver"}),
    ):
        dst = tmp_path / name
        old = {"gone.txt": b"x", "gone/a": b"a", **{k: b"old" for k in list(files)[:100]}}
        make_tree(dst, old, mtime=1_600_000_000.0)
        events = Events()
        with registered(events):
            report = fssync.sync(str(src), str(dst), delete=True, **opts)
        assert read_tree(dst) == files
        kinds = sorted((e.name, e.fields.get("key")) for e in events.seen if "key" in e.fields)
        plan = [e.fields for e in events.named("plan")]
        planned = (report.planned_files, report.planned_bytes, report.exit_code, report.failures)
        runs[name] = (counts(report), report.bytes, kinds, plan, planned)
    assert runs["dask"] == runs["in-process"]
    assert runs["dask, listed by the driver"] == runs["in-process"]
    assert runs["dask"][0] == (200, 100, 2, 0, 0)


@pytest.mark.parametrize("list_on", ["workers", "driver"])
def test_max_delete_holds_every_deletion_before_any_worker_runs(
    cluster, seaweed, tmp_path, list_on
):
    files = tree(150)  # 6 batches with --list-on driver
    src = tmp_path / "src"
    make_tree(src, files)
    bucket = seaweed.make_bucket()
    dask = dict(
        executor="dask", scheduler=cluster.scheduler_address, batch_files=25, list_on=list_on
    )
    fssync.sync(str(src), f"s3://{bucket}/t", **s3_opts(seaweed, **dask))
    # one deletion in each of 20 folders: no shard alone is over the limit, their sum is
    for key in list(files)[:20]:
        (src / key).unlink()
    (src / "new.txt").write_bytes(b"new")
    events = Events()
    with registered(events):
        report = fssync.sync(
            str(src), f"s3://{bucket}/t", delete=True, max_delete="10", **s3_opts(seaweed, **dask)
        )
    assert report.deleted == 0 and report.copied == 1
    assert report.deletes_held is not None and "--max-delete" in report.deletes_held
    assert len(objects(seaweed, bucket, "t/")) == 151
    assert [e.fields["count"] for e in events.named("deletes_held")] == [20]
    assert events.named("delete") == []

    allowed = fssync.sync(
        str(src), f"s3://{bucket}/t", delete=True, max_delete="20", **s3_opts(seaweed, **dask)
    )
    assert counts(allowed) == (0, 0, 20, 131, 0)
    assert sorted(objects(seaweed, bucket, "t/")) == sorted(read_tree(src))


def test_a_shard_whose_listing_fails_holds_every_deletion(cluster, tmp_path):
    """A folder of the source vanishes between the driver's look at the root and its worker's
    listing: that shard cannot be planned, so nothing anywhere is deleted (its destination
    files, and the other shards' planned deletions, stay), the rest is copied, exit code 3."""
    files = tree(300)
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src, files)
    dask = dict(executor="dask", scheduler=cluster.scheduler_address, batch_files=34)
    fssync.sync(str(src), str(dst), **dask)
    for key in list(files)[:10]:  # d00 .. d09: one deletion each
        (src / key).unlink()
    (src / "d20" / "new.bin").write_bytes(b"new")

    class VanishAfterShards:
        @fssync.hookimpl
        def fssync_event(self, event: Event) -> None:
            if event.name == "shards":
                (src / "d05").rename(tmp_path / "moved-away")

    events = Events()
    with registered(events, VanishAfterShards()):
        report = fssync.sync(str(src), str(dst), delete=True, **dask)
    assert report.deleted == 0 and report.copied == 1
    assert report.deletes_held == "a listing was incomplete"
    assert [f.key for f in report.failures if f.kind == "list"] == ["d05/"]
    assert report.exit_code == 3
    assert events.named("delete") == []
    assert read_tree(dst) == {**files, "d20/new.bin": b"new"}


@pytest.mark.parametrize("list_on", ["workers", "driver"])
def test_a_worker_killed_mid_run_loses_nothing(seaweed, tmp_path, list_on):
    files = mixed(2000)
    src = tmp_path / "src"
    make_tree(src, files)
    bucket = seaweed.make_bucket()
    with local_cluster(tmp_path / "workers") as own:
        # no client of the test's own: two clients in one process may share futures' state
        pids = [worker.process.pid for worker in own.workers.values()]
        events = Events()
        killed = threading.Event()

        class KillOnFirstCopy:
            @fssync.hookimpl
            def fssync_event(self, event: Event) -> None:
                # the first batch back: the other worker is still busy with its own
                if event.name == "copy" and not killed.is_set():
                    killed.set()
                    os.kill(pids[0], signal.SIGKILL)

        opts = s3_opts(
            seaweed,
            executor="dask",
            scheduler=own.scheduler_address,
            batch_files=100,
            list_on=list_on,
            multipart_threshold="5M",
            multipart_chunk_size="5M",
        )
        with registered(events, KillOnFirstCopy()):
            report = fssync.sync(str(src), f"s3://{bucket}/k", **opts)
    assert killed.is_set()
    assert counts(report) == (len(files), 0, 0, 0, 0)
    assert sorted(e.fields["key"] for e in events.named("copy")) == sorted(files)
    assert objects(seaweed, bucket, "k/") == files
    uploads = seaweed.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert uploads == []


@pytest.mark.parametrize("list_on", ["workers", "driver"])
def test_an_upload_a_dead_worker_left_is_aborted_by_the_driver(cluster, seaweed, tmp_path, list_on):
    """A worker killed in the middle of a multipart upload leaves it open, and its journal is on
    its own machine: once every batch has landed, the driver aborts the run's uploads still
    open under the destination. (The upload is begun here, as that worker would have.)"""
    files = mixed(200)
    make_tree(tmp_path / "src", files)
    bucket = seaweed.make_bucket()
    client = seaweed.client()
    older = client.create_multipart_upload(Bucket=bucket, Key="elsewhere/x")["UploadId"]

    class DeadWorkersUpload:
        @fssync.hookimpl
        def fssync_event(self, event: Event) -> None:
            if event.name == "plan":  # once the run started, before its transfers
                client.create_multipart_upload(Bucket=bucket, Key="m/big/one.bin")

    opts = s3_opts(
        seaweed,
        executor="dask",
        scheduler=cluster.scheduler_address,
        list_on=list_on,
        multipart_threshold="5M",
        multipart_chunk_size="5M",
    )
    events = Events()
    with registered(events, DeadWorkersUpload()):
        report = fssync.sync(str(tmp_path / "src"), f"s3://{bucket}/m", **opts)
    assert counts(report) == (len(files), 0, 0, 0, 0)
    assert objects(seaweed, bucket, "m/") == files
    left = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["UploadId"] for u in left] == [older]  # not under the destination: not ours
    assert [e.fields["uploads_aborted"] for e in events.named("cleanup")] == [1]


def test_a_local_cluster_of_n_workers(tmp_path):
    files = tree(300)
    src = tmp_path / "src"
    make_tree(src, files)
    code = main(["sync", str(src), str(tmp_path / "dst"), "--executor", "dask", "--workers", "2"])
    assert code == 0
    assert read_tree(tmp_path / "dst") == files


def test_unreachable_scheduler_is_one_line_and_exit_4(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    code = main(
        ["sync", str(tmp_path / "src"), str(tmp_path / "dst"), "--executor", "dask"]
        + ["--scheduler", "tcp://127.0.0.1:9"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 4
    assert len(err.splitlines()) == 1, err
    assert "tcp://127.0.0.1:9" in err and "Dask scheduler" in err


def test_a_dry_run_needs_no_cluster(tmp_path):
    make_tree(tmp_path / "src", {"a.txt": b"a"})
    code = main(
        ["sync", str(tmp_path / "src"), str(tmp_path / "dst"), "--dry-run", "--executor", "dask"]
        + ["--scheduler", "tcp://127.0.0.1:9"]
    )
    assert code == 0
    assert not (tmp_path / "dst").exists()


def test_an_executor_no_plugin_runs_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    code = main(["sync", str(tmp_path / "src"), str(tmp_path / "d"), "--executor", "ray"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--executor ray" in err and len(err.strip().splitlines()) == 1


def test_static_keys_never_show_in_what_the_scheduler_prints(seaweed, tmp_path):
    config = fssync.Config("sync", str(tmp_path), "s3://b/x", s3_opts(seaweed))
    sealed = Sealed(config)
    assert seaweed.secret_key not in repr(sealed) and seaweed.secret_key not in str(sealed)
    import pickle

    again = pickle.loads(pickle.dumps(sealed))
    assert again.open().get("secret_access_key") == seaweed.secret_key
    # the workers know the run by its key, the same in every task, and no secret is in it
    assert again.key == sealed.key and seaweed.secret_key not in sealed.key


def test_dask_options_without_the_executor_are_refused(tmp_path, capsys):
    code = main(["sync", str(tmp_path), str(tmp_path / "d"), "--workers", "2"])
    assert code == 2
    assert "--executor dask" in capsys.readouterr().err


def test_each_worker_fetches_its_own_sts_credentials(cluster, moto, tmp_path, capsys):
    """No expiring keys are shipped: the workers assume the role themselves from the options,
    and their credentials events reach the driver's --json stream."""
    ep = moto.endpoint
    bucket = ep.make_bucket()
    files = tree(200)
    make_tree(tmp_path / "src", files)
    words = ["sync", str(tmp_path / "src"), f"s3://{bucket}/r", "--role-arn", moto.role_arn]
    words += ["--json", "--executor", "dask", "--scheduler", cluster.scheduler_address]
    words += ["--batch-files", "50", "--sts-endpoint-url", ep.url, *s3_args(ep)]
    code = main(words)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert objects(ep, bucket, "r/") == files
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    fetched = [r for r in rows if r["event"] == "credentials"]
    # the driver's two stores, then once in each worker process that ran tasks (a worker keeps
    # the run's stores between its tasks), not once per batch
    assert 3 <= len(fetched) <= 2 + len(cluster.workers)
    assert all(r["access_key_id"].startswith("ASIA") for r in fetched)
    assert ep.secret_key not in out + err
