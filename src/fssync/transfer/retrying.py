"""How long fssync keeps trying: one `RetryPolicy` for every layer, and one back-off formula.

Retries happen at three levels, each counted on its own (see docs/explanation/reliability.md):

- a **request** (low level): a request answered with a transient error (a 5xx, a 429,
  ``SlowDown``, a refused or reset connection) is sent again by the S3 client itself, up to
  ``low_level_retries`` more times. Both S3 transports follow it: the fast client reads the
  policy, and the s3fs path gives botocore's retry handler this policy's count and waits.
- a **file** (high level): a transfer that still fails with a retryable error is started again
  from the beginning, up to ``retries`` more times; a listing page is asked for again the same way.
- a **pass**: after every file was tried, those still failing get ``passes`` more rounds.

So one request is sent at most ``requests`` times in a run (`RetryPolicy.requests`), and a
storm that never ends costs a bounded number of requests, which a test counts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import attrs

# An answer that asks the client to slow down waits this many times longer than another
# transient error (as botocore's standard mode does: 1 s against 0.05 s at first).
THROTTLE_FACTOR = 20
THROTTLE_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"}
)


def backoff(base: float, attempt: int, cap: float) -> float:
    """The wait before retry number `attempt` (from 1): `base` doubled at each retry and
    capped at `cap`, then jittered over its upper half (never more than the cap, never less
    than half of it, so clients that failed together spread out yet still wait)."""
    ceiling = min(cap, base * 2.0 ** (max(1, attempt) - 1))
    return ceiling * (0.5 + random.random() / 2)


def throttled(status: int, code: str | None) -> bool:
    """Whether an error answer asks the client to slow down (a 503, a 429, ``SlowDown``)."""
    return status in (429, 503) or (code or "") in THROTTLE_CODES


def _count(value: Any) -> int:
    return max(0, int(value))


def _seconds(value: Any) -> float:
    return max(0.0, float(value))


@attrs.frozen
class RetryPolicy:
    """The run's retry settings, built once from the configuration and handed to every layer.

    ``--low-level-retries``, ``--low-level-retries-sleep`` (requests), ``--retries``,
    ``--retries-sleep`` (files and listing pages), ``--retry-passes`` (rounds over what still
    fails) and ``--retries-max-sleep`` (the cap of every wait)."""

    low_level_retries: int = attrs.field(default=4, converter=_count)
    low_level_sleep: float = attrs.field(default=0.05, converter=_seconds)
    retries: int = attrs.field(default=3, converter=_count)
    sleep: float = attrs.field(default=0.2, converter=_seconds)
    passes: int = attrs.field(default=1, converter=_count)
    max_sleep: float = attrs.field(default=20.0, converter=_seconds)

    @classmethod
    def from_config(cls, config: Any) -> RetryPolicy:
        """The policy a run's `Config` (or any object with ``get``) asks for."""
        default = cls()
        return cls(
            low_level_retries=config.get("low_level_retries", default.low_level_retries),
            low_level_sleep=config.get("low_level_retries_sleep", default.low_level_sleep),
            retries=config.get("retries", default.retries),
            sleep=config.get("retries_sleep", default.sleep),
            passes=config.get("retry_passes", default.passes),
            max_sleep=config.get("retries_max_sleep", default.max_sleep),
        )

    @property
    def sends(self) -> int:
        """Sends of one request by the client, the first included."""
        return 1 + self.low_level_retries

    @property
    def tries(self) -> int:
        """Tries of one file or listing page over the whole run, the first included."""
        return (1 + self.retries) * (1 + self.passes)

    @property
    def requests(self) -> int:
        """Sends of one request over the whole run at most: every try of the file or page
        sends it as often as the client may."""
        return self.tries * self.sends

    def request_delay(self, attempt: int, *, slow_down: bool = False) -> float:
        """The client's wait before sending a request again (`attempt` from 1); longer when
        the store asked to slow down."""
        base = self.low_level_sleep * (THROTTLE_FACTOR if slow_down else 1)
        return backoff(base, attempt, self.max_sleep)

    def retry_delay(self, attempt: int) -> float:
        """The wait before a file's or a page's retry number `attempt` (from 1)."""
        return backoff(self.sleep, attempt, self.max_sleep)

    def pass_delay(self, number: int) -> float:
        """The pause before extra pass `number` (from 1): the doubling goes on from where a
        file's retries stopped, so a stretch of failures is given more time each round."""
        return backoff(self.sleep, self.retries + number, self.max_sleep)

    def waits(self) -> Iterator[float]:
        """The waits between a file's or a page's tries, in order (``tries - 1`` of them)."""
        for number in range(1 + self.passes):
            if number:
                yield self.pass_delay(number)
            for attempt in range(1, self.retries + 1):
                yield self.retry_delay(attempt)
