"""Logs of a run through the standard `logging` module: ``-vv`` debug lines and ``-vvv`` HTTP
request and response lines on stderr, and ``--log-file PATH`` with a timestamp on every line.

Every event becomes a record of the ``fssync.run`` logger (HTTP lines: ``fssync.http``), so a
program using the Python API can also route them with its own logging set-up. Every line passes
`fssync.plugin.scrub` on its way out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO

import fssync
from fssync.plugin import redact_options, scrub

RUN = logging.getLogger("fssync.run")
HTTP = logging.getLogger("fssync.http")
ROOT = logging.getLogger("fssync")
ROOT.addHandler(logging.NullHandler())  # a library stays silent unless its user configures logs

_LEVEL = {
    "copy": logging.INFO,
    "update": logging.INFO,
    "delete": logging.INFO,
    "would": logging.INFO,
    "failed": logging.ERROR,
    "error": logging.ERROR,
    "retry": logging.WARNING,
    "rejected": logging.WARNING,
    "deletes_held": logging.WARNING,
}


def _plan(f: dict[str, Any]) -> str:
    return (
        f"plan: {f['copy']} to copy, {f['update']} to update, {f['delete']} to delete, "
        f"{f['skip']} unchanged, {f['exclude']} excluded; {fssync.human_bytes(f['bytes'])} to move"
    )


_TEXT: dict[str, Callable[[dict[str, Any]], str]] = {
    "listing": lambda f: f"listing {f['url']}",
    "listing_progress": lambda f: f"listing {f['url']}: {f['files']:,} files so far",
    "listed": lambda f: f"listed {f['url']}: {f['files']:,} files",
    "plan": _plan,
    "would": lambda f: f"would {f['kind']} {f['key']} ({f['reason']})",
    "start": lambda f: f"start {f['kind']} {f['key']} ({f['size']:,} bytes; {f['reason']})",
    "progress": lambda f: f"{f['key']}: {f['bytes']:,} of {f['size']:,} bytes",
    "retry": lambda f: (
        f"retry {f['attempt']} of {f['of']} for {f['key']} in {f['delay']} s: {f['error']}"
    ),
    "copy": lambda f: f"copied {f['key']} ({f['reason']}; {f['bytes']:,} bytes)",
    "update": lambda f: f"updated {f['key']} ({f['reason']}; {f['bytes']:,} bytes)",
    "delete": lambda f: f"deleted {f['key']} ({f['reason']})",
    "failed": lambda f: f"failed to {f.get('kind', 'copy')} {f['key']}: {f['error']}",
    "rejected": lambda f: f"skipped {f['key']}: {f['reason']}",
    "error": lambda f: f"cannot read {f['key']}: {f['error']}",
    "deletes_held": lambda f: f"not deleting {f['count']} file(s): {f['reason']}",
}


class ScrubbingFormatter(logging.Formatter):
    """Local time with its offset on every line; registered secrets redacted; control
    characters of a message (a hostile key's) shown as escapes, so no line can be forged."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        when = dt.datetime.fromtimestamp(record.created).astimezone()
        return when.isoformat(timespec="milliseconds")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
        return fssync.printable(super().formatMessage(record))  # a traceback keeps its lines

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at each line: a live progress display swaps it."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class OnlyBelow(logging.Filter):
    """Pass debug lines only: the console reporter prints the rest already."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.INFO


class RunLog:
    """One run's log handlers, attached when the run starts and removed when it ends."""

    def __init__(self, config: fssync.Config) -> None:
        self.verbose = config.verbose
        self.handlers: list[logging.Handler] = []
        path = config.get("log_file")
        if path:
            mode = "a" if config.get("log_file_append") else "w"
            to_file = logging.FileHandler(path, mode=mode, encoding="utf-8")
            to_file.setFormatter(ScrubbingFormatter("%(asctime)s %(levelname)-7s %(message)s"))
            to_file.setLevel(logging.DEBUG if self.verbose >= 2 else logging.INFO)
            self.handlers.append(to_file)
        if config.get("console") and self.verbose >= 2:
            to_stderr = StderrHandler()
            to_stderr.setLevel(logging.DEBUG)
            to_stderr.setFormatter(ScrubbingFormatter("%(name)s: %(message)s"))
            to_stderr.addFilter(OnlyBelow())
            self.handlers.append(to_stderr)
        self._saved: tuple[int, bool, int] | None = None
        if self.handlers:
            self._saved = (ROOT.level, ROOT.propagate, HTTP.level)
            ROOT.setLevel(min(h.level for h in self.handlers))
            # The stores log each HTTP request on fssync.http (fssync.stores.s3.httplog): shown
            # at -vvv only, though -vv lets the other debug lines through.
            HTTP.setLevel(logging.DEBUG if self.verbose >= 3 else logging.INFO)
            if config.get("console"):
                ROOT.propagate = False  # the command line owns the terminal
            for handler in self.handlers:
                ROOT.addHandler(handler)
        RUN.info(
            "fssync %s: %s %s -> %s", fssync.__version__, config.command, config.src, config.dst
        )
        if RUN.isEnabledFor(logging.DEBUG):
            RUN.debug("options: %s", json.dumps(redact_options(config.options), sort_keys=True))

    @fssync.hookimpl
    def fssync_event(self, event: fssync.Event, config: fssync.Config) -> None:
        level = _LEVEL.get(event.name, logging.DEBUG)
        if not RUN.isEnabledFor(level):
            return
        text = _TEXT.get(event.name)
        RUN.log(level, "%s", text(dict(event.fields)) if text else json.dumps(event.to_json()))

    @fssync.hookimpl
    def fssync_run_finished(self, report: fssync.Report, config: fssync.Config) -> None:
        try:
            if report.error is not None:
                RUN.error("stopped: %s (exit code %d)", report.error, report.exit_code)
            RUN.info("%s", fssync.summary_line(report))
            for failure in report.failures:
                RUN.error("failure: %s: %s", failure.key, failure.error)
            RUN.info("exit code %d", report.exit_code)
        finally:
            self.close()

    def close(self) -> None:
        for handler in self.handlers:
            ROOT.removeHandler(handler)
            handler.close()
        self.handlers = []
        if self._saved is not None:
            ROOT.setLevel(self._saved[0])
            ROOT.propagate = self._saved[1]
            HTTP.setLevel(self._saved[2])
            self._saved = None


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser, command: str) -> None:
    if command not in ("sync", "bisync"):
        return
    group = parser.add_argument_group("log file")
    group.add_argument(
        "--log-file",
        metavar="PATH",
        help="write every change, failure and the summary to PATH, one timestamped line each "
        "(-vv adds debug lines, -vvv each HTTP request); replaces PATH unless --log-file-append",
    )
    group.add_argument(
        "--log-file-append", action="store_true", help="add to the end of --log-file"
    )


@fssync.hookimpl(trylast=True)
def fssync_configure(config: fssync.Config) -> None:
    path = config.get("log_file")
    if config.get("log_file_append") and not path:
        raise fssync.UsageError("--log-file-append needs --log-file PATH")
    if path:
        fssync.check_output_path("--log-file", path)


@fssync.hookimpl(trylast=True)
def fssync_session(config: fssync.Config) -> object | None:
    return RunLog(config)
