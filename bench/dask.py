"""The Dask executor against the in-process run: N files local -> S3 and S3 -> S3 on one local
SeaweedFS, in this process and on Dask clusters of 1, 2 and 4 worker processes on this machine.

    python -m bench.dask                       # 20,000 files, workers 1 2 4
    python -m bench.dask --files 5000 --workers 2

Each run goes to a fresh prefix. Reported per run: wall time; CPU per file of the driver and
of the workers together (the workers' CPU is read in each worker before and after, so the
cluster's start is not counted, and neither is the server's); and the executor's overhead per
file, the CPU per file beyond the in-process run of the same direction. The clusters are started
before their runs (about 2 s each), as a real cluster is already up when fssync is run. On a
machine with fewer cores than workers, wall time shows contention, not scaling.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def make_files(root: Path, n: int) -> int:
    """`n` files in 100 folders, sizes from 0 to 16 KiB (a mix, mostly small); total bytes."""
    total = 0
    body = os.urandom(16 << 10)
    for i in range(n):
        size = (i * 7919) % (16 << 10) if i % 10 else (i * 31) % 512
        path = root / f"d{i % 100:02d}" / f"f{i:06d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body[:size])
        total += size
    return total


def _worker_cpu() -> float:
    return time.process_time()


def one_run(
    src: str, dst: str, opts: dict[str, Any], client: Any, files: int
) -> dict[str, float | int]:
    import fssync

    before = sum(client.run(_worker_cpu).values()) if client is not None else 0.0
    w, c = time.perf_counter(), time.process_time()
    report = fssync.sync(src, dst, **opts)
    wall, driver = time.perf_counter() - w, time.process_time() - c
    workers = (sum(client.run(_worker_cpu).values()) - before) if client is not None else 0.0
    if report.copied != files or report.failed:
        raise SystemExit(f"{dst}: copied {report.copied} of {files}, {report.failed} failed")
    return {
        "wall_s": round(wall, 2),
        "driver_cpu_ms_per_file": round(driver / files * 1e3, 3),
        "workers_cpu_ms_per_file": round(workers / files * 1e3, 3),
        "cpu_ms_per_file": round((driver + workers) / files * 1e3, 3),
    }


def listing_rate(url: str, keys: dict[str, Any], files: int) -> dict[str, Any]:
    """One listing chain's rate, as one worker lists a shard: a dry run of `url` against an
    empty prefix lists it (1,000 keys a page) and plans it; best of three."""
    import fssync

    best = float("inf")
    for n in range(3):
        w = time.perf_counter()
        report = fssync.sync(url, url + f"-empty{n}", dry_run=True, **keys)
        best = min(best, time.perf_counter() - w)
        assert report.planned_copies == files
    return {"listing_keys_per_s": round(files / best), "listing_and_planning_s": round(best, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.dask", description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=20_000)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--list-on", choices=("workers", "driver"), default="workers")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)

    import distributed

    from fssync.hooks.manager import registered
    from fssync.testing.servers import SeaweedServer
    from fssync_plugins import dask as dask_plugin

    rows: list[dict[str, Any]] = []
    listing: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, SeaweedServer(Path(tmp) / "weed") as server:
        ep = server.endpoint
        bucket = ep.make_bucket()
        os.environ["FSSYNC_STATE_DIR"] = str(Path(tmp) / "state")  # workers inherit it
        src = Path(tmp) / "src"
        size = make_files(src, args.files)
        print(f"{args.files} files, {size / 2**20:.1f} MiB, SeaweedFS on 127.0.0.1", flush=True)
        keys = {
            "endpoint_url": ep.url,
            "access_key_id": ep.access_key,
            "secret_access_key": ep.secret_key,
            "region": ep.region,
        }
        base: dict[str, float] = {}
        setups: list[tuple[str, int]] = [("in-process", 0)] + [("dask", n) for n in args.workers]
        with registered(dask_plugin):
            for name, n in setups:
                cluster = client = None
                if n:
                    cluster = distributed.LocalCluster(
                        n_workers=n,
                        processes=True,
                        threads_per_worker=1,
                        dashboard_address=None,
                        host="127.0.0.1",
                    )
                    client = distributed.Client(cluster)
                try:
                    opts: dict[str, Any] = dict(keys)
                    if n:
                        opts.update(
                            executor="dask",
                            scheduler=cluster.scheduler_address,  # type: ignore[union-attr]
                            list_on=args.list_on,
                        )
                    label = name if not n else f"dask x{n}"
                    up = f"s3://{bucket}/{label.replace(' ', '')}-up"
                    across = f"s3://{bucket}/{label.replace(' ', '')}-across"
                    for direction, s, d in (
                        ("local -> S3", str(src), up),
                        ("S3 -> S3", up, across),
                    ):
                        row = one_run(s, d, opts, client, args.files)
                        if not n:
                            base[direction] = float(row["cpu_ms_per_file"])
                        extra = float(row["cpu_ms_per_file"]) - base[direction]
                        row = {
                            "executor": label,
                            "direction": direction,
                            **row,
                            "overhead_ms_per_file": round(extra, 3) if n else 0.0,
                        }
                        rows.append(row)
                        print(json.dumps(row), flush=True)
                finally:
                    if client is not None:
                        client.close()
                    if cluster is not None:
                        cluster.close()
        listing = listing_rate(f"s3://{bucket}/in-process-up", keys, args.files)
        print(json.dumps(listing), flush=True)
    print()
    print("| executor | direction | wall s | CPU ms/file (driver + workers) | overhead ms/file |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['executor']} | {r['direction']} | {r['wall_s']} | {r['cpu_ms_per_file']} "
            f"({r['driver_cpu_ms_per_file']} + {r['workers_cpu_ms_per_file']}) | "
            f"{r['overhead_ms_per_file']} |"
        )
    if args.out:
        args.out.write_text(json.dumps({"runs": rows, "listing": listing}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
