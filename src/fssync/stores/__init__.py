"""Backends: the only code that talks to filesystems, and the public interface of store plugins.

Each store lists its root, opens readers, writes, copies and deletes for one location. The
engine opens both stores inside the run's event loop; async backends run natively and sync
fsspec backends run in worker threads. A plugin can serve a location with its own store through
the ``fssync_open_store`` hook: it subclasses `Store` (and `Reader`), returns `Listing` values,
checks remote keys with `unsafe_reason`, and for S3 keeps objects as `s3meta` says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..location import Location, unsafe_reason
from . import s3meta
from .base import Listing, Reader, Store

if TYPE_CHECKING:
    from ..config import Config
    from ..hooks.manager import Hooks

__all__ = ["Listing", "Reader", "Store", "connect", "open_store", "s3meta", "unsafe_reason"]


async def open_store(
    location: Location, storage_options: Mapping[str, Any], *, transfers: int, is_source: bool
) -> Store:
    """Open the built-in backend for a location (heavy client libraries load only when needed)."""
    if location.is_local:
        from .local import LocalStore

        return LocalStore(location, is_source=is_source)
    if location.is_s3:
        from .s3 import S3Store

        return await S3Store.connect(location, storage_options, transfers=transfers)
    from .generic import FsspecStore

    return await FsspecStore.connect(location, storage_options)


async def connect(
    hooks: Hooks, location: Location, config: Config, *, transfers: int, is_source: bool
) -> Store:
    """The store for a location: a plugin's (``fssync_open_store``) or the built-in one.

    A plugin store has no fsspec filesystem for ``fssync_filesystem_ready`` to adjust, so the
    plugins that would adjust one are named to it, and it declines when it cannot do without.
    """
    options = hooks.storage_options(location, config)
    if location.is_local:
        return await open_store(location, options, transfers=transfers, is_source=is_source)
    adjusters = hooks.filesystem_plugins(location, config)
    store = hooks.open_store(location, options, config, adjusters)
    if store is not None:
        return store
    store = await open_store(location, options, transfers=transfers, is_source=is_source)
    fs = getattr(store, "fs", None)
    if fs is not None:
        try:
            hooks.filesystem_ready(location, fs, config)
        except BaseException:
            await store.close()
            raise
    return store
