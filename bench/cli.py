"""``python -m bench``: fssync and the anchors on one local SeaweedFS server, one run.

The server, the data and the timing all belong to this one process, so the ratios it prints
compare tools under the same conditions. Everything is bounded: every client run has a
timeout, and the server and any running client are stopped on errors, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from bench.anchors import (
    BENCH_DIR,
    PACKAGES,
    PYTHON_ANCHORS,
    Installed,
    prepare_anchors,
    probe_fssync,
    probe_python_anchor,
)
from bench.report import fssync_summary, results_table, to_json, write_json
from bench.scenarios import SCENARIO_IDS, SCENARIOS, Bench, Settings, aggregate
from bench.server_counts import RequestCounter
from bench.tools import ALL_TOOLS, ANCHORS, CLIENTS, Client, FssyncBefore

WORK_ROOT = BENCH_DIR / ".work"
ACCESS_KEY = "bench-access-key"
SECRET_KEY = "bench-secret-key-0123456789"


def log(message: str) -> None:
    """Progress goes to stderr so stdout carries only the results."""
    print(message, file=sys.stderr, flush=True)


def _csv(choices: tuple[str, ...]) -> Any:
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        unknown = [t for t in items if t not in choices]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}")
        return items

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark fssync against aws, s5cmd, rclone, s3cmd, obstore and boto3's "
        "CRT transfer manager on a local SeaweedFS server, in one run.",
    )
    p.add_argument("--quick", action="store_true", help="1,000 files, 64 MiB, one run each")
    p.add_argument("--files", type=int, help="small files (default 5000; 1000 with --quick)")
    p.add_argument("--file-kib", type=int, default=4, help="size of a small file (default 4)")
    p.add_argument("--large-mib", type=int, help="large file size (default 256; 64 with --quick)")
    p.add_argument(
        "--repeat",
        type=int,
        help="runs per tool and scenario, median reported (default 1; in full mode 3 for "
        "runs under 12 s)",
    )
    p.add_argument("--tools", type=_csv(ALL_TOOLS), default=list(ALL_TOOLS), help="default: all")
    p.add_argument(
        "--scenarios", type=_csv(SCENARIO_IDS), default=list(SCENARIO_IDS), help="default: all"
    )
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p.add_argument("--timeout", type=float, help="seconds per client run (600; 120 quick)")
    p.add_argument(
        "--fssync-transfers", type=int, help="pass --transfers N to fssync (default: its own)"
    )
    p.add_argument(
        "--fssync-before",
        metavar="PYTHON",
        help="also run the fssync installed in this interpreter (another checkout), as row "
        "fssync-before with fssync's flags: before and after a change in one run",
    )
    p.add_argument(
        "--no-install", action="store_true", help="use bench/.venv as it is; install nothing"
    )
    p.add_argument("--keep", action="store_true", help="keep data and server files afterwards")
    ns = p.parse_args(argv)
    for flag in ("repeat", "files", "file_kib", "large_mib", "fssync_transfers"):
        value = getattr(ns, flag)
        if value is not None and value < 1:
            p.error(f"--{flag.replace('_', '-')} must be at least 1")
    if ns.fssync_before is not None and shutil.which(ns.fssync_before) is None:
        p.error(f"--fssync-before: {ns.fssync_before} is not an executable")
    return ns


def tool_names(ns: argparse.Namespace) -> list[str]:
    """The tools to run, in report order: fssync-before, when asked for, right after fssync."""
    names = list(ns.tools)
    if ns.fssync_before is not None:
        at = names.index("fssync") + 1 if "fssync" in names else 0
        names.insert(at, FssyncBefore.name)
    return names


def _settings(ns: argparse.Namespace, workdir: Path) -> Settings:
    return Settings(
        files=ns.files or (1000 if ns.quick else 5000),
        file_size=ns.file_kib * 1024,
        large_mib=ns.large_mib or (64 if ns.quick else 256),
        repeat=ns.repeat,
        quick=ns.quick,
        timeout_s=ns.timeout or (120.0 if ns.quick else 600.0),
        workdir=workdir,
    )


def _with_dependencies(scenarios: list[str]) -> list[str]:
    """S2 and S3 re-run S1's upload, so asking for them brings S1 along."""
    wanted = set(scenarios)
    for s in SCENARIOS:
        if s.id in wanted and s.needs:
            wanted.add(s.needs)
    return [sid for sid in SCENARIO_IDS if sid in wanted]


def _titles(settings: Settings) -> dict[str, str]:
    fields = {
        "files": f"{settings.files:,}",
        "size_kib": settings.file_size // 1024,
        "large_mib": settings.large_mib,
    }
    return {s.id: s.title.format(**fields) for s in SCENARIOS}


def _prepare_tools(ns: argparse.Namespace) -> dict[str, Installed]:
    anchors = [t for t in ns.tools if t in ANCHORS and t not in PYTHON_ANCHORS]
    found = prepare_anchors(anchors, install=not ns.no_install, log=log) if anchors else {}
    for name in ns.tools:
        if name in PYTHON_ANCHORS:
            found[name] = probe_python_anchor(name)
    if "fssync" in ns.tools:
        found["fssync"] = probe_fssync()
    if ns.fssync_before is not None:
        found[FssyncBefore.name] = probe_fssync(ns.fssync_before, FssyncBefore.name)
    return {t: found[t] for t in tool_names(ns)}


def _weed_version() -> str:
    try:
        out = subprocess.run(["weed", "version"], capture_output=True, text=True, timeout=30)
        return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unknown"


def _python_start() -> float:
    """Median wall time of this interpreter starting and doing nothing (its site hooks
    included): the part of fssync's S0 that no change to fssync can remove."""
    import statistics
    import subprocess

    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 3)


def _meta(settings: Settings, tools: dict[str, Installed]) -> dict[str, Any]:
    """What a reader of the JSON needs to judge the numbers: machine, server, versions."""
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "python_start_s": _python_start(),
        },
        "server": f"SeaweedFS {_weed_version()} on 127.0.0.1 (fssync.testing.servers)",
        "settings": {
            "files": settings.files,
            "file_bytes": settings.file_size,
            "large_mib": settings.large_mib,
            "repeat": settings.repeat or ("1" if settings.quick else "auto"),
            "quick": settings.quick,
            "timeout_s": settings.timeout_s,
            "scenarios": _titles(settings),
        },
        "tools": {
            name: {"version": t.version, "problem": t.problem, "package": _package(name)}
            for name, t in tools.items()
        },
        "argv": sys.argv,
    }


def _package(name: str) -> str | None:
    if name in PYTHON_ANCHORS:
        return PYTHON_ANCHORS[name][2]
    return PACKAGES.get(name)


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _run_bench(
    settings: Settings,
    tools: dict[str, Installed],
    scenarios: list[str],
    extra: dict[str, list[str]],
) -> Bench:
    """Start the server, run everything, stop the server whatever happens."""
    from fssync.testing.servers import SeaweedServer

    log(f"starting SeaweedFS in {settings.workdir / 'server'}")
    (settings.workdir / "server").mkdir(parents=True, exist_ok=True)
    with SeaweedServer(
        settings.workdir / "server", access_key=ACCESS_KEY, secret_key=SECRET_KEY
    ) as server:
        clients: dict[str, Client] = {
            name: CLIENTS[name](
                installed=t,
                endpoint=server.endpoint,
                confdir=settings.workdir / "conf" / name,
                extra_args=tuple(extra.get(name, ())),
            )
            for name, t in tools.items()
            if t.ok
        }
        unavailable = {name: t.problem for name, t in tools.items() if not t.ok}
        counter = RequestCounter(server.metrics_url)
        bench = Bench(settings, server.endpoint, clients, unavailable, log, counter)
        try:
            bench.prepare_data(scenarios)
            for sid, title in _titles(settings).items():
                if sid in scenarios:
                    log(f"{sid}: {title}")
                    bench.run_scenario(sid)
        except KeyboardInterrupt:
            log("interrupted: stopping the server and reporting what ran")
            bench.stopped_by = "interrupted"
        except Exception:  # a harness bug or a full disk: keep what was measured
            log(traceback.format_exc())
            log("harness error: stopping the server and reporting what ran")
            bench.stopped_by = "harness error"
    return bench


def _cleanup(workdir: Path, keep: bool) -> None:
    """Data, server files and generated configs (keys) go; logs stay for failed rows."""
    if keep:
        return
    for name in ("src", "trees", "dl", "server", "conf"):
        shutil.rmtree(workdir / name, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        import fssync.testing.servers  # noqa: F401
    except ImportError as e:
        log(f"cannot import fssync.testing.servers ({e}); install the project: pip install -e .")
        return 2
    workdir = WORK_ROOT / time.strftime("run-%Y%m%d-%H%M%S")
    try:
        return _main(ns, workdir)
    except KeyboardInterrupt:
        log("interrupted before any result")
        return 130
    finally:
        _cleanup(workdir, ns.keep)


def _main(ns: argparse.Namespace, workdir: Path) -> int:
    from fssync.testing.servers import ServerStartError

    settings = _settings(ns, workdir)
    tools = _prepare_tools(ns)
    for name, t in tools.items():
        log(f"{name:<13} {t.version or 'MISSING: ' + t.problem}")
    extra = {}
    if ns.fssync_transfers is not None:
        for name in ("fssync", FssyncBefore.name):
            extra[name] = ["--transfers", str(ns.fssync_transfers)]
    meta = _meta(settings, tools)
    started = time.monotonic()
    try:
        bench = _run_bench(settings, tools, _with_dependencies(ns.scenarios), extra)
    except ServerStartError as e:
        log(f"SeaweedFS did not start: {e}")
        return 2
    meta["duration_s"] = round(time.monotonic() - started, 1)
    return _report(bench, meta, tools, ns.out or workdir / "results.json")


def _report(bench: Bench, meta: dict[str, Any], tools: dict[str, Installed], out: Path) -> int:
    rows = aggregate(bench.outcomes, set(ANCHORS))
    meta["stopped_by"] = bench.stopped_by
    meta["request_counts"] = bench.counts_off or "server counters (bench/server_counts.py)"
    titles = _titles(bench.settings)
    mode = "quick" if bench.settings.quick else "full"
    cut = f", {bench.stopped_by.upper()}: partial results" if bench.stopped_by else ""
    print(f"\n## fssync benchmark ({mode}, {meta['duration_s']} s, "
          f"{meta['machine']['cpus']} CPUs, one SeaweedFS server{cut})\n")  # fmt: skip
    print(f"Python itself starts in {meta['machine']['python_start_s']} s here "
          "(`python -c pass`, median of 5): part of every fssync row.\n")  # fmt: skip
    print(results_table(rows, list(tools), titles))
    summary = fssync_summary(rows, list(tools))
    if summary:
        print("\n### fssync / best anchor (lower is better)\n")
        print(summary)
    write_json(out, to_json(meta, rows, bench.outcomes))
    log(f"\nresults: {out}\nlogs:    {bench.settings.workdir / 'logs'}")
    return {"": 0, "interrupted": 130}.get(bench.stopped_by, 1)
