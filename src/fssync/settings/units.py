"""Human units for sizes (10M, 1.5G), durations and ages (90s, 1h30m, 2d), binary like rclone's.

Shared by the core (--max-transfer, --max-duration, --bwlimit) and the filter rules plugin
(--max-size, --max-age), so one spelling means the same everywhere."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$", re.I)
_SIZE_FACTOR = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_AGE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|M|y)")
_AGE_FACTOR = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "M": 30 * 86400,
    "y": 365 * 86400,
}


def parse_size(text: str) -> int:
    """'10M' -> 10 MiB. A bare number is bytes."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a size: use a number with an optional K, M, G, T suffix")
    size = float(m.group(1)) * _SIZE_FACTOR[m.group(2).lower()]
    if not size < 2**63:
        raise ValueError(f"{text!r} is too large a size")
    return int(size)


def parse_duration(text: str) -> float:
    """'1h30m' -> 5400.0 seconds; a bare number is seconds."""
    t = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", t):
        return float(t)
    if re.fullmatch(rf"(?:{_AGE.pattern})+", t):
        return sum(float(n) * _AGE_FACTOR[u] for n, u in _AGE.findall(t))
    raise ValueError(f"{text!r} is not a duration: use e.g. 90s, 15m, 2h, 1h30m, 3d")


def parse_age(text: str, now: float) -> float:
    """An age ('2d', '1h30m', '90' seconds) or a date ('2026-01-31') -> a point in time."""
    t = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", t):
        return now - float(t)
    if _AGE.fullmatch(t) or re.fullmatch(rf"(?:{_AGE.pattern})+", t):
        seconds = sum(float(n) * _AGE_FACTOR[u] for n, u in _AGE.findall(t))
        return now - seconds
    try:
        when = dt.datetime.fromisoformat(t)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an age: use e.g. 90s, 15m, 2h, 3d, 1w, 6M, 1y or a date 2026-01-31"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def converted(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type that gives what `parse` makes of the text; the ValueError it raises
    becomes the usage error's one line (its message, not argparse's "invalid value")."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value")  # what argparse calls the type
    return convert


def checked(parse: Callable[[str], Any]) -> Callable[[str], str]:
    """An argparse type that checks a value but keeps its text (the API passes text too)."""
    convert = converted(parse)

    def check(text: str) -> str:
        convert(text)
        return text

    check.__name__ = convert.__name__
    return check
