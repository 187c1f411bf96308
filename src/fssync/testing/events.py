"""Record the events and reports of runs, for tests of plugins and reporters.

    from fssync.testing import capture_events

    with capture_events() as captured:
        fssync.sync("photos", "memory://backup")
    assert captured.names().count("copy") == 3
    assert captured.report.copied == 3

Every run started inside the block (``fssync.sync``, or ``fssync.cli.main.main`` in the same thread)
is recorded, without passing a plugin in. `Captured.replay` feeds what was recorded to a
reporter through the hooks, so a reporter can be tested on a real run's events.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from fssync.hooks import hookimpl
from fssync.hooks.manager import make_hooks, registered
from fssync.model import Event, Report
from fssync.settings.config import Config


@attrs.define
class Captured:
    """What the runs inside a `capture_events` block reported, in order."""

    events: list[Event] = attrs.Factory(list)
    reports: list[Report] = attrs.Factory(list)
    configs: list[Config] = attrs.Factory(list)

    def names(self) -> list[str]:
        """Event names in the order they came."""
        return [e.name for e in self.events]

    def of(self, *names: str) -> list[dict[str, Any]]:
        """The JSON objects of the events with these names."""
        return [e.to_json() for e in self.events if e.name in names]

    @property
    def report(self) -> Report:
        """The last run's report."""
        if not self.reports:
            raise AssertionError("no run finished inside capture_events()")
        return self.reports[-1]

    @property
    def config(self) -> Config:
        """The last run's options."""
        if not self.configs:
            raise AssertionError("no run finished inside capture_events()")
        return self.configs[-1]

    def replay(self, plugin: object, config: Config | None = None) -> None:
        """Send the recorded events and the last report to `plugin` through the hooks, as a run
        would (a reporter's session object, or a plugin module)."""
        if isinstance(plugin, Captured):
            plugin = _Recorder(plugin)
        hooks = make_hooks(entry_points=False, plugins=[plugin], ambient=False)
        config = config or self.config
        for event in list(self.events):
            hooks.event(event, config)
        hooks.run_finished(self.report, config)


@attrs.frozen
class _Recorder:
    """The plugin that fills a `Captured`. Kept apart from it because a plugin manager looks at
    every attribute of a plugin, and `Captured.report` raises until a run has finished."""

    into: Captured

    @hookimpl
    def fssync_event(self, event: Event, config: Config) -> None:
        self.into.events.append(event)

    @hookimpl
    def fssync_run_finished(self, report: Report, config: Config) -> None:
        self.into.reports.append(report)
        self.into.configs.append(config)


@contextmanager
def capture_events() -> Iterator[Captured]:
    """Record every event and report of the runs started inside the block."""
    captured = Captured()
    with registered(_Recorder(captured)):
        yield captured
