"""Credentials from a plugin's `CredentialProvider`, kept fresh with botocore's refreshable
credentials: refreshed before they expire, and at once when the store says they have.

botocore refreshes a `RefreshableCredentials` object when a request is signed inside its
"advisory" window before expiry (and must, inside the "mandatory" one). Its default windows (15
and 10 minutes) would refresh 15-minute credentials on every request, so the windows here scale
with the credentials' lifetime. An ``ExpiredToken`` answer forces the next signing to refresh.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from aiobotocore.credentials import AioCredentialResolver, AioRefreshableCredentials
from aiobotocore.session import AioSession
from botocore.credentials import CredentialProvider as BotocoreProvider

from fssync.settings.auth import CredentialProvider, Credentials
from fssync.stores.s3.keys import EXPIRED_CODES, OnFetch, refresh_windows

__all__ = ["EXPIRED_CODES", "OnFetch", "Renewal", "refresh_windows"]

_NEVER = 10 * 365 * 86400.0  # credentials without an expiry: refreshed only when rejected


# botocore logs a failed refresh with its traceback before raising it; the failure reaches the
# user as one line through the request that needed it. Without a handler, Python's last-resort
# handler would print that traceback on stderr; a configured logging setup still receives it.
logging.getLogger("aiobotocore.credentials").addHandler(logging.NullHandler())


class _Refreshable(AioRefreshableCredentials):  # type: ignore[misc]
    """botocore's refreshable credentials, plus a way to demand a refresh now."""

    _forced = False

    def force_refresh(self) -> None:
        self._forced = True

    def refresh_needed(self, refresh_in: float | None = None) -> bool:
        return self._forced or bool(super().refresh_needed(refresh_in))


class _Fixed(BotocoreProvider):  # type: ignore[misc]
    """A botocore credential provider that always answers with our refreshable credentials."""

    METHOD = "fssync"
    CANONICAL_NAME = "fssync"

    def __init__(self, credentials: _Refreshable) -> None:
        super().__init__()
        self._credentials = credentials

    async def load(self) -> _Refreshable:
        return self._credentials


class Renewal:
    """The refreshable credentials of one store, fed by a plugin's provider."""

    def __init__(self, provider: CredentialProvider, on_fetch: OnFetch | None = None) -> None:
        self.provider = provider
        self.on_fetch = on_fetch
        self.generation = 0  # how many times credentials were fetched
        self._credentials: _Refreshable | None = None

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.provider.now(), dt.UTC)

    async def _fetch(self, why: str) -> dict[str, Any]:
        creds = await self.provider.fetch()
        if not isinstance(creds, Credentials):
            raise TypeError(f"{type(self.provider).__name__}.fetch() must return Credentials")
        self.generation += 1
        if self._credentials is not None:
            self._credentials._forced = False
        if self.on_fetch is not None:
            self.on_fetch(creds, why)
        expires = creds.expires if creds.expires is not None else self.provider.now() + _NEVER
        return {
            "access_key": creds.access_key_id,
            "secret_key": creds.secret_access_key,
            "token": creds.session_token,
            "expiry_time": dt.datetime.fromtimestamp(expires, dt.UTC).isoformat(),
        }

    async def _refresh(self) -> dict[str, Any]:
        forced = self._credentials is not None and self._credentials._forced
        return await self._fetch("expired" if forced else "refresh")

    async def session(self) -> AioSession:
        """Fetch the first credentials and return a botocore session that signs with them."""
        first = await self._fetch("initial")
        expiry = dt.datetime.fromisoformat(first["expiry_time"])
        advisory, mandatory = refresh_windows((expiry - self._now()).total_seconds())
        self._credentials = _Refreshable(
            first["access_key"],
            first["secret_key"],
            first["token"],
            expiry,
            self._refresh,
            "fssync",
            time_fetcher=self._now,
            advisory_timeout=advisory,
            mandatory_timeout=mandatory,
        )
        session = AioSession()
        session.register_component(
            "credential_provider", AioCredentialResolver([_Fixed(self._credentials)])
        )
        return session

    def expired(self, generation: int) -> bool:
        """The store rejected credentials as expired on a request sent while `generation` was
        current. Returns whether a retry can succeed: the next signing fetches new ones, unless
        another request has already done so."""
        if not self.provider.refreshable or self._credentials is None:
            return False
        if generation == self.generation:
            self._credentials.force_refresh()
        return True
