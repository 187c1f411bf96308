"""Local folders: what to do with symbolic links, and how the destination folder treats case.

- default: symbolic links in a local source are skipped and reported;
- ``--links``: a link travels as a small file ``NAME.fssync-link`` holding its target, and is
  made a link again when synced back to a local folder (only if the target stays inside it);
- ``--copy-links``: links are followed and what they point to is copied; loops are detected;
- ``--fsync`` (or ``fsync = true`` in a ``type = "file"`` remote): each file written to a local
  destination is flushed to the disk before it is renamed into place, and its folder after.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import fssync


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser, command: str) -> None:
    if command not in ("sync", "bisync", "check", "ls"):
        return
    group = parser.add_argument_group("local folders")
    links = group.add_mutually_exclusive_group()
    links.add_argument(
        "-l",
        "--links",
        dest="links",
        action="store_const",
        const="store",
        help="store symbolic links as NAME.fssync-link files holding the target, and restore "
        "them in a local destination",
    )
    links.add_argument(
        "-L",
        "--copy-links",
        dest="links",
        action="store_const",
        const="follow",
        help="follow symbolic links and copy what they point to (loops are skipped)",
    )
    if command == "ls":
        return  # the case rules are the destination's, which ls has not
    if command in ("sync", "bisync"):
        group.add_argument(
            "--fsync",
            action="store_true",
            help="in a local destination, flush each file to the disk before renaming it into "
            "place and its folder after, so a power loss cannot leave an empty or partial file "
            "under its final name (slower; off by default)",
        )
    case = group.add_mutually_exclusive_group()
    case.add_argument(
        "--local-case-insensitive",
        dest="local_case",
        action="store_const",
        const="insensitive",
        help="treat the local destination as case-insensitive and Unicode-normalising: keys "
        "that differ only in case or normal form are skipped and reported (default: probe it)",
    )
    case.add_argument(
        "--local-case-sensitive",
        dest="local_case",
        action="store_const",
        const="sensitive",
        help="treat the local destination as case-sensitive (default: probe it)",
    )


@fssync.hookimpl(trylast=True)
def fssync_storage_options(
    location: fssync.Location, config: fssync.Config
) -> Mapping[str, Any] | None:
    if not location.is_local:
        return None
    fsync = config.setting("fsync", location=location, default=False)
    if not isinstance(fsync.value, bool):
        raise fssync.UsageError(f"{fsync.source}: fsync must be true or false")
    return {
        "links": config.get("links", "skip"),
        "case": config.get("local_case", "auto"),
        "fsync": fsync.value,
    }
