"""The interface every backend implements."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import attrs

from ..location import Location
from ..model import Entry

CHUNK = 1 << 20  # streaming read size


@attrs.frozen
class Listing:
    """One side's files. `rejected` holds keys that may not be used, with the reason; `errors`
    holds folders that could not be read (a partial listing forbids deletions)."""

    entries: Mapping[str, Entry]
    rejected: tuple[tuple[str, str], ...] = ()
    errors: tuple[tuple[str, str], ...] = ()
    exists: bool = True


class Reader(abc.ABC):
    """A source file opened for sequential reading."""

    size: int
    mtime: float | None = None
    etag: str | None = None
    ranged: bool = False  # read_range works
    # read_range is as cheap as read (a local file, no request per call): a writer may read a
    # range twice, e.g. once to hash a part and once to send it, instead of holding it in memory.
    cheap_ranges: bool = False

    @abc.abstractmethod
    async def read(self, n: int = -1) -> bytes:
        """Up to n bytes (all that is left when n < 0); b"" at the end."""

    async def read_range(self, offset: int, length: int) -> bytes | None:
        """Bytes at an offset, for parallel ranged downloads; None when the backend cannot."""
        return None

    async def close(self) -> None:  # noqa: B027 - optional
        pass


class Store(abc.ABC):
    """One side of a sync."""

    location: Location
    # An identity for the state store: which physical store this is (endpoint + protocol).
    identity: str = ""

    @abc.abstractmethod
    async def scan(self) -> Listing: ...

    @abc.abstractmethod
    async def open(self, entry: Entry) -> Reader: ...

    @abc.abstractmethod
    async def write(self, entry: Entry, reader: Reader, options: Mapping[str, Any]) -> Entry:
        """Write `entry.key` from `reader`; return what the destination now holds."""

    async def copy_within(
        self, source: Store, entry: Entry, options: Mapping[str, Any]
    ) -> Entry | None:
        """Server-side copy from another location on the same store; None when not possible."""
        return None

    async def move(self, old: Entry, key: str) -> Entry | None:
        """Move a file within this store to a new key; None when the store cannot."""
        return None

    @abc.abstractmethod
    async def delete(self, keys: list[str]) -> list[tuple[str, str]]:
        """Delete keys; return (key, error) for each one that could not be deleted."""

    async def close(self) -> None:  # noqa: B027 - optional
        pass


async def read_all(reader: Reader) -> bytes:
    return await reader.read(-1)
