"""How long fssync keeps trying a failing request: one schedule for transfers and listings.

A file whose request fails is tried `retries` more times with growing, jittered waits; files
still failing get `passes` more rounds after a pause. A listing page gets the same tries and
waits, so a throttling storm that the transfers would outlast does not end the listing first.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import attrs


def retry_delay(sleep: float, attempt: int) -> float:
    """The wait before retry number `attempt` (from 1): doubling, jittered by +-50%."""
    return sleep * (2 ** (attempt - 1)) * (0.5 + random.random())


def pass_delay(sleep: float) -> float:
    """The pause before another round over what still fails."""
    return sleep * 4 * (0.5 + random.random())


@attrs.frozen
class RetrySchedule:
    """The transfers' retry settings (``--retries``, ``--retries-sleep``, ``--retry-passes``)."""

    retries: int = 3
    sleep: float = 0.2
    passes: int = 1

    @property
    def tries(self) -> int:
        """Requests sent at most, the first included."""
        return (1 + max(0, self.retries)) * (1 + max(0, self.passes))

    def waits(self) -> Iterator[float]:
        """The wait before each try after the first, in the order a transfer makes them."""
        for number in range(1 + max(0, self.passes)):
            if number:
                yield pass_delay(self.sleep)
            for attempt in range(1, max(0, self.retries) + 1):
                yield retry_delay(self.sleep, attempt)
