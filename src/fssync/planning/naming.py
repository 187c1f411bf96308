"""Which keys a local folder or another store cannot hold as given (pure; no I/O).

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


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def local_problems(
    keys: Iterable[str], *, case_insensitive: bool = False, normalising: bool = False
) -> dict[str, str]:
    """Key -> why a local folder cannot hold it, for the keys that cannot be written safely.

    Linear in the total length of the keys: it runs on every download into a local folder."""
    return name_problems(
        keys,
        case_insensitive=case_insensitive,
        normalising=normalising,
        name_max=NAME_MAX,
        folders=True,
    )


def name_problems(
    keys: Iterable[str],
    *,
    case_insensitive: bool = False,
    normalising: bool = False,
    name_max: int | None = None,
    key_max: int | None = None,
    prefix: int = 0,
    folders: bool = False,
) -> dict[str, str]:
    """Key -> why a store with these declared traits cannot hold it: a name longer than
    `name_max` bytes, a path longer than `key_max` bytes once the root's `prefix` bytes are
    added, names that fold together, and (`folders`: a folder tree) a file named like a
    folder of other files."""
    keys = list(keys)
    problems: dict[str, str] = {}
    made: set[str] = set()
    for key in keys:
        if folders:
            end = key.rfind("/")
            while end > 0 and key[:end] not in made:
                made.add(key[:end])
                end = key.rfind("/", 0, end)
        if name_max is not None and len(key) > name_max // 4:  # else no name can pass it
            for part in key.split("/"):
                if _size(part) > name_max:
                    problems[key] = f"a name in it is longer than {name_max} bytes"
                    break
        long = key_max is not None and len(key) + prefix > key_max // 4
        if long and key_max is not None and _size(key) + prefix > key_max:
            problems.setdefault(
                key, f"the path is longer than the {key_max} bytes this store allows"
            )
    for key in keys:
        if key in made:
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
        where = "folder" if folders else "store"
        for members in groups.values():
            if len(members) > 1:
                for key in members:
                    others = ", ".join(repr(m) for m in members if m != key)
                    problems.setdefault(
                        key, f"it collides with {others} on this {what} {where} (conflict)"
                    )
    return problems
