"""S3 glue: endpoint and region for S3-compatible stores, and per-object content types."""

from __future__ import annotations

import argparse
import mimetypes
from collections.abc import Mapping
from typing import Any

import fssync


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("S3")
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="S3-compatible endpoint (default: AWS, or AWS_ENDPOINT_URL)",
    )
    group.add_argument("--region", metavar="NAME", help="region (default: AWS_REGION or profile)")
    group.add_argument(
        "--no-guess-mime-type",
        dest="guess_mime_type",
        action="store_false",
        help="do not set Content-Type from the file name on upload",
    )


@fssync.hookimpl(trylast=True)
def fssync_configure(config: fssync.Config) -> None:
    url = config.get("endpoint_url")
    if url and not str(url).startswith(("http://", "https://")):
        raise fssync.UsageError(f"--endpoint-url {url!r} must start with http:// or https://")


@fssync.hookimpl(trylast=True)
def fssync_storage_options(
    location: fssync.Location, config: fssync.Config
) -> Mapping[str, Any] | None:
    if location.protocol != "s3":
        return None
    options: dict[str, Any] = {}
    if config.get("endpoint_url"):
        options["endpoint_url"] = config.get("endpoint_url")
    if config.get("region"):
        options["client_kwargs"] = {"region_name": config.get("region")}
    return options


@fssync.hookimpl(trylast=True)
def fssync_transfer_options(
    action: fssync.Action, location: fssync.Location, config: fssync.Config
) -> Mapping[str, Any] | None:
    if location.protocol != "s3" or not config.get("guess_mime_type", True):
        return None
    kind, _ = mimetypes.guess_type(action.key, strict=False)
    return {"ContentType": kind} if kind else None
