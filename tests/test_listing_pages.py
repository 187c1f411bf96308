"""A listing reply that is not what S3 sends is a failure, never an empty or shorter answer.

The bucket is listed in pages of a few keys (``s3pages.PAGE_SIZE``) through the fault proxy,
which rewrites chosen ListObjectsV2 replies: a ``200 OK`` that is an HTML maintenance page,
empty, an ``<Error>``, JSON, a page cut in half that still parses, ``IsTruncated`` without a
continuation token, or a token that repeats. Without the checks, the listing of the source
ended early and ``--delete`` removed every file it had not seen (or, for a repeated token, the
listing never ended). Now a wrong page is asked for again; when it stays wrong the run stops
with exit code 4 and one line naming the page, and the destination keeps every file.
"""

from __future__ import annotations

import os

import pytest

import fssync
from fssync.cli.main import main
from fssync.stores.s3 import pages as s3pages

from .helpers import make_tree, read_tree, s3_args

pytestmark = pytest.mark.usefixtures("s3_backend")

FILES = {f"d{i % 3}/f{i:02}.txt": f"file {i}\n".encode() for i in range(12)}  # 3 pages of 5
REWRITES = ("html", "empty", "error-200", "json", "cut", "no-token", "same-token")


@pytest.fixture(autouse=True)
def _small_pages(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(s3pages, "PAGE_SIZE", 5)


@pytest.fixture
def synced(bucket, tmp_path):
    """A bucket prefix with FILES (on moto, then SeaweedFS, which orders a page's elements
    otherwise and uses keys as tokens) and a local copy of it, already in sync."""
    ep, name = bucket
    client = ep.client()
    for key, data in FILES.items():
        client.put_object(Bucket=name, Key=f"src/{key}", Body=data)
    dst = tmp_path / "dst"
    make_tree(dst, FILES)
    return ep, name, dst


def run(ep, url: str, src: str, dst, *more: str) -> int:
    args = ["sync", src, str(dst), "--delete", "--retries-sleep", "0.01"]
    return main([*args, *s3_args(ep, url), *more])


@pytest.mark.parametrize("kind", REWRITES)
def test_a_wrong_page_that_stays_wrong_stops_the_run_and_deletes_nothing(
    synced, fault_proxy, capsys, kind
):
    ep, name, dst = synced
    # Every listing request from the second on is rewritten: the retries cannot cure it.
    proxy = fault_proxy(ep, pages_from=(2, kind), max_requests=400)
    code = run(ep, proxy.url, f"s3://{name}/src", dst)
    err = capsys.readouterr().err.strip().splitlines()
    assert read_tree(dst) == FILES  # every file still there
    assert code == 4
    (line,) = [line for line in err if line.startswith("fssync: error:")]
    assert f"s3://{name}/src: listing page 2 " in line
    assert "nothing was copied or deleted" in line
    assert proxy.stats.pages == 1 + 8  # page 1, then page 2 tried (1 + 3 retries) x 2 passes


@pytest.mark.parametrize("kind", REWRITES)
def test_a_wrong_page_once_is_asked_for_again(synced, fault_proxy, capsys, kind):
    ep, name, dst = synced
    (dst / "extra.txt").write_bytes(b"not in the source")
    proxy = fault_proxy(ep, pages={2: kind})
    code = run(ep, proxy.url, f"s3://{name}/src", dst, "-v")
    assert code == 0, capsys.readouterr().err
    assert read_tree(dst) == FILES  # only the file the source lacks was deleted
    assert proxy.stats.faults == {kind: 1}


def test_the_python_api_raises_the_listing_error(synced, fault_proxy):
    ep, name, dst = synced
    proxy = fault_proxy(ep, pages_from=(3, "html"))
    with pytest.raises(
        fssync.FatalError, match="listing page 3 is not a listing: 24 bytes of text/html"
    ):
        fssync.sync(
            f"s3://{name}/src",
            str(dst),
            delete=True,
            retries=1,
            retry_passes=0,
            retries_sleep=0.01,
            endpoint_url=proxy.url,
            access_key_id=ep.access_key,
            secret_access_key=ep.secret_key,
            region=ep.region,
        )
    assert read_tree(dst) == FILES
    assert proxy.stats.pages == 2 + 2  # pages 1, 2, then page 3 twice


def test_an_s3_destination_is_not_listed_short_either(moto, fault_proxy, tmp_path, capsys):
    """A destination listing cut short would not delete, but copies every file it missed and
    deletes by the wrong list with --delete of a later run: it fails the same way."""
    ep = moto.endpoint
    name = ep.make_bucket()
    src = tmp_path / "src"
    make_tree(src, FILES)
    assert main(["sync", str(src), f"s3://{name}/dst", *s3_args(ep)]) == 0
    (src / "d0" / "f00.txt").unlink()  # one file --delete should remove, had the run gone on
    proxy = fault_proxy(ep, pages_from=(2, "cut"))
    code = main(
        ["sync", str(src), f"s3://{name}/dst", "--delete", "--retries-sleep", "0.01"]
        + s3_args(ep, proxy.url)
    )
    assert code == 4
    assert "listing page 2 holds 2 keys but its KeyCount says 5" in capsys.readouterr().err
    assert ep.client().list_objects_v2(Bucket=name, Prefix="dst/")["KeyCount"] == len(FILES)


class OnlyOurRetries:
    """botocore sends each request once, so the count of tries below is fssync's own (the fast
    client tries each request 5 times itself before fssync sees the error)."""

    @fssync.hookimpl
    def fssync_storage_options(self, location, config):
        if location.protocol == "s3" and os.environ.get("FSSYNC_S3_BACKEND") != "fast":
            return {"config_kwargs": {"retries": {"total_max_attempts": 1, "mode": "standard"}}}
        return None


def test_a_listing_outlasts_a_slowdown_storm_as_long_as_transfers_do(synced, fault_proxy):
    """The listing is tried as often as a transfer: (1 + --retries) x (1 + --retry-passes) = 8
    times with the defaults. A storm of SlowDown over its first 6 tries is outlasted (it used
    to give up after 4: the listing had a shorter budget than the transfers). The fast client's
    sends of each request (1 + --low-level-retries) wait a few milliseconds here."""
    ep, name, dst = synced
    (dst / "extra.txt").write_bytes(b"not in the source")
    per_try = 5 if os.environ.get("FSSYNC_S3_BACKEND") == "fast" else 1
    storm = 6 * per_try
    proxy = fault_proxy(ep, pages={n: "slowdown" for n in range(1, storm + 1)})
    report = fssync.sync(
        f"s3://{name}/src",
        str(dst),
        delete=True,
        plugins=[OnlyOurRetries()],
        retries_sleep=0.01,
        low_level_retries_sleep=0.0001,
        endpoint_url=proxy.url,
        access_key_id=ep.access_key,
        secret_access_key=ep.secret_key,
        region=ep.region,
    )
    assert report.ok and report.deleted == 1
    assert read_tree(dst) == FILES
    assert proxy.stats.faults == {"slowdown": storm}
    assert proxy.stats.pages == storm + 3  # then the three pages


@pytest.mark.parametrize("kind", ["cut", "html"])
def test_a_two_way_sync_with_a_wrong_page_changes_nothing_on_either_side(
    moto, fault_proxy, tmp_path, capsys, kind
):
    """bisync would take every key missing from a short listing for deleted on S3 and delete
    it locally: it stops before any change instead."""
    ep = moto.endpoint
    name = ep.make_bucket()
    a = tmp_path / "a"
    make_tree(a, FILES)
    url, state = f"s3://{name}/b", ["--state-dir", str(tmp_path / "bisync-state")]
    assert main(["bisync", str(a), url, *state, *s3_args(ep)]) == 0
    (a / "d0" / "f00.txt").write_bytes(b"edited locally, not to be sent by a failed run")
    proxy = fault_proxy(ep, pages_from=(2, kind))
    args = ["bisync", str(a), url, *state, "--retries-sleep", "0.01", "--max-delete", "100%"]
    code = main(args + s3_args(ep, proxy.url))
    assert code == 4
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and f"s3://{name}/b: listing page 2 " in err[0]
    assert read_tree(a) == {
        **FILES,
        "d0/f00.txt": b"edited locally, not to be sent by a failed run",
    }
    listed = ep.client().list_objects_v2(Bucket=name, Prefix="b/")
    assert listed["KeyCount"] == len(FILES)  # no lock file left behind, nothing written
    assert (
        ep.client().get_object(Bucket=name, Key="b/d0/f00.txt")["Body"].read()
        == FILES["d0/f00.txt"]
    )
