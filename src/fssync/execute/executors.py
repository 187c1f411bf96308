"""Who runs a run's transfers. The engine decides everything (the plan, the guards, the deletes)
and hands each round of copies and updates to the executor the ``fssync_executor`` hook returns:
the built-in one runs them in this process, as fssync always did; a plugin may run them on other
machines. This module also holds what such a plugin needs to ship work elsewhere: a sealed
config whose repr shows no secret, and the function a worker runs on one batch."""

from __future__ import annotations

import hashlib
import pickle
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from fssync.errors import FatalError, FssyncError, UsageError
from fssync.hooks import hookimpl
from fssync.model import Action, Event, Outcome
from fssync.settings.config import Config

IN_PROCESS = "in-process"


@attrs.frozen
class TransferJob:
    """One round of transfers, as the engine hands it to an executor.

    `here` runs actions in this process with the run's open stores (what the built-in executor
    does); `emit` passes an event to the run's reporters, so events that happened elsewhere are
    seen as if they happened here."""

    actions: tuple[Action, ...]
    config: Config
    emit: Callable[[Event], None]
    here: Callable[[Sequence[Action]], Awaitable[list[Outcome]]]


@runtime_checkable
class Executor(Protocol):
    """What ``fssync_executor`` returns. `start` is called once before the source is listed
    (so an unreachable cluster stops the run before any work), `transfer` once per round, and
    `close` at the end of the run, also when it fails."""

    name: str

    async def start(self) -> None: ...

    async def transfer(self, job: TransferJob) -> list[Outcome]: ...

    async def close(self) -> None: ...


@attrs.frozen
class ShardJob:
    """A run whose workers list and plan too (`fssync.execute.sharding`): its shards, and `take`,
    which the executor calls in the run's event loop with each result as it lands (a
    `fssync.execute.sharding.ShardCounts` while planning, a `BatchResult` while writing)."""

    config: Config
    shards: tuple[Any, ...]
    take: Callable[[Any], None]


@runtime_checkable
class ShardedExecutor(Executor, Protocol):
    """An executor that can also list and plan (see `fssync.execute.sharding`). `sharded` says whether
    this run asks for it. `plan` runs `fssync.execute.sharding.plan_shard` on every shard and keeps
    each plan where it was made, handing only its counts to `take`; `run` then runs the kept
    plans' ``"transfers"`` or ``"deletes"`` in batches (`fssync.execute.sharding.run_slice`)."""

    sharded: bool

    async def plan(self, job: ShardJob) -> None: ...

    async def run(self, job: ShardJob, part: str) -> None: ...


class InProcess:
    """The built-in executor: every transfer in this process's event loop."""

    name = IN_PROCESS

    async def start(self) -> None:
        return None

    async def transfer(self, job: TransferJob) -> list[Outcome]:
        return await job.here(job.actions)

    async def close(self) -> None:
        return None


class BuiltinExecutor:
    """The hook implementation behind ``--executor in-process`` (the default); registered by
    every plugin manager, last, so a plugin answering for its own name is asked first."""

    @hookimpl(trylast=True)
    def fssync_executor(self, config: Config) -> Executor | None:
        name = str(config.get("executor") or IN_PROCESS)
        return InProcess() if name == IN_PROCESS else None


# -------------------------------------------------------------------------------------------------
# For executors that run batches in other processes
# -------------------------------------------------------------------------------------------------


def _unseal(
    command: str,
    src: str,
    dst: str | None,
    options: dict[str, Any],
    environ: dict[str, str],
    key: str | None = None,
) -> Sealed:
    sealed = Sealed(Config(command, src, dst, options, environ))
    sealed._key = key
    return sealed


class Sealed:
    """A run's config on its way to a worker. The options and the environment snapshot may hold
    static keys; they travel pickled inside this object, whose repr and str show nothing of
    them, so a scheduler's task list, dashboard or log never prints a secret. Credentials that
    STS issues do not travel at all: the worker's own credential provider fetches (and
    refreshes) them from the same options (role ARN, session name).

    `key` names the run for the workers, which keep its plugins and open stores between its
    tasks (`fssync.execute.workers`): seal a run's config once and send that same object with every
    task of the run."""

    __slots__ = ("_config", "_key", "_nonce")

    def __init__(self, config: Config) -> None:
        self._config = config
        self._nonce = uuid.uuid4().hex[:16]  # two runs of the same options are two runs
        self._key: str | None = None

    def __repr__(self) -> str:
        return f"<fssync config {self._config.command} (redacted)>"

    __str__ = __repr__

    def open(self) -> Config:
        return self._config

    @property
    def key(self) -> str:
        """This run's name, and a digest of its options (no secret can be read back from it)."""
        if self._key is None:
            c = self._config
            state = (c.command, c.src, c.dst, sorted(c.options.items()), sorted(c.environ.items()))
            digest = hashlib.sha256(pickle.dumps(state)).hexdigest()[:16]
            self._key = f"{self._nonce}-{digest}"
        return self._key

    def __reduce__(self) -> tuple[Any, ...]:
        c = self._config
        return (_unseal, (c.command, c.src, c.dst, dict(c.options), dict(c.environ), self.key))


@attrs.frozen
class BatchResult:
    """What a worker sends back for one batch: every outcome, the events in the order they
    happened, and a run-stopping error (type name, message, exit code) if one came."""

    outcomes: tuple[Outcome, ...]
    events: tuple[Event, ...]
    fatal: tuple[str, str, int] | None = None

    def raise_fatal(self) -> None:
        if self.fatal is None:
            return
        kind, message, code = self.fatal
        error: FssyncError = UsageError(message) if code == 2 else FatalError(message)
        error.code = kind or None
        raise error


def run_batch(sealed: Sealed, actions: Sequence[Action]) -> BatchResult:
    """Transfer one batch in this process: both stores from the run's options (each worker
    connects and fetches credentials itself, once per run: `fssync.execute.workers` keeps them for the
    run's next tasks), write, and return the outcomes and the events. Called in a worker's
    thread; the writes run on the kept run's own event loop. Never calls a reporter: the
    driver replays the events to its own."""
    from fssync.execute.workers import WorkerRun, for_run

    async def go(kept: WorkerRun) -> list[Outcome]:
        src, dst = await kept.stores()
        return await kept.run.write_here(list(actions), src, dst)

    events: list[Event] = []
    try:
        outcomes = for_run(sealed).call(go, events)
    except FssyncError as exc:
        return BatchResult((), tuple(events), (exc.code or "", str(exc), int(exc.exit_code)))
    return BatchResult(tuple(outcomes), tuple(events))


def release_run(key: str) -> bool:
    """Run on every worker at the end of a run: close the stores the run kept there."""
    from fssync.execute.workers import release

    return release(key)


def batches(actions: Sequence[Action], size: int) -> list[tuple[Action, ...]]:
    """The actions cut in batches of `size` (the last may be shorter)."""
    size = max(1, size)
    return [tuple(actions[i : i + size]) for i in range(0, len(actions), size)]
