"""Object options for uploads and copies, named as the AWS CLI names them: storage class,
server-side encryption, ACL, the standard content headers, user metadata and content types.

Every option is read with the layering rule (command line > environment > the destination's
remote in the config file), so a remote can carry ``storage-class = "STANDARD_IA"``. Values are
checked once per run and location, before any request: a bad value is a usage error (exit 2),
and no value can carry a line break or other control character onto the wire.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

import fssync
from fssync.plugin import converted

from . import sse_c

STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "SNOW",
    "EXPRESS_ONEZONE",
)
ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
)
SSE_MODES = ("AES256", "aws:kms", "aws:kms:dsse")
# Metadata names fssync (and the tools whose conventions it reads) write itself.
_OWN_METADATA = frozenset(
    {"mtime", "md5chksum", "fssync-part-size", "local-date-modified", "multipart-etag"}
)
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an HTTP header name (RFC 9110 token)
_EXTENSION = re.compile(r"^(\.[^./\\\s:|,]+)+$")  # ".zip", ".tar.gz"
_MEDIA_TYPE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/[!#$%&'*+\-.^_`|~0-9A-Za-z]+(\s*;.*)?$")

# option name -> the PutObject / CreateMultipartUpload / CopyObject parameter it sets.
_HEADER_OPTIONS = {
    "cache_control": "CacheControl",
    "content_disposition": "ContentDisposition",
    "content_encoding": "ContentEncoding",
    "content_language": "ContentLanguage",
}


@attrs.frozen
class ObjectOptions:
    """The object options of one destination, checked; `parameters` is what every upload gets."""

    parameters: Mapping[str, Any] = attrs.field(factory=dict)
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    content_type: str | None = None
    type_map: Mapping[str, str] = attrs.field(factory=dict)  # ".zip" -> "application/zip"

    def for_key(self, key: str) -> dict[str, Any]:
        """The options for one object: the run's, then its content type (map, then --content-type)."""
        options = dict(self.parameters)
        if self.metadata:
            options["Metadata"] = dict(self.metadata)
        kind = self._mapped(key) or self.content_type
        if kind:
            options["ContentType"] = kind
        return options

    def _mapped(self, key: str) -> str | None:
        if not self.type_map:
            return None
        name = key.rsplit("/", 1)[-1].lower()
        # the longest matching ending wins, so ".tar.gz" can differ from ".gz"
        for ext in sorted(self.type_map, key=len, reverse=True):
            if name.endswith(ext) and len(name) > len(ext):
                return self.type_map[ext]
        return None


def _plain(text: str, what: str) -> str:
    """A header value: printable ASCII only, so nothing can add a header or break framing."""
    text = str(text).strip()
    if not text:
        raise ValueError(f"{what} is empty")
    if not text.isascii() or any(ord(c) < 32 or c == "\x7f" for c in text):
        raise ValueError(f"{what} must be printable ASCII (no line breaks or control characters)")
    return text


def _choice(text: str, choices: Sequence[str], what: str) -> str:
    by_fold = {c.lower(): c for c in choices}
    found = by_fold.get(str(text).strip().lower())
    if found is None:
        raise ValueError(f"{what} {text!r} is not one of {', '.join(choices)}")
    return found


def parse_expires(text: str | dt.datetime) -> dt.datetime:
    """An ISO 8601 time (``2030-01-01``, ``2030-01-01T12:00:00Z``); a time without a zone is UTC."""
    if isinstance(text, dt.datetime):
        when = text
    else:
        raw = str(text).strip()
        try:
            when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"--expires {raw!r} is not an ISO 8601 time (e.g. 2030-01-01T00:00:00Z)"
            ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def _items(value: Any) -> list[str]:
    """A repeatable option's items: a list, or one string of comma-separated items."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Mapping):
        return [f"{k}={v}" for k, v in value.items()]
    items: list[str] = []
    for one in value:
        items.extend(part for part in str(one).split(",") if part.strip())
    return items


def parse_metadata(value: Any) -> dict[str, str]:
    """``key=value`` items (repeatable, or comma-separated) into user metadata."""
    metadata: dict[str, str] = {}
    for item in _items(value):
        key, eq, text = item.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            raise ValueError(f"--metadata {item.split('=')[0]!r}: expected KEY=VALUE")
        if not _TOKEN.match(key):
            raise ValueError(f"--metadata key {key!r} is not a valid header name")
        if key in _OWN_METADATA:
            raise ValueError(f"--metadata key {key!r} is written by fssync itself; choose another")
        if key in metadata:
            raise ValueError(f"--metadata names {key!r} twice")
        metadata[key] = _plain(text, f"--metadata {key}") if text.strip() else ""
    return metadata


def parse_type_map(value: Any) -> dict[str, str]:
    """``.ext:type`` items (repeatable, or comma- or ``|``-separated) into a map of endings."""
    found: dict[str, str] = {}
    for item in _items(value if isinstance(value, str) else list(value)):
        for part in item.split("|"):
            if not part.strip():
                continue
            ext, colon, kind = part.strip().partition(":")
            ext = ext.strip().lower()
            if not ext.startswith("."):
                ext = "." + ext
            if not colon or not _EXTENSION.match(ext):
                raise ValueError(f"--content-type-map {part.strip()!r}: expected .EXT:TYPE")
            found[ext] = parse_content_type(kind)
    return found


def parse_content_type(text: str) -> str:
    kind = _plain(text, "the content type")
    if not _MEDIA_TYPE.match(kind):
        raise ValueError(f"{kind!r} is not a media type (TYPE/SUBTYPE, e.g. text/plain)")
    return kind


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("S3 object options (uploads and copies)")
    group.add_argument(
        "--storage-class",
        metavar="CLASS",
        help=f"storage class of new objects: {', '.join(STORAGE_CLASSES)}",
    )
    group.add_argument(
        "--sse",
        nargs="?",
        const="AES256",
        metavar="MODE",
        help="server-side encryption: AES256 (the default when given alone), aws:kms, aws:kms:dsse",
    )
    group.add_argument(
        "--sse-kms-key-id", metavar="ID", help="the KMS key for --sse aws:kms (implies it)"
    )
    sse_c.add_options(group)
    group.add_argument("--acl", metavar="ACL", help=f"canned ACL: {', '.join(ACLS)}")
    group.add_argument("--cache-control", metavar="VALUE", help="Cache-Control of new objects")
    group.add_argument(
        "--content-disposition", metavar="VALUE", help="Content-Disposition of new objects"
    )
    group.add_argument(
        "--content-encoding", metavar="VALUE", help="Content-Encoding of new objects"
    )
    group.add_argument(
        "--content-language", metavar="VALUE", help="Content-Language of new objects"
    )
    group.add_argument(
        "--expires",
        type=converted(parse_expires),
        metavar="TIME",
        help="Expires of new objects, an ISO 8601 time (e.g. 2030-01-01T00:00:00Z)",
    )
    group.add_argument(
        "--metadata",
        action="append",
        metavar="KEY=VALUE",
        help="user metadata of new objects (repeatable, or KEY=VALUE,KEY2=VALUE2)",
    )
    group.add_argument(
        "--content-type",
        type=converted(parse_content_type),
        metavar="TYPE",
        help="Content-Type of every new object, instead of the guess from its name",
    )
    group.add_argument(
        "--content-type-map",
        action="append",
        metavar=".EXT:TYPE",
        help="Content-Type by file ending, before --content-type and the guess "
        "(repeatable, or '.zip:application/zip|.log:text/plain')",
    )


def _value(config: fssync.Config, name: str, location: fssync.Location) -> tuple[Any, str]:
    setting = config.setting(name, location=location)
    return setting.value, setting.source


def _checked(source: str, parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except (ValueError, TypeError) as exc:
        raise fssync.UsageError(f"{source}: {exc}") from None


def resolve(config: fssync.Config, location: fssync.Location) -> ObjectOptions:
    """The checked object options of one destination."""
    parameters: dict[str, Any] = {}
    value, source = _value(config, "storage_class", location)
    if value:
        parameters["StorageClass"] = _checked(
            source, lambda v: _choice(v, STORAGE_CLASSES, "storage class"), value
        )
    sse, sse_source = _value(config, "sse", location)
    kms_key, kms_source = _value(config, "sse_kms_key_id", location)
    if sse:
        parameters["ServerSideEncryption"] = _checked(
            sse_source, lambda v: _choice(v, SSE_MODES, "--sse"), sse
        )
    if kms_key:
        mode = parameters.setdefault("ServerSideEncryption", "aws:kms")
        if not mode.startswith("aws:kms"):
            raise fssync.UsageError(f"{kms_source} needs --sse aws:kms, not --sse {mode}")
        parameters["SSEKMSKeyId"] = _checked(kms_source, lambda v: _plain(v, "the key id"), kms_key)
    value, source = _value(config, "acl", location)
    if value:
        parameters["ACL"] = _checked(source, lambda v: _choice(v, ACLS, "ACL"), value)
    for name, parameter in _HEADER_OPTIONS.items():
        value, source = _value(config, name, location)
        if value:
            parameters[parameter] = _checked(source, lambda v: _plain(v, "the value"), value)
    value, source = _value(config, "expires", location)
    if value:
        parameters["Expires"] = _checked(source, parse_expires, value)
    value, source = _value(config, "metadata", location)
    metadata = _checked(source, parse_metadata, value) if value else {}
    value, source = _value(config, "content_type", location)
    content_type = _checked(source, parse_content_type, value) if value else None
    value, source = _value(config, "content_type_map", location)
    type_map = _checked(source, parse_type_map, value) if value else {}
    return ObjectOptions(parameters, metadata, content_type, type_map)


@attrs.define
class Cache:
    """The options of the last (config, location) asked for: the hook runs once per object, the
    options are the same for every object of a run."""

    _key: tuple[object, object] | None = None
    _options: ObjectOptions | None = None

    def get(self, config: fssync.Config, location: fssync.Location) -> ObjectOptions:
        key = (config, location)
        if self._options is None or self._key is None or not _same(self._key, key):
            self._options = resolve(config, location)
            self._key = key
        return self._options


def _same(a: tuple[object, object], b: tuple[object, object]) -> bool:
    return a[0] is b[0] and a[1] is b[1]
