"""Servers of the other backends as session fixtures, and a named remote for each.

Every backend test reaches its server through a remote of a config file written here (host,
user, password or key, connection string, endpoint), the way a user would.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from fssync.testing.backend_servers import (
    AzuriteServer,
    FtpServer,
    GcsServer,
    HttpServer,
    SftpServer,
    WebdavServer,
)

# gcsfs's default class asks a gRPC control API for each bucket's type, which the emulator
# lacks (a minute of retries); its plain JSON-API class is what the emulator serves.
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"

WRITABLE = ("sftp", "ftp", "webdav", "gcs", "azure")


@attrs.frozen
class Place:
    """A fresh, empty folder (or bucket, or container) on one backend, named by a remote."""

    kind: str
    remote: str  # the remote's name in `config`
    config: Path  # a config file holding the remote
    toml: str
    secret: str  # the one secret the remote carries (a password or an account key)
    disk: Path | None = None  # the server's folder for this place, when it serves a folder

    def seed(self, files: dict[str, bytes]) -> None:
        """Put files straight into the server's folder (fast set-up of large trees)."""
        assert self.disk is not None
        for key, data in files.items():
            path = self.disk.joinpath(*key.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def url(self, path: str = "") -> str:
        return f"{self.remote}:{path}"


def _toml(name: str, table: dict[str, object]) -> str:
    lines = [f"[remotes.{name}]"]
    for key, value in table.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int):
            lines.append(f"{key} = {value}")
        else:
            lines.append(f"{key} = {json.dumps(str(value))}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def sftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpServer]:
    with SftpServer(tmp_path_factory.mktemp("sftp")) as server:
        yield server


@pytest.fixture(scope="session")
def ftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpServer]:
    with FtpServer(tmp_path_factory.mktemp("ftp")) as server:
        yield server


@pytest.fixture(scope="session")
def ftp_readonly_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpServer]:
    """pyftpdlib whose one user may only read (550 to every write, delete and rename)."""
    with FtpServer(tmp_path_factory.mktemp("ftp-ro"), write=False) as server:
        yield server


@pytest.fixture(scope="session")
def webdav_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebdavServer]:
    with WebdavServer(tmp_path_factory.mktemp("webdav")) as server:
        yield server


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsServer]:
    with GcsServer(tmp_path_factory.mktemp("gcs")) as server:
        yield server


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    """Azurite from npm; without Node.js or Azurite this fails with that reason (no skip)."""
    with AzuriteServer(tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    with HttpServer(tmp_path_factory.mktemp("http")) as server:
        yield server


def make_place(
    request: pytest.FixtureRequest, kind: str, folder: Path, *, key_login: bool = False
) -> Place:
    """A fresh place on backend `kind` and a config file naming it `NAME`."""
    unique = uuid.uuid4().hex[:10]
    name = f"{kind}-{unique}"
    disk: Path | None = None
    if kind == "sftp":
        server: SftpServer = request.getfixturevalue("sftp_server")
        login = server.login
        disk = server.root / unique
        disk.mkdir()
        table: dict[str, object] = {
            "type": "sftp",
            "root": f"/{unique}",
            "host": login.host,
            "port": login.port,
            "username": login.user,
            "known-hosts": str(login.known_hosts),
        }
        if key_login:
            table["key-file"] = str(login.key_file)
        else:
            table["password"] = login.password
        secret = login.password
    elif kind == "ftp":
        ftp: FtpServer = request.getfixturevalue("ftp_server")
        login = ftp.login
        disk = ftp.root / unique
        disk.mkdir()
        table = {
            "type": "ftp",
            "root": f"/{unique}",
            "host": login.host,
            "port": login.port,
            "username": login.user,
            "password": login.password,
        }
        secret = login.password
    elif kind == "webdav":
        dav: WebdavServer = request.getfixturevalue("webdav_server")
        login = dav.login
        disk = dav.root / unique
        disk.mkdir()
        table = {
            "type": "webdav",
            "root": unique,
            "endpoint-url": f"http://{login.address}",
            "username": login.user,
            "password": login.password,
        }
        secret = login.password
    elif kind == "gcs":
        gcs: GcsServer = request.getfixturevalue("gcs_server")
        bucket = gcs.make_bucket(f"b-{unique}")
        table = {
            "type": "gs",
            "root": f"{bucket}/data",
            "endpoint-url": gcs.endpoint,
            "anonymous": True,
        }
        secret = ""
    elif kind == "azure":
        az: AzuriteServer = request.getfixturevalue("azurite")
        container = az.make_container(f"c-{unique}")
        table = {
            "type": "abfs",
            "root": f"{container}/data",
            "connection-string": az.connection_string,
        }
        from fssync.testing.backend_servers import AZURITE_KEY

        secret = AZURITE_KEY
    else:
        raise ValueError(kind)
    toml = _toml(name, table)
    config = folder / f"{name}.toml"
    config.write_text(toml)
    return Place(kind=kind, remote=name, config=config, toml=toml, secret=secret, disk=disk)


def place_files(place: Place, config: Path) -> dict[str, bytes]:
    """What a place holds now, read back through fsspec with the remote's own settings."""
    import asyncio

    from fssync.hooks.manager import make_hooks
    from fssync.settings.config import Config
    from fssync.settings.location import parse
    from fssync.settings.options import plugin_option_names
    from fssync.settings.remotes import load_remotes
    from fssync.stores.generic import FsspecStore

    hooks = make_hooks()
    cfg = Config(command="sync", src=place.url(), dst="", options={"config": str(config)})
    location = parse(place.url(), load_remotes(cfg, plugin_option_names(hooks)))

    async def read() -> dict[str, bytes]:
        store = await FsspecStore.connect(location, {})
        listing = await store.scan()
        out = {}
        for key, entry in listing.entries.items():
            reader = await store.open(entry)
            out[key] = await reader.read(-1)
            await reader.close()
        return out

    return asyncio.run(read())


def _read_disk(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def denied_place(
    request: pytest.FixtureRequest, kind: str, folder: Path
) -> tuple[list[str], Callable[[], dict[str, bytes]]]:
    """A place on backend `kind` whose server refuses this login every write and delete,
    holding `DENIED_FILES`: the CLI arguments that name it, and a reader of its disk."""
    from fssync.testing.backend_servers import DENIED
    from fssync.testing.conformance import DENIED_FILES

    unique = uuid.uuid4().hex[:10]
    if kind == "sftp":
        server: SftpServer = request.getfixturevalue("sftp_server")
        login = server.login
        disk = server.root / unique / DENIED
        table: dict[str, object] = {
            "type": "sftp",
            "root": f"/{unique}/{DENIED}",
            "host": login.host,
            "port": login.port,
            "username": login.user,
            "password": login.password,
            "known-hosts": str(login.known_hosts),
        }
    elif kind == "ftp":
        ftp: FtpServer = request.getfixturevalue("ftp_readonly_server")
        login = ftp.login
        disk = ftp.root / unique
        table = {
            "type": "ftp",
            "root": f"/{unique}",
            "host": login.host,
            "port": login.port,
            "username": login.user,
            "password": login.password,
        }
    elif kind == "webdav":
        dav: WebdavServer = request.getfixturevalue("webdav_server")
        login = dav.login
        disk = dav.denied_root / unique
        table = {
            "type": "webdav",
            "root": f"{DENIED}/{unique}",
            "endpoint-url": f"http://{login.address}",
            "username": login.user,
            "password": login.password,
        }
    else:
        raise ValueError(kind)
    for key, data in DENIED_FILES.items():
        path = disk.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    name = f"denied-{kind}-{unique}"
    config = folder / f"{name}.toml"
    config.write_text(_toml(name, table))
    return [f"{name}:", "--config", str(config)], lambda: _read_disk(disk)
