"""fssync's hook specifications: the single source of the hook reference in docs/.

Hooks are called with keyword arguments only, so a specification can grow a parameter without
breaking plugins that do not take it. Built-in plugins implement them with ``trylast=True`` so any
third-party plugin runs first and can override them.

The banners below group the hooks by phase, in the order a run reaches them; the reference keeps
that grouping (`phases`). Every hook is stable (its signature and meaning kept within a major
version) unless `PROVISIONAL` names it.
"""

from __future__ import annotations

import re
from argparse import ArgumentParser
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fssync.hooks import hookspec

if TYPE_CHECKING:
    from fssync.execute.executors import Executor
    from fssync.model import Action, Entry, Event, Plan, Report
    from fssync.planning.decide import Comparator, CompareMode, KeyFilter
    from fssync.settings.auth import CredentialProvider
    from fssync.settings.config import Config
    from fssync.settings.location import Location
    from fssync.stores import Store
    from fssync.stores.request_headers import RequestHeaders
    from fssync.stores.s3.keys import KeySource

#: Hooks that may still change in a minor release, with why; the others are stable.
PROVISIONAL: Mapping[str, str] = {
    "fssync_open_store": "the store interface is being reshaped around declared features",
    "fssync_executor": "new with the Dask executor",
    "fssync_resolve_conflict": "new with two-way sync",
}

_BANNER = re.compile(r"^# -{20,}\n# (?P<phase>[^\n]+)\n# -{20,}$", re.M)
_HOOK = re.compile(r"^def (fssync_\w+)\(", re.M)


def phases() -> list[tuple[str, list[str]]]:
    """(phase, hook names in file order) for each banner of this file, in file order."""
    text = Path(__file__).read_text(encoding="utf-8")
    marks = list(_BANNER.finditer(text))
    out = []
    for n, mark in enumerate(marks):
        end = marks[n + 1].start() if n + 1 < len(marks) else len(text)
        out.append((mark["phase"], _HOOK.findall(text, mark.end(), end)))
    return out


# -------------------------------------------------------------------------------------------------
# Start-up and configuration
# -------------------------------------------------------------------------------------------------


@hookspec
def fssync_add_options(parser: ArgumentParser, command: str) -> None:
    """Add command-line options to the commands that reach a store (``sync``, ``check``, ``ls``)
    or fetch credentials (``credentials``).

    Every option becomes a keyword of the Python API (``fssync.sync(..., name=value)``) and is
    readable from ``config.get(name)``. Add an option only to the commands it does something
    for: reporters add theirs for ``sync`` only, filters for ``sync`` and ``check``, upload
    options for ``sync``; ``credentials`` takes only what fetching credentials uses.

    :param parser: the argparse parser (or argument group) of the command.
    :param command: which command is being built: ``"sync"``, ``"check"``, ``"ls"`` or
        ``"credentials"``.
    """


@hookspec
def fssync_add_commands(subparsers: Any) -> None:
    """Add commands of your own to the ``fssync`` command line, beside ``sync`` and ``check``.

    Call ``subparsers.add_parser(NAME, help=...)`` and give the new parser a default named
    ``fssync_run`` with ``parser.set_defaults(fssync_run=fn)``. When the command is chosen, fssync
    calls ``fn(args=namespace, run=run)`` and exits with the whole number it returns: `namespace`
    is the parsed command line, and ``run(argv)`` runs another fssync command line (for example
    ``["sync", SRC, DST, "--delete"]``) in the same process, with the same plugins, and returns
    its exit code, so a command can translate its own syntax into fssync's. Raise
    ``fssync.UsageError`` for bad input (one line, exit code 2). A parser made with
    ``prefix_chars="\\0"`` (no command-line word can start with NUL) and ``add_help=False``
    receives every word as written, for syntaxes argparse cannot express.

    :param subparsers: the object ``ArgumentParser.add_subparsers`` returned for ``fssync``; its
        ``add_parser`` makes parsers that raise ``fssync.UsageError`` instead of exiting.
    """


@hookspec
def fssync_configure(config: Config) -> None:
    """Check the resolved configuration before anything runs.

    Raise ``fssync.UsageError`` for a bad value: the user sees one line and exit code 2.

    :param config: the options of this run (command line, environment, config file, defaults).
    """


# -------------------------------------------------------------------------------------------------
# Locations and filesystems
# -------------------------------------------------------------------------------------------------


@hookspec
def fssync_storage_options(location: Location, config: Config) -> Mapping[str, Any] | None:
    """Return keyword arguments for the fsspec filesystem of a location.

    Credentials, endpoint, region and client settings. All results are merged; where two plugins
    set the same key, the one called first wins (third-party plugins before built-ins).

    :param location: the parsed location (protocol, root).
    :param config: the options of this run.
    """


@hookspec
def fssync_request_headers(location: Location, config: Config) -> RequestHeaders | None:
    """Return extra headers for a location's requests, as a ``fssync.plugin.RequestHeaders``:
    on every request (``every``), on the requests that create an object (``uploads``), or on
    named S3 operations (``operations``, e.g. ``{"GetObject": (...)}``).

    Both S3 request paths sign them into their requests (so ``x-amz-security-token`` works
    as a session token), whichever path serves the location: this is the hook for headers,
    where ``fssync_filesystem_ready`` reaches the s3fs path only. All answers are added up; a
    header name given twice for the same requests stops the run with a usage error, and so do
    a name or value with a line break or control character (checked when the value is made).
    Only S3 locations send them: return None for the others.

    :param location: the parsed location (protocol, root).
    :param config: the options of this run.
    """


@hookspec(firstresult=True)
def fssync_credential_provider(location: Location, config: Config) -> CredentialProvider | None:
    """Return the provider that fetches, and refreshes, the credentials of an S3 location.

    Stops at first non-None result. When a provider answers, fssync signs the location's
    requests with the ``fssync.Credentials`` its ``fetch()`` returns (they replace any key,
    secret, token or profile among the storage options), fetches again before they expire
    (judged by the provider's ``now()``), and when the store rejects them as expired in the
    middle of a run (``ExpiredToken``) fetches at once and retries the rejected request. A
    provider that is not ``refreshable`` stops the run with exit code 4 instead. ``fssync
    credentials`` prints what ``fetch()`` returns.

    :param location: the parsed location; ``location.remote`` holds its config-file settings.
    :param config: the options of this run (read settings with ``config.setting``).
    """


@hookspec(firstresult=True)
def fssync_open_store(
    location: Location,
    storage_options: Mapping[str, Any],
    config: Config,
    filesystem_plugins: Sequence[str],
    credentials: KeySource | None,
) -> Store | None:
    """Serve a location with a plugin's own store (``fssync.plugin.Store``) instead of the
    built-in fsspec-based one. Stops at first non-None result; with none, the built-in store
    serves the location.

    A plugin store has no fsspec filesystem, so ``fssync_filesystem_ready`` cannot adjust it: a
    store must return None (or raise ``fssync.UsageError`` if the user demanded it) when
    `filesystem_plugins` is not empty, unless it honours what those plugins do. Extra headers
    (``fssync_request_headers``) arrive in `storage_options` as ``headers``,
    ``upload_headers`` and ``operation_headers``: a store must sign them in, or return None.
    Called inside the run's event loop, for remote locations only; keep the call cheap and
    connect lazily.

    :param location: the parsed location (protocol, root).
    :param storage_options: the merged result of ``fssync_storage_options`` for it, with the
        headers of ``fssync_request_headers``.
    :param config: the options of this run.
    :param filesystem_plugins: names of the plugins that implement ``fssync_filesystem_ready``
        (they need an fsspec filesystem).
    :param credentials: when a plugin fetches the location's credentials
        (``fssync_credential_provider``), a ``fssync.plugin.KeySource`` over its provider, else
        None. Sign each request with ``await credentials.current()`` (fetched and refreshed as
        needed, each fetch reported as a ``credentials`` event), and after an ``ExpiredToken``
        answer retry once when ``credentials.expired(generation)`` says a retry can succeed.
        A store that cannot do this must return None.
    """


@hookspec
def fssync_filesystem_ready(location: Location, filesystem: Any, config: Config) -> None:
    """Adjust a live fsspec filesystem before it is used: the s3fs path's hook.

    For S3 the filesystem is an ``s3fs.S3FileSystem`` whose session is already set up, so
    ``filesystem.s3.meta.events`` can be used. For extra headers use
    ``fssync_request_headers`` instead, which every request path honours.

    A store of a plugin (``fssync_open_store``, such as the built-in fast S3 client) has no
    fsspec filesystem to hand over, so while any registered plugin implements this hook,
    remote locations are served through fsspec (``fssync_open_store`` is told which plugins,
    as ``filesystem_plugins``, and the fast client steps aside). Implement it only when a
    plugin needs botocore's or the filesystem's own objects.

    :param location: the location the filesystem serves.
    :param filesystem: the fsspec filesystem instance.
    :param config: the options of this run.
    """


# -------------------------------------------------------------------------------------------------
# Planning
# -------------------------------------------------------------------------------------------------


@hookspec
def fssync_compare_modes() -> Mapping[str, CompareMode | Comparator] | None:
    """Return comparison modes by name, selectable with ``--compare NAME``.

    A mode is a `fssync.plugin.CompareMode`: its ``function`` is
    ``fn(src: Entry, dst: Entry, policy: Policy) -> str | None`` and returns the reason the
    destination must be updated (a `fssync.plugin.Reason` where one fits, so later decisions
    such as a HEAD to read an object's stored mtime apply to it), or None when the two count as
    equal. It must be pure: it is called once per key present on both sides. Declare
    ``needs_hashes=True`` to have content MD5s computed for both listings first (a checksum
    mode). A bare function is accepted as a mode that needs no hashes.
    """


@hookspec
def fssync_key_filters(
    config: Config, src: Mapping[str, Entry], dst: Mapping[str, Entry]
) -> Iterable[KeyFilter] | None:
    """Return key filters for this run, built once both sides are listed.

    A filter is ``fn(key, src_entry, dst_entry) -> (include: bool, reason: str) | None``; None
    means no opinion. The first filter (in plugin order) with an opinion decides. Excluded keys
    stay in the plan as ``!`` with the reason, and excluded destination files are not deleted
    unless ``--delete-excluded``. Filters are called once per key: keep them pure and fast.

    :param config: the options of this run.
    :param src: the source listing, by key (e.g. to find marker files).
    :param dst: the destination listing, by key.
    """


@hookspec(firstresult=True)
def fssync_resolve_conflict(key: str, a: Entry, b: Entry, config: Config) -> str | None:
    """Decide a two-way sync conflict (``fssync bisync``): the path changed on both sides
    since the last sync, to different content. Stops at first non-None result; with none,
    ``--conflict`` (or ``--first-run`` at a first sync) decides.

    Return ``"a"`` or ``"b"`` for the side whose version keeps the name (the other side's
    edit is overwritten, and named in the run's report), or ``"keep-both"`` (the newer keeps
    the name, the other is kept as ``name.conflict-<side>-<date>.ext`` on both sides).

    :param key: the path, relative to both locations.
    :param a: the file on side A as listed (size, mtime, ETag or hash where known).
    :param b: the file on side B as listed.
    :param config: the options of this run.
    """


@hookspec
def fssync_plan_ready(plan: Plan, config: Config) -> None:
    """Called with the finished plan before anything is transferred (also on ``--dry-run``).

    ``plan.changes`` holds everything the run will do; ``plan.actions`` adds a skip for each
    unchanged key, made on first use (seconds of CPU for a million keys).

    In a run whose workers list and plan (``--executor dask``, ``--list-on workers``), no
    machine holds the whole plan: the hook is called on the worker that planned each shard,
    once per shard, with that shard's plan (keys still relative to the run's roots), before
    any of the run is written. The plugin must then be installed on the workers; the driver's
    reporters get the summed counts in the ``plan`` event.

    :param plan: the immutable plan.
    :param config: the options of this run.
    """


# -------------------------------------------------------------------------------------------------
# Transfer
# -------------------------------------------------------------------------------------------------


@hookspec
def fssync_transfer_options(
    action: Action, location: Location, config: Config
) -> Mapping[str, Any] | None:
    """Return per-object write options, e.g. ``{"ContentType": ..., "StorageClass": ...}``.

    For S3 these are arguments of PutObject / CreateMultipartUpload / CopyObject. All results are
    merged, the first plugin called winning a key; ``Metadata`` mappings are merged name by name
    (the first plugin called winning a name), and then with fssync's own.

    :param action: the copy or update about to run.
    :param location: the destination location.
    :param config: the options of this run.
    """


@hookspec(firstresult=True)
def fssync_executor(config: Config) -> Executor | None:
    """Return who runs this run's copies and updates: an object with ``name``, ``async
    start()``, ``async transfer(job) -> list[Outcome]`` and ``async close()``
    (``fssync.execute.executors.Executor``). Stops at first non-None result; answer only when
    ``config.get("executor")`` names yours. The built-in answers for ``in-process`` (the
    default) and runs them in this process.

    The engine keeps every decision: it lists, plans and applies the guards (``--max-delete``,
    the empty-source rule, an incomplete listing) before calling ``transfer``, and deletes only
    after all transfers succeeded. ``start`` is called before the source is listed (raise
    ``fssync.FatalError`` if the cluster is unreachable: one line, exit code 4), ``transfer``
    once per round with a ``fssync.execute.executors.TransferJob`` (``actions``, ``config``, ``emit``,
    ``here``), and ``close`` at the end, also after a failure. Return one outcome per action and
    pass every event a worker made to ``job.emit``, so reporters see what a local run shows.
    ``fssync.execute.executors.Sealed`` carries the config to another process without showing its
    secrets, and ``fssync.execute.executors.run_batch(sealed, actions)`` transfers a batch there. A
    minimal executor that runs each round in this process::

        class Here:
            name = "here"
            async def start(self): pass
            async def transfer(self, job): return await job.here(job.actions)
            async def close(self): pass

        @hookimpl
        def fssync_executor(config):
            return Here() if config.get("executor") == "here" else None

    An executor that also implements ``fssync.ShardedExecutor`` and sets ``sharded`` lists and
    plans on its workers too, so that no machine holds the whole listing (``fssync.execute.sharding``):
    the engine cuts the run in shards (one per folder under the roots, from one look at each,
    or key ranges of a flat S3 root) and calls ``plan(job)``, which runs
    ``fssync.plan_shard(sealed, shard, every)`` on each, keeps each plan where it was made and
    hands ``fssync.shard_counts`` of it to ``job.take``; the engine applies the guards to the
    sums, then calls ``run(job, "transfers")`` and, when nothing holds them, ``run(job,
    "deletes")``, which run batches of ``fssync.run_slices(sealed, plans, spans, part)`` (one
    shard's: ``fssync.run_slice(sealed, plan, part, span)``) and hand each ``BatchResult``
    to ``job.take``. A span is a key range from ``counts.spans(part)`` (slices of `every`
    actions), not a position, so a plan made again after its worker was lost is cut the same
    way; keep a copy of each plan on a second worker if the report must count what the lost
    worker wrote (the Dask executor does). Send every task of a run the same ``Sealed``: workers
    keep the run's plugins and stores under its key, and ``fssync.release_run(key)`` on each
    worker at the end of the run closes them.

    :param config: the options of this run (``--executor`` is ``config.get("executor")``).
    """


# -------------------------------------------------------------------------------------------------
# Reporting
# -------------------------------------------------------------------------------------------------


@hookspec
def fssync_session(config: Config) -> object | None:
    """Return an object whose ``fssync_*`` hook implementations live for this run only.

    Use it for reporters with state (progress bars, log files): fssync registers the object when
    the run starts and unregisters it when the run ends.

    :param config: the options of this run.
    """


@hookspec
def fssync_event(event: Event, config: Config) -> None:
    """Receive one event: ``listing``, ``plan``, ``start``, ``progress``, ``copy``, ``retry``,
    ``failed``, ``delete``, ... (every name and field: docs/reference/json.md).

    Called on the run's event-loop thread, so a reporter needs no locks; keep it quick, since
    transfers wait while it runs. ``event.to_json()`` gives the JSON object of the ``--json``
    stream. Events never hold secrets.

    :param event: the event.
    :param config: the options of this run.
    """


@hookspec
def fssync_run_finished(report: Report, config: Config) -> None:
    """Called once at the end of a run with the final report (also after a dry run).

    Also called when the run stops early (a fatal error such as rejected credentials, or an
    interrupt): then ``report.error`` says why, the counts say what was done before, and
    ``report.exit_code`` is the code the command line exits with. ``fssync.report_document``
    turns the report into the JSON document of ``--report``.

    :param report: the frozen report.
    :param config: the options of this run.
    """
