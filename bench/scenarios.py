"""The scenarios, run for every tool against the same server in one process.

Order is scenario-major (every tool does S1, then every tool does S2, ...) and repeats are
interleaved across tools, so slow drift on the shared machine (page cache, server volumes
filling) spreads over all tools instead of landing on the last one. Every other round runs the
tools in reverse order: what one tool leaves behind (a file system still busy with the 5,000
files the previous tool created and deleted) then weighs on each tool in turn, not always on the
one that follows it.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
from botocore.config import Config

from bench.dataset import (
    Manifest,
    copy_tree,
    make_large_file,
    make_small_tree,
    manifest,
    mutate,
)
from bench.measure import RunResult, run_measured
from bench.server_counts import RequestCounter, Requests, Snapshot, difference
from bench.tools import CLIENTS, PREFIX, Client, S3Path, Side
from bench.verify import Check, RemoteObject, check_local, check_remote

AUTO_REPEAT = 3
AUTO_REPEAT_BELOW_S = 12.0
SEED_WORKERS = 16
CHANGE_FRACTION = 0.01


@attrs.frozen
class Scenario:
    id: str
    title: str
    needs: str | None = None  # a scenario whose state this one reuses


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("S0", "fixed cost: no-op sync of a one-file folder"),
    Scenario("S1", "upload {files} x {size_kib} KiB"),
    Scenario("S2", "no-op re-run of S1", needs="S1"),
    Scenario("S3", "re-run after 1% edits + 1% adds + 1% deletes (with delete)", needs="S1"),
    Scenario("S4", "upload one {large_mib} MiB file"),
    Scenario("S5", "download {files} x {size_kib} KiB into an empty folder"),
    Scenario("S6", "download one {large_mib} MiB file"),
)
SCENARIO_IDS = tuple(s.id for s in SCENARIOS)


@attrs.frozen
class Settings:
    files: int
    file_size: int
    large_mib: int
    repeat: int | None  # None: 1, or AUTO_REPEAT in full mode for runs under 12 s
    quick: bool
    timeout_s: float
    workdir: Path


@attrs.frozen
class Outcome:
    """One measured run (or the reason there was none)."""

    scenario: str
    tool: str
    status: str  # ok | wrong | failed | timeout | missing | skipped
    detail: str = ""
    run: RunResult | None = None
    check: Check | None = None


@attrs.define
class ToolState:
    """What later scenarios reuse from earlier ones, per tool."""

    tree: Path | None = None
    s1_bucket: str | None = None
    s1_remote: dict[str, RemoteObject] | None = None
    s0_bucket: str | None = None
    s0_remote: dict[str, RemoteObject] | None = None
    setup_error: dict[str, str] = attrs.Factory(dict)


class SetupError(Exception):
    """A run could not take place for one tool; the row says why."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status


@attrs.define
class Bench:
    """Runs the scenarios for all tools and collects the outcomes."""

    settings: Settings
    endpoint: Any
    clients: dict[str, Client]
    unavailable: dict[str, str]  # tool -> why it cannot run
    log: Callable[[str], None]
    counter: RequestCounter | None = None  # None: no request counts
    outcomes: list[Outcome] = attrs.Factory(list)
    state: dict[str, ToolState] = attrs.Factory(dict)
    s3: Any = None
    base: Manifest = attrs.Factory(dict)
    one: Manifest = attrs.Factory(dict)
    large: Manifest = attrs.Factory(dict)
    seed_bucket: str | None = None
    large_bucket: str | None = None  # the large file, uploaded by boto3, for S6
    stopped_by: str = ""  # why the run ended early: "interrupted", "harness error"
    counts_off: str = ""  # why request counts stopped, if they did
    _bucket_serial: int = 0

    # ------------------------------------------------------------------ setup

    @property
    def w(self) -> Path:
        return self.settings.workdir

    def prepare_data(self, scenarios: list[str]) -> None:
        """Generate the source trees once; every tool syncs copies of the same bytes."""
        self.s3 = self.endpoint.client(
            config=Config(max_pool_connections=SEED_WORKERS, read_timeout=120)
        )
        s = self.settings
        make_small_tree(self.w / "src" / "small", s.files, s.file_size)
        make_small_tree(self.w / "src" / "one", 1, s.file_size, seed=3)
        self.base = manifest(self.w / "src" / "small")
        self.one = manifest(self.w / "src" / "one")
        if "S4" in scenarios or "S6" in scenarios:
            self.log(f"writing the {s.large_mib} MiB file")
            make_large_file(self.w / "src" / "large" / "large.bin", s.large_mib * 1024 * 1024)
            self.large = manifest(self.w / "src" / "large")
        for client in self.clients.values():
            client.prepare()
        if self.counter is not None:
            problem = self.counter.self_test(self.s3.list_buckets)
            if problem:
                self._counts_off(problem)
        for name in [*self.clients, *self.unavailable]:
            self.state[name] = ToolState()

    def new_bucket(self, tool: str, scenario: str) -> str:
        """A fresh bucket, written to once so that its first volume exists before timing.

        SeaweedFS grows a volume on a bucket's first write (~0.2 s); that is server set-up,
        not client work, and would otherwise land on whichever request comes first.
        """
        self._bucket_serial += 1
        bucket = self.endpoint.make_bucket(f"{tool}-{scenario.lower()}-{self._bucket_serial}")
        self.s3.put_object(Bucket=bucket, Key="bench-warmup", Body=b"x")
        self.s3.delete_object(Bucket=bucket, Key="bench-warmup")
        return bucket

    def seed_download_source(self) -> str:
        """One bucket with the small tree, uploaded by boto3 so S5 does not rely on any tool."""
        bucket = self.new_bucket("seed", "s5")
        root = self.w / "src" / "small"

        def put(key: str) -> None:
            self.s3.put_object(Bucket=bucket, Key=f"{PREFIX}/{key}", Body=(root / key).read_bytes())

        with ThreadPoolExecutor(SEED_WORKERS) as pool:
            list(pool.map(put, sorted(self.base)))
        return bucket

    def seed_large_source(self) -> str:
        """One bucket with the large file, uploaded by boto3 (multipart, 8 MiB parts)."""
        bucket = self.new_bucket("seed", "s6")
        path = self.w / "src" / "large" / "large.bin"
        self.s3.upload_file(str(path), bucket, f"{PREFIX}/large.bin")
        return bucket

    # ------------------------------------------------------------------ running

    def run_scenario(self, scenario: str) -> None:
        if scenario == "S5" and self.clients:
            self.log("seeding the download bucket")
            self.seed_bucket = self.seed_download_source()
        if scenario == "S6" and self.clients:
            self.log("seeding the large download bucket")
            self.large_bucket = self.seed_large_source()
        for tool, why in self.unavailable.items():
            covered = CLIENTS[tool].scenarios
            if covered is None or scenario in covered:
                self.outcomes.append(Outcome(scenario, tool, "missing", why))
        taking_part = {t: c for t, c in self.clients.items() if c.covers(scenario)}
        wanted = {tool: self.settings.repeat or 1 for tool in taking_part}
        rep = 0
        while any(rep < n for n in wanted.values()):
            order = list(taking_part.items())
            for tool, client in order if rep % 2 == 0 else reversed(order):
                if rep >= wanted[tool]:
                    continue
                outcome = self.run_one(scenario, client, rep)
                self.outcomes.append(outcome)
                self._log_outcome(outcome, rep)
                if rep == 0:
                    wanted[tool] = self._repeat_count(outcome)
            rep += 1

    def _repeat_count(self, first: Outcome) -> int:
        """A failed run is not repeated; else --repeat, or in full mode 3 for short runs."""
        s = self.settings
        if first.status != "ok" or first.run is None:
            return 1
        if s.repeat is not None:
            return s.repeat
        if s.quick:
            return 1
        return AUTO_REPEAT if first.run.wall_s < AUTO_REPEAT_BELOW_S else 1

    def _log_outcome(self, o: Outcome, rep: int) -> None:
        cost = f"{o.run.wall_s:7.2f} s" if o.run else "      -  "
        if o.run is not None and o.run.requests is not None:
            cost += f" {o.run.requests.total:6d} req"
        self.log(f"  {o.scenario} {o.tool:<13} run {rep + 1}: {cost}  {o.status} {o.detail}")

    def run_one(self, scenario: str, client: Client, rep: int) -> Outcome:
        """One measured run; setup problems and tool failures become rows, never exceptions."""
        step = {
            "S0": self._s0,
            "S1": self._s1,
            "S2": self._s2,
            "S3": self._s3,
            "S4": self._s4,
            "S5": self._s5,
            "S6": self._s6,
        }[scenario]
        try:
            return step(client, rep)
        except SetupError as e:
            return Outcome(scenario, client.name, e.status, str(e))

    def _measure(
        self, scenario: str, client: Client, rep: int, src: Side, dst: Side, *, delete: bool
    ) -> RunResult:
        cmd = client.command(src, dst, delete=delete)
        log = self.w / "logs" / f"{scenario}-{client.name}-{rep + 1}.log"
        # Counters are read outside the timed span; runs are sequential, so the difference
        # between the two readings is this run's traffic.
        before = self._counters()
        result = run_measured(
            cmd, env=client.env(), cwd=self.w, log=log, timeout_s=self.settings.timeout_s
        )
        after = self._counters() if before is not None else None
        if before is None or after is None:
            return result
        return attrs.evolve(result, requests=difference(before, after))

    def _counters(self) -> Snapshot | None:
        """The server's request counters now; None (and no more counting) if unreadable."""
        if self.counter is None:
            return None
        try:
            return self.counter.snapshot()
        except OSError as e:
            self._counts_off(f"metrics port unreadable: {e}")
            return None

    def _counts_off(self, why: str) -> None:
        """Stop counting rather than report numbers that may be wrong."""
        self.log(f"  request counts off: {why}")
        self.counter = None
        self.counts_off = why

    def _unmeasured(self, client: Client, src: Side, dst: Side, what: str) -> None:
        """A preparation run by the tool itself (its own metadata, as a user's second run)."""
        log = self.w / "logs" / f"setup-{what}-{client.name}.log"
        cmd = client.command(src, dst, delete=False)
        result = run_measured(
            cmd, env=client.env(), cwd=self.w, log=log, timeout_s=self.settings.timeout_s
        )
        if not result.ok:
            raise SetupError("failed", f"setup upload failed: {_why(result)}")

    def _finish(
        self, scenario: str, client: Client, result: RunResult, check: Check | None
    ) -> Outcome:
        if result.timed_out:
            return Outcome(scenario, client.name, "timeout", _why(result), result, check)
        if result.exit_code != 0:
            return Outcome(scenario, client.name, "failed", _why(result), result, check)
        if check is not None and not check.ok:
            return Outcome(scenario, client.name, "wrong", check.summary(), result, check)
        detail = check.summary() if check else ""
        if check is not None and check.rewritten:
            detail += f"; rewrote {check.rewritten} unchanged objects"
        return Outcome(scenario, client.name, "ok", detail, result, check)

    # ------------------------------------------------------------------ scenarios

    def _tree(self, tool: str) -> Path:
        st = self.state[tool]
        if st.tree is None:
            st.tree = self.w / "trees" / tool
            copy_tree(self.w / "src" / "small", st.tree)
        return st.tree

    def _s0(self, client: Client, rep: int) -> Outcome:
        st = self.state[client.name]
        src = self.w / "src" / "one"
        if st.s0_bucket is None:
            bucket = self.new_bucket(client.name, "S0")
            self._unmeasured(client, src, S3Path(bucket), "S0")
            st.s0_bucket = bucket
            st.s0_remote = check_remote(self.s3, bucket, PREFIX, self.one)[1]
        result = self._measure("S0", client, rep, src, S3Path(st.s0_bucket), delete=False)
        check, _ = check_remote(self.s3, st.s0_bucket, PREFIX, self.one, before=st.s0_remote)
        return self._finish("S0", client, result, check)

    def _s1(self, client: Client, rep: int) -> Outcome:
        st = self.state[client.name]
        tree = self._tree(client.name)
        bucket = self.new_bucket(client.name, "S1")
        result = self._measure("S1", client, rep, tree, S3Path(bucket), delete=False)
        check, remote = check_remote(self.s3, bucket, PREFIX, self.base)
        outcome = self._finish("S1", client, result, check)
        if result.ok:
            st.s1_bucket, st.s1_remote = bucket, remote
        return outcome

    def _s1_state(self, tool: str) -> tuple[Path, str]:
        st = self.state[tool]
        if st.s1_bucket is None or st.tree is None:
            raise SetupError("skipped", "no S1 upload to re-run (S1 failed)")
        return st.tree, st.s1_bucket

    def _s2(self, client: Client, rep: int) -> Outcome:
        tree, bucket = self._s1_state(client.name)
        st = self.state[client.name]
        result = self._measure("S2", client, rep, tree, S3Path(bucket), delete=False)
        check, remote = check_remote(self.s3, bucket, PREFIX, manifest(tree), before=st.s1_remote)
        st.s1_remote = remote
        return self._finish("S2", client, result, check)

    def _s3(self, client: Client, rep: int) -> Outcome:
        tree, bucket = self._s1_state(client.name)
        mutate(tree, CHANGE_FRACTION, self.settings.file_size, seed=rep + 1)
        result = self._measure("S3", client, rep, tree, S3Path(bucket), delete=True)
        check, remote = check_remote(self.s3, bucket, PREFIX, manifest(tree))
        self.state[client.name].s1_remote = remote
        return self._finish("S3", client, result, check)

    def _s4(self, client: Client, rep: int) -> Outcome:
        bucket = self.new_bucket(client.name, "S4")
        src = self.w / "src" / "large"
        result = self._measure("S4", client, rep, src, S3Path(bucket), delete=False)
        check, _ = check_remote(self.s3, bucket, PREFIX, self.large)
        self._drop_bucket(bucket)  # large objects add up over tools and repeats
        return self._finish("S4", client, result, check)

    def _s5(self, client: Client, rep: int) -> Outcome:
        assert self.seed_bucket is not None
        return self._download("S5", client, rep, self.seed_bucket, self.base)

    def _s6(self, client: Client, rep: int) -> Outcome:
        assert self.large_bucket is not None
        return self._download("S6", client, rep, self.large_bucket, self.large)

    def _download(
        self, scenario: str, client: Client, rep: int, bucket: str, expected: Manifest
    ) -> Outcome:
        """Download a seeded bucket into an empty folder, check it, and throw it away."""
        dst = self.w / "dl" / f"{client.name}-{scenario}-{rep + 1}"
        if dst.exists():
            shutil.rmtree(dst)
        dst.mkdir(parents=True)
        result = self._measure(scenario, client, rep, S3Path(bucket), dst, delete=False)
        check = check_local(dst, expected)
        shutil.rmtree(dst, ignore_errors=True)
        return self._finish(scenario, client, result, check)

    def _drop_bucket(self, bucket: str) -> None:
        """Best effort: delete a bucket's objects and the bucket."""
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for page in pages:
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    self.s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
            self.s3.delete_bucket(Bucket=bucket)
        except Exception as e:  # a leftover bucket only costs disk in a throwaway server
            self.log(f"  (could not delete bucket {bucket}: {e})")


def _why(result: RunResult) -> str:
    """One line saying how a run ended badly."""
    if result.timed_out:
        head = f"killed after {result.wall_s:.0f} s timeout"
    else:
        head = f"exit {result.exit_code}"
    lines = [ln for ln in result.output_tail.splitlines() if ln.strip()]
    return f"{head}: {lines[-1][:200]}" if lines else head


# ---------------------------------------------------------------------- aggregation


@attrs.frozen
class Row:
    """Median costs of one tool in one scenario, and how its runs ended."""

    scenario: str
    tool: str
    is_anchor: bool
    status: str
    detail: str
    runs: int
    wall_s: float | None
    cpu_s: float | None
    rss_mib: float | None
    requests: float | None = None  # median total
    requests_by_type: dict[str, float] = attrs.Factory(dict)  # median per type


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def aggregate(outcomes: list[Outcome], anchors: set[str]) -> list[Row]:
    """Medians over the runs that finished; the row is ok only if every run was."""
    grouped: dict[tuple[str, str], list[Outcome]] = {}
    for o in outcomes:
        grouped.setdefault((o.scenario, o.tool), []).append(o)
    rows = []
    for (scenario, tool), group in grouped.items():
        bad = [o for o in group if o.status != "ok"]
        first = bad[0] if bad else group[-1]
        finished = [o.run for o in group if o.run is not None and not o.run.timed_out]
        counted = [r.requests for r in finished if r.requests is not None]
        rows.append(
            Row(
                scenario=scenario,
                tool=tool,
                is_anchor=tool in anchors,
                status=first.status,
                detail=first.detail,
                runs=len(finished),
                wall_s=_median([r.wall_s for r in finished]),
                cpu_s=_median([r.cpu_s for r in finished]),
                rss_mib=_median([r.rss_mib for r in finished]),
                requests=_median([float(r.total) for r in counted]),
                requests_by_type=_type_medians(counted),
            )
        )
    return rows


def _type_medians(counted: list[Requests]) -> dict[str, float]:
    """Median count of each request type (a run that sent none of a type counts 0 for it)."""
    types = sorted({t for r in counted for t in r.by_type})
    return {t: statistics.median(r.by_type.get(t, 0) for r in counted) for t in types}
