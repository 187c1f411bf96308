"""Credentials from a plugin's `CredentialProvider`, for stores that sign requests themselves.

The built-in s3fs store hands a provider to botocore's refreshable credentials
(`fssync.stores.s3.renewal`). A store plugin that signs its own requests gets a `KeySource`
instead: the same rules without botocore. Credentials are fetched on first use, fetched again
when a request is about to be signed inside the refresh window before they expire (judged by the
provider's clock), and fetched at once after the store answered ``ExpiredToken``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fssync.settings.auth import CredentialProvider, Credentials

# Error codes that mean "these credentials have expired" rather than "these are wrong".
EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"})

OnFetch = Callable[[Credentials, str], None]  # (credentials, why: initial | refresh | expired)


def refresh_windows(lifetime: float) -> tuple[float, float]:
    """(advisory, mandatory) seconds before expiry, for credentials that live `lifetime` s.

    Fixed windows (botocore's are 15 and 10 minutes) would refresh 15-minute credentials on
    every request, so they scale with the lifetime."""
    advisory = min(15 * 60.0, max(lifetime / 4, 1.0))
    mandatory = min(10 * 60.0, max(lifetime / 8, 0.5))
    return advisory, mandatory


class KeySource:
    """The current credentials of one store, fed by a plugin's provider."""

    def __init__(self, provider: CredentialProvider, on_fetch: OnFetch | None = None) -> None:
        self.provider = provider
        self.on_fetch = on_fetch
        self.generation = 0  # how many times credentials were fetched
        self._current: Credentials | None = None
        self._windows = (0.0, 0.0)
        self._forced = False
        self._lock = asyncio.Lock()

    @property
    def description(self) -> str:
        return self.provider.description

    def _left(self) -> float:
        """Seconds before the current credentials expire (infinite when they do not)."""
        creds = self._current
        if creds is None or creds.expires is None:
            return float("inf")
        return creds.expires - self.provider.now()

    def _stale(self) -> bool:
        return self._current is None or self._forced or self._left() <= self._windows[0]

    async def current(self) -> Credentials:
        """Credentials to sign the next request with, fetched first when needed.

        Inside the advisory window a failed refresh keeps the old credentials; inside the
        mandatory one (or after ``ExpiredToken``) the failure is the request's."""
        if not self._stale():
            assert self._current is not None
            return self._current
        async with self._lock:  # one fetch for all the requests that find them stale
            if self._stale():
                why = (
                    "initial" if self._current is None else "expired" if self._forced else "refresh"
                )
                try:
                    await self._fetch(why)
                except Exception:
                    usable = self._current is not None and not self._forced
                    if not usable or self._left() <= self._windows[1]:
                        raise
        assert self._current is not None
        return self._current

    async def _fetch(self, why: str) -> None:
        creds = await self.provider.fetch()
        if not isinstance(creds, Credentials):
            raise TypeError(f"{type(self.provider).__name__}.fetch() must return Credentials")
        self._current = creds
        self._forced = False
        self.generation += 1
        left = self._left()
        self._windows = refresh_windows(left) if left != float("inf") else (0.0, 0.0)
        if self.on_fetch is not None:
            self.on_fetch(creds, why)

    def expired(self, generation: int) -> bool:
        """The store rejected credentials as expired on a request signed while `generation`
        was current. Returns whether a retry can succeed: the next `current()` fetches new
        ones, unless another request has already done so."""
        if not self.provider.refreshable or self._current is None:
            return False
        if generation == self.generation:
            self._forced = True
        return True
