"""Live progress on a terminal (rich): listing counts while listing, then files and bytes done of
the plan's totals with rate and time left, and the transfers in flight.

On by default when stdout is a terminal (and neither ``--json`` nor ``-q`` is given);
``--progress`` / ``--no-progress`` force it. Lines other reporters print during the run appear
above the display.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

import fssync

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.progress import TaskID

ROWS = 5  # transfers shown one per line; the rest are counted
REFRESH = 4  # redraws per second


class ProgressDisplay:
    """One run's live display; fed only through the hooks, so it can be tested with events.

    rich is imported here, not with the plugin: a run that shows no display never loads it.
    """

    def __init__(
        self,
        console: Console,
        *,
        auto_refresh: bool = True,
        clock: Callable[[], float] | None = None,
        rows: int = ROWS,
    ) -> None:
        from .live import BatchedLive, make_bars, stack

        self.console = console
        self.rows = rows
        self.overall, self.files = make_bars(console, clock)
        self.live = BatchedLive(
            stack(self.overall, self.files),
            console=console,
            auto_refresh=auto_refresh,
            refresh_per_second=REFRESH,
        )
        self._saved: list[tuple[str, TextIO]] = []
        self._listing: dict[str, TaskID] = {}
        self._total: TaskID | None = None
        self._planned = 0
        self._done = 0
        self._failed = 0
        self._deleted = 0
        self._sizes: dict[str, int] = {}
        self._partial: dict[str, int] = {}  # bytes of each transfer in flight counted so far
        self._rows: dict[str, TaskID] = {}

    @property
    def renderable(self) -> RenderableType:
        """What the display shows now (tests print it into a captured console)."""
        from .live import stack

        return stack(self.overall, self.files)

    # --------------------------------------------------------------------------------- events

    @fssync.hookimpl
    def fssync_event(self, event: fssync.Event, config: fssync.Config) -> None:
        handler = getattr(self, "_on_" + event.name, None)
        if handler is None:
            return
        if not self.live.is_started:
            self._start()
        handler(event.fields)

    def _on_listing(self, f: dict) -> None:
        self._listing[f["url"]] = self.overall.add_task(
            f"listing {_text(f['url'])}", total=None, files="0 files"
        )

    def _on_listing_progress(self, f: dict) -> None:
        task = self._listing.get(f["url"])
        if task is not None:
            self.overall.update(task, files=f"{f['files']:,} files")

    def _on_listed(self, f: dict) -> None:
        task = self._listing.pop(f["url"], None)
        if task is not None:
            self.overall.remove_task(task)

    def _on_plan(self, f: dict) -> None:
        for task in self._listing.values():
            self.overall.remove_task(task)
        self._listing.clear()
        self._planned = int(f["copy"]) + int(f["update"])
        self._total = self.overall.add_task("syncing", total=int(f["bytes"]), files="")
        self._refresh_total()

    def _on_start(self, f: dict) -> None:
        key = f["key"]
        self._sizes[key] = int(f["size"])
        self._partial[key] = 0
        self._show_rows()
        self._refresh_total()

    def _on_progress(self, f: dict) -> None:
        key = f["key"]
        self._advance(key, int(f["bytes"]) - self._partial.get(key, 0))
        row = self._rows.get(key)
        if row is not None:
            self.files.update(row, completed=int(f["bytes"]))

    def _on_retry(self, f: dict) -> None:
        key = f["key"]
        self._advance(key, -self._partial.get(key, 0))  # the transfer starts over
        row = self._rows.get(key)
        if row is not None:
            self.files.reset(row)

    def _on_copy(self, f: dict) -> None:
        key = f["key"]
        self._advance(key, int(f["bytes"]) - self._partial.get(key, 0))
        self._done += 1
        self._finish(key)

    _on_update = _on_copy

    def _on_failed(self, f: dict) -> None:
        key = f["key"]
        if f.get("kind") == "delete":
            self._failed += 1
            self._refresh_total()
            return
        self._advance(key, -self._partial.get(key, 0))
        if self._total is not None:  # it will not be written: take it out of the total
            total = self.overall.tasks[self._total].total or 0
            self.overall.update(self._total, total=max(0, total - self._sizes.get(key, 0)))
        self._failed += 1
        self._finish(key)

    def _on_delete(self, f: dict) -> None:
        self._deleted += 1
        self._refresh_total()

    # -------------------------------------------------------------------------------- helpers

    def _advance(self, key: str, delta: int) -> None:
        if key in self._partial:
            self._partial[key] += delta
        if self._total is not None and delta:
            self.overall.advance(self._total, delta)

    def _finish(self, key: str) -> None:
        self._partial.pop(key, None)
        self._sizes.pop(key, None)
        row = self._rows.pop(key, None)
        if row is not None:
            self.files.remove_task(row)
        self._show_rows()
        self._refresh_total()

    def _show_rows(self) -> None:
        """Give the oldest transfers in flight a line each, up to `rows`."""
        for key in self._partial:
            if len(self._rows) >= self.rows:
                break
            if key not in self._rows:
                self._rows[key] = self.files.add_task(
                    _short(key), total=self._sizes[key], completed=self._partial[key]
                )

    def _refresh_total(self) -> None:
        if self._total is None:
            return
        parts = [f"{self._done:,}/{self._planned:,} files"]
        flying = len(self._partial)
        if flying:
            parts.append(f"{flying} in flight")
        if self._deleted:
            parts.append(f"{self._deleted:,} deleted")
        if self._failed:
            parts.append(f"[red]{self._failed:,} failed[/]")
        self.overall.update(self._total, files=", ".join(parts))

    @fssync.hookimpl
    def fssync_run_finished(self, report: fssync.Report, config: fssync.Config) -> None:
        self.close()

    def _start(self) -> None:
        """Catch what other reporters print while the display is live (stdout only when the
        display is drawn there: with --json, stdout is the event stream and stays untouched)."""
        from .live import Lines

        # The console must keep drawing on the real stream, not on the stand-in below.
        self.console.file = self.console.file
        names = ["stderr"] if self.console.stderr else ["stdout", "stderr"]
        for name in names:
            original = getattr(sys, name)
            sink = Lines(original)
            self._saved.append((name, original))
            self.live.sinks.append(sink)
            setattr(sys, name, sink)
        self.live.start()

    def close(self) -> None:
        if self.live.is_started:
            for row in list(self._rows.values()):
                self.files.remove_task(row)
            self._rows.clear()
            self.live.stop()  # its last redraw prints the lines still waiting
        for name, original in self._saved:
            setattr(sys, name, original)
        self._saved.clear()
        self.live.flush_lines()
        self.live.sinks.clear()


def _text(name: str) -> str:
    """A name as the display shows it: control characters escaped, and rich's markup too
    (the columns are markup: a key holding ``[/]`` would stop the display with an error)."""
    from rich.markup import escape

    return escape(fssync.printable(name))


def _short(key: str, width: int = 40) -> str:
    key = fssync.printable(key)
    return _text(key if len(key) <= width else "…" + key[-(width - 1) :])


# ------------------------------------------------------------------------------------- hooks


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser, command: str) -> None:
    if command not in ("sync", "bisync"):
        return
    group = parser.add_argument_group("progress")
    group.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show live progress (default: when stdout is a terminal, without --json or -q)",
    )


def wanted(config: fssync.Config, is_terminal: bool) -> bool:
    """Whether this run shows progress: forced either way, or on for a person at a terminal."""
    forced = config.get("progress")
    if forced is not None:
        return bool(forced)
    return is_terminal and not config.get("json") and not config.get("quiet")


@fssync.hookimpl(trylast=True)
def fssync_session(config: fssync.Config) -> object | None:
    if not config.get("console") or not wanted(config, sys.stdout.isatty()):
        return None
    from rich.console import Console  # only a run that shows the display loads rich

    # With --json, stdout carries the event stream: draw on stderr instead.
    stderr = bool(config.get("json"))
    forced = bool(config.get("progress"))
    return ProgressDisplay(Console(stderr=stderr, force_terminal=forced or None))
