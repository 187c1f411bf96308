"""Console output: one line per change (rclone's sigils), a summary, or a JSON event stream."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

import fssync
from fssync.secrets import scrub

_SIGILS = {"copy": "+", "update": "*", "delete": "-"}


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class ConsoleReporter:
    """Lives for one run (see the fssync_session hook)."""

    def __init__(self, config: fssync.Config, out: TextIO | None = None, err: TextIO | None = None):
        self.json = bool(config.get("json"))
        self.quiet = bool(config.get("quiet"))
        self.verbose = config.verbose
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def _line(self, text: str, stream: TextIO | None = None) -> None:
        print(scrub(text), file=stream or self.out, flush=True)

    @fssync.hookimpl
    def fssync_event(self, event: fssync.Event, config: fssync.Config) -> None:
        if self.json:
            if event.name != "start" or self.verbose:
                self._line(json.dumps(event.to_json(), ensure_ascii=False, default=str))
            return
        f: dict[str, Any] = dict(event.fields)
        name = event.name
        if name in _SIGILS and not self.quiet:
            extra = f"  ({f.get('reason')})" if self.verbose and f.get("reason") else ""
            self._line(f"{_SIGILS[name]} {f['key']}{extra}")
        elif name == "would" and not self.quiet and (f["kind"] != "exclude" or self.verbose):
            self._line(f"{f['sigil']} {f['key']}  ({f['reason']})")
        elif name == "failed":
            self._line(f"! {f['key']}: {f['error']}", self.err)
        elif name in ("rejected", "error", "conflict") and not self.quiet:
            self._line(f"! {f['key']}: {f.get('reason') or f.get('error')}", self.err)
        elif name == "deletes_held":
            self._line(f"fssync: not deleting {f['count']} file(s): {f['reason']}", self.err)
        elif name == "listing" and self.verbose > 1:
            self._line(f"listing {f['url']}", self.err)

    @fssync.hookimpl
    def fssync_run_finished(self, report: fssync.Report, config: fssync.Config) -> None:
        if self.json:
            self._line(json.dumps(report.summary()))
            return
        if self.quiet:
            return
        rate = report.bytes / report.seconds if report.seconds > 0 else 0.0
        verb = "would be " if report.dry_run else ""
        parts = [
            f"{report.copied} copied",
            f"{report.updated} updated",
            f"{report.deleted} deleted",
            f"{report.skipped} unchanged",
            f"{report.failed} failed",
        ]
        if report.excluded:
            parts.append(f"{report.excluded} excluded")
        head = "dry run, nothing changed: " if report.dry_run else ""
        self._line(
            f"{head}{', '.join(parts)}; {verb}{human_bytes(report.bytes)} in {report.seconds:.2f} s"
            + (f" ({human_bytes(rate)}/s)" if rate and not report.dry_run else "")
        )
        for failure in report.failures:
            self._line(f"  failed: {failure.key}: {failure.error}", self.err)


@fssync.hookimpl(trylast=True)
def fssync_session(config: fssync.Config) -> object | None:
    if not config.get("console"):
        return None  # the Python API is silent unless asked
    return ConsoleReporter(config)
