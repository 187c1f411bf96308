"""The done-when scenario of the foundation: 2,000 files to SeaweedFS and back, then re-runs."""

from __future__ import annotations

import os

import pytest

import fssync

from .helpers import make_tree, mtimes, read_tree


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def test_two_thousand_files_there_and_back(seaweed, tmp_path):
    name = seaweed.make_bucket()
    opts = dict(
        endpoint_url=seaweed.url,
        access_key_id=seaweed.access_key,
        secret_access_key=seaweed.secret_key,
        region=seaweed.region,
        transfers=32,
    )
    files = {f"d{i % 40:02d}/f{i:04d}.bin": os.urandom(64 + i % 700) for i in range(2000)}
    src = tmp_path / "src"
    make_tree(src, files, mtime=None)
    for i, key in enumerate(sorted(files)):
        os.utime(src / key, ns=(1_650_000_000_123_456_789 + i, 1_650_000_000_123_456_789 + i))

    up = fssync.sync(str(src), f"s3://{name}/tree", **opts)
    assert (up.copied, up.failed) == (2000, 0)
    back = tmp_path / "back"
    down = fssync.sync(f"s3://{name}/tree", str(back), **opts)
    assert (down.copied, down.failed) == (2000, 0)

    assert read_tree(back) == files
    assert mtimes(back) == pytest.approx(mtimes(src), abs=1e-3)

    up_again = fssync.sync(str(src), f"s3://{name}/tree", **opts)
    down_again = fssync.sync(f"s3://{name}/tree", str(back), **opts)
    for report in (up_again, down_again):
        assert report.copied + report.updated + report.deleted == 0
        assert report.skipped == 2000
