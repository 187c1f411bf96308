"""--sse-c and --sse-c-key (the AWS CLI's): objects encrypted with a key the user holds.

S3 keeps no copy of the key, so every request that reads or writes an object's content must
carry it: the headers go on exactly those operations (GET, HEAD, PUT, the multipart calls,
CopyObject, whose source is read with the same key), through the storage option
``operation_headers`` that every S3 store signs in. One key serves the whole run: both S3 sides
are read and written with it. The key is a secret: registered for redaction, never printed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os

import fssync
from fssync.plugin import register, s3meta

KEY_BYTES = 32


def add_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--sse-c",
        nargs="?",
        const="AES256",
        metavar="AES256",
        help="encrypt new objects, and read existing ones, with a customer key (--sse-c-key)",
    )
    group.add_argument(
        "--sse-c-key",
        metavar="KEY",
        help="the 32-byte SSE-C key: the text itself, base64:..., or fileb://PATH (raw bytes); "
        "implies --sse-c",
    )


def parse_key(text: str) -> bytes:
    """The key's 32 bytes from the text itself, ``base64:...`` or ``fileb://PATH``."""
    if text.startswith("fileb://"):
        path = os.path.expanduser(text[len("fileb://") :])
        try:
            with open(path, "rb") as fh:
                key = fh.read(KEY_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"cannot read the key file {path!r}: {exc.strerror}") from None
    elif text.startswith("base64:"):
        try:
            key = base64.b64decode(text[len("base64:") :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the base64: key is not valid base64") from None
    else:
        key = text.encode()
    if len(key) != KEY_BYTES:
        raise ValueError(f"an SSE-C key is {KEY_BYTES} bytes (AES-256), this one is {len(key)}")
    return key


def register_key(config: fssync.Config) -> None:
    """Register the key given on the command line, and its encoded forms, as secrets."""
    text = config.get("sse_c_key")
    if not text:
        return
    register(str(text))
    try:
        raw = parse_key(str(text))
    except ValueError:
        return  # refused with its reason when the store is opened
    register(*(value for name, value in s3meta.sse_c_headers(raw) if "-key" in name))


def headers_for(
    config: fssync.Config, location: fssync.Location
) -> dict[str, tuple[tuple[str, str], ...]] | None:
    """The per-operation SSE-C headers of one S3 location, or None without --sse-c."""
    algorithm = config.setting("sse_c", location=location)
    key = config.setting("sse_c_key", location=location)
    if not algorithm.value and not key.value:
        return None
    if algorithm.value and str(algorithm.value).upper() != "AES256":
        raise fssync.UsageError(f"{algorithm.source}: SSE-C takes AES256 only")
    if not key.value:
        raise fssync.UsageError(f"{algorithm.source} needs the key: give --sse-c-key")
    if config.setting("sse", location=location).value:
        raise fssync.UsageError("--sse and --sse-c exclude each other: choose one encryption")
    register(str(key.value))
    try:
        raw = parse_key(str(key.value))
    except ValueError as exc:
        raise fssync.UsageError(f"{key.source}: {exc}") from None
    target = s3meta.sse_c_headers(raw)
    register(*(value for name, value in target if "-key" in name))
    source = s3meta.sse_c_headers(raw, copy_source=True)
    per_operation = {operation: target for operation in s3meta.SSE_C_OPERATIONS}
    per_operation["CopyObject"] = target + source
    return per_operation
