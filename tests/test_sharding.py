"""How a run is cut in shards (`fssync.execute.sharding`), without a cluster: one look at each root,
folders seen on one side only, S3 delimiter pages, and the options a sharded run refuses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import fssync
from fssync.cli.main import main
from fssync.execute.sharding import ROOT_FILES, Shard, find_shards
from fssync.hooks.manager import registered
from fssync.settings import location as loc
from fssync.stores import open_store
from fssync_plugins import dask as dask_plugin
from fssync_plugins.s3_fast.xmlparse import common_prefixes

from .helpers import make_tree, read_tree


def _stores(src: Path, dst: Path):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        s = await open_store(loc.parse(str(src)), {}, transfers=4, is_source=True)
        d = await open_store(loc.parse(str(dst)), {}, transfers=4, is_source=False)
        return s, d

    return asyncio.run(go())


def test_shards_are_the_folders_under_either_root_and_the_root_files(tmp_path):
    make_tree(tmp_path / "src", {"a/x": b"1", "b/c/y": b"2", "top": b"3"})
    make_tree(tmp_path / "dst", {"a/x": b"1", "gone/z": b"4", "old": b"5"})
    src, dst = _stores(tmp_path / "src", tmp_path / "dst")
    shards = asyncio.run(find_shards(src, dst))
    assert shards == (
        Shard(ROOT_FILES),
        Shard("a/"),
        Shard("b/", src=True, dst=False),
        Shard("gone/", src=False, dst=True),
    )
    folders, listing = asyncio.run(src.top())  # type: ignore[misc]
    assert folders == ("a/", "b/") and list(listing.entries) == ["top"]


def test_a_destination_that_does_not_exist_yet_has_no_folders(tmp_path):
    make_tree(tmp_path / "src", {"a/x": b"1"})
    src, dst = _stores(tmp_path / "src", tmp_path / "new")
    assert asyncio.run(find_shards(src, dst)) == (
        Shard(ROOT_FILES),
        Shard("a/", src=True, dst=False),
    )


def test_common_prefixes_of_a_delimiter_page_are_url_decoded():
    page = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Name>b</Name><Prefix>p/</Prefix><KeyCount>3</KeyCount><Delimiter>/</Delimiter>"
        b"<EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
        b"<Contents><Key>p/top</Key><Size>1</Size><LastModified>2024-01-01T00:00:00.000Z"
        b"</LastModified><ETag>&quot;x&quot;</ETag></Contents>"
        b"<CommonPrefixes><Prefix>p/a%20b/</Prefix></CommonPrefixes>"
        b"<CommonPrefixes><Prefix>p/c/</Prefix></CommonPrefixes>"
        b"</ListBucketResult>"
    )
    assert common_prefixes(page) == ["p/a b/", "p/c/"]


@pytest.mark.parametrize("flag", [["--track-renames", "--delete"], ["--bwlimit", "1M"]])
def test_options_that_span_the_run_are_refused_in_one_line(tmp_path, capsys, flag):
    make_tree(tmp_path / "src", {"a": b"a"})
    with registered(dask_plugin):
        code = main(
            ["sync", str(tmp_path / "src"), str(tmp_path / "dst"), "--executor", "dask"]
            + ["--scheduler", "tcp://127.0.0.1:9", *flag]
        )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and flag[0] in err


def test_list_on_needs_the_dask_executor(tmp_path, capsys):
    with registered(dask_plugin):
        code = main(["sync", str(tmp_path), str(tmp_path / "d"), "--list-on", "driver"])
    assert code == 2
    assert "--executor dask" in capsys.readouterr().err


def test_a_worker_keeps_a_runs_stores_between_its_tasks_until_released(tmp_path):
    """Tasks of one run in one process share its plugins and open stores (no connection made
    per batch); another run gets its own; releasing the run closes them."""
    from fssync import Config
    from fssync.execute.executors import Sealed, run_batch
    from fssync.execute.sharding import Shard, plan_shard, run_slice
    from fssync.execute.workers import for_run, kept, release

    make_tree(tmp_path / "src", {"a/x": b"1", "a/y": b"22", "b/z": b"333"})
    config = Config("sync", str(tmp_path / "src"), str(tmp_path / "dst"), {}, {})
    sealed = Sealed(config)
    plans = [plan_shard(sealed, Shard(p, True, False)) for p in ("a/", "b/")]
    stores = for_run(sealed)._pair
    assert stores is not None and sealed.key in kept()
    results = [run_slice(sealed, p, "transfers") for p in plans]
    assert sorted(o.action.key for r in results for o in r.outcomes) == ["a/x", "a/y", "b/z"]
    assert for_run(sealed)._pair is stores  # the same stores served every task
    other = Sealed(config)
    assert other.key != sealed.key
    assert run_batch(other, ()).fatal is None and other.key in kept()
    assert release(sealed.key) and release(other.key)
    assert sealed.key not in kept() and not release(sealed.key)
    assert (tmp_path / "dst" / "b" / "z").read_bytes() == b"333"


def test_between_finds_an_ascii_key_strictly_inside_the_range():
    from fssync.execute.sharding import TOP, between

    assert between("a", "c") == "b"
    mid = between("img_00001", "img_99999")
    assert mid is not None and "img_00001" < mid < "img_99999" and mid.startswith("img_")
    assert between("a", "a\x00") is None and between("b", "a") is None
    top = between("z", TOP)
    assert top is not None and "z" < top < TOP
    # a middle past ASCII is cut to its ASCII head, still strictly inside
    assert between("a", "\u00e9") == "\x7f"


def test_key_ranges_cover_every_key_once():
    from fssync.execute.sharding import key_ranges

    ranges = key_ranges(["b", "d"])
    assert [(r.after, r.upto) for r in ranges] == [(None, "b"), ("b", "d"), ("d", None)]
    assert all(r.ranged and r.src and r.dst for r in ranges)
    assert key_ranges([]) == (Shard(ROOT_FILES, ranged=True),)


@pytest.mark.parametrize("backend", ["s3fs", "fast"])
def test_a_flat_s3_prefix_is_cut_in_key_ranges_that_list_every_key_once(
    seaweed, monkeypatch, backend
):
    """Few folders and more keys than the driver's one look shows: the driver samples the
    keys with one-key listings (StartAfter) and cuts key ranges; each range lists its keys of
    the whole tree, folders included, and the ranges together list every key once."""
    from fssync import Config
    from fssync.engine import Run
    from fssync.execute import sharding
    from fssync.hooks.manager import make_hooks

    from .helpers import s3_opts

    bucket = seaweed.make_bucket()
    client = seaweed.client()
    keys = [f"img_{i:05d}.jpg" for i in range(0, 600, 3)] + ["a/x", "a/y/z", "zz", "\u00e9t\u00e9"]
    for key in keys:
        client.put_object(Bucket=bucket, Key=f"flat/{key}", Body=b"x")
    monkeypatch.setattr(sharding, "GLANCE", 50)  # else a look shows 1,000 keys
    opts = s3_opts(seaweed, s3_backend=backend)
    config = Config("sync", f"s3://{bucket}/flat", f"s3://{bucket}/copy", opts)
    hooks = make_hooks(ambient=False)
    hooks.configure(config)
    run = Run(config, hooks)

    async def go():  # type: ignore[no-untyped-def]
        async with run.open_both() as (src, dst):
            shards = await find_shards(src, dst)
            listed = [await src.ranged(s.after, s.upto).scan() for s in shards]  # type: ignore[union-attr]
            gone = [await dst.ranged(s.after, s.upto).scan() for s in shards]  # type: ignore[union-attr]
            return shards, listed, gone

    shards, listed, gone = asyncio.run(go())
    assert len(shards) >= 8 and all(s.ranged for s in shards)
    found = [k for listing in listed for k in listing.entries]
    assert sorted(found) == sorted(keys)  # every key, none twice
    for shard, listing in zip(shards, listed, strict=True):
        assert all(
            (shard.after is None or k > shard.after) and (shard.upto is None or k <= shard.upto)
            for k in listing.entries
        )
    assert all(not g.entries for g in gone)


def test_slices_are_key_ranges_so_a_plan_made_again_is_cut_the_same_way(tmp_path):
    """A worker lost after it wrote part of a slice makes Dask plan the shard again, against a
    destination that has changed: slices by position would then skip the plan's last actions;
    by key range every action left falls in exactly one of the slices the driver approved."""
    from fssync import Config
    from fssync.execute.executors import Sealed
    from fssync.execute.sharding import Shard, _within, plan_shard, run_slices
    from fssync.execute.workers import release

    files = {f"a/f{n:02}": b"x" * n for n in range(10)}
    make_tree(tmp_path / "src", files)
    sealed = Sealed(Config("sync", str(tmp_path / "src"), str(tmp_path / "dst"), {}, {}))
    shard = Shard("a/", True, False)
    first = plan_shard(sealed, shard, every=3)
    spans = first.counts.spans("transfers")
    assert [size for _, size in spans] == [3, 3, 3, 1]
    # slices 0 and 1 landed; the worker running slice 2 wrote a/f06, then was lost
    make_tree(tmp_path / "dst", {k: v for k, v in files.items() if k <= "a/f06"})
    again = plan_shard(sealed, Shard("a/", True, True), every=3)
    assert [a.key for a in again.transfers] == ["a/f07", "a/f08", "a/f09"]
    picked = [[a.key for a in _within(again, "transfers", span)] for span, _ in spans]
    assert picked == [[], [], ["a/f07", "a/f08"], ["a/f09"]]  # by position: [], [], [], []
    rest = [span for span, _ in spans[2:]]
    result = run_slices(sealed, [again, again], rest, "transfers")
    assert result.fatal is None and len(result.outcomes) == 3
    assert read_tree(tmp_path / "dst") == files
    release(sealed.key)


def test_a_slice_of_a_plan_that_could_not_be_made_again_stops_the_run():
    from fssync import Config
    from fssync.execute.executors import Sealed
    from fssync.execute.sharding import Shard, ShardCounts, ShardPlan, run_slices

    broken = ShardPlan(ShardCounts(Shard("a/"), broken="cannot list a/: refused"))
    sealed = Sealed(Config("sync", "x", "y", {}, {}))
    result = run_slices(sealed, [broken], [(None, None)], "transfers")
    assert result.fatal is not None and "refused" in result.fatal[1] and result.fatal[2] == 4
    with pytest.raises(fssync.FssyncError, match="could not be planned again"):
        result.raise_fatal()
