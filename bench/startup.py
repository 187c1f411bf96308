"""Start-up (S0 without a server): a no-op sync of one local file into another local folder,
next to the bare interpreter.

    python -m bench.startup                  # medians of 15 runs each, and the ratio
    python -m bench.startup --runs 31 --importtime 20
    python -m bench.startup --layers         # what the no-op is made of, layer by layer

The goal is a no-op ``fssync sync SRC DST`` within 1.5x of ``python -c pass``: what the
interpreter costs with this machine's site hooks is the floor no change to fssync can lower, so
the ratio, not the seconds, is the number to read. The commands run one after the other in
each round (the order turned every other round), so a busy moment of a shared machine falls on
all of them. ``--importtime N`` adds the N modules that cost the most to import in the no-op
(``-X importtime``, each module's smallest time over five runs), the list to work from.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .anchors import _byte_compile_project


def commands(src: Path, dst: Path) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "python -S -c pass": [py, "-S", "-c", "pass"],
        "python -c pass": [py, "-c", "pass"],
        "fssync sync (no-op)": [py, "-m", "fssync", "sync", str(src), str(dst), "-q"],
        "fssync --help": [py, "-m", "fssync", "--help"],
    }


# What the no-op is made of, one layer on top of the other: the libraries every run needs, then
# fssync's modules, then its plugins, then the parser of the command; the no-op adds the run.
LIBRARIES = "import asyncio, attrs, pluggy, argparse, json, sqlite3, concurrent.futures"
LAYERS = {
    "+ asyncio": "import asyncio",
    "+ attrs, pluggy": "import asyncio, attrs, pluggy",
    "+ the other libraries": LIBRARIES,
    "+ fssync's modules": f"{LIBRARIES}; import fssync.cli.main, fssync.engine, fssync.stores.local",
    "+ its plugins": f"{LIBRARIES}; import fssync.cli.main, fssync.engine, fssync.stores.local; "
    "from fssync.hooks.manager import make_hooks; h = make_hooks()",
    "+ the sync parser": f"{LIBRARIES}; import fssync.cli.main, fssync.engine, fssync.stores.local; "
    "from fssync.hooks.manager import make_hooks; h = make_hooks(); "
    "fssync.cli.main.build_parser(h, command='sync')",
}


def environment(work: Path) -> dict[str, str]:
    """This environment without a config file or AWS settings, with the state (and so the
    entry-point cache) in `work`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FSSYNC_"))}
    env["FSSYNC_STATE_DIR"] = str(work / "state")
    env["XDG_CONFIG_HOME"] = str(work / "config")
    return env


def _once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run: on a busy machine the CPU time moves
    less than the wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(
    runs: int, env: dict[str, str], cmds: dict[str, list[str]]
) -> dict[str, list[tuple[float, float]]]:
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    for n in range(runs):
        order = list(cmds.items())
        for name, argv in order if n % 2 == 0 else reversed(order):
            times[name].append(_once(argv, env))
    return times


def import_profile(argv: list[str], env: dict[str, str], rounds: int = 5) -> list[tuple]:
    """(self µs, cumulative µs, module) of each module the command imports, the smallest of
    `rounds` runs, most costly (self) first."""
    best: dict[str, tuple[int, int]] = {}
    for _ in range(rounds):
        proc = subprocess.run(
            [argv[0], "-X", "importtime", *argv[1:]],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        for line in proc.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            own, total, name = line[len("import time:") :].split("|")
            key = name.strip()
            seen = best.get(key, (int(own), int(total)))
            best[key] = (min(seen[0], int(own)), min(seen[1], int(total)))
    return sorted(((s, c, m) for m, (s, c) in best.items()), reverse=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (default 15)")
    parser.add_argument(
        "--importtime", type=int, default=0, metavar="N", help="also list the N costliest imports"
    )
    parser.add_argument(
        "--layers", action="store_true", help="also time the layers the no-op is made of"
    )
    ns = parser.parse_args(argv)
    _byte_compile_project()  # as an installed copy would be
    with tempfile.TemporaryDirectory(prefix="fssync-startup-") as tmp:
        work = Path(tmp)
        src, dst = work / "src", work / "dst"
        src.mkdir()
        (src / "one.txt").write_bytes(b"one file\n")
        env = environment(work)
        cmds = commands(src, dst)
        if ns.layers:
            py = sys.executable
            cmds = {
                **{k: v for k, v in cmds.items() if k != "fssync --help"},
                **{name: [py, "-c", code] for name, code in LAYERS.items()},
            }
        _once(cmds["fssync sync (no-op)"], env)  # copies the file, fills the caches
        times = measure(ns.runs, env, cmds)
        floor = [statistics.median(t[i] for t in times["python -c pass"]) for i in (0, 1)]
        print(f"{ns.runs} runs each, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
        print(f"{'command':24} {'wall ms':>8} {'min':>6} {'CPU ms':>7}   / python -c pass")
        for name, values in times.items():
            wall = statistics.median(t[0] for t in values)
            cpu = statistics.median(t[1] for t in values)
            least = min(t[0] for t in values)
            ratio = f"{wall / floor[0]:.2f}x wall, {cpu / floor[1]:.2f}x CPU"
            print(f"{name:24} {wall * 1e3:8.1f} {least * 1e3:6.1f} {cpu * 1e3:7.1f}   {ratio}")
        if ns.importtime:
            print(f"\ncostliest imports of the no-op (-X importtime, best of 5), {ns.importtime}:")
            print(f"{'self ms':>8} {'cumulative ms':>14}  module")
            rows = import_profile(cmds["fssync sync (no-op)"], env)
            for own, total, module in rows[: ns.importtime]:
                print(f"{own / 1e3:8.1f} {total / 1e3:14.1f}  {module}")
            print(f"{sum(r[0] for r in rows) / 1e3:8.1f} {'':14}  all {len(rows)} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
