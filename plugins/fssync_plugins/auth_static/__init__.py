"""Static credentials for S3: flags, the standard AWS variables and profiles, a remote's
settings, or anonymous access.

Which ones a location uses is decided by ``fssync.resolve_static`` (command line > environment >
config file > the SDK's default chain), so the STS plugin and ``fssync credentials`` see the same.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import attrs

import fssync
from fssync.plugin import register


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser, command: str) -> None:
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
    group.add_argument(
        "--profile", metavar="NAME", help="a profile of ~/.aws/credentials (or AWS_PROFILE)"
    )
    if command != "credentials":  # STS needs credentials to ask with
        group.add_argument("--anonymous", action="store_true", help="send unsigned requests")


@fssync.hookimpl(trylast=True)
def fssync_configure(config: fssync.Config) -> None:
    register(config.get("secret_access_key"), config.get("session_token"))
    register(config.environ.get("AWS_SECRET_ACCESS_KEY"), config.environ.get("AWS_SESSION_TOKEN"))
    # Contradictions on the command line fail before anything runs; the environment is judged
    # only for S3 locations, so a local sync does not trip over unrelated AWS variables. A
    # --session-token alone is no contradiction: its keys may come from the environment or the
    # location's remote, which the per-location check below sees.
    options = dict(config.options)
    if not (options.get("access_key_id") or options.get("secret_access_key")):
        options.pop("session_token", None)
    fssync.resolve_static(attrs.evolve(config, options=options, environ={}))


@fssync.hookimpl(trylast=True)
def fssync_storage_options(
    location: fssync.Location, config: fssync.Config
) -> Mapping[str, Any] | None:
    if location.protocol != "s3":
        return None
    auth = fssync.resolve_static(config, location)
    register(auth.secret_access_key, auth.session_token)
    return auth.storage_options()
