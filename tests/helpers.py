"""Small helpers shared by the tests: make trees, read trees back."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from fssync.testing.servers import S3Endpoint


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


def imported_after(args: list[str], env: dict[str, str], modules: Iterable[str]) -> set[str]:
    """Which of `modules` running the CLI with `args` imports in a fresh interpreter (stdout is
    a pipe, not a terminal). A module the interpreter loaded before fssync started (a site
    ``.pth`` file of the machine may import certifi, which imports tempfile) is not counted:
    fssync did not load it and cannot avoid it."""
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        "from fssync.cli.main import main\n"
        f"code = main({args!r})\n"
        f"print(json.dumps([m for m in {list(modules)!r} if m in sys.modules and m not in before]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def preloaded(env: dict[str, str], modules: Iterable[str]) -> set[str]:
    """Which of `modules` a fresh interpreter has imported before running any code of ours."""
    code = (
        f"import sys, json; print(json.dumps([m for m in {list(modules)!r} if m in sys.modules]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def s3_opts(ep: S3Endpoint, **more: object) -> dict[str, object]:
    """Keyword arguments for `fssync.sync` that point at a test server with its keys."""
    out: dict[str, object] = {
        "endpoint_url": ep.url,
        "access_key_id": ep.access_key,
        "secret_access_key": ep.secret_key,
        "region": ep.region,
    }
    if ep.session_token:
        out["session_token"] = ep.session_token
    return {**out, **more}


def s3_args(ep: S3Endpoint, url: str | None = None) -> list[str]:
    """The same as command-line options; `url` replaces the endpoint (a proxy in front)."""
    out = ["--endpoint-url", url or ep.url, "--access-key-id", ep.access_key]
    out += ["--secret-access-key", ep.secret_key, "--region", ep.region]
    return out + (["--session-token", ep.session_token] if ep.session_token else [])


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


SAMPLE = {
    "a.txt": b"alpha\n",
    "empty.bin": b"",
    "dir/b.txt": b"bravo" * 100,
    "dir/sub/c.bin": os.urandom(300_000),
    "spaces and ünïcode/ß.txt": b"unicode name",
}
