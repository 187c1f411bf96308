"""Console output: one line per change (sigils), the summary and failures, or with ``--json`` a
stream of JSON events (one object per line, the summary last)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

import fssync
from fssync.plugin import scrub

_SIGILS = {"copy": "+", "update": "*", "delete": "-", "move": ">"}
# Events too frequent for the JSON stream unless -v asks for them.
_CHATTY = frozenset({"progress", "listing_progress"})


class ConsoleReporter:
    """Lives for one run (see the fssync_session hook)."""

    def __init__(self, config: fssync.Config, out: TextIO | None = None, err: TextIO | None = None):
        self.json = bool(config.get("json"))
        self.quiet = bool(config.get("quiet"))
        self.verbose = config.verbose
        self._out = out
        self._err = err

    # Looked up at each line, not kept: a live progress display swaps sys.stdout for a proxy
    # that prints above the bars.
    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    def _line(self, text: str, stream: TextIO | None = None) -> None:
        # Keys may hold terminal control sequences: shown as escapes, never sent raw.
        print(fssync.printable(scrub(text)), file=stream or self.out, flush=True)

    def _json(self, obj: dict[str, Any]) -> None:
        print(scrub(fssync.json_text(obj, default=str)), file=self.out, flush=True)

    @fssync.hookimpl
    def fssync_event(self, event: fssync.Event, config: fssync.Config) -> None:
        if config.command not in ("sync", "bisync") and (
            self.json or event.name not in ("rejected", "error")
        ):
            return  # check and ls print their own results; only listing problems are shown
        if self.json:
            if event.name not in _CHATTY or self.verbose:
                self._json(event.to_json())
            return
        f: dict[str, Any] = dict(event.fields)
        name = event.name
        why = f"  ({f['reason']})" if self.verbose and f.get("reason") else ""
        if name in _SIGILS and not self.quiet:
            self._line(f"{_SIGILS[name]} {f['key']}{why}")
        elif name == "would" and not self.quiet and (f["kind"] != "exclude" or self.verbose):
            self._line(f"{f['sigil']} {f['key']}  ({f['reason']})")
        elif name == "explain":
            verb = {
                "copy": "would be copied",
                "update": "would be updated",
                "delete": "would be deleted",
                "move": "would be moved",
                "skip": "is unchanged",
                "exclude": "is excluded",
                "none": "is left alone",
            }[f["kind"]]
            self._line(f"{f['key']} {verb}: {f['reason']}")
        elif name == "failed":
            self._line(f"! {f['key']}: {_reason(f['key'], f['error'])}{why}", self.err)
        elif name == "retry" and self.verbose:
            self._line(
                f"retrying {f['key']} ({f['attempt']} of {f['of']}, in {f['delay']:.1f} s): "
                f"{f['error']}",
                self.err,
            )
        elif name in ("rejected", "error", "conflict") and not self.quiet:
            self._line(f"! {f['key']}: {f.get('reason') or f.get('error')}", self.err)
        elif name == "mtime" and self.verbose and not self.quiet:
            self._line(f"~ {f['key']}  (mtime set)")
        elif name == "unverified" and self.verbose and not self.quiet:
            self._line(f"? {f['key']}  ({f['reason']})")
        elif name == "backup" and self.verbose and not self.quiet:
            self._line(f"~ {f['key']}  (kept as {f['to']} before it is replaced or deleted)")
        elif name == "bwlimit" and self.verbose and not self.quiet:
            since = f"{f['from'] // 60:02}:{f['from'] % 60:02}"
            self._line(f"bandwidth limit: {f['rate']} (timetable entry from {since})", self.err)
        elif name == "bisync_conflict" and not self.quiet:
            self._line(f["line"])
        elif name == "cutoff":
            self._line(f"fssync: stopped: {f['message']}", self.err)
        elif name == "cleanup" and not self.quiet:
            self._line(
                f"fssync: cleaned up after an interrupted run: removed {f['temp_files']} "
                f"temporary file(s), aborted {f['uploads_aborted']} unfinished upload(s)",
                self.err,
            )
        elif name == "deletes_held":
            self._line(f"fssync: not deleting {f['count']} file(s): {f['reason']}", self.err)
        elif name == "credentials" and self.verbose:
            until = f" until {f['expires']}" if f.get("expires") else ""
            self._line(
                f"credentials ({f['why']}) for {f['url']}: {f['access_key_id']}{until} "
                f"from {f['provider']}",
                self.err,
            )

    @fssync.hookimpl
    def fssync_run_finished(self, report: fssync.Report, config: fssync.Config) -> None:
        if self.json:
            if report.error is not None:
                self._json(
                    {"event": "stopped", "error": report.error, "exit_code": report.exit_code}
                )
            self._json(report.summary())
            return
        if report.error is not None:
            # The command line prints the error itself; say only what was done before it, and
            # after Ctrl-C always (also when it came before the first file was done).
            done = report.copied + report.updated + report.deleted + report.failed
            interrupted = report.exit_code == fssync.ExitCode.INTERRUPTED
            if (done or interrupted) and not self.quiet:
                self._line(f"stopped early: {fssync.summary_line(report)}")
            return
        if self.quiet:
            return
        self._line(fssync.summary_line(report))
        if report.failures:
            self._line(f"{len(report.failures)} failure(s):", self.err)
            for failure in report.failures:
                self._line(f"  ! {failure.key}: {_reason(failure.key, failure.error)}", self.err)


def _reason(key: str, error: str) -> str:
    """The error without the key it starts with (diagnoses name their file): said once."""
    return error[len(key) + 2 :] if error.startswith(f"{key}: ") else error


@fssync.hookimpl(trylast=True)
def fssync_session(config: fssync.Config) -> object | None:
    if not config.get("console"):
        return None  # the Python API is silent unless asked
    return ConsoleReporter(config)
