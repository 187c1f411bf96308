"""Two-way sync: `fssync bisync` next to a one-way `fssync sync` of the same change and
`rclone bisync`, on one local SeaweedFS server, in one run.

    python -m bench.bisync                      # 10,000 files, 1% changed on each side, 3 rounds
    python -m bench.bisync --files 2000 --rounds 1

A local folder of N small files is paired with an S3 prefix holding the same files (seeded by
`fssync sync`, untimed; each tool then makes its own state untimed: fssync's first bisync run,
rclone's `--resync`). Each round edits 1% of the files on the local side and another 1% on the
S3 side (boto3 PUTs, other sizes) and times one run of each tool. The one-way row gets the same
2% as edits on its local side, so it lists as much and moves as many files, in one direction.
After every run the harness checks the two sides hold the same keys and sizes.

Also reported: the bytes of memory a two-way state takes per path once loaded (tracemalloc),
and its SQLite file's size per path.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.anchors import BENCH_DIR, Installed, prepare_anchors, probe_fssync
from bench.measure import RunResult, run_measured
from bench.tools import Rclone, S3Path

ACCESS_KEY = "benchbisync"
SECRET_KEY = "benchbisyncsecret"  # a throw-away key of the local test server
WORK_ROOT = BENCH_DIR / ".work"
ROWS = ("fssync bisync", "fssync sync (one-way)", "rclone bisync")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_tree(root: Path, n: int, size: int, rnd: random.Random) -> list[str]:
    keys = [f"d{i % 100:02d}/f{i:06d}.bin" for i in range(n)]
    for k in keys:
        p = root / k
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rnd.randbytes(size))
    return keys


class Side:
    """One tool's pair: its own copy of the folder and its own bucket."""

    def __init__(self, name: str, work: Path, base: Path, endpoint: Any) -> None:
        self.name = name
        slug = name.replace(" ", "-").replace("(", "").replace(")", "")
        self.local = work / "pairs" / slug / "a"
        shutil.copytree(base, self.local, copy_function=shutil.copy2)
        self.bucket = endpoint.make_bucket()
        self.remote = S3Path(self.bucket)
        self.s3 = endpoint.client()
        self.conf = work / "conf" / slug
        self.conf.mkdir(parents=True, exist_ok=True)

    def edit_local(self, keys: list[str], tag: str) -> None:
        for k in keys:
            (self.local / k).write_bytes(f"{tag}:{k}".encode() * 3)

    def edit_remote(self, keys: list[str], tag: str) -> None:
        for k in keys:
            body = f"{tag}:{k}".encode() * 4
            self.s3.put_object(Bucket=self.bucket, Key=f"{self.remote.prefix}/{k}", Body=body)

    def check_equal(self) -> str:
        """'' when both sides hold the same keys with the same sizes, else what differs."""
        here = {
            p.relative_to(self.local).as_posix(): p.stat().st_size
            for p in self.local.rglob("*")
            if p.is_file()
        }
        there = {}
        pages = self.s3.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=self.remote.prefix + "/"):
            for o in page.get("Contents", []):
                there[o["Key"][len(self.remote.prefix) + 1 :]] = o["Size"]
        here = {k: v for k, v in here.items() if not k.startswith(".")}
        there = {k: v for k, v in there.items() if not k.startswith(".")}
        if here == there:
            return ""
        diff = sorted(set(here.items()) ^ set(there.items()))
        return f"{len(diff)} differences, e.g. {diff[:3]}"


def fssync_env(client: Rclone, conf: Path) -> dict[str, str]:
    env = client.env()  # the server's keys, no user configuration
    for var in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        env[var] = str(conf / var.lower())
    return env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bisync", description=__doc__)
    p.add_argument("--files", type=int, default=10_000, help="files on each side (10,000)")
    p.add_argument("--file-bytes", type=int, default=1024, help="size of a file (1024)")
    p.add_argument("--changed", type=float, default=0.01, help="fraction edited per side")
    p.add_argument("--rounds", type=int, default=3, help="timed runs per tool (median shown)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    p.add_argument("--no-install", action="store_true", help="use bench/.venv as it is")
    p.add_argument("--keep", action="store_true", help="keep the data afterwards")
    ns = p.parse_args(argv)

    from fssync.testing.servers import SeaweedServer

    work = WORK_ROOT / time.strftime("bisync-%Y%m%d-%H%M%S")
    work.mkdir(parents=True)
    fssync = probe_fssync()
    rclone = prepare_anchors(["rclone"], install=not ns.no_install, log=log)["rclone"]
    log(f"fssync: {fssync.version or fssync.problem}; rclone: {rclone.version or rclone.problem}")
    if not fssync.ok:
        return 2
    (work / "server").mkdir()
    try:
        with SeaweedServer(work / "server", access_key=ACCESS_KEY, secret_key=SECRET_KEY) as srv:
            return _run(ns, work, srv.endpoint, fssync, rclone)
    finally:
        if not ns.keep:
            shutil.rmtree(work, ignore_errors=True)


def _run(ns: argparse.Namespace, work: Path, ep: Any, fssync: Installed, rclone: Installed) -> int:
    rnd = random.Random(16)
    base = work / "base"
    keys = make_tree(base, ns.files, ns.file_bytes, rnd)
    log(f"{ns.files:,} files of {ns.file_bytes} bytes made")
    anchor = Rclone(installed=rclone, endpoint=ep, confdir=work / "conf" / "rclone")
    anchor.prepare()
    names = [r for r in ROWS if rclone.ok or not r.startswith("rclone")]
    sides = {name: Side(name, work, base, ep) for name in names}
    logs = work / "logs"
    results: dict[str, list[RunResult]] = {name: [] for name in names}

    def fssync_cmd(side: Side, command: str) -> list[str]:
        cmd = [*fssync.argv, command, str(side.local), side.remote.url(), "--quiet"]
        cmd += ["--endpoint-url", ep.url]
        if command == "bisync":
            cmd += ["--state-dir", str(side.conf / "state")]
        return cmd

    def rclone_cmd(side: Side, *more: str) -> list[str]:
        remote = f"bench:{side.bucket}/{side.remote.prefix}"
        return [*anchor.argv, "bisync", str(side.local), remote, "--transfers", "32", *more]

    def run(name: str, cmd: list[str], label: str) -> RunResult:
        side = sides[name]
        env = anchor.env() if name.startswith("rclone") else fssync_env(anchor, side.conf)
        out = run_measured(cmd, env=env, cwd=work, log=logs / f"{label}.log", timeout_s=ns.timeout)
        if not out.ok:
            raise SystemExit(f"{name} ({label}) failed: exit {out.exit_code}: {out.output_tail}")
        return out

    for name, side in sides.items():  # untimed: the S3 side seeded, each tool's state made
        run(name, fssync_cmd(side, "sync"), f"{side.conf.name}-seed")
        if name == "fssync bisync":
            run(name, fssync_cmd(side, "bisync"), "fssync-bisync-first-run")
        elif name.startswith("rclone"):
            run(name, rclone_cmd(side, "--resync"), "rclone-resync")
        log(f"{name}: ready")

    n = max(1, int(len(keys) * ns.changed))
    for r in range(ns.rounds):
        picked = rnd.sample(keys, 2 * n)
        on_a, on_b = picked[:n], picked[n:]
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            side = sides[name]
            if name.startswith("fssync sync"):
                side.edit_local(on_a + on_b, f"r{r}")  # the same change, in one direction
                cmd = fssync_cmd(side, "sync")
            else:
                side.edit_local(on_a, f"r{r}a")
                side.edit_remote(on_b, f"r{r}b")
                cmd = fssync_cmd(side, "bisync") if name.startswith("fssync") else rclone_cmd(side)
            time.sleep(1.1)  # edits a second older than the run, for tools that compare seconds
            out = run(name, cmd, f"{side.conf.name}-round{r}")
            results[name].append(out)
            problem = side.check_equal()
            log(f"round {r + 1} {name}: {out.wall_s:.2f} s wall, {out.cpu_s:.2f} s CPU, "
                f"{out.rss_mib:.0f} MiB" + (f"; SIDES DIFFER: {problem}" if problem else ""))  # fmt: skip
            if problem:
                return 1

    _table(results, ns)
    _state_memory(sides["fssync bisync"], ep)
    return 0


def _table(results: dict[str, list[RunResult]], ns: argparse.Namespace) -> None:
    med = {k: statistics.median(r.wall_s for r in v) for k, v in results.items()}
    cpu = {k: statistics.median(r.cpu_s for r in v) for k, v in results.items()}
    rss = {k: statistics.median(r.rss_mib for r in v) for k, v in results.items()}
    one_way = med["fssync sync (one-way)"]
    print(f"\n## bisync: {ns.files:,} files, {ns.changed:.0%} changed on each side, "
          f"median of {ns.rounds}\n")  # fmt: skip
    print("| tool | wall s | CPU s | RSS MiB | wall / one-way sync | runs (wall s) |")
    print("|---|---|---|---|---|---|")
    for name, runs in results.items():
        every = ", ".join(f"{r.wall_s:.2f}" for r in runs)
        print(f"| {name} | {med[name]:.2f} | {cpu[name]:.2f} | {rss[name]:.0f} | "
              f"{med[name] / one_way:.2f}x | {every} |")  # fmt: skip
    if "rclone bisync" in med:
        ratio = med["rclone bisync"] / med["fssync bisync"]
        print(f"\nrclone bisync / fssync bisync (wall): {ratio:.2f}x")


def _state_memory(side: Side, ep: Any) -> None:
    """Bytes per path the state costs a run: the peak Python allocates while the run reads
    every record (a stream in key order, joined with the listings), over the path count; and
    what loading the whole state at once would take, for comparison."""
    import gc

    from fssync.settings.location import parse
    from fssync.twoway.state import PairState

    folder = side.conf / "state"
    a, b = parse(str(side.local)).url, parse(side.remote.url()).url
    state = PairState(folder, a, b)
    try:
        gc.collect()
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        paths = sum(1 for _ in state.pairs())
        _, streamed = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        records = state.load()
        whole, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del records
    finally:
        state.close()
    if not paths:
        print("\nstate: no records found (pair URLs not matched)")
        return
    db = sum(f.stat().st_size for f in folder.glob("bisync.sqlite*"))
    print(f"\nstate of {paths:,} paths (a record per side): a run streams it, "
          f"{(streamed - before) / paths:.1f} bytes per path at the peak; loaded whole it "
          f"would hold {(whole - before) / paths:.0f} bytes per path; SQLite file "
          f"{db / paths:.0f} bytes per path")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
