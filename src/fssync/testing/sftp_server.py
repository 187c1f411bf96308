"""A small SFTP server for the tests: ``python -m fssync.testing.sftp_server``.

asyncssh serves one folder (chrooted) on 127.0.0.1 to one user, who logs in with a password or
with a key listed in an authorized_keys file; any other login is refused.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import asyncssh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--host-key", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--authorized-keys", required=True)
    parser.add_argument("--refuse", default="", help="a folder name in which writes are refused")
    args = parser.parse_args()
    asyncio.run(serve(args))


class _Server(asyncssh.SSHServer):
    def __init__(self, user: str, password: str) -> None:
        self._user = user
        self._password = password

    def begin_auth(self, username: str) -> bool:
        return True  # every login must authenticate

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self._user and password == self._password


def refusing(refuse: str) -> type[asyncssh.SFTPServer]:
    """An SFTP server that answers "permission denied" to every write, delete, rename, folder
    creation or attribute change of a path with a folder named `refuse` in it (as a server
    refuses a user without write access; the tests run as root, whom chmod never stops)."""
    name = refuse.encode()

    def denied(*paths: bytes) -> None:
        for path in paths:
            if name and name in path.split(b"/"):
                raise asyncssh.SFTPPermissionDenied("permission denied")

    class Refusing(asyncssh.SFTPServer):  # type: ignore[misc]
        def open(self, path: bytes, pflags: int, attrs: Any) -> Any:
            if pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_APPEND):
                denied(path)
            return super().open(path, pflags, attrs)

        def remove(self, path: bytes) -> Any:
            denied(path)
            return super().remove(path)

        def rename(self, oldpath: bytes, newpath: bytes) -> Any:
            denied(oldpath, newpath)
            return super().rename(oldpath, newpath)

        def posix_rename(self, oldpath: bytes, newpath: bytes) -> Any:
            denied(oldpath, newpath)
            return super().posix_rename(oldpath, newpath)

        def mkdir(self, path: bytes, attrs: Any) -> Any:
            denied(path)
            return super().mkdir(path, attrs)

        def rmdir(self, path: bytes) -> Any:
            denied(path)
            return super().rmdir(path)

        def setstat(self, path: bytes, attrs: Any) -> Any:
            denied(path)
            return super().setstat(path, attrs)

    return Refusing


async def serve(args: Any) -> None:
    def factory() -> _Server:
        return _Server(args.user, args.password)

    server = refusing(args.refuse)

    def sftp(chan: Any) -> asyncssh.SFTPServer:
        return server(chan, chroot=args.root)

    await asyncssh.create_server(
        factory,
        "127.0.0.1",
        args.port,
        server_host_keys=[args.host_key],
        authorized_client_keys=args.authorized_keys,
        sftp_factory=sftp,
        allow_scp=False,
    )
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    main()
