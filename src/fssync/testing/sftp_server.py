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


async def serve(args: Any) -> None:
    def factory() -> _Server:
        return _Server(args.user, args.password)

    def sftp(chan: Any) -> asyncssh.SFTPServer:
        return asyncssh.SFTPServer(chan, chroot=args.root)

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
