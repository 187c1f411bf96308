"""Backends: the only code that talks to filesystems.

Each store lists its root, opens readers, writes, copies and deletes for one location. The
engine opens both stores inside the run's event loop; async backends (s3fs) run natively and sync
fsspec backends run in worker threads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..auth import CredentialProvider, Credentials
from ..location import Location
from .base import Listing, Reader, Store

__all__ = ["Listing", "Reader", "Store", "open_store"]


async def open_store(
    location: Location,
    storage_options: Mapping[str, Any],
    *,
    transfers: int,
    is_source: bool,
    credentials: CredentialProvider | None = None,
    on_fetch: Callable[[Credentials, str], None] | None = None,
) -> Store:
    """Open the backend for a location (imports the heavy client libraries only when needed).

    `credentials` is a plugin's provider for an S3 location; `on_fetch` hears each fetch.
    """
    if location.is_local:
        from .local import LocalStore

        return LocalStore(
            location,
            is_source=is_source,
            links=str(storage_options.get("links", "skip")),
            case=str(storage_options.get("case", "auto")),
        )
    if location.is_s3:
        from .s3 import S3Store

        return await S3Store.connect(
            location,
            storage_options,
            transfers=transfers,
            credentials=credentials,
            on_fetch=on_fetch,
        )
    from .generic import FsspecStore

    return await FsspecStore.connect(location, storage_options)
