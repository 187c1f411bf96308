"""Merge two listings by key (pure)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .model import Entry

Pair = tuple[str, Entry | None, Entry | None]


def all_keys(src: Mapping[str, Entry], dst: Mapping[str, Entry]) -> list[str]:
    """Every key on either side, sorted.

    Starts from the larger side's keys and adds the other side's extras before sorting: S3
    listings arrive in key order, and Python's sort merges such runs in linear time, where
    sorting the union of two sets would start from a scrambled order.
    """
    big, small = (dst, src) if len(dst) >= len(src) else (src, dst)
    keys = list(big)
    if small:
        keys.extend(small.keys() - big.keys())
    keys.sort()
    return keys


def match(src: Mapping[str, Entry], dst: Mapping[str, Entry]) -> Iterator[Pair]:
    """Yield (key, source entry, destination entry) for every key on either side, in key order."""
    get_src, get_dst = src.get, dst.get
    for key in all_keys(src, dst):
        yield key, get_src(key), get_dst(key)
