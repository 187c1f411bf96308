"""How each client is told to sync one side into the other.

Every client gets the same endpoint and keys through the standard AWS variables plus whatever
its own configuration needs, its user configuration files pointed at nothing (so a developer's
``~/.aws`` or ``~/.s3cfg`` cannot change the result), and its own quiet flag where it has one,
so that no client pays for per-file output the others skip (fssync's ``--quiet`` is used when
its CLI offers it). Otherwise defaults, as a user would run them.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import attrs

from bench.anchors import Installed

if TYPE_CHECKING:  # the harness checks that fssync is importable before it needs it
    from fssync.testing.servers import S3Endpoint

PREFIX = "data"  # every test writes under a prefix, as real users do


@attrs.frozen
class S3Path:
    """A prefix in a bucket of the benchmark server."""

    bucket: str
    prefix: str = PREFIX

    def url(self, slash: bool = False) -> str:
        return f"s3://{self.bucket}/{self.prefix}" + ("/" if slash else "")


Side = Path | S3Path


def _clean_environ() -> dict[str, str]:
    """The harness's environment without credentials or client settings of its own."""
    drop = ("AWS_", "RCLONE_", "S3CMD_", "FSSYNC_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@attrs.define
class Client(ABC):
    """One tool under test: builds its command lines and its environment."""

    name: ClassVar[str]
    is_anchor: ClassVar[bool] = True
    # the scenarios this client takes part in; None: all of them
    scenarios: ClassVar[frozenset[str] | None] = None

    installed: Installed
    endpoint: S3Endpoint
    confdir: Path
    extra_args: tuple[str, ...] = ()  # appended to every sync command (e.g. --transfers)

    @property
    def argv(self) -> list[str]:
        return list(self.installed.argv)

    def env(self) -> dict[str, str]:
        env = _clean_environ()
        env.update(self.endpoint.env())
        env.update(
            {
                "AWS_CONFIG_FILE": str(self.confdir / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(self.confdir / "no-aws-credentials"),
                "AWS_EC2_METADATA_DISABLED": "true",
                # no user or earlier-run state, config or cache (fssync keeps a state file)
                "XDG_STATE_HOME": str(self.confdir / "xdg-state"),
                "XDG_CACHE_HOME": str(self.confdir / "xdg-cache"),
                "XDG_CONFIG_HOME": str(self.confdir / "xdg-config"),
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )
        return env

    def covers(self, scenario: str) -> bool:
        return self.scenarios is None or scenario in self.scenarios

    def prepare(self) -> None:
        """Write any configuration file the client needs (once per run)."""
        self.confdir.mkdir(parents=True, exist_ok=True)

    def command(self, src: Side, dst: Side, *, delete: bool) -> list[str]:
        """The full command line for one run."""
        return self.sync(src, dst, delete=delete) + list(self.extra_args)

    @abstractmethod
    def sync(self, src: Side, dst: Side, *, delete: bool) -> list[str]:
        """The tool's own command that makes ``dst`` match ``src``."""


class Aws(Client):
    name = "aws"

    def sync(self, src: Side, dst: Side, *, delete: bool) -> list[str]:
        cmd = [*self.argv, "s3", "sync", _plain(src), _plain(dst)]
        cmd += ["--endpoint-url", self.endpoint.url, "--only-show-errors"]
        return cmd + (["--delete"] if delete else [])


class S5cmd(Client):
    name = "s5cmd"

    def sync(self, src: Side, dst: Side, *, delete: bool) -> list[str]:
        # s5cmd copies a folder's contents with "dir/" and a prefix's with "s3://b/p/*".
        source = src.url(slash=True) + "*" if isinstance(src, S3Path) else f"{src}/"
        target = dst.url(slash=True) if isinstance(dst, S3Path) else f"{dst}/"
        cmd = [*self.argv, "--endpoint-url", self.endpoint.url, "--log", "error", "sync"]
        return cmd + (["--delete"] if delete else []) + [source, target]


class Rclone(Client):
    name = "rclone"

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            {
                "RCLONE_CONFIG": str(self.confdir / "rclone.conf"),
                "RCLONE_CONFIG_BENCH_TYPE": "s3",
                "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
                "RCLONE_CONFIG_BENCH_ENDPOINT": self.endpoint.url,
                "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": self.endpoint.access_key,
                "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": self.endpoint.secret_key,
                "RCLONE_CONFIG_BENCH_REGION": self.endpoint.region,
            }
        )
        return env

    def prepare(self) -> None:
        super().prepare()
        (self.confdir / "rclone.conf").write_text("")  # empty: the remote comes from env

    def sync(self, src: Side, dst: Side, *, delete: bool) -> list[str]:
        # `rclone sync` always deletes extraneous files at the destination; there is no
        # keep-extra mode, so `delete` changes nothing here.
        def side(s: Side) -> str:
            return f"bench:{s.bucket}/{s.prefix}" if isinstance(s, S3Path) else str(s)

        return [*self.argv, "sync", side(src), side(dst), "--transfers", "32"]


class S3cmd(Client):
    name = "s3cmd"

    @property
    def config(self) -> Path:
        return self.confdir / "s3cmd.cfg"

    def prepare(self) -> None:
        super().prepare()
        host = self.endpoint.url.split("://", 1)[1]
        # host_bucket without %(bucket)s means path-style requests.
        self.config.write_text(
            "[default]\n"
            f"access_key = {self.endpoint.access_key}\n"
            f"secret_key = {self.endpoint.secret_key}\n"
            f"host_base = {host}\n"
            f"host_bucket = {host}\n"
            f"bucket_location = {self.endpoint.region}\n"
            "use_https = False\n"
            "signature_v2 = False\n"
        )

    def sync(self, src: Side, dst: Side, *, delete: bool) -> list[str]:
        def side(s: Side) -> str:  # trailing slashes: contents, not the folder itself
            return s.url(slash=True) if isinstance(s, S3Path) else f"{s}/"

        cmd = [*self.argv, "-c", str(self.config), "sync", "--no-progress", "--quiet"]
        return cmd + (["--delete-removed"] if delete else []) + [side(src), side(dst)]


class Obstore(Client):
    """A naive concurrent copy through obstore (bench/obstore_copy.py): many small files."""

    name = "obstore"
    scenarios = frozenset({"S1", "S5"})

    def sync(self, src: Side, dst: Side, *, delete: bool) -> list[str]:
        return [*self.argv, _plain(src), _plain(dst)]


class BotoCrt(Client):
    """boto3's CRT transfer manager (bench/crt_copy.py): one large file."""

    name = "boto3-crt"
    scenarios = frozenset({"S4", "S6"})

    def sync(self, src: Side, dst: Side, *, delete: bool) -> list[str]:
        return [*self.argv, _plain(src), _plain(dst)]


class Fssync(Client):
    name = "fssync"
    is_anchor = False

    def sync(self, src: Side, dst: Side, *, delete: bool) -> list[str]:
        def side(s: Side) -> str:
            return s.url() if isinstance(s, S3Path) else str(s)

        cmd = [*self.argv, "sync", side(src), side(dst), "--endpoint-url", self.endpoint.url]
        return cmd + list(self.installed.quiet) + (["--delete"] if delete else [])


class FssyncBefore(Fssync):
    """fssync from another checkout, in the interpreter given by ``--fssync-before``: a second
    row beside ``fssync``, alternating with it, so a change is measured before and after in
    one run. Only there when asked for, so it is not among the default tools."""

    name = "fssync-before"


def _plain(side: Side) -> str:
    return side.url() if isinstance(side, S3Path) else str(side)


CLIENTS: dict[str, type[Client]] = {
    c.name: c for c in (Fssync, FssyncBefore, Aws, S5cmd, Rclone, S3cmd, Obstore, BotoCrt)
}
ALL_TOOLS: tuple[str, ...] = tuple(n for n in CLIENTS if n != FssyncBefore.name)
ANCHORS: tuple[str, ...] = tuple(n for n, c in CLIENTS.items() if c.is_anchor)
