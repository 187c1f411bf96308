"""How many requests a client sent, as the server counted them.

SeaweedFS's S3 gateway keeps Prometheus counters per request type, status code and bucket, on
a metrics port of its own. The harness reads them right before and right after each measured
run; runs are sequential, so the difference is that client's traffic, and nothing stands
between client and server (a counting proxy would become the bottleneck it is meant to
measure).

The gateway's types are coarse: HEAD requests count as ``GET``, batch deletes
(``POST ?delete``) as ``DELETE``, multipart create and complete as ``POST``, upload parts and
bucket creation as ``PUT``. Only GETs that stream an object body feed the time-to-first-byte
histogram, so its count splits ``GET`` into object reads (``GET``) and the rest (``HEAD``:
HEAD object or bucket, and GETs answered without a body: errors, bucket location, and reads of
empty objects). The total does not depend on this split.

A counter is bumped after the handler returns, and the in-flight gauge drops after that, so
a snapshot waits for the gauge to reach zero: by then every answered request is counted.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable, Mapping

import attrs

REQUESTS = "SeaweedFS_s3_request_total"
BODIES = "SeaweedFS_s3_time_to_first_byte_millisecond_count"
IN_FLIGHT = "SeaweedFS_s3_in_flight_requests"
SETTLE_S = 5.0
POLL_S = 0.01

_SAMPLE = re.compile(r"^(\w+)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Series = tuple[str, frozenset[tuple[str, str]]]  # metric name, labels
Snapshot = Mapping[Series, float]


@attrs.frozen
class Requests:
    """One run's requests: the total, by gateway type, and how many were answered 4xx/5xx."""

    total: int
    by_type: dict[str, int]
    errors: int


def parse(text: str) -> dict[Series, float]:
    """The samples of the three metrics used here, from Prometheus text format."""
    samples: dict[Series, float] = {}
    for line in text.splitlines():
        if not line.startswith((REQUESTS, BODIES, IN_FLIGHT)):
            continue
        m = _SAMPLE.match(line)
        if m is None:
            continue
        labels = frozenset(_LABEL.findall(m.group(2)))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def _increase(before: Snapshot, after: Snapshot, series: Series) -> float:
    """A counter's growth; a series that dropped (the server forgets idle buckets) restarts at 0."""
    now, then = after[series], before.get(series, 0.0)
    return now - then if now >= then else now


def difference(before: Snapshot, after: Snapshot) -> Requests:
    """The requests counted between two snapshots."""
    by_type: dict[str, int] = {}
    errors = 0
    bodies = 0
    for series in after:
        name, labels = series
        if name not in (REQUESTS, BODIES):
            continue
        n = round(_increase(before, after, series))
        if not n:
            continue
        label = dict(labels)
        if name == BODIES:
            bodies += n if label.get("type") == "GET" else 0
            continue
        kind = label.get("type", "?")
        by_type[kind] = by_type.get(kind, 0) + n
        if label.get("code", "").startswith(("4", "5")):
            errors += n
    gets = by_type.pop("GET", 0)
    if gets:
        by_type["GET"] = min(bodies, gets)
        by_type["HEAD"] = gets - by_type["GET"]
    counts = {k: v for k, v in sorted(by_type.items()) if v}
    return Requests(total=sum(counts.values()), by_type=counts, errors=errors)


@attrs.frozen
class RequestCounter:
    """Reads the server's counters over its metrics port (127.0.0.1, no proxy)."""

    url: str

    def _scrape(self) -> dict[Series, float]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url, timeout=5) as response:
            return parse(response.read().decode("utf-8", "replace"))

    def snapshot(self) -> dict[Series, float]:
        """Counters once no request is in flight (or after SETTLE_S, if one hangs).

        Raises OSError if the metrics port does not answer.
        """
        deadline = time.monotonic() + SETTLE_S
        while True:
            samples = self._scrape()
            busy = sum(v for (name, _), v in samples.items() if name == IN_FLIGHT)
            if busy <= 0 or time.monotonic() > deadline:
                return samples
            time.sleep(POLL_S)

    def self_test(self, request: Callable[[], object]) -> str:
        """Why the counts cannot be trusted ("" if they can): one known request must count once."""
        try:
            before = self.snapshot()
            request()
            counted = difference(before, self.snapshot())
        except OSError as e:
            return f"metrics port unreadable: {e}"
        if counted.total != 1:
            return f"one request counted as {counted.total} ({counted.by_type})"
        return ""
