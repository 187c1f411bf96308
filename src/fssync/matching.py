"""Merge two listings by key (pure)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .model import Entry

Pair = tuple[str, Entry | None, Entry | None]


def match(src: Mapping[str, Entry], dst: Mapping[str, Entry]) -> Iterator[Pair]:
    """Yield (key, source entry, destination entry) for every key on either side, in key order."""
    keys = sorted(src.keys() | dst.keys())
    get_src, get_dst = src.get, dst.get
    for key in keys:
        yield key, get_src(key), get_dst(key)
