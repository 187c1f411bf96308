"""Run one client command and measure it the way the kernel accounts for it.

Why a launcher: Linux charges a process's ``ru_maxrss`` with the memory it had *before*
``exec``, and a child forked from the harness starts as a copy of the harness (boto3 and all,
~100 MiB). So the harness starts a minimal ``python -S`` launcher, which forks and execs the
client and reports the client's own ``wait4`` rusage and wall time. The floor this leaves is
the launcher's few MiB, far below any client measured here. ``wait4`` also charges the client
with the grandchildren it waited for, so wrapper scripts are counted in full.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from bench.server_counts import Requests

TAIL_CHARS = 600

# Runs as `python -S -c LAUNCHER RESULT_JSON CMD...`; keep it import-light.
LAUNCHER = """
import os, sys, time, json
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    except OSError as e:
        os.write(2, f"cannot run {cmd[0]}: {e}\\n".encode())
    os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
code = os.waitstatus_to_exitcode(status)
with open(out, "w") as f:
    json.dump({"wall": wall, "user": ru.ru_utime, "sys": ru.ru_stime,
               "maxrss_kib": ru.ru_maxrss, "exit": code}, f)
sys.exit(code if 0 <= code < 256 else 128 - code)
"""


@attrs.frozen
class RunResult:
    """What one run of a client cost and how it ended."""

    wall_s: float
    user_s: float
    sys_s: float
    rss_mib: float
    exit_code: int
    timed_out: bool
    output_tail: str
    requests: Requests | None = None  # as the server counted them; None if it could not

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def _kill_group(pid: int) -> None:
    """Kill the process group of a launcher we started (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _tail(path: Path) -> str:
    """The end of a log, to explain a failed row."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - TAIL_CHARS))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _wait_with_timeout(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[int, bool]:
    """Reap ``proc``; kill its group at the deadline. Returns (exit code, timed out)."""
    timed_out = threading.Event()
    reaped = threading.Lock()  # held once reaped: the PID may then belong to someone else

    def on_timeout() -> None:
        if reaped.acquire(blocking=False):
            try:
                timed_out.set()
                _kill_group(proc.pid)
            finally:
                reaped.release()

    watchdog = threading.Timer(timeout_s, on_timeout)
    watchdog.start()
    try:
        _, status, _usage = os.wait4(proc.pid, 0)
    except BaseException:  # Ctrl-C or SIGTERM while waiting: never leave the client running
        _kill_group(proc.pid)
        proc.wait()
        raise
    finally:
        watchdog.cancel()
    reaped.acquire()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, timed_out.is_set()


def run_measured(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log: Path,
    timeout_s: float,
) -> RunResult:
    """Run ``cmd`` to completion (or kill it at ``timeout_s``) and return its costs.

    Output goes to ``log`` rather than a pipe, so a chatty client cannot stall on a full pipe.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    result_file = log.with_suffix(".rusage.json")
    result_file.unlink(missing_ok=True)
    launcher = [sys.executable, "-S", "-c", LAUNCHER, str(result_file), *cmd]
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            launcher,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a timeout kills launcher and client
        )
    exit_code, timed_out = _wait_with_timeout(proc, timeout_s)
    outer_wall = time.perf_counter() - start
    try:
        inner = json.loads(result_file.read_text())
    except (OSError, ValueError):  # killed before it could report
        inner = {"wall": outer_wall, "user": 0.0, "sys": 0.0, "maxrss_kib": 0, "exit": exit_code}
    return RunResult(
        wall_s=float(inner["wall"]),
        user_s=float(inner["user"]),
        sys_s=float(inner["sys"]),
        rss_mib=float(inner["maxrss_kib"]) / 1024.0,
        exit_code=int(inner["exit"]),
        timed_out=timed_out,
        output_tail=_tail(log),
    )
