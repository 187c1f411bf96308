"""S3 glue: endpoint and region for S3-compatible stores, extra signed request headers, and
per-object content types.

Extra headers are this plugin's ``fssync_request_headers`` answer, which fssync hands every S3
store as the storage options ``headers`` and ``upload_headers``; each adds them before signing,
so they are part of the SigV4 signature:
``--header "x-amz-security-token:TOKEN"`` with a temporary key id and secret signs exactly like
``--session-token TOKEN``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

import fssync
from fssync.plugin import RequestHeaders, converted, register, s3meta

from . import objects, parts, sse_c

ENDPOINT_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")
CA_BUNDLE_ENV = ("AWS_CA_BUNDLE",)
SESSION_TOKEN_HEADER = "x-amz-security-token"

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an HTTP header name (RFC 9110 token)
# Headers the signer and the HTTP layer own: setting them would break the request.
_RESERVED = frozenset(
    {
        "authorization",
        "host",
        "content-length",
        "content-md5",
        "expect",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "x-amz-date",
        "x-amz-content-sha256",
    }
)
# Header values that are secrets when the name says so (tokens, keys, passwords).
_SENSITIVE = re.compile(r"token|secret|auth|password|credential|key", re.I)


@attrs.frozen
class Header:
    """One extra request header. The value may be a secret: it is never in the repr."""

    name: str
    value: str = attrs.field(repr=False)

    @property
    def key(self) -> str:
        return self.name.lower()


def parse_header(text: str) -> Header:
    """Parse ``Name:Value`` strictly; the error never repeats the value (it may be a token)."""
    name, colon, value = str(text).partition(":")
    name, value = name.strip(), value.strip()
    if not colon:
        raise ValueError("expected Name:Value (a header name, a colon, then the value)")
    if not name:
        raise ValueError("the header name before ':' is empty")
    if not _TOKEN.match(name):
        raise ValueError(f"{name!r} is not a valid header name")
    if _SENSITIVE.search(name):
        register(value)
    if name.lower() in _RESERVED:
        raise ValueError(f"{name} is set by fssync and the request signer; it cannot be overridden")
    if not value:
        raise ValueError(f"the value of header {name} is empty")
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise ValueError(f"the value of header {name} contains a control character")
    return Header(name, value)


def merge_headers(layers: Iterable[fssync.Setting], option: str) -> tuple[Header, ...]:
    """Headers from every layer (config file, then command line); a higher layer replaces a
    header of the same name, and one layer may not name a header twice."""
    merged: dict[str, Header] = {}
    for setting in sorted(layers, key=lambda s: s.layer, reverse=True):
        values = setting.value
        if isinstance(values, str | Header):
            values = [values]
        if not isinstance(values, Sequence):
            raise fssync.UsageError(f"{setting.source}: {option} must be a list of 'Name:Value'")
        seen: set[str] = set()
        for raw in values:
            try:
                header = raw if isinstance(raw, Header) else parse_header(raw)
            except ValueError as exc:
                raise fssync.UsageError(f"{setting.source}: {option}: {exc}") from None
            if header.key in seen:
                raise fssync.UsageError(
                    f"{setting.source}: {option} names {header.name} twice; give it once"
                )
            seen.add(header.key)
            merged[header.key] = header
    return tuple(merged.values())


def headers_for(
    config: fssync.Config, location: fssync.Location | None
) -> tuple[tuple[Header, ...], tuple[Header, ...]]:
    """(headers for every request, headers for uploads only) of one location."""
    every = merge_headers(config.layers("header", location=location), "--header")
    upload = merge_headers(config.layers("upload_header", location=location), "--upload-header")
    both = {h.key for h in every} & {h.key for h in upload}
    if both:
        raise fssync.UsageError(
            f"{', '.join(sorted(both))} is given by both --header and --upload-header; give it once"
        )
    return every, upload


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser, command: str) -> None:
    group = parser.add_argument_group("S3")
    if command not in ("sync", "bisync", "check", "ls", "cleanup"):
        # credentials talks to STS only (--sts-endpoint-url), in the region
        group.add_argument("--region", metavar="NAME", help="region (default: AWS_REGION)")
        return
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)",
    )
    group.add_argument(
        "--region", metavar="NAME", help="region (default: AWS_REGION, or the profile's)"
    )
    group.add_argument(
        "--header",
        action="append",
        type=converted(parse_header),
        metavar="NAME:VALUE",
        help="add a header to every S3 request, signed with it (repeatable), e.g. "
        "'x-amz-security-token:TOKEN' or 'x-amz-request-payer:requester'",
    )
    group.add_argument(
        "--ca-bundle",
        metavar="FILE",
        help="trust the certificate authorities in this PEM file for an https endpoint, e.g. a "
        "private one with a self-signed certificate (default: AWS_CA_BUNDLE, or the system's)",
    )
    if command == "check":
        sse_c.add_options(parser.add_argument_group("S3 encryption"))  # HEADs need the key
    if command not in ("sync", "bisync"):
        return  # the rest is about uploads
    group.add_argument(
        "--upload-header",
        action="append",
        type=converted(parse_header),
        metavar="NAME:VALUE",
        help="add a header to uploads and copies only (repeatable), e.g. 'x-amz-acl:private', "
        "'x-amz-storage-class:STANDARD_IA', 'Cache-Control:max-age=3600'",
    )
    group.add_argument(
        "--stall-timeout",
        type=converted(_seconds),
        metavar="SECONDS",
        help="an S3 request that sends or receives no byte for this long has stalled: it is "
        "dropped and sent again (default 60)",
    )
    group.add_argument(
        "--no-guess-mime-type",
        dest="guess_mime_type",
        action="store_false",
        help="do not set Content-Type from the file name on upload",
    )
    objects.add_options(parser)
    parts.add_options(parser)


def _seconds(value: object) -> float:
    """A positive, finite number of seconds, or ValueError."""
    import math

    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"expected a number of seconds, not {value!r}") from None
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"expected a positive number of seconds, not {value!r}")
    return seconds


def _ca_bundle(setting: fssync.Setting) -> str:
    """The path of a CA bundle that exists and reads as PEM certificates; a bad one is one line
    (exit 2) before any request, not a TLS failure on every request."""
    import os

    path = os.path.expanduser(str(setting.value))
    try:
        with open(path, "rb") as f:
            text = f.read(1 << 20)
    except OSError as exc:
        raise fssync.UsageError(
            f"CA bundle {path} ({setting.source}): {exc.strerror or exc}"
        ) from None
    if b"-----BEGIN CERTIFICATE-----" not in text:
        raise fssync.UsageError(f"CA bundle {path} ({setting.source}) holds no PEM certificate")
    return path


def _check_endpoint(setting: fssync.Setting) -> None:
    url = setting.value
    if url and not str(url).startswith(("http://", "https://")):
        raise fssync.UsageError(
            f"endpoint {url!r} ({setting.source}) must start with http:// or https://"
        )


@fssync.hookimpl(trylast=True)
def fssync_configure(config: fssync.Config) -> None:
    _check_endpoint(config.setting("endpoint_url"))  # the environment's: for S3 locations only
    headers_for(config, None)  # duplicates on the command line, before anything runs
    sse_c.register_key(config)  # a secret from the start, before any line is logged


@fssync.hookimpl(trylast=True)
def fssync_storage_options(
    location: fssync.Location, config: fssync.Config
) -> Mapping[str, Any] | None:
    if location.protocol != "s3":
        return None
    if config.command in ("sync", "bisync"):
        _OBJECTS.get(config, location)  # bad object options stop the run before any request
    options: dict[str, Any] = {}
    endpoint = config.setting("endpoint_url", location=location, env=ENDPOINT_ENV)
    _check_endpoint(endpoint)
    if endpoint.value:
        options["endpoint_url"] = str(endpoint.value)
    region = config.value("region", location=location, env=REGION_ENV)
    if region:
        options["client_kwargs"] = {"region_name": str(region)}
    bundle = config.setting("ca_bundle", location=location, env=CA_BUNDLE_ENV)
    if bundle.value:
        # botocore's own name for it: both S3 paths verify the endpoint's certificate with it
        options.setdefault("client_kwargs", {})["verify"] = _ca_bundle(bundle)
    stall = config.setting("stall_timeout", location=location)
    if stall.value is not None:
        try:
            options["stall_timeout"] = _seconds(stall.value)
        except ValueError as exc:
            raise fssync.UsageError(f"{stall.source}: stall timeout: {exc}") from None
    plan = parts.plan_for(config, location)
    if plan is not None:
        options[s3meta.MULTIPART_OPTION] = plan
    return options


@fssync.hookimpl(trylast=True)
def fssync_request_headers(
    location: fssync.Location, config: fssync.Config
) -> RequestHeaders | None:
    """--header, --upload-header and the SSE-C keys, as data both S3 request paths sign in."""
    if location.protocol != "s3":
        return None
    every, upload = headers_for(config, location)
    token_header = any(h.key == SESSION_TOKEN_HEADER for h in (*every, *upload))
    if token_header and fssync.resolve_static(config, location).session_token:
        raise fssync.UsageError(
            "the session token is given twice: use either --session-token (AWS_SESSION_TOKEN) "
            "or --header 'x-amz-security-token:...', not both"
        )
    reads_content = config.command in ("sync", "bisync", "check")  # what SSE-C keys go with
    return RequestHeaders(
        every=[(h.name, h.value) for h in every],
        uploads=[(h.name, h.value) for h in upload],
        operations=(sse_c.headers_for(config, location) if reads_content else None) or {},
    )


_OBJECTS = objects.Cache()


@fssync.hookimpl(trylast=True)
def fssync_transfer_options(
    action: fssync.Action, location: fssync.Location, config: fssync.Config
) -> Mapping[str, Any] | None:
    if location.protocol != "s3":
        return None
    options = _OBJECTS.get(config, location).for_key(action.key)
    if "ContentType" not in options and config.get("guess_mime_type", True):
        import mimetypes  # here: a run that uploads nothing to S3 never needs it

        kind, _ = mimetypes.guess_type(action.key, strict=False)
        if kind:
            options["ContentType"] = kind
    return options or None
