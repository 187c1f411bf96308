"""Static credentials for S3: flags, the standard AWS variables and profiles, or anonymous."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import fssync
from fssync.secrets import register


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("credentials")
    group.add_argument("--access-key-id", metavar="ID", help="access key id (or AWS_ACCESS_KEY_ID)")
    group.add_argument(
        "--secret-access-key", metavar="SECRET", help="secret access key (or AWS_SECRET_ACCESS_KEY)"
    )
    group.add_argument(
        "--session-token",
        metavar="TOKEN",
        help="session token of temporary credentials (or AWS_SESSION_TOKEN)",
    )
    group.add_argument("--profile", metavar="NAME", help="a profile of ~/.aws/credentials")
    group.add_argument("--anonymous", action="store_true", help="send unsigned requests")


@fssync.hookimpl(trylast=True)
def fssync_configure(config: fssync.Config) -> None:
    register(config.get("secret_access_key"), config.get("session_token"))
    if bool(config.get("access_key_id")) != bool(config.get("secret_access_key")):
        raise fssync.UsageError("--access-key-id and --secret-access-key go together: give both")


@fssync.hookimpl(trylast=True)
def fssync_storage_options(
    location: fssync.Location, config: fssync.Config
) -> Mapping[str, Any] | None:
    if location.protocol != "s3":
        return None
    if config.get("anonymous"):
        return {"anon": True}
    options: dict[str, Any] = {}
    if config.get("access_key_id"):
        options["key"] = config.get("access_key_id")
        options["secret"] = config.get("secret_access_key")
    if config.get("session_token"):
        options["token"] = config.get("session_token")
    if config.get("profile"):
        options["profile"] = config.get("profile")
    return options
