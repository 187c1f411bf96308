"""Hypothesis drives random edits, deletions and renames on both sides of a two-way sync
between runs, and sometimes stops a run after its k-th transfer started (as a crash would);
after every full run both sides must be equal and no edit may be lost: each version written
since the last run is on both sides (under its name or as a conflict copy, named in a
conflict line when it lost the name), and a deletion only ever wins over an untouched file.
20 examples x 50 steps = 1,000 steps; no shrinking, so a failure stays bounded in time."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import fssync

from .helpers import read_tree

NAMES = ["a.txt", "b", "dir/c.txt", "dir/sub/d.bin", "é/ü.txt"]
STEPS = 50
EXAMPLES = 20  # 1,000 steps in all
_counter = itertools.count()


STATS = {"runs": 0, "interrupted": 0, "renamed": 0}


class Stopped(BaseException):
    """Stands for a kill: not an Exception, so nothing on the way catches it."""


class StopAfter:
    def __init__(self, starts: int) -> None:
        self.left = starts

    @fssync.hookimpl
    def fssync_event(self, event, config):
        if event.name == "start":
            self.left -= 1
            if self.left <= 0:
                raise Stopped


class Conflicts:
    """Every conflict line of the runs since the last check, interrupted runs' included."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    @fssync.hookimpl
    def fssync_event(self, event, config):
        if event.name == "bisync_conflict":
            self.lines.append(str(event.fields["line"]))


class BisyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.base = Path(tempfile.mkdtemp())
        self.sides = {"a": self.base / "a", "b": self.base / "b"}
        for p in self.sides.values():
            p.mkdir()
        self.state = self.base / "state"
        # versions written since the last run, per side: key -> content
        self.pending: dict[str, dict[str, bytes]] = {"a": {}, "b": {}}
        self.deleted: dict[str, set[str]] = {"a": set(), "b": set()}
        self.runs = 0
        self.heard = Conflicts()
        # what each path held on both sides when they were last seen in step: a rename back
        # to that name restores it (size and mtime too), which is no edit of it
        self.synced: dict[str, bytes] = {}
        # versions an interrupted run carried over, whose record it may not have written (a
        # stop between the copy and its record): a deletion of one before the next full run
        # may be undone, the safe way (the file comes back; nothing is lost)
        self.unrecorded: set[str] = set()

    def teardown(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def _files(self, side: str) -> list[str]:
        return sorted(read_tree(self.sides[side]))

    @rule(side=st.sampled_from("ab"), name=st.sampled_from(NAMES), size=st.integers(0, 40))
    def write(self, side: str, name: str, size: int) -> None:
        data = f"{side}{next(_counter)}:".encode() + b"x" * size
        path = self.sides[side] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            return
        path.write_bytes(data)
        now = time.time_ns()
        os.utime(path, ns=(now, now))
        self.pending[side][name] = data
        self.deleted[side].discard(name)

    @rule(side=st.sampled_from("ab"), pick=st.integers(0, 100))
    def delete(self, side: str, pick: int) -> None:
        files = self._files(side)
        if not files:
            return
        name = files[pick % len(files)]
        (self.sides[side] / name).unlink()
        self.pending[side].pop(name, None)
        self.deleted[side].add(name)

    @rule(side=st.sampled_from("ab"), pick=st.integers(0, 100), to=st.sampled_from(NAMES))
    def rename(self, side: str, pick: int, to: str) -> None:
        files = self._files(side)
        if not files:
            return
        name = files[pick % len(files)]
        target = self.sides[side] / to
        if to == name or target.exists() or any(f.startswith(to + "/") for f in files):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        data = (self.sides[side] / name).read_bytes()
        try:
            os.rename(self.sides[side] / name, target)
        except OSError:
            return
        self.pending[side].pop(name, None)
        self.deleted[side].add(name)
        self.pending[side][to] = data
        self.deleted[side].discard(to)

    def _bisync(self, plugins: list[object]) -> fssync.Report:
        return fssync.bisync(
            str(self.sides["a"]),
            str(self.sides["b"]),
            state_dir=str(self.state),
            max_delete="100%",
            plugins=[self.heard, *plugins],
        )

    @rule(after=st.integers(1, 6))
    def interrupted_sync(self, after: int) -> None:
        """A run stopped after its `after`-th transfer started, as Ctrl-C or a crash would:
        no check here; the next full run must still lose nothing."""
        try:
            self._bisync([StopAfter(after)])
        except* Stopped:  # raised inside the transfers' task group, or on its own
            STATS["interrupted"] += 1
        # A version the run carried to the other side is synced: a later edit may replace it.
        trees = {s: read_tree(self.sides[s]) for s in "ab"}
        for side, other in (("a", "b"), ("b", "a")):
            for name, data in list(self.pending[side].items()):
                if trees[other].get(name) == data:
                    del self.pending[side][name]
                    self.unrecorded.add(name)
        for name, data in trees["a"].items():
            if trees["b"].get(name) == data:
                self.synced[name] = data

    @rule()
    def sync(self) -> None:
        before = {s: read_tree(self.sides[s]) for s in "ab"}
        report = self._bisync([])
        self.runs += 1
        STATS["runs"] += 1
        STATS["renamed"] += report.renamed
        assert report.exit_code == 0, report.failures
        a, b = read_tree(self.sides["a"]), read_tree(self.sides["b"])
        assert a == b, "the sides differ after a run"
        contents = set(a.values())
        for side in "ab":
            for name, data in self.pending[side].items():
                if self.synced.get(name) == data:
                    continue  # renamed back to where it was: not an edit
                if before[side].get(name) == data:  # still there when the run listed
                    assert data in contents, f"lost an edit of {name} on {side}"
                    if a.get(name) != data:
                        assert any(name in line for line in self.heard.lines)
        other = {"a": "b", "b": "a"}
        for side in "ab":
            for name in self.deleted[side]:
                if name in self.unrecorded:
                    continue
                if name not in self.pending[other[side]] and name not in before[side]:
                    assert name not in a, f"deletion of {name} on {side} was undone"
        self.pending = {"a": {}, "b": {}}
        self.deleted = {"a": set(), "b": set()}
        self.heard.lines.clear()
        self.synced = dict(a)
        self.unrecorded.clear()

    @invariant()
    def nothing_left_half_written(self) -> None:
        for side in "ab":
            assert not [f for f in self._files(side) if ".fssync" in f and "tmp" in f]


BisyncMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    # no shrinking: a failure is reported as found, so the test stays bounded in time
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestBisyncStateful = BisyncMachine.TestCase


def teardown_module() -> None:
    print(
        f"\nbisync stateful: {STATS['runs']} checked runs, {STATS['interrupted']} interrupted, "
        f"{STATS['renamed']} renames carried over as moves"
    )
