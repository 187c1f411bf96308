"""--bwlimit: the total bandwidth of a run, one rate or an UP:DOWN pair, optionally by a timetable
of the time of day or the week, in rclone's spelling ("1M", "10M:512k", "08:00,512k 19:00,off",
"Mon-08:00,1M Sat-00:00,off").

All transfers share one budget per direction, so the limit is the run's, not a file's. The budget
is a schedule: each read reserves the time its bytes take at the current rate, after the bytes
reserved before it, and waits until then; the rate is therefore exact over any stretch longer
than one read (at most a part, 8 MiB by default).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import time
from collections.abc import Callable

import attrs

from fssync.errors import UsageError
from fssync.settings.units import checked, parse_size

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ENTRY = re.compile(r"^(?:(?P<day>[a-z]{3})-)?(?P<hh>\d{1,2}):(?P<mm>\d{2}),(?P<rate>.+)$", re.I)


@attrs.frozen
class Rate:
    """Bytes per second up (written to a remote) and down (read from a remote); None is off."""

    up: float | None
    down: float | None

    def describe(self) -> str:
        from fssync.report.tally import human_bytes

        def one(v: float | None) -> str:
            return "off" if v is None else f"{human_bytes(v)}/s"

        return one(self.up) if self.up == self.down else f"{one(self.up)} up, {one(self.down)} down"


@attrs.frozen
class Slot:
    day: int | None  # 0 = Monday; None: every day
    minute: int  # of the day
    rate: Rate


@attrs.frozen
class Timetable:
    entries: tuple[Slot, ...]

    def rate_at(self, when: dt.datetime) -> tuple[Rate, Slot]:
        """The entry in force at `when`: the one whose last start is the most recent."""
        now = when.weekday() * 1440 + when.hour * 60 + when.minute
        week = 7 * 1440

        def since(e: Slot) -> int:
            if e.day is None:
                return (now % 1440 - e.minute) % 1440
            return (now - (e.day * 1440 + e.minute)) % week

        best = min(self.entries, key=since)
        return best.rate, best


def _rate(text: str) -> float | None:
    t = text.strip()
    if t.lower() == "off" or t == "":
        return None
    size = parse_size(t)
    if size <= 0:
        raise ValueError(f"{text!r}: a bandwidth must be more than 0 (or 'off')")
    return float(size)


def _pair(text: str) -> Rate:
    up, sep, down = text.partition(":")
    if sep:
        return Rate(_rate(up), _rate(down))
    r = _rate(up)
    return Rate(r, r)


def parse_bwlimit(text: str) -> Timetable:
    """'1M' | '10M:512k' | 'off' | 'HH:MM,RATE ...' | 'Mon-HH:MM,RATE ...' (rclone's syntax)."""
    parts = text.split()
    if len(parts) == 1 and "," not in parts[0]:
        return Timetable((Slot(None, 0, _pair(parts[0])),))
    entries = []
    for part in parts:
        m = _ENTRY.match(part)
        if not m:
            raise ValueError(
                f"{part!r} is not a timetable entry: use HH:MM,RATE or Mon-HH:MM,RATE "
                "(e.g. '08:00,512k 19:00,off')"
            )
        hh, mm = int(m["hh"]), int(m["mm"])
        if hh > 23 or mm > 59:
            raise ValueError(f"{part!r}: {hh:02}:{mm:02} is not a time of day")
        day = m["day"]
        if day is not None and day.lower() not in DAYS:
            raise ValueError(f"{part!r}: {day!r} is not a day (Mon, Tue, ... Sun)")
        entries.append(
            Slot(None if day is None else DAYS.index(day.lower()), hh * 60 + mm, _pair(m["rate"]))
        )
    if not entries:
        raise ValueError("an empty --bwlimit: give a rate such as 1M, or 'off'")
    return Timetable(tuple(entries))


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bwlimit",
        type=checked(parse_bwlimit),
        metavar="RATE",
        help="total bandwidth: 1M (MiB/s), UP:DOWN such as 10M:512k, or a timetable "
        "'08:00,512k 19:00,off' ('Mon-08:00,...' for days of the week); off by default",
    )


class Throttle:
    """The shared budget of one run. `take(direction, n)` waits until `n` more bytes fit."""

    def __init__(
        self,
        table: Timetable,
        on_change: Callable[[Rate, Slot], None] | None = None,
        now: Callable[[], dt.datetime] = dt.datetime.now,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self._on_change = on_change
        self._now = now
        self._clock = clock
        self._next = {"up": 0.0, "down": 0.0}
        self._checked = -1.0
        self._entry: Slot | None = None
        self.rate = table.entries[0].rate

    @classmethod
    def from_text(
        cls, text: str | None, on_change: Callable[[Rate, Slot], None] | None = None
    ) -> Throttle | None:
        if not text:
            return None
        try:
            table = parse_bwlimit(text)
        except ValueError as exc:
            raise UsageError(f"--bwlimit: {exc}") from None
        if all(e.rate == Rate(None, None) for e in table.entries):
            return None
        return cls(table, on_change)

    def current(self) -> Rate:
        """The rate in force; the timetable is looked at once a second at most."""
        t = self._clock()
        if self._entry is None or t - self._checked >= 1.0:
            self._checked = t
            rate, entry = self.table.rate_at(self._now())
            if entry != self._entry:
                self._entry, self.rate = entry, rate
                if self._on_change is not None:
                    self._on_change(rate, entry)
        return self.rate

    def delay(self, direction: str, n: int) -> float:
        """Reserve `n` bytes in `direction`; the seconds to wait before going on."""
        rate = getattr(self.current(), direction)
        if rate is None or n <= 0:
            return 0.0
        t = self._clock()
        start = max(t, self._next[direction])
        self._next[direction] = start + n / rate
        return self._next[direction] - t

    async def take(self, directions: tuple[str, ...], n: int) -> None:
        wait = max((self.delay(d, n) for d in directions), default=0.0)
        if wait > 0:
            await asyncio.sleep(wait)
