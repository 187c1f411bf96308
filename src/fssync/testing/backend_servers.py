"""Real servers of the other backends on 127.0.0.1, for tests: SFTP (asyncssh), FTP
(pyftpdlib), WebDAV (wsgidav), GCS (gcp-storage-emulator), Azure Blob (Azurite, from npm) and a
static HTTP file server. Each is a child process on a free port, started and stopped by this
code like the S3 servers of `servers`, its output in a log file in its working folder.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs

from fssync.testing.servers import (
    LOCALHOST,
    ServerStartError,
    _Server,
    _wait_until_ready,
    free_ports,
)

__all__ = [
    "AZURITE_ACCOUNT",
    "AZURITE_KEY",
    "DENIED",
    "AzuriteServer",
    "FtpServer",
    "GcsServer",
    "HttpServer",
    "Login",
    "SftpServer",
    "WebdavServer",
    "azurite_command",
]

# Azurite's documented development account (public, the same in every Azurite).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@attrs.frozen
class Login:
    """Where a server listens and who may log in."""

    host: str
    port: int
    user: str = ""
    password: str = attrs.field(default="", repr=False)
    key_file: str | None = None  # SFTP: a private key the server accepts
    known_hosts: str | None = None  # SFTP: a known_hosts file naming the server's key

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _tcp_probe(port: int) -> None:
    with socket.create_connection((LOCALHOST, port), timeout=1):
        pass


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    # The child imports fssync.testing like this process does.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


class _Simple(_Server):
    """A server that is one command on one port, ready when the port accepts."""

    name = "server"
    start_timeout = 30.0

    def __init__(self, workdir: Path, *, user: str = "fssync", password: str = "") -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.root = self.workdir / "root"
        self.root.mkdir(exist_ok=True)
        self.user = user
        self.password = password or f"pw-{os.urandom(6).hex()}"
        self._login: Login | None = None
        self._stop_grace = 3.0

    @property
    def login(self) -> Login:
        if self._login is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._login

    def argv(self, port: int) -> list[str]:
        raise NotImplementedError

    def probe(self, port: int) -> None:
        _tcp_probe(port)

    def start(self) -> Login:
        self._check_not_started()
        (port,) = free_ports(1)
        argv = self.argv(port)
        child = self._spawn(
            argv, cwd=self.workdir, env=_python_env(), log_path=self.workdir / f"{self.name}.log"
        )
        try:
            _wait_until_ready(child, lambda: self.probe(port), self.start_timeout, self.name)
        except BaseException:
            self.stop()
            raise
        self._login = self.make_login(port)
        return self._login

    def make_login(self, port: int) -> Login:
        return Login(LOCALHOST, port, self.user, self.password)

    def _after_stop(self) -> None:
        self._login = None


# A folder of that name, anywhere under a server's root, refuses every write (SFTP), or the
# WebDAV share of that name is read-only: where the conformance suite checks "permission
# denied" (chmod denies nothing to tests that run as root).
DENIED = "fssync-denied"


class SftpServer(_Simple):
    """asyncssh serving `root` to one user: password or key login (see `sftp_server`); every
    write inside a folder named `DENIED` is refused with SFTP's permission denied."""

    name = "sftp"

    def argv(self, port: int) -> list[str]:
        import asyncssh

        host_key = asyncssh.generate_private_key("ssh-ed25519")
        host_path = self.workdir / "host_key"
        host_key.write_private_key(str(host_path))
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.key_path = self.workdir / "client_key"
        client_key.write_private_key(str(self.key_path))
        self.key_path.chmod(0o600)
        authorized = self.workdir / "authorized_keys"
        client_key.write_public_key(str(authorized))
        self.known_hosts = self.workdir / "known_hosts"
        public = host_key.export_public_key().decode().strip()
        self.known_hosts.write_text(f"[{LOCALHOST}]:{port} {public}\n")
        return [
            sys.executable,
            "-m",
            "fssync.testing.sftp_server",
            f"--port={port}",
            f"--root={self.root}",
            f"--host-key={host_path}",
            f"--user={self.user}",
            f"--password={self.password}",
            f"--authorized-keys={authorized}",
            f"--refuse={DENIED}",
        ]

    def make_login(self, port: int) -> Login:
        return Login(
            LOCALHOST,
            port,
            self.user,
            self.password,
            key_file=str(self.key_path),
            known_hosts=str(self.known_hosts),
        )


class FtpServer(_Simple):
    """pyftpdlib with one user who may write, or (``write=False``) who may only read: its
    server answers 550 to every upload, delete and rename."""

    name = "ftp"

    def __init__(self, workdir: Path, *, write: bool = True, **kwargs: Any) -> None:
        super().__init__(workdir, **kwargs)
        self.write = write

    def argv(self, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pyftpdlib",
            f"--interface={LOCALHOST}",
            f"--port={port}",
            *(["--write"] if self.write else []),
            f"--directory={self.root}",
            f"--username={self.user}",
            f"--password={self.password}",
        ]


class WebdavServer(_Simple):
    """wsgidav serving `root` to one user (HTTP basic over loopback), and `denied_root` as
    the read-only share ``/DENIED`` (403 to every write)."""

    name = "webdav"

    @property
    def denied_root(self) -> Path:
        return self.workdir / DENIED

    def argv(self, port: int) -> list[str]:
        self.denied_root.mkdir(exist_ok=True)
        config = {
            "host": LOCALHOST,
            "port": port,
            "provider_mapping": {
                "/": str(self.root),
                f"/{DENIED}": {"root": str(self.denied_root), "readonly": True},
            },
            "http_authenticator": {"accept_basic": True, "accept_digest": False},
            "simple_dc": {"user_mapping": {"*": {self.user: {"password": self.password}}}},
            "verbose": 1,
            "logging": {"enable_loggers": []},
        }
        path = self.workdir / "wsgidav.json"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        wsgidav = shutil.which("wsgidav")
        if wsgidav is None:
            raise ServerStartError("`wsgidav` not found on PATH (pip install wsgidav cheroot)")
        return [wsgidav, f"--config={path}", "--server=cheroot"]


class GcsServer(_Simple):
    """gcp-storage-emulator in memory; buckets are made with `make_bucket`."""

    name = "gcs"

    def argv(self, port: int) -> list[str]:
        tool = shutil.which("gcp-storage-emulator")
        if tool is None:
            raise ServerStartError("`gcp-storage-emulator` not found on PATH (pip install it)")
        return [tool, "start", f"--host={LOCALHOST}", f"--port={port}", "--in-memory", "-q"]

    @property
    def endpoint(self) -> str:
        return f"http://{self.login.address}"

    def make_bucket(self, name: str) -> str:
        import urllib.request

        request = urllib.request.Request(
            f"{self.endpoint}/storage/v1/b?project=test",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10):
            pass
        return name


def azurite_command(project: Path | None = None) -> str:
    """The azurite-blob program: the project's own install (.ci/run puts it in
    .ci/node/node_modules), then PATH. Raises ServerStartError saying why when there is none."""
    base = project or Path(__file__).resolve().parents[3]
    local = base / ".ci" / "node" / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    found = os.environ.get("FSSYNC_AZURITE") or shutil.which("azurite-blob")
    if found:
        return found
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        raise ServerStartError(
            "Node.js is missing, so Azurite (npm 'azurite') cannot run: install Node.js and npm; "
            "the tests then install Azurite into .ci/node themselves"
        )
    # The version pinned in .ci/node/package.json, installed on first use (as .ci/run does), so
    # the README's one test command is enough on a fresh machine with Node.js.
    folder = base / ".ci" / "node"
    try:
        subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(folder),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServerStartError(
            f"Azurite is not installed and 'npm install --prefix .ci/node' failed ({exc})"
        ) from None
    if not local.exists():
        raise ServerStartError("Azurite is not installed: npm install --prefix .ci/node")
    return str(local)


class AzuriteServer(_Simple):
    """Azurite's blob service with its development account, data in the working folder."""

    name = "azurite"

    def argv(self, port: int) -> list[str]:
        return [
            azurite_command(),
            f"--blobHost={LOCALHOST}",
            f"--blobPort={port}",
            f"--location={self.workdir / 'data'}",
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
            "--disableProductStyleUrl",
        ]

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://{self.login.address}/{AZURITE_ACCOUNT};"
        )

    def make_container(self, name: str) -> str:
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(self.connection_string)
        service.create_container(name)
        return name


class HttpServer(_Simple):
    """Python's static file server over `root`: a read-only source with folder listings."""

    name = "http"

    def argv(self, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "http.server",
            f"--bind={LOCALHOST}",
            f"--directory={self.root}",
            str(port),
        ]

    @property
    def url(self) -> str:
        return f"http://{self.login.address}"


def describe(server: Any) -> str:
    return f"{type(server).__name__} on {server.login.address}"
