"""The local trees the scenarios sync, and their manifests.

Files are random bytes (incompressible, no dedup shortcuts) from a seeded generator, so two
runs sync the same data. Small files are spread over folders of 100, like a photo or source
tree rather than one flat directory.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from pathlib import Path

import attrs

FILES_PER_DIR = 100
LARGE_CHUNK = 8 * 1024 * 1024


@attrs.frozen
class FileInfo:
    size: int
    md5: str


Manifest = dict[str, FileInfo]  # relative POSIX key -> size and MD5


def small_key(i: int) -> str:
    return f"d{i // FILES_PER_DIR:03d}/f{i:06d}.bin"


def make_small_tree(root: Path, count: int, size: int, seed: int = 1) -> None:
    """``count`` files of ``size`` random bytes under ``root``."""
    rng = random.Random(seed)
    for i in range(count):
        path = root / small_key(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))


def make_large_file(path: Path, size: int) -> None:
    """One file of ``size`` random bytes, written in chunks to keep the harness small."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(2)
    with path.open("wb") as f:
        left = size
        while left:
            n = min(LARGE_CHUNK, left)
            f.write(rng.randbytes(n))
            left -= n


def copy_tree(src: Path, dst: Path) -> None:
    """A private copy for one tool, mtimes kept, so its edits do not leak into others' trees."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, copy_function=shutil.copy2)


def md5_file(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            h.update(block)
    return h.hexdigest()


def manifest(root: Path) -> Manifest:
    """Every regular file under ``root`` with its size and MD5."""
    result: Manifest = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            key = path.relative_to(root).as_posix()
            result[key] = FileInfo(path.stat().st_size, md5_file(path))
    return result


@attrs.frozen
class Mutation:
    edited: tuple[str, ...]
    added: tuple[str, ...]
    deleted: tuple[str, ...]


def mutate(root: Path, fraction: float, size: int, seed: int) -> Mutation:
    """Edit, add and delete ``fraction`` of the files each (at least one of each).

    Edits change the size as well as the content: every tool then sees the change from the
    listing alone, so S3 measures the cost of a delta sync, not which tools trust mtimes.
    """
    rng = random.Random(seed)
    keys = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    n = max(1, int(len(keys) * fraction))
    picked = rng.sample(keys, 2 * n)
    edited, deleted = picked[:n], picked[n:]
    for key in edited:
        (root / key).write_bytes(rng.randbytes(size + rng.randint(1, 512)))
    for key in deleted:
        (root / key).unlink()
    added = [f"new{seed:02d}/a{i:06d}.bin" for i in range(n)]
    for key in added:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
    return Mutation(tuple(edited), tuple(added), tuple(deleted))
