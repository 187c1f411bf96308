"""Which keys a local folder cannot hold as given (pure; no I/O).

Object stores accept keys a filesystem cannot: names longer than the filesystem allows, a key
``a`` next to ``a/b`` (a file and a folder of one name), and, on a case-insensitive or
Unicode-normalising filesystem (macOS, Windows), ``Photo.jpg`` next to ``photo.jpg`` or an NFC
name next to its NFD twin. Written as they come, one would silently overwrite the other; fssync
skips them and reports each one instead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

NAME_MAX = 255  # bytes per name on Linux, macOS and Windows filesystems


def fold(key: str, *, case_insensitive: bool, normalising: bool) -> str:
    """The form under which a filesystem with these traits stores a name."""
    if normalising or case_insensitive:
        key = unicodedata.normalize("NFC", key)
    return key.casefold() if case_insensitive else key


def local_problems(
    keys: Iterable[str], *, case_insensitive: bool = False, normalising: bool = False
) -> dict[str, str]:
    """Key -> why a local folder cannot hold it, for the keys that cannot be written safely.

    Linear in the total length of the keys: it runs on every download into a local folder."""
    keys = list(keys)
    problems: dict[str, str] = {}
    folders: set[str] = set()
    for key in keys:
        end = key.rfind("/")
        while end > 0 and key[:end] not in folders:
            folders.add(key[:end])
            end = key.rfind("/", 0, end)
        if len(key) > NAME_MAX // 4:  # only then can one name in it pass 255 bytes
            for part in key.split("/"):
                if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
                    problems[key] = f"a name in it is longer than {NAME_MAX} bytes"
                    break
    for key in keys:
        if key in folders:
            problems.setdefault(
                key, f"it is a file, but {key + '/'!r} holds other files (conflict)"
            )
    if case_insensitive or normalising:
        groups: dict[str, list[str]] = {}
        for key in sorted(keys):
            groups.setdefault(
                fold(key, case_insensitive=case_insensitive, normalising=normalising), []
            ).append(key)
        what = "case-insensitive" if case_insensitive else "Unicode-normalising"
        for members in groups.values():
            if len(members) > 1:
                for key in members:
                    others = ", ".join(repr(m) for m in members if m != key)
                    problems.setdefault(
                        key, f"it collides with {others} on this {what} folder (conflict)"
                    )
    return problems
