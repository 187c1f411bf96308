"""Running statistics of one run, kept from its events, and the run's JSON document.

The engine feeds every event it emits to a `Tally` before the reporters see it. The tally is the
one source of the report's figures: counts (moves and mtime-only updates included), bytes,
failures, timeline, largest transfers and retries, the same whether the run finished or stopped
early, and whichever executor ran the transfers (an executor replays its workers' events). `report_document` turns a report and the run's
options into the one JSON document that ``--report``, the webhook and the HTML page share (its
schema: docs/reference/report.schema.json).
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from fssync.errors import UsageError
from fssync.model import Event, Failure, Outcome, Plan, Report, Sample, Transfer
from fssync.settings.config import Config
from fssync.settings.secrets import redact_options, scrub

if TYPE_CHECKING:
    from fssync.engine import Run
    from fssync.stores import Listing

SCHEMA = "fssync-report/2"  # 2: counts.renamed
TIMELINE_POINTS = 120  # at most this many samples: enough for a chart, small for 1M files
LARGEST = 10
UNVERIFIED_KEPT = 1000  # keys of unverified files a report names (all are counted)


class Tally:
    """Counts and times what the events say; one per run, fed on the event loop's thread."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.t0 = clock()
        self.started = time.time()
        self.counts = {"copy": 0, "update": 0, "delete": 0, "move": 0}
        self.touched = 0  # updates whose content was equal: only the mtime was set
        self.bytes = 0
        self.retries = 0
        self.failures: list[Failure] = []
        self.plan: dict[str, int] | None = None
        self.unverified: list[str] = []
        self.unverified_count = 0
        self._starts: dict[str, float] = {}
        self._largest: list[tuple[int, str, Transfer]] = []  # a min-heap of the largest
        self._timeline: list[Sample] = [Sample(0.0, 0, 0)]
        self._step = 0.1  # seconds between samples; doubled whenever the timeline is full

    def observe(self, event: Event) -> None:
        name, f = event.name, event.fields
        if name == "start":
            self._starts[f["key"]] = self._clock()
        elif name in ("copy", "update"):
            now = self._clock()
            began = self._starts.pop(f["key"], now)
            size = int(f.get("bytes", 0))
            self.counts[name] += 1
            self.bytes += size
            self._keep_largest(Transfer(f["key"], name, size, now - began))
            self._spread(began, now, size)
            self._sample(now)
        elif name in ("delete", "move"):
            self.counts[name] += 1  # a move sends no bytes: not in the timeline
        elif name == "mtime":
            self.touched += 1
        elif name == "failed":
            self._starts.pop(f["key"], None)
            self.failures.append(Failure(f["key"], str(f.get("kind", "")), str(f["error"])))
        elif name == "retry":
            self.retries += 1
        elif name == "unverified":
            self.unverified_count += 1
            if len(self.unverified) < UNVERIFIED_KEPT:
                self.unverified.append(str(f["key"]))
        elif name == "plan":
            self.plan = {k: int(v) for k, v in f.items()}

    @property
    def files(self) -> int:
        """Files written so far."""
        return self.counts["copy"] + self.counts["update"]

    def _keep_largest(self, t: Transfer) -> None:
        item = (t.bytes, t.key, t)
        if len(self._largest) < LARGEST:
            heapq.heappush(self._largest, item)
        elif item[:2] > self._largest[0][:2]:
            heapq.heapreplace(self._largest, item)

    def _spread(self, began: float, now: float, size: int) -> None:
        """Count a transfer's bytes over its own time, not all at its end: the samples taken
        while it ran get their share. (A large multipart file counted when it finished drew a
        throughput spike, hundreds of MiB/s, on the chart.) Bytes stay monotonic: a later
        sample gets a larger share. Only samples inside the transfer are touched: none for
        the small files of a big run."""
        span = now - began
        if span <= 0 or size <= 0:
            return
        t0, line = self.t0, self._timeline
        start = round(began - t0, 3)
        if line[-1].seconds <= start:
            return  # began after the last sample: the common case, decided in one comparison
        first = bisect.bisect_right(line, start, key=lambda s: s.seconds)
        for i in range(first, len(line)):
            s = line[i]
            share = int(size * (t0 + s.seconds - began) / span)
            line[i] = Sample(s.seconds, s.bytes + max(0, min(size, share)), s.files)

    def _sample(self, now: float) -> None:
        sample = Sample(round(now - self.t0, 3), self.bytes, self.files)
        if len(self._timeline) > 1 and sample.seconds - self._timeline[-2].seconds < self._step:
            self._timeline[-1] = sample  # still inside the current step: move its end forward
            return
        self._timeline.append(sample)
        if len(self._timeline) > TIMELINE_POINTS:
            kept = self._timeline[::2]
            if kept[-1] is not sample:
                kept.append(sample)
            self._timeline = kept
            self._step *= 2

    @property
    def seconds(self) -> float:
        return self._clock() - self.t0

    @property
    def largest(self) -> tuple[Transfer, ...]:
        return tuple(t for _, _, t in sorted(self._largest, reverse=True))

    @property
    def timeline(self) -> tuple[Sample, ...]:
        end = Sample(round(self.seconds, 3), self.bytes, self.files)
        if end.seconds > self._timeline[-1].seconds:
            return (*self._timeline, end)
        return tuple(self._timeline)

    def complete(self, report: Report) -> Report:
        """The engine's report plus what only the events show."""
        plan = self.plan or {}
        return attrs.evolve(
            report,
            seconds=self.seconds,  # from the same clock as the timeline, set-up included
            started=self.started,
            retries=self.retries,
            unverified=tuple(self.unverified),
            unverified_count=self.unverified_count,
            timeline=self.timeline,
            largest=self.largest,
            planned_files=plan.get("copy", 0) + plan.get("update", 0) + plan.get("delete", 0),
            planned_bytes=plan.get("bytes", 0),
            planned_copies=plan.get("copy", 0),
            planned_updates=plan.get("update", 0),
            planned_deletes=plan.get("delete", 0),
            planned_moves=plan.get("move", 0),
        )

    def report(
        self,
        *,
        dry_run: bool,
        skipped: int,
        excluded: int,
        failures: tuple[Failure, ...] = (),
        deletes_held: str | None = None,
        error: str | None = None,
        abort_code: int | None = None,
    ) -> Report:
        """The run's report from what the events say was done. `skipped` and `excluded` are
        the plan's (unchanged keys make no event); `failures` are those no transfer event
        carries (unreadable folders, unsafe and conflicting keys), added after the
        transfers' own."""
        every = (*self.failures, *failures)
        return self.complete(
            Report(
                copied=self.counts["copy"],
                updated=self.counts["update"],
                deleted=self.counts["delete"],
                renamed=self.counts["move"],
                skipped=skipped + self.touched,  # equal content, its mtime set: unchanged
                excluded=excluded,
                failed=len(every),
                bytes=self.bytes,
                dry_run=dry_run,
                failures=every,
                deletes_held=deletes_held,
                error=error,
                abort_code=abort_code,
            )
        )

    def stopped(self, error: str, exit_code: int, *, dry_run: bool) -> Report:
        """The report of a run that stopped early: what the events say was done."""
        plan = self.plan or {}
        return self.report(
            dry_run=dry_run,
            skipped=plan.get("skip", 0),
            excluded=plan.get("exclude", 0),
            error=scrub(error),
            abort_code=exit_code,
        )


def check_output_path(option: str, path: str) -> None:
    """Refuse a report or log path that cannot be written, before the run rather than after."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path!r} is a folder: give a file name")


def write_atomically(path: str, text: str) -> None:
    """Readers never see half a file: write a temporary file beside it, then rename it."""
    import tempfile  # slow to import, and only a run that writes a report file needs it

    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".fssync-report-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB': binary units, one decimal above a KiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_seconds(seconds: float) -> str:
    """0.52 -> '0.52 s', 75 -> '1 min 15 s', 3725 -> '1 h 2 min'."""
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def summary_line(report: Report) -> str:
    """The one-line human summary the console prints and the e-mail's subject builds on."""
    if report.dry_run:
        return _dry_summary_line(report)
    parts = [
        f"{report.copied} copied",
        f"{report.updated} updated",
        f"{report.deleted} deleted",
        f"{report.skipped} unchanged",
        f"{report.failed} failed",
    ]
    if report.renamed:
        parts.insert(2, f"{report.renamed} renamed")
    if report.excluded:
        parts.append(f"{report.excluded} excluded")
    if report.retries:
        parts.append(f"{report.retries} retried")
    if report.unverified_count:
        parts.append(f"{report.unverified_count} not verified (size only)")
    line = f"{', '.join(parts)}; {human_bytes(report.bytes)} in {human_seconds(report.seconds)}"
    if report.rate:
        line += f" ({human_bytes(report.rate)}/s)"
    return line


def _dry_summary_line(report: Report) -> str:
    """A dry run did nothing: its line says what the plan would do."""
    would = [
        f"copy {report.planned_copies}",
        f"update {report.planned_updates}",
        f"delete {report.planned_deletes}",
    ]
    if report.planned_moves:
        would.insert(2, f"move {report.planned_moves}")
    parts = [f"{report.skipped} unchanged", f"{report.failed} failed"]
    if report.excluded:
        parts.append(f"{report.excluded} excluded")
    return (
        f"dry run, nothing changed: would {', '.join(would)}; {', '.join(parts)}; "
        f"would transfer {human_bytes(report.planned_bytes)} "
        f"(planned in {human_seconds(report.seconds)})"
    )


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds")


def report_document(report: Report, config: Config) -> dict[str, Any]:
    """The whole run as one JSON-ready document: what ``--report FILE`` writes.

    Options are redacted (registered secrets and any option whose name says it holds a secret),
    and every string that reaches the document passes `scrub`.
    """
    from fssync import __version__

    finished = report.started + report.seconds if report.started is not None else None
    return {
        "schema": SCHEMA,
        "fssync_version": __version__,
        "command": config.command,
        "src": scrub(config.src),
        "dst": scrub(config.dst or ""),
        "dry_run": report.dry_run,
        "started": _iso(report.started),
        "finished": _iso(finished),
        "seconds": round(report.seconds, 3),
        "exit_code": report.exit_code,
        "ok": report.ok,
        "error": report.error,
        "options": redact_options(config.options),
        "plan": {"files": report.planned_files, **report.planned},
        "counts": {
            "copied": report.copied,
            "updated": report.updated,
            "deleted": report.deleted,
            "renamed": report.renamed,
            "skipped": report.skipped,
            "excluded": report.excluded,
            "failed": report.failed,
        },
        "bytes": report.bytes,
        "bytes_per_second": round(report.rate, 1),
        "retries": report.retries,
        "unverified": {
            "count": report.unverified_count,
            "keys": [scrub(k) for k in report.unverified],
        },
        "deletes_held": report.deletes_held,
        "failures": [
            {"key": scrub(f.key), "kind": f.kind, "error": scrub(f.error)} for f in report.failures
        ],
        "conflicts": [scrub(line) for line in report.conflicts],
        "largest": [
            {"key": scrub(t.key), "kind": t.kind, "bytes": t.bytes, "seconds": round(t.seconds, 3)}
            for t in report.largest
        ],
        "timeline": [
            {"seconds": s.seconds, "bytes": s.bytes, "files": s.files} for s in report.timeline
        ],
    }


def run_report(
    run: Run,
    plan: Plan,
    outcomes: list[Outcome],
    *,
    dry_run: bool,
    src: Listing | None = None,
    dst: Listing | None = None,
) -> Report:
    """The run's report: its figures come from the tally of the run's events (see
    `Tally.report`); `outcomes` only say how much of the plan is left when a limit cut
    the run."""
    failures = []
    if src is not None and dst is not None:
        for key, reason in (*src.errors, *dst.errors):
            failures.append(Failure(key, "list", f"cannot read: {reason}"))
        for key, reason in run.unsafe:
            failures.append(Failure(scrub(key), "unsafe", f"not copied: {reason}"))
        for key, reason in run.conflicts:
            failures.append(Failure(key, "conflict", f"not written: {reason}"))
    plan_counts = plan.counts()
    error, abort_code = None, None
    if run.cutoff is not None and run.cutoff.reached and not dry_run:
        done = {o.action.key for o in outcomes if o.ok}
        left = sum(1 for a in plan.transfers if a.key not in done)
        error, abort_code = run.cutoff.message(left), run.cutoff.exit_code
        run.emit(Event("cutoff", {"limit": run.cutoff.reached, "message": error}))
    return run.tally.report(
        dry_run=dry_run,
        skipped=plan_counts["skip"],
        excluded=plan_counts["exclude"],
        failures=tuple(failures),
        deletes_held=run.held,
        error=error,
        abort_code=abort_code,
    )
