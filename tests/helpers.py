"""Small helpers shared by the tests: make trees, read trees back."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def make_tree(root: Path, files: dict[str, bytes], mtime: float | None = 1_700_000_000.0) -> None:
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))


def read_tree(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def mtimes(root: Path) -> dict[str, float]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime for p in root.rglob("*") if p.is_file()
    }


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


SAMPLE = {
    "a.txt": b"alpha\n",
    "empty.bin": b"",
    "dir/b.txt": b"bravo" * 100,
    "dir/sub/c.bin": os.urandom(300_000),
    "spaces and ünïcode/ß.txt": b"unicode name",
}
