"""Read S3 Sync settings from an ``S3Sync.exe.config`` style file: ``<appSettings>`` holding
``<add key="Name" value="..."/>`` elements.

A document type declaration is refused before parsing: DTDs can define entities that expand to
gigabytes or read local files, and a settings file never needs one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import fssync

DEFAULT_NAME = "S3Sync.exe.config"


def read(path: Path) -> dict[str, str]:
    """{key: value} of every ``appSettings/add`` element of the file (keys as written)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise fssync.UsageError(
            f"cannot read the config file {str(path)!r}: {exc.strerror}"
        ) from None
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise fssync.UsageError(
            f"the config file {str(path)!r} has a DOCTYPE or ENTITY declaration; "
            "remove it (S3 Sync settings need none)"
        )
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise fssync.UsageError(f"the config file {str(path)!r} is not valid XML: {exc}") from None
    out: dict[str, str] = {}
    settings = [root] if root.tag == "appSettings" else root.iter("appSettings")
    for section in settings:
        for add in section.findall("add"):
            key, value = add.get("key"), add.get("value")
            if key is None or value is None:
                raise fssync.UsageError(
                    f"the config file {str(path)!r} has an <add> without key or value"
                )
            out[key] = value
    return out
