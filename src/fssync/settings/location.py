"""Turn what the user typed into a `Location`, and map keys to paths safely.

A location is a protocol, a root inside that filesystem and the backend's capabilities. Opening
the filesystem itself happens later, inside the run's event loop (see `stores`).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from fssync.errors import LocationError, UsageError
from fssync.model import Capabilities
from fssync.settings.remotes import Remote

if TYPE_CHECKING:
    from fssync.settings.config import Config

# Protocols fsspec treats as the local disk.
LOCAL = frozenset({"file", "local"})
# Protocols fssync can list and read but never write: refused as a sync destination.
READ_ONLY = frozenset({"http", "https"})
# 's3//bucket/x': a URL that lost its colon, which would otherwise be the local path ./s3/bucket/x.
_LOST_COLON = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)//(.*)$", re.S)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://(.*)$", re.S)
# Protocols whose URL names a server before the path (sftp://host/path).
_HOSTED = frozenset({"sftp", "ssh", "ftp", "webdav", "dav"})
# `name:path` names a remote of the config file (a local path with a colon is written ./a:b).
_REMOTE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*):(.*)$", re.S)


# A folder tree's name limit (Linux, macOS and Windows filesystems; the servers' disks), and an
# object store's key limit (S3, GCS and Azure Blob all allow 1,024 bytes).
NAME_MAX = 255
KEY_MAX = 1024
# The local disk folds case on macOS and Windows by default (a folder's own setting may differ:
# the local store looks, see `LocalStore.check_keys`).
_LOCAL_CASE = sys.platform not in ("darwin", "win32")

_CAPS = {
    "file": Capabilities(
        keeps_mtime=True,
        mtime_window=0.001,
        stamp_window=0.001,
        case_sensitive=_LOCAL_CASE,
        name_max=NAME_MAX,
    ),
    "s3": Capabilities(
        keeps_mtime=True,
        mtime_window=0.001,
        stamp_window=1.0,
        listing_has_mtime=False,
        hashes=frozenset({"md5", "etag"}),  # a single-part ETag is the MD5
        key_max=KEY_MAX,
    ),
    "memory": Capabilities(keeps_mtime=False, stamp_window=0.001),
    # GCS and Azure keep the source's mtime in each object's metadata (`mtime`, as on S3), which
    # their listings carry; their own listed time is the write time (1 ms, 1 s).
    "abfs": Capabilities(
        keeps_mtime=True,
        mtime_window=0.001,
        stamp_window=1.0,
        hashes=frozenset({"md5"}),
        key_max=KEY_MAX,
    ),
    "gs": Capabilities(
        keeps_mtime=True,
        mtime_window=0.001,
        stamp_window=0.001,
        # its listing also carries a CRC32C, which fssync does not compare: the MD5 is enough
        hashes=frozenset({"md5"}),
        key_max=KEY_MAX,
    ),
    # SFTP (version 3) keeps a file's mtime in whole seconds: fssync sets it on every upload.
    "sftp": Capabilities(keeps_mtime=True, mtime_window=1.0, stamp_window=1.0, name_max=NAME_MAX),
    # The write time each server lists, at the precision its protocol has; none of these lets
    # fsspec set a file's modification time, so a re-run compares against when it was written.
    "ftp": Capabilities(keeps_mtime=False, stamp_window=60.0, name_max=NAME_MAX),  # LIST: minutes
    "webdav": Capabilities(keeps_mtime=False, stamp_window=1.0, name_max=NAME_MAX),  # HTTP dates
    "http": Capabilities(keeps_mtime=False, stamp_window=1.0, read_only=True),
    "zip": Capabilities(keeps_mtime=False, stamp_window=2.0, read_only=True),  # DOS times
    "tar": Capabilities(keeps_mtime=False, stamp_window=1.0, read_only=True),
}
_DEFAULT_CAPS = Capabilities(keeps_mtime=False, stamp_window=1.0)


def capabilities_of(protocol: str) -> Capabilities:
    """The declared capabilities of a canonical protocol name (the default for others)."""
    return _CAPS.get(protocol, _DEFAULT_CAPS)


@attrs.frozen
class Location:
    url: str  # as the user wrote it
    protocol: str  # canonical: "file", "s3", "memory", ...
    root: str  # path inside the filesystem, no trailing slash ("" means the whole store)
    capabilities: Capabilities
    remote: Remote | None = None  # the config file's remote it was named by, if any

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    @property
    def is_s3(self) -> bool:
        return self.protocol == "s3"

    def path(self, key: str) -> str:
        """The filesystem path of a (safe) key under this root."""
        if self.is_local:
            return os.path.join(self.root, *key.split("/"))
        return f"{self.root}/{key}" if self.root else key

    def display(self, key: str = "") -> str:
        base = self.url.rstrip("/")
        return f"{base}/{key}" if key else base


def parse(url: str, remotes: Mapping[str, Remote] | None = None) -> Location:
    """Parse a location: a path, a URL, or ``REMOTE:path`` naming one of `remotes`.

    Raises `LocationError` with a one-line hint for anything unusable.
    """
    if not url or not url.strip():
        raise LocationError(
            "empty location: give a folder path or a URL such as s3://bucket/prefix"
        )
    m = _SCHEME.match(url)
    if m is None:
        named = _REMOTE.match(url)
        if named is not None:
            return _from_remote(url, named.group(1), named.group(2), remotes or {})
        _refuse_lost_colon(url)
        return _local(url, url)
    protocol, rest = m.group(1).lower(), m.group(2)
    if protocol in LOCAL:
        return _local(url, rest if rest.startswith("/") else "/" + rest)
    if protocol in ("s3", "s3a"):
        return _s3(url, rest)
    return _other(url, protocol, rest)


def _is_protocol(name: str) -> bool:
    name = name.lower()
    if name in ("s3", "s3a", "memory") or name in LOCAL:
        return True
    from fsspec.registry import known_implementations

    return name in known_implementations


def _refuse_lost_colon(url: str) -> None:
    """'s3//bucket/x' is a mistyped URL, not a folder named s3."""
    m = _LOST_COLON.match(url)
    if m is not None and _is_protocol(m.group(1)):
        raise _mistyped(url, m.group(1), m.group(2))


def _mistyped(url: str, name: str, path: str) -> LocationError:
    meant = f"{name}://{path}" if name.lower() in LOCAL else f"{name}://{path.lstrip('/')}"
    return LocationError(
        f"{url!r} looks like a URL with a mistyped '://': write {meant}, or ./{url} for a "
        "local path"
    )


def _from_remote(url: str, name: str, path: str, remotes: Mapping[str, Remote]) -> Location:
    remote = remotes.get(name)
    if remote is None and path.startswith("/") and _is_protocol(name):
        raise _mistyped(url, name, path)
    if remote is None:
        known = ", ".join(sorted(remotes)) or "none defined"
        raise LocationError(
            f"unknown remote {name!r} in {url!r} (remotes: {known}); define [remotes.{name}] in "
            f"the config file, or write ./{url} for a local path"
        )
    path = path.strip("/")
    if "\x00" in path:
        raise LocationError(f"invalid location {url!r}: it contains a NUL character")
    root = remote.root.rstrip("/")
    joined = f"{root}/{path}" if path and root else (path or root)
    if remote.protocol == "s3":
        place = _s3(url, joined)
    elif remote.protocol in LOCAL:
        place = _local(url, joined or "/")
    elif remote.protocol in _HOSTED:
        # The server is a setting of the remote (host = ...); the URL carries only the path.
        host = str(remote.settings.get("host") or "localhost")
        place = attrs.evolve(parse(f"{remote.protocol}://{host}/{joined.lstrip('/')}"), url=url)
    else:
        place = attrs.evolve(parse(f"{remote.protocol}://{joined}"), url=url)
    return attrs.evolve(place, remote=remote)


def _local(url: str, path: str) -> Location:
    if "\x00" in path:
        raise LocationError(f"invalid path {url!r}: it contains a NUL character")
    root = os.path.abspath(os.path.expanduser(path))
    return Location(url=url, protocol="file", root=root, capabilities=_CAPS["file"])


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,254}$", re.I)


def _s3(url: str, rest: str) -> Location:
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise LocationError(f"invalid S3 URL {url!r}: it names no bucket; use s3://BUCKET/PREFIX")
    if not _BUCKET.match(bucket):
        raise LocationError(f"invalid S3 URL {url!r}: {bucket!r} is not a valid bucket name")
    prefix = prefix.strip("/")
    if "//" in prefix:
        raise LocationError(f"invalid S3 URL {url!r}: empty path segment ('//')")
    root = f"{bucket}/{prefix}" if prefix else bucket
    return Location(url=url, protocol="s3", root=root, capabilities=_CAPS["s3"])


def _other(url: str, protocol: str, rest: str) -> Location:
    import fsspec
    from fsspec.registry import known_implementations, registry

    known = set(known_implementations) | set(registry)
    if protocol not in known:
        raise LocationError(
            f"unknown protocol {protocol!r} in {url!r}: use a local path, s3://, memory:// "
            "or a protocol of an installed fsspec package"
        )
    try:
        cls = fsspec.get_filesystem_class(protocol)
    except ImportError:
        from fssync.settings.backends import missing_package

        raise LocationError(missing_package(protocol, url)) from None
    canonical = cls.protocol if isinstance(cls.protocol, str) else cls.protocol[0]
    if canonical in ("webdav", "zip", "tar"):
        # A WebDAV URL's host is the server (a storage option), and an archive's path is the
        # file to open: the root inside them is a path, or the whole tree.
        from urllib.parse import unquote, urlsplit

        root = unquote(urlsplit(url).path).strip("/") if canonical == "webdav" else ""
    else:
        root = cls._strip_protocol(url)
        if root.startswith(f"{protocol}://") and canonical != "http":
            root = "/" + root.split("://", 1)[1].lstrip("/")  # only knows its own name
    root = root.rstrip("/")
    return Location(
        url=url, protocol=canonical, root=root, capabilities=_CAPS.get(canonical, _DEFAULT_CAPS)
    )


_BAD_PART = frozenset({"", ".", ".."})
# Anything that may make a key unsafe: a backslash, a control character, or a segment that is
# empty or only dots and spaces ("//", a leading or trailing "/", ".", "..", "... ", " ").
_SUSPECT = re.compile(r"[\x00-\x1f\x7f\\]|(?:^|/)[. ]*(?:/|$)")


def unsafe_reason(key: str) -> str | None:
    """Why a key may not be written under a destination root, or None when it is safe.

    Keys come from remote listings and may be hostile: they must never climb out of the root.
    """
    if not key:
        return "empty key"
    if _SUSPECT.search(key) is None:
        return None  # the common case, decided by one regex scan (called once per listed key)
    if "\\" in key:
        return "backslash in key"
    if key.startswith("/"):
        return "absolute key"
    if any(ord(c) < 32 or c == "\x7f" for c in key):
        return "control character in key"
    parts = key.split("/")
    if any(part in _BAD_PART for part in parts):
        return "empty, '.' or '..' path segment"
    if any(not part.strip(". ") for part in parts):
        # "... " or " ": Windows strips trailing dots and spaces, making such a name "." or ".."
        return "path segment of only dots and spaces"
    return None


@attrs.frozen
class Sides:
    """A run's two locations."""

    src: Location
    dst: Location


def parse_pair(config: Config, remotes: Mapping[str, Remote] | None = None) -> Sides:
    """Both locations, named remotes resolved; refuses folders that contain each other."""
    src = parse(config.src, remotes)
    dst = parse(config.dst or "", remotes)
    if config.command == "sync" and dst.protocol in READ_ONLY:
        raise UsageError(
            f"destination {dst.url!r} is {dst.protocol}://, a read-only location for fssync: "
            "sync from it, or to a folder, s3:// or another writable location"
        )
    if src.protocol == dst.protocol and _overlaps(src.root, dst.root):
        raise UsageError(
            f"source {src.url!r} and destination {dst.url!r} overlap: "
            "sync between folders that do not contain each other"
        )
    return Sides(src, dst)


def _overlaps(a: str, b: str) -> bool:
    a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)
