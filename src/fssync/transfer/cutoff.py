"""--max-transfer, --max-duration and --cutoff-mode: stop a run at a size or a time, as rclone.

A run that reaches a limit stops starting transfers (``soft``), also stops the ones in flight
(``hard``, the default: their temporary files are removed and multipart uploads aborted, as on
Ctrl-C), or never starts one that would go past the size limit (``cautious``). Deletions are
held, and the command exits with rclone's codes: 8 for the size limit, 10 for the time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

import attrs

from fssync.errors import ExitCode, UsageError
from fssync.settings.config import Config
from fssync.settings.units import checked, parse_duration, parse_size

MODES = ("hard", "soft", "cautious")


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits")
    group.add_argument(
        "--max-transfer",
        type=checked(parse_size),
        metavar="SIZE",
        help="stop after SIZE has been transferred (e.g. 10G); exit code 8",
    )
    group.add_argument(
        "--max-duration",
        type=checked(parse_duration),
        metavar="TIME",
        help="stop transferring after TIME (e.g. 1h30m) from the start of the run; exit code 10",
    )
    group.add_argument(
        "--cutoff-mode",
        type=str.lower,
        choices=MODES,
        default="hard",
        help="at a limit: hard stops the transfers in flight (default), soft lets them finish, "
        "cautious never starts a file that would go past --max-transfer",
    )


@attrs.frozen
class Limits:
    """The limits of one run; None is no limit."""

    max_bytes: int | None = None
    max_seconds: float | None = None
    mode: str = "hard"

    @classmethod
    def from_config(cls, config: Config) -> Limits | None:
        size, duration = config.get("max_transfer"), config.get("max_duration")
        mode = str(config.get("cutoff_mode") or "hard").lower()
        if mode not in MODES:
            raise UsageError(f"--cutoff-mode {mode!r}: choose from {', '.join(MODES)}")
        if size in (None, "", "off") and duration in (None, "", "off"):
            return None
        try:
            max_bytes = None if size in (None, "", "off") else parse_size(str(size))
            max_seconds = None if duration in (None, "", "off") else parse_duration(str(duration))
        except ValueError as exc:
            raise UsageError(f"limits: {exc}") from None
        return cls(max_bytes, max_seconds, mode)


class Cutoff:
    """Counts one run's bytes and time against its limits.

    The transfer stage asks `may_start` before each file and reports bytes as they move; in
    hard mode `stopped` is set the moment a limit is reached, and the stage cancels what is in
    flight. Bytes are what was sent or received, retries included, as rclone counts them.
    """

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._start = clock()
        self.bytes = 0
        self._committed = 0  # sizes of the files started, for cautious mode
        self.reached: str | None = None  # "max-transfer" or "max-duration"
        self.stopped = asyncio.Event()  # in-flight transfers must stop (hard mode)

    @property
    def hard(self) -> bool:
        return self.limits.mode == "hard"

    def remaining(self) -> float | None:
        """Seconds until --max-duration, if set."""
        if self.limits.max_seconds is None:
            return None
        return self.limits.max_seconds - (self._clock() - self._start)

    def may_start(self, size: int) -> bool:
        if self.reached is not None:
            return False
        left = self.remaining()
        if left is not None and left <= 0:
            self._reach("max-duration")
            return False
        cap = self.limits.max_bytes
        if cap is not None:
            if self.bytes >= cap:
                self._reach("max-transfer")
                return False
            if self.limits.mode == "cautious" and self._committed + size > cap:
                self._reach("max-transfer")
                return False
        self._committed += size
        return True

    def add(self, count: int) -> None:
        if count <= 0:
            return
        self.bytes += count
        cap = self.limits.max_bytes
        if cap is not None and self.bytes >= cap and self.limits.mode != "cautious":
            self._reach("max-transfer")

    def expire(self) -> None:
        """The time limit passed while transfers were running."""
        self._reach("max-duration")

    def _reach(self, which: str) -> None:
        if self.reached is None:
            self.reached = which
        if self.hard:
            self.stopped.set()

    async def wait_hard_stop(self) -> None:
        """Return when the transfers in flight must be cancelled (never, in soft modes)."""
        left = self.remaining()
        if left is None:
            await self.stopped.wait()
            return
        try:
            await asyncio.wait_for(self.stopped.wait(), timeout=max(0.0, left))
        except TimeoutError:
            self.expire()
            if not self.hard:
                await asyncio.Event().wait()  # soft: workers see `reached` and stop starting

    @property
    def exit_code(self) -> int:
        if self.reached == "max-duration":
            return int(ExitCode.DURATION_LIMIT)
        return int(ExitCode.TRANSFER_LIMIT)

    def message(self, not_started: int) -> str:
        """The one line a run that was cut off ends with."""
        from fssync.report.tally import human_bytes, human_seconds

        if self.reached == "max-duration":
            limit = f"--max-duration {human_seconds(self.limits.max_seconds or 0)} reached"
        else:
            limit = f"--max-transfer {human_bytes(self.limits.max_bytes or 0)} reached"
        return (
            f"{limit} ({self.limits.mode} cut-off, {human_bytes(self.bytes)} transferred): "
            f"{not_started} file(s) left for the next run; deletions held"
        )
