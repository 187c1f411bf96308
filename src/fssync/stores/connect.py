"""Open a location's store as every command does: a plugin's store first (the
``fssync_open_store`` hook), else the built-in backend; with the plugins' storage options and
credential provider, and the run's retry policy."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fssync.diagnose import diagnose
from fssync.errors import FssyncError
from fssync.model import Event
from fssync.settings.location import Location
from fssync.stores import Store, open_store
from fssync.stores.s3.keys import KeySource
from fssync.transfer.retrying import RetryPolicy

if TYPE_CHECKING:
    from fssync.hooks.manager import Hooks
    from fssync.settings.auth import Credentials
    from fssync.settings.config import Config


async def open_location(
    hooks: Hooks,
    config: Config,
    location: Location,
    *,
    transfers: int,
    is_source: bool,
    emit: Callable[[Event], None] | None = None,
) -> Store:
    """Open a location's store with the plugins' storage options and credentials, and hand
    it the run's retry policy (a plugin's store builds the same one from `config`)."""
    retry = RetryPolicy.from_config(config)
    options = hooks.storage_options(location, config)
    provider = hooks.credential_provider(location, config) if location.is_s3 else None

    def fetched(creds: Credentials, why: str) -> None:
        if emit is None or provider is None:
            return
        expires = (
            dt.datetime.fromtimestamp(creds.expires, dt.UTC).isoformat(timespec="seconds")
            if creds.expires is not None
            else None
        )
        fields = {"url": location.url, "why": why, "provider": provider.description}
        emit(
            Event(
                "credentials", {**fields, "access_key_id": creds.access_key_id, "expires": expires}
            )
        )

    try:
        if not location.is_local:
            # A plugin may serve the location with its own store; it is told which plugins
            # need the fsspec filesystem it replaces, and which credential provider.
            adjusters = hooks.filesystem_plugins()
            keys = KeySource(provider, fetched) if provider is not None else None
            plugin_store = hooks.open_store(location, options, config, adjusters, keys)
            if plugin_store is not None:
                plugin_store.retry = retry
                return plugin_store  # type: ignore[no-any-return]
        store = await open_store(
            location,
            options,
            transfers=transfers,
            is_source=is_source,
            credentials=provider,
            on_fetch=fetched,
            retry=retry,
        )
    except FssyncError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise diagnose(exc, where=location.url, listing=True).exception() from None
    store.retry = retry
    if store.fs is not None:
        try:
            hooks.filesystem_ready(location, store.fs, config)
        except BaseException:
            await store.close()
            raise
    return store


@asynccontextmanager
async def opened(
    hooks: Hooks, config: Config, location: Location, *, is_source: bool, transfers: int = 4
) -> AsyncIterator[Store]:
    """A location's store for one command's work (``ls``, ``cleanup``): an error of the store
    during the work becomes one line, as one while opening it does, and the store is closed
    after, whatever happened."""
    store = await open_location(hooks, config, location, transfers=transfers, is_source=is_source)
    try:
        yield store
    except FssyncError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise diagnose(exc, where=location.url, listing=True).exception() from None
    finally:
        await store.close()
