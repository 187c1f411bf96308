"""fssync: keep two trees in step, from the command line, from Python, or through plugins.

This module and `fssync.plugin` (what plugins import) are the public API, each with its
``__all__``; every other module is internal.

>>> import fssync
>>> report = fssync.sync("photos", "s3://bucket/photos", delete=True)  # doctest: +SKIP
>>> report.copied, report.failed  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._version import __version__ as __version__  # re-exported: the one version
from .auth import CredentialProvider, Credentials, StaticAuth, resolve_static
from .config import Config, Layer, Setting
from .errors import (
    AuthError,
    ExitCode,
    FatalError,
    FssyncError,
    LocationError,
    UnreachableError,
    UsageError,
)
from .executors import (
    BatchResult,
    Executor,
    Sealed,
    ShardedExecutor,
    ShardJob,
    TransferJob,
    batches,
    release_run,
    run_batch,
)
from .hooks import hookimpl
from .location import Capabilities, Location
from .model import (
    Action,
    Entry,
    Event,
    Failure,
    Kind,
    Outcome,
    Plan,
    Report,
    Sample,
    Transfer,
    redact,
)
from .planning import BUILTIN_MODES, Comparator, CompareMode, KeyFilter, Policy, Reason
from .remotes import Remote
from .reporting import (
    check_output_path,
    human_bytes,
    human_seconds,
    report_document,
    summary_line,
    write_atomically,
)
from .safetext import json_text, printable
from .sharding import Shard, ShardCounts, plan_shard, run_slice, run_slices, shard_counts

__all__ = [
    "BUILTIN_MODES",
    "bisync",
    "Action",
    "AuthError",
    "BatchResult",
    "Capabilities",
    "Comparator",
    "CompareMode",
    "Config",
    "CredentialProvider",
    "Credentials",
    "Entry",
    "Event",
    "Executor",
    "ExitCode",
    "Failure",
    "FatalError",
    "FssyncError",
    "KeyFilter",
    "Kind",
    "Layer",
    "Location",
    "LocationError",
    "Outcome",
    "Plan",
    "Policy",
    "Reason",
    "Remote",
    "Report",
    "Sample",
    "Sealed",
    "Shard",
    "ShardCounts",
    "ShardJob",
    "ShardedExecutor",
    "Transfer",
    "Setting",
    "StaticAuth",
    "TransferJob",
    "UnreachableError",
    "UsageError",
    "batches",
    "plan_shard",
    "run_slice",
    "run_slices",
    "shard_counts",
    "check",
    "check_output_path",
    "hookimpl",
    "human_bytes",
    "human_seconds",
    "json_text",
    "plan",
    "printable",
    "redact",
    "report_document",
    "summary_line",
    "resolve_static",
    "release_run",
    "run_batch",
    "sync",
    "write_atomically",
]


def _hooks(plugins: Iterable[object]) -> Any:
    from .hooks.manager import make_hooks

    return make_hooks(plugins=plugins)


def sync(src: str, dst: str, *, plugins: Iterable[object] = (), **options: Any) -> Report:
    """Make `dst` hold what `src` holds and return what was done.

    Keywords are the command-line flags by their Python names (``delete=True``,
    ``checksum=True``, ``transfers=32``, ``exclude=["*.tmp"]``, ``endpoint_url=...``), checked
    by the flags' own parsers before anything is read (a bad one raises ``UsageError``).
    `plugins` are extra plugin objects registered for this call only. See
    docs/reference/python-api.md.
    """
    from .engine import run_sync
    from .options import config_from_api

    hooks = _hooks(plugins)
    return run_sync(config_from_api(hooks, "sync", src, dst, options), hooks)


def bisync(a: str, b: str, *, plugins: Iterable[object] = (), **options: Any) -> Report:
    """Two-way sync: carry each side's creations, edits and deletions since the last run to
    the other; keywords are ``fssync bisync``'s flags (``conflict="newer"``,
    ``max_delete="10%"``, ``check_access=True``, ``state_dir=...``). Conflicts are named in
    ``report.conflicts``. See docs/how-to/bisync.md."""
    from .options import config_from_api
    from .twoway.run import check_policies, run_bisync

    hooks = _hooks(plugins)
    config = config_from_api(hooks, "bisync", a, b, options)
    check_policies(config)
    return run_bisync(config, hooks)


def plan(src: str, dst: str, *, plugins: Iterable[object] = (), **options: Any) -> Plan:
    """The plan `sync` would carry out, without running it."""
    from .engine import make_plan
    from .options import config_from_api

    hooks = _hooks(plugins)
    return make_plan(config_from_api(hooks, "sync", src, dst, options), hooks)


def check(src: str, dst: str, *, plugins: Iterable[object] = (), **options: Any) -> Plan:
    """Compare the two sides; the plan's non-skip actions are the differences."""
    from .engine import make_plan
    from .options import config_from_api

    hooks = _hooks(plugins)
    return make_plan(config_from_api(hooks, "check", src, dst, options), hooks)
