"""Planning at scale: N source entries against N destination entries, pure code only.

    python -m bench.scale                 # 1,000,000 a side
    python -m bench.scale --entries 200000 --changed 0.01

The listings are synthetic but shaped like a real re-run of a local folder against an S3 prefix:
keys in nested folders, the destination knows every mtime (from the state store), and a small
fraction of keys is new, edited or gone. Reported: the time of planning (matching and deciding,
counting, selecting transfers), the time of making every action when asked, and memory measured
two ways — tracemalloc's peak of what planning allocates on top of the listings, and the
process's peak RSS — per entry.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from fssync.model import Capabilities, Entry, Plan
from fssync.planning.decide import Policy, build_plan, compare_size_mtime
from fssync.state.db import enrich


def listings(n: int, changed: float, seed: int = 7) -> tuple[dict[str, Entry], dict[str, Entry]]:
    """Source and destination of about `n` entries each; `changed` of the keys are new on the
    source, `changed` edited (size and mtime), and `changed` only on the destination."""
    rnd = random.Random(seed)
    src: dict[str, Entry] = {}
    dst: dict[str, Entry] = {}
    base = 1_700_000_000.0
    # The destination in key order, as an S3 listing arrives; the source in a scrambled order,
    # as a local folder walk may produce it (the worst case for sorting).
    order = list(range(n))
    rnd.shuffle(order)
    for i in order:
        key = f"dir{i % 1000:03d}/sub{(i // 1000) % 100:02d}/file-{i:08d}.dat"
        size = 1000 + (i * 7919) % 100_000
        mtime = base + (i % 86_400) + 0.123456
        etag = f"{rnd.getrandbits(128):032x}"
        roll = rnd.random()
        if roll < changed:  # only on the source: new
            src[key] = Entry(key, size, mtime, mtime)
        elif roll < 2 * changed:  # only on the destination: deleted at the source
            dst[key] = Entry(key, size, mtime, mtime + 5, etag)
        elif roll < 3 * changed:  # edited
            src[key] = Entry(key, size + 1, mtime + 60, mtime + 60)
            dst[key] = Entry(key, size, mtime, mtime + 5, etag)
        else:
            src[key] = Entry(key, size, mtime, mtime)
            dst[key] = Entry(key, size, mtime, mtime + 5, etag)
    return src, dict(sorted(dst.items()))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Wall time: what a user waits. See `cpu_timed` for a shared, busy machine."""
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def cpu_timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall s, CPU s): CPU time is steadier than wall time when other work competes
    for the cores, since waiting for a core does not count."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def every_action(plan: Plan) -> float:
    """CPU seconds to make every action of a plan, the skip of each unchanged key included."""
    return cpu_timed(lambda: plan.actions)[2]


def state_merge(dst: dict[str, Entry]) -> float:
    """CPU seconds of giving the destination's recorded mtimes back to its listing, as a run
    does before planning when the listing (S3) carries none. Measured after the peaks above."""
    listed = {k: Entry(k, e.size, None, e.stamp, e.etag) for k, e in dst.items()}
    records = {k: (e.etag, e.size, e.mtime, None) for k, e in dst.items()}
    gc.collect()
    return cpu_timed(lambda: enrich(listed, records))[2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    p.add_argument("--entries", type=int, default=1_000_000, help="entries per side")
    p.add_argument("--changed", type=float, default=0.01, help="fraction new / edited / deleted")
    p.add_argument("--repeat", type=int, default=3, help="timed runs (the median is shown)")
    args = p.parse_args(argv)

    _, calibration = timed(lambda: sum(range(10_000_000)))
    (src, dst), made = timed(lambda: listings(args.entries, args.changed))
    total = len(src) + len(dst)
    rss_listings = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    policy = Policy(
        delete=True,
        src_caps=Capabilities(keeps_mtime=True, mtime_window=0.001, stamp_window=0.001),
        dst_caps=Capabilities(keeps_mtime=True, mtime_window=0.001, stamp_window=1.0),
    )

    def plan() -> Any:
        return build_plan("src", "dst", src, dst, policy, compare_size_mtime)

    def whole() -> tuple[Any, dict[str, int], int, int]:
        """What a run does with the plan before transferring: build it, count it, size it,
        pick the transfers and the deletions."""
        result = plan()
        _ = result.bytes
        return result, dict(result.counts()), len(result.transfers), len(result.deletes)

    times = []
    cpus = []
    summary: Any = None
    for _ in range(args.repeat):
        gc.collect()
        summary, seconds, cpu = cpu_timed(whole)
        times.append(seconds)
        cpus.append(cpu)
        del summary
    times.sort()
    cpus.sort()
    gc.collect()
    # The skip of every unchanged key is made only when asked (check --combined, a plugin that
    # reads plan.actions): timed once, apart from planning.
    every_cpu = every_action(plan())
    gc.collect()

    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    result, counts, transfers, deletes = whole()
    _, peak = tracemalloc.get_traced_memory()
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    print(f"machine: sum(range(10**7)) took {calibration:.3f} s (a yardstick: it grows when "
          "other work shares the cores)")  # fmt: skip
    print(
        f"entries: {len(src):,} source + {len(dst):,} destination = {total:,} (built in {made:.1f} s)"
    )
    print(f"plan: {counts}, {transfers:,} transfers, {deletes:,} deletes")
    print(f"planning time (median of {args.repeat}): {times[len(times) // 2]:.2f} s wall "
          f"(min {times[0]:.2f}, max {times[-1]:.2f}), {cpus[len(cpus) // 2]:.2f} s CPU "
          f"(min {cpus[0]:.2f})")  # fmt: skip
    print(f"every action, skips included, made on demand: {every_cpu:.2f} s CPU")
    print(f"planning peak, traced on top of the listings: {(peak - base) / 1e6:.1f} MB = "
          f"{(peak - base) / total:.0f} bytes per entry; the plan itself keeps "
          f"{(kept - base) / total:.0f} bytes per entry")  # fmt: skip
    print(f"process peak RSS: {rss_peak / 1e6:.0f} MB = {rss_peak / total:.0f} bytes per entry "
          f"(listings alone: {rss_listings / total:.0f})")  # fmt: skip
    del result
    print(f"state merge, once (recorded mtimes given back to {len(dst):,} listed S3 objects): "
          f"{state_merge(dst):.2f} s CPU")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
