"""Backends: the only code that talks to filesystems, and the public interface of store plugins.

Each store lists its root, opens readers, writes, copies and deletes for one location. The
engine opens both stores inside the run's event loop; async backends run natively and sync
fsspec backends run in worker threads. A plugin can serve a location with its own store through
the ``fssync_open_store`` hook: it subclasses `Store` (and `Reader`), returns `Listing` values,
checks remote keys with `unsafe_reason`, and for S3 keeps objects as `s3meta` says; an S3
store subclasses `S3ObjectStore` and brings an `S3Transport` (`s3objects` holds the rules).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fssync.settings.location import Location, unsafe_reason
from fssync.stores.base import (
    Listing,
    ListingProgress,
    PositionalWriter,
    RangeIgnored,
    RangeSink,
    Reader,
    Stated,
    Store,
    known_md5,
    source_mtime_ns,
)
from fssync.stores.features import Features, Operations

if TYPE_CHECKING:
    from fssync.content.integrity import ChecksumMismatch, IntegrityError, mismatch
    from fssync.settings.auth import CredentialProvider, Credentials
    from fssync.state.leftovers import abort_twins
    from fssync.stores.s3 import meta as s3meta
    from fssync.stores.s3 import objects as s3objects
    from fssync.stores.s3 import pages as s3pages
    from fssync.stores.s3 import resume
    from fssync.stores.s3.confirm import unconfirmed_put
    from fssync.stores.s3.keys import EXPIRED_CODES, KeySource
    from fssync.stores.s3.objects import S3ObjectStore, S3Transport
    from fssync.stores.s3.stall import Stalled
    from fssync.transfer.retrying import RetryPolicy

# What a store plugin needs besides the base classes: the errors that make a transfer retried
# (raise them when the store saved other bytes than were sent), the clean-up of a twin
# multipart upload left by a create request whose reply was lost, and the S3 layer. Loaded on
# first use: some of those modules import this package, and a run without S3 needs none of them.
_LATER = {
    "ChecksumMismatch": "content.integrity",
    "IntegrityError": "content.integrity",
    "mismatch": "content.integrity",
    "abort_twins": "state.leftovers",
    "KeySource": "stores.s3.keys",
    "EXPIRED_CODES": "stores.s3.keys",
    "S3ObjectStore": "stores.s3.objects",
    "S3Transport": "stores.s3.objects",
    "Stalled": "stores.s3.stall",
    "unconfirmed_put": "stores.s3.confirm",
}
# The S3 layer's modules, by the names plugins know them by (`fssync.plugin.s3meta`, ...).
_MODULES = {
    "httplog": "httplog",
    "resume": "resume",
    "s3meta": "meta",
    "s3objects": "objects",
    "s3pages": "pages",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _MODULES:
        return importlib.import_module(f"{__name__}.s3.{_MODULES[name]}")
    module = _LATER.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"fssync.{module}"), name)


__all__ = [
    "EXPIRED_CODES",
    "ChecksumMismatch",
    "Features",
    "Operations",
    "IntegrityError",
    "PositionalWriter",
    "Listing",
    "ListingProgress",
    "RangeIgnored",
    "RangeSink",
    "Reader",
    "S3ObjectStore",
    "S3Transport",
    "Stalled",
    "Stated",
    "Store",
    "KeySource",
    "abort_twins",
    "mismatch",
    "open_store",
    "known_md5",
    "resume",
    "s3meta",
    "s3objects",
    "source_mtime_ns",
    "s3pages",
    "unconfirmed_put",
    "unsafe_reason",
]


async def open_store(
    location: Location,
    storage_options: Mapping[str, Any],
    *,
    transfers: int,
    is_source: bool,
    credentials: CredentialProvider | None = None,
    on_fetch: Callable[[Credentials, str], None] | None = None,
    retry: RetryPolicy | None = None,
) -> Store:
    """Open the built-in backend for a location (heavy client libraries load only when needed).

    `credentials` is a plugin's provider for an S3 location; `on_fetch` hears each fetch;
    `retry` is the run's policy (the S3 client's own retries are set from it).
    """
    if location.is_local:
        from fssync.stores.local import LocalStore

        return LocalStore(
            location,
            is_source=is_source,
            links=str(storage_options.get("links", "skip")),
            case=str(storage_options.get("case", "auto")),
            fsync=bool(storage_options.get("fsync", False)),
        )
    if location.is_s3:
        from fssync.stores.s3.s3fs_path import S3Store

        return await S3Store.connect(
            location,
            storage_options,
            transfers=transfers,
            credentials=credentials,
            on_fetch=on_fetch,
            retry=retry,
        )
    if not is_source and location.capabilities.read_only:
        from fssync.errors import LocationError

        raise LocationError(
            f"{location.url}: {location.protocol} locations are read-only here; use it as a source"
        )
    from fssync.stores.asyncfs import ASYNC, AsyncFsspecStore

    if location.protocol in ASYNC:
        return await AsyncFsspecStore.connect(location, storage_options, is_source=is_source)
    from fssync.stores.generic import FsspecStore

    return await FsspecStore.connect(location, storage_options, is_source=is_source)
