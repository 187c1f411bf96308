"""Hypothesis drives random edits and random network faults; the destination must always end up
equal to the source."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import fsspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import fssync
from fssync.testing.faultproxy import TRANSIENT

from .helpers import read_tree

NAMES = ["a.txt", "b.bin", "dir/c.txt", "dir/sub/d", "é/ü.txt", "e f/g", "h"]
STATS = {"steps": 0, "fault_schedules": 0, "faults": 0}


class SyncMachine(RuleBasedStateMachine):
    """Random creations, rewrites (also of the same size), deletions and folder moves in a
    memory filesystem, each followed by a sync into a local folder with --delete."""

    def __init__(self) -> None:
        super().__init__()
        self.fs = fsspec.filesystem("memory")
        self.root = f"/stateful-{uuid.uuid4().hex}"
        self.model: dict[str, bytes] = {}
        self.base = Path(tempfile.mkdtemp())
        os.environ["FSSYNC_STATE_DIR"] = str(self.base / "state")

    @initialize()
    def start(self) -> None:
        self.fs.makedirs(self.root + "/src", exist_ok=True)

    def _fits(self, key: str) -> bool:
        """A key may not be a file and a folder at once."""
        return not any(k.startswith(key + "/") or key.startswith(k + "/") for k in self.model)

    def _write(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(f"{self.root}/src/{key}", data)
        self.model[key] = data

    @rule(key=st.sampled_from(NAMES), data=st.binary(max_size=300))
    def write(self, key: str, data: bytes) -> None:
        if self._fits(key):
            self._write(key, data)

    @rule(index=st.integers(0, 100), byte=st.integers(0, 255))
    def rewrite_same_size(self, index: int, byte: int) -> None:
        if self.model:
            key = sorted(self.model)[index % len(self.model)]
            old = self.model[key]
            if old:
                i = index % len(old)
                self._write(key, old[:i] + bytes([byte ^ old[i] or 1]) + old[i + 1 :])

    @rule(index=st.integers(0, 100))
    def delete(self, index: int) -> None:
        if self.model:
            key = sorted(self.model)[index % len(self.model)]
            self.fs.rm_file(f"{self.root}/src/{key}")
            del self.model[key]

    @rule(index=st.integers(0, 100), to=st.sampled_from(["moved", "dir/moved", "x/y"]))
    def move(self, index: int, to: str) -> None:
        if self.model:
            key = sorted(self.model)[index % len(self.model)]
            data = self.model.pop(key)
            self.fs.rm_file(f"{self.root}/src/{key}")
            if self._fits(to):
                self._write(to, data)

    @invariant()
    def destination_equals_source(self) -> None:
        dst = self.base / "dst"
        report = fssync.sync(
            f"memory://{self.root}/src",
            str(dst),
            delete=True,
            allow_empty_source=True,
            compare="checksum",
        )
        STATS["steps"] += 1
        assert report.failed == 0, report.failures
        assert (read_tree(dst) if dst.exists() else {}) == self.model

    def teardown(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
        self.fs.rm(self.root, recursive=True)


TestSyncMachine = SyncMachine.TestCase
TestSyncMachine.settings = settings(
    max_examples=10, stateful_step_count=10, deadline=None, derandomize=True
)


class OnlyOurRetries:
    @fssync.hookimpl
    def fssync_storage_options(self, location, config):
        if location.protocol == "s3":
            return {"config_kwargs": {"retries": {"total_max_attempts": 1, "mode": "standard"}}}
        return None


@pytest.fixture(scope="module")
def small_tree() -> dict[str, bytes]:
    rnd = __import__("random").Random(7)
    files = {f"f{i}.bin": rnd.randbytes(rnd.randrange(0, 5000)) for i in range(8)}
    files["big.bin"] = rnd.randbytes(9 << 20)  # read in several chunks
    return files


@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    schedule=st.dictionaries(st.integers(1, 30), st.sampled_from(TRANSIENT), max_size=8),
    upload=st.booleans(),
)
def test_random_fault_schedules_lose_nothing(moto, fault_proxy, small_tree, schedule, upload):
    ep = moto.endpoint
    base = Path(tempfile.mkdtemp())
    os.environ["FSSYNC_STATE_DIR"] = str(base / "state")
    try:
        name = ep.make_bucket()
        client = ep.client()
        local = base / "local"
        if upload:
            local.mkdir()
            for key, data in small_tree.items():
                (local / key).write_bytes(data)
        else:
            for key, data in small_tree.items():
                client.put_object(Bucket=name, Key=f"t/{key}", Body=data)
        proxy = fault_proxy(ep, schedule=schedule, delay=0.02)
        options = {
            "endpoint_url": proxy.url,
            "access_key_id": ep.access_key,
            "secret_access_key": ep.secret_key,
            "retries_sleep": 0.001,
        }
        pair = (str(local), f"s3://{name}/t") if upload else (f"s3://{name}/t", str(local))
        report = fssync.sync(*pair, plugins=[OnlyOurRetries()], **options)
        assert report.failed == 0, (schedule, report.failures)
        for key, data in small_tree.items():
            got = (
                client.get_object(Bucket=name, Key=f"t/{key}")["Body"].read()
                if upload
                else (local / key).read_bytes()
            )
            assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), key
        assert not [p for p in base.rglob("*") if ".fssync-tmp-" in p.name]
        STATS["fault_schedules"] += 1
        STATS["faults"] += proxy.stats.injected
    finally:
        shutil.rmtree(base, ignore_errors=True)
