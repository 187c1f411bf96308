"""`fssync cleanup URL`: incomplete multipart uploads that no run here will finish are aborted
(moto and SeaweedFS, both S3 paths); young ones and those this machine's journal records are
kept; a dry run aborts nothing; a non-S3 location is refused."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from fssync.cli.main import main
from fssync.hooks.manager import make_hooks
from fssync.settings.location import parse
from fssync.settings.options import config_from_api
from fssync.state.db import StateStore
from fssync.state.leftovers import UploadJournal
from fssync.stores.connect import open_location

from .helpers import s3_args, s3_opts

pytestmark = pytest.mark.usefixtures("s3_backend")


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def _start(client, name: str, key: str) -> str:
    upload = client.create_multipart_upload(Bucket=name, Key=key)["UploadId"]
    client.upload_part(Bucket=name, Key=key, UploadId=upload, PartNumber=1, Body=os.urandom(1000))
    return upload


def _open(client, name: str) -> set[str]:
    return {u["Key"] for u in client.list_multipart_uploads(Bucket=name).get("Uploads", [])}


def _events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_cleanup_aborts_what_no_journal_knows_under_the_prefix(bucket, capsys):
    ep, name = bucket
    client = ep.client()
    for key in ("p/a.bin", "p/deep/b.bin", "q/other.bin"):
        _start(client, name, key)
    url = f"s3://{name}/p"
    assert main(["cleanup", url, "--older-than", "0", "--dry-run", *s3_args(ep)]) == 0
    out = capsys.readouterr().out
    assert "would abort 2 incomplete upload(s)" in out
    assert _open(client, name) == {"p/a.bin", "p/deep/b.bin", "q/other.bin"}  # dry run
    assert main(["cleanup", url, "--older-than", "0", "--json", *s3_args(ep)]) == 0
    events = _events(capsys.readouterr().out)
    assert sorted(e["key"] for e in events if e["event"] == "upload_aborted") == [
        "p/a.bin",
        "p/deep/b.bin",
    ]
    assert events[-1]["aborted"] == 2 and events[-1]["failed"] == 0
    assert _open(client, name) == {"q/other.bin"}  # outside the prefix: untouched


def test_young_uploads_are_kept_by_default(seaweed, capsys):
    # SeaweedFS reports real start times (moto reports one fixed old date for every upload).
    name = seaweed.make_bucket()
    client = seaweed.client()
    _start(client, name, "p/fresh.bin")
    assert main(["cleanup", f"s3://{name}/p", *s3_args(seaweed)]) == 0
    out = capsys.readouterr().out
    assert "aborted 0 incomplete upload(s); kept 1 younger than 24h" in out
    assert _open(client, name) == {"p/fresh.bin"}
    assert main(["cleanup", f"s3://{name}/p", "--older-than", "0s", *s3_args(seaweed)]) == 0
    assert _open(client, name) == set()


def test_uploads_this_machines_journal_records_are_left_to_the_next_sync(moto, tmp_path, capsys):
    ep = moto.endpoint
    name = ep.make_bucket()
    client = ep.client()
    mine = _start(client, name, "p/mine.bin")
    _start(client, name, "p/theirs.bin")
    # What a sync that was killed mid-upload leaves in the state: its journal row.
    backend = os.environ["FSSYNC_S3_BACKEND"]
    url = f"s3://{name}/p"
    hooks = make_hooks()
    config = config_from_api(hooks, "sync", str(tmp_path), url, s3_opts(ep))

    async def identity() -> str:
        store = await open_location(hooks, config, parse(url), transfers=1, is_source=False)
        try:
            return store.identity
        finally:
            await store.close()

    journal = UploadJournal(StateStore(), asyncio.run(identity()))
    asyncio.run(journal.created(asyncio.run(journal.begin(name, "p/mine.bin")), mine))
    assert main(["cleanup", url, "--older-than", "0", *s3_args(ep)]) == 0, backend
    out = capsys.readouterr().out
    assert "aborted 1 incomplete upload(s)" in out and "1 this machine's next sync" in out
    assert _open(client, name) == {"p/mine.bin"}


def test_a_location_without_uploads_is_refused(tmp_path, capsys):
    assert main(["cleanup", str(tmp_path)]) == 2
    assert "only S3 locations" in capsys.readouterr().err
