"""fssync: keep two trees in step, from the command line, from Python, or through plugins.

This module and `fssync.plugin` (what plugins import) are the public API, each with its
``__all__``; every other module is internal.

>>> import fssync
>>> report = fssync.sync("photos", "s3://bucket/photos", delete=True)  # doctest: +SKIP
>>> report.copied, report.failed  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fssync._version import __version__ as __version__  # re-exported: the one version

if TYPE_CHECKING:
    from fssync.errors import (
        AuthError,
        ExitCode,
        FatalError,
        FssyncError,
        LocationError,
        UnreachableError,
        UsageError,
    )
    from fssync.execute.executors import (
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
    from fssync.execute.sharding import (
        Shard,
        ShardCounts,
        plan_shard,
        run_slice,
        run_slices,
        shard_counts,
    )
    from fssync.hooks import hookimpl
    from fssync.model import (
        Action,
        Capabilities,
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
    from fssync.planning.decide import (
        BUILTIN_MODES,
        Comparator,
        CompareMode,
        KeyFilter,
        Policy,
        Reason,
    )
    from fssync.report.safetext import json_text, printable
    from fssync.report.tally import (
        check_output_path,
        human_bytes,
        human_seconds,
        report_document,
        summary_line,
        write_atomically,
    )
    from fssync.settings.auth import CredentialProvider, Credentials, StaticAuth, resolve_static
    from fssync.settings.config import Config, Layer, Setting
    from fssync.settings.location import Location
    from fssync.settings.remotes import Remote

# Each name is imported from its module on first use (PEP 562), so that `import fssync` (which
# every command and plugin does) costs only what the run then touches: a no-op local sync does
# not build the data classes of sharding or the S3 layer. tests/test_startup.py checks it.
_EXPORTS: dict[str, str] = {
    name: module
    for module, names in {
        "settings.auth": "CredentialProvider Credentials StaticAuth resolve_static",
        "settings.config": "Config Layer Setting",
        "errors": "AuthError ExitCode FatalError FssyncError LocationError UnreachableError UsageError",
        "execute.executors": "BatchResult Executor Sealed ShardedExecutor ShardJob TransferJob batches release_run run_batch",
        "hooks": "hookimpl",
        "settings.location": "Location",
        "model": "Capabilities Action Entry Event Failure Kind Outcome Plan Report Sample Transfer redact",
        "planning.decide": "BUILTIN_MODES Comparator CompareMode KeyFilter Policy Reason",
        "settings.remotes": "Remote",
        "report.tally": "check_output_path human_bytes human_seconds report_document summary_line write_atomically",
        "report.safetext": "json_text printable",
        "execute.sharding": "Shard ShardCounts plan_shard run_slice run_slices shard_counts",
    }.items()
    for name in names.split()
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


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
    from fssync.hooks.manager import make_hooks

    return make_hooks(plugins=plugins)


def sync(src: str, dst: str, *, plugins: Iterable[object] = (), **options: Any) -> Report:
    """Make `dst` hold what `src` holds and return what was done.

    Keywords are the command-line flags by their Python names (``delete=True``,
    ``checksum=True``, ``transfers=32``, ``exclude=["*.tmp"]``, ``endpoint_url=...``), checked
    by the flags' own parsers before anything is read (a bad one raises ``UsageError``).
    `plugins` are extra plugin objects registered for this call only. See
    docs/reference/python-api.md.
    """
    from fssync.engine import run_sync
    from fssync.settings.options import config_from_api

    hooks = _hooks(plugins)
    return run_sync(config_from_api(hooks, "sync", src, dst, options), hooks)


def bisync(a: str, b: str, *, plugins: Iterable[object] = (), **options: Any) -> Report:
    """Two-way sync: carry each side's creations, edits and deletions since the last run to
    the other; keywords are ``fssync bisync``'s flags (``conflict="newer"``,
    ``max_delete="10%"``, ``check_access=True``, ``state_dir=...``). Conflicts are named in
    ``report.conflicts``. See docs/how-to/bisync.md."""
    from fssync.settings.options import config_from_api
    from fssync.twoway.run import check_policies, run_bisync

    hooks = _hooks(plugins)
    config = config_from_api(hooks, "bisync", a, b, options)
    check_policies(config)
    return run_bisync(config, hooks)


def plan(src: str, dst: str, *, plugins: Iterable[object] = (), **options: Any) -> Plan:
    """The plan `sync` would carry out, without running it."""
    from fssync.engine import make_plan
    from fssync.settings.options import config_from_api

    hooks = _hooks(plugins)
    return make_plan(config_from_api(hooks, "sync", src, dst, options), hooks)


def check(src: str, dst: str, *, plugins: Iterable[object] = (), **options: Any) -> Plan:
    """Compare the two sides; the plan's non-skip actions are the differences."""
    from fssync.engine import make_plan
    from fssync.settings.options import config_from_api

    hooks = _hooks(plugins)
    return make_plan(config_from_api(hooks, "check", src, dst, options), hooks)
