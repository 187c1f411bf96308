"""The file-system floor of a small-file download: a plain Python loop creating the files.

    python -m bench.fs_floor                     # 5,000 x 4 KiB, 3 runs of each way
    python -m bench.fs_floor --files 1000 --repeat 5

No network and no server: the same tree as ``python -m bench``'s S5 (folders of 100 files,
random bytes already in memory) written into an empty folder in four ways, so that a download's
wall and CPU time can be read against what only making the files costs on this machine:

- ``direct``: open, write, close under the final name;
- ``temp+rename``: the same under a temporary name in the folder, then ``os.replace``, as a
  download that never leaves a partial file under the final name must;
- ``temp+rename+mtime``: and the source's mtime set on the descriptor, as fssync does;
- ``threads``: the last, one worker-thread call per file from an asyncio loop (``to_thread``),
  the way fssync's local store hands a small file to the disk.

Each way runs in a fresh folder, alternating with the others, and the folder is removed after;
the page cache takes the writes, so this is the cost of the system calls and the interpreter,
not of the disk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.dataset import small_key

CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
MTIME_NS = 1_700_000_000_123_456_789


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, CREATE, 0o666)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _temp_rename(path: str, data: bytes, mtime: bool) -> None:
    folder, name = os.path.split(path)
    temp = os.path.join(folder, f".{name}.part-{random.getrandbits(32):08x}")
    fd = os.open(temp, CREATE, 0o666)
    try:
        os.write(fd, data)
        if mtime:
            os.utime(fd, ns=(MTIME_NS, MTIME_NS))
    finally:
        os.close(fd)
    os.replace(temp, path)


def _folders(root: Path, keys: list[str]) -> list[str]:
    paths = [str(root / k) for k in keys]
    for folder in {os.path.dirname(p) for p in paths}:
        os.makedirs(folder, exist_ok=True)
    return paths


def direct(root: Path, keys: list[str], data: list[bytes]) -> None:
    for path, body in zip(_folders(root, keys), data, strict=True):
        _write(path, body)


def temp_rename(root: Path, keys: list[str], data: list[bytes]) -> None:
    for path, body in zip(_folders(root, keys), data, strict=True):
        _temp_rename(path, body, mtime=False)


def temp_rename_mtime(root: Path, keys: list[str], data: list[bytes]) -> None:
    for path, body in zip(_folders(root, keys), data, strict=True):
        _temp_rename(path, body, mtime=True)


def threads(root: Path, keys: list[str], data: list[bytes], concurrency: int = 16) -> None:
    paths = _folders(root, keys)

    async def run() -> None:
        todo = iter(zip(paths, data, strict=True))

        async def worker() -> None:
            for path, body in todo:
                await asyncio.to_thread(_temp_rename, path, body, True)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(run())


WAYS: dict[str, Callable[[Path, list[str], list[bytes]], None]] = {
    "direct": direct,
    "temp+rename": temp_rename,
    "temp+rename+mtime": temp_rename_mtime,
    "threads": threads,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fs_floor", description=__doc__)
    p.add_argument("--files", type=int, default=5000)
    p.add_argument("--file-kib", type=int, default=4)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dir", type=Path, help="where to write (default: a temporary folder)")
    args = p.parse_args(argv)
    rng = random.Random(1)
    keys = [small_key(i) for i in range(args.files)]
    data = [rng.randbytes(args.file_kib * 1024) for _ in keys]
    base = Path(tempfile.mkdtemp(prefix="fs-floor-", dir=args.dir))
    walls: dict[str, list[float]] = {w: [] for w in WAYS}
    cpus: dict[str, list[float]] = {w: [] for w in WAYS}
    try:
        for rep in range(args.repeat):
            for name, way in WAYS.items() if rep % 2 == 0 else reversed(WAYS.items()):
                root = base / f"{rep}-{name.replace('+', '-')}"
                w, c = time.perf_counter(), time.process_time()
                way(root, keys, data)
                walls[name].append(time.perf_counter() - w)
                cpus[name].append(time.process_time() - c)
                shutil.rmtree(root)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{args.files:,} files of {args.file_kib} KiB, median of {args.repeat}:\n")
    print("| way | wall s | CPU s | CPU us per file |")
    print("| --- | --- | --- | --- |")
    for name in WAYS:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"| {name} | {wall:.3f} | {cpu:.3f} | {cpu / args.files * 1e6:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
