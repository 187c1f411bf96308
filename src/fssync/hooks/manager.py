"""Build a plugin manager and give the engine typed calls instead of ``pm.hook.x`` strings."""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import pluggy

from fssync.errors import UsageError
from fssync.execute.executors import Executor
from fssync.hooks import PROJECT, discovery, specs
from fssync.model import Action, Entry, Event, Plan, Report
from fssync.planning.decide import CompareMode, KeyFilter
from fssync.settings.auth import CredentialProvider
from fssync.settings.config import Config
from fssync.settings.location import Location

if TYPE_CHECKING:
    from fssync.stores.s3.keys import KeySource

# Plugins every manager made in this context registers too (see `registered`).
_AMBIENT: ContextVar[tuple[object, ...]] = ContextVar("fssync_ambient_plugins", default=())


@contextmanager
def registered(*plugins: object) -> Iterator[None]:
    """Register `plugins` in every run started inside the block, from Python or from
    ``fssync.cli.main.main``: how test helpers such as ``fssync.testing.capture_events`` reach runs
    they do not start themselves."""
    token = _AMBIENT.set((*_AMBIENT.get(), *plugins))
    try:
        yield
    finally:
        _AMBIENT.reset(token)


def make_hooks(
    *,
    entry_points: bool = True,
    plugins: Iterable[object] = (),
    disable: Iterable[str] = (),
    ambient: bool = True,
) -> Hooks:
    """A fresh manager: the built-ins and third-party plugins arrive through the entry points.

    Entry points are registered in name order so that option lists and the generated docs are
    the same on every machine. `ambient=False` leaves out the plugins of `registered` blocks.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(specs)
    blocked = set(disable)
    loaded: set[str] = set()
    if entry_points:
        found = discovery.entry_points(PROJECT)
        for name, value in sorted(found, key=lambda e: e[0]):
            if name in blocked or pm.get_plugin(name) is not None:
                continue
            try:
                plugin = discovery.load(value)
            except Exception as exc:  # noqa: BLE001 - a broken plugin is a usage problem
                raise UsageError(f"plugin {name!r} ({value}) failed to load: {exc}") from None
            pm.register(plugin, name=name)
            loaded.add(name)
    from fssync.execute.executors import BuiltinExecutor

    pm.register(BuiltinExecutor(), name="fssync_in_process")  # the default --executor
    for plugin in (*(_AMBIENT.get() if ambient else ()), *plugins):
        if not pm.is_registered(plugin):
            pm.register(plugin)
    check_pending(pm)
    return Hooks(pm, entry_points=loaded)


def check_pending(pm: pluggy.PluginManager) -> None:
    """A hook implementation with no hook of its name (a misspelling, or a hook of another
    version) would never be called: stop at start-up, naming it, instead of ignoring it."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = next(
            (
                hook
                for hook, caller in vars(pm.hook).items()
                if not hook.startswith("_")
                and not caller.has_spec()
                and any(
                    i.plugin is exc.plugin and not i.optionalhook for i in caller.get_hookimpls()
                )
            ),
            "?",
        )
        import difflib  # only for this message

        known = [n for n in vars(specs) if n.startswith(f"{PROJECT}_")]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        plugin = pm.get_name(exc.plugin) or getattr(exc.plugin, "__name__", repr(exc.plugin))
        raise UsageError(
            f"plugin {plugin} implements {name}, which is not an fssync hook{hint}"
        ) from None


def make_plugin_manager(
    *, entry_points: bool = True, plugins: Iterable[object] = (), disable: Iterable[str] = ()
) -> pluggy.PluginManager:
    """The bare pluggy manager, for plugin authors' tests."""
    return make_hooks(entry_points=entry_points, plugins=plugins, disable=disable).pm


def _merge(results: list[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Merge mapping results so the plugin called first (third-party before built-in) wins."""
    merged: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    for result in reversed(results):
        if result:
            merged.update(result)
            metadata.update(result.get("Metadata") or {})
    if metadata:
        merged["Metadata"] = metadata  # user metadata from several plugins: each name kept
    return merged


class Hooks:
    """Typed facade over a plugin manager: the only way the engine calls plugins."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        distributions: Mapping[str, tuple[str, str]] | None = None,
        *,
        entry_points: Iterable[str] = (),
    ) -> None:
        self.pm = pm
        self._distributions = dict(distributions) if distributions is not None else None
        self._entry_points = set(entry_points)  # names of the plugins loaded from entry points
        self._h = pm.hook

    @property
    def distributions(self) -> dict[str, tuple[str, str]]:
        """Plugin name -> (distribution, version), read on first use: reading a distribution's
        metadata costs start-up time that only ``fssync plugins`` needs to pay."""
        if self._distributions is None:
            self._distributions = discovery.distributions(PROJECT, self._entry_points)
        return self._distributions

    def add_options(self, parser: ArgumentParser, command: str) -> None:
        self._h.fssync_add_options(parser=parser, command=command)

    def add_commands(self, subparsers: Any) -> None:
        self._h.fssync_add_commands(subparsers=subparsers)

    def configure(self, config: Config) -> None:
        self._h.fssync_configure(config=config)

    def storage_options(self, location: Location, config: Config) -> dict[str, Any]:
        """The merged storage options, with every plugin's request headers folded in (the
        form both S3 request paths read)."""
        from fssync.stores.request_headers import fold_into

        options = _merge(self._h.fssync_storage_options(location=location, config=config))
        answers = self._h.fssync_request_headers(location=location, config=config)
        return fold_into(options, answers, location.protocol)

    def credential_provider(self, location: Location, config: Config) -> CredentialProvider | None:
        provider = self._h.fssync_credential_provider(location=location, config=config)
        if provider is not None and not isinstance(provider, CredentialProvider):
            raise UsageError(
                f"a plugin returned {type(provider).__name__} from fssync_credential_provider; "
                "expected an fssync.CredentialProvider"
            )
        return provider  # type: ignore[no-any-return]

    def filesystem_ready(self, location: Location, filesystem: Any, config: Config) -> None:
        self._h.fssync_filesystem_ready(location=location, filesystem=filesystem, config=config)

    def filesystem_plugins(self) -> tuple[str, ...]:
        """Names of the plugins that implement fssync_filesystem_ready: they need an fsspec
        filesystem, so no plugin store may serve a location in their place. Declared by
        implementing the hook, not found by calling it: no plugin code runs to decide."""
        return tuple(i.plugin_name for i in self._h.fssync_filesystem_ready.get_hookimpls())

    def open_store(
        self,
        location: Location,
        storage_options: Mapping[str, Any],
        config: Config,
        filesystem_plugins: Sequence[str],
        credentials: KeySource | None = None,
    ) -> Any:
        """A plugin's store for the location, or None to use the built-in one."""
        return self._h.fssync_open_store(
            location=location,
            storage_options=storage_options,
            config=config,
            filesystem_plugins=tuple(filesystem_plugins),
            credentials=credentials,
        )

    def compare_modes(self) -> dict[str, CompareMode]:
        """Every mode the plugins offer; a bare comparator becomes a mode needing no hashes."""
        modes: dict[str, CompareMode] = {}
        for result in reversed(self._h.fssync_compare_modes()):
            modes.update((name, CompareMode.of(mode)) for name, mode in (result or {}).items())
        return modes

    def compare_mode(self, name: str) -> CompareMode:
        modes = self.compare_modes()
        if name not in modes:
            known = ", ".join(sorted(modes)) or "none"
            raise UsageError(f"unknown compare mode {name!r}: choose one of {known}")
        return modes[name]

    def key_filter(
        self, config: Config, src: Mapping[str, Entry], dst: Mapping[str, Entry]
    ) -> KeyFilter | None:
        results = self._h.fssync_key_filters(config=config, src=src, dst=dst)
        filters = [f for result in results for f in result or ()]
        if not filters:
            return None
        if len(filters) == 1:
            return filters[0]

        def first_opinion(key, src, dst):  # type: ignore[no-untyped-def]
            for f in filters:
                verdict = f(key, src, dst)
                if verdict is not None:
                    return verdict
            return None

        return first_opinion

    def plan_ready(self, plan: Plan, config: Config) -> None:
        self._h.fssync_plan_ready(plan=plan, config=config)

    def transfer_options(
        self, action: Action, location: Location, config: Config
    ) -> dict[str, Any]:
        return _merge(
            self._h.fssync_transfer_options(action=action, location=location, config=config)
        )

    def executor(self, config: Config) -> Executor | None:
        """Who runs this run's transfers (None: no plugin answers for ``--executor``)."""
        found = self._h.fssync_executor(config=config)
        if found is not None and not isinstance(found, Executor):
            raise UsageError(
                f"a plugin returned {type(found).__name__} from fssync_executor; expected an "
                "object with name, start, transfer and close (fssync.execute.executors.Executor)"
            )
        return found  # type: ignore[no-any-return]

    def event(self, event: Event, config: Config) -> None:
        self._h.fssync_event(event=event, config=config)

    def resolve_conflict(self, key: str, a: Entry, b: Entry, config: Config) -> str | None:
        """A plugin's answer to a two-way sync conflict ("a", "b", "keep-both"), or None."""
        answer = self._h.fssync_resolve_conflict(key=key, a=a, b=b, config=config)
        if answer is not None and answer not in ("a", "b", "keep-both"):
            raise UsageError(
                f"a plugin resolved the conflict of {key!r} with {answer!r}: "
                "expected 'a', 'b' or 'keep-both'"
            )
        return None if answer is None else str(answer)

    def run_finished(self, report: Report, config: Config) -> None:
        self._h.fssync_run_finished(report=report, config=config)

    @contextmanager
    def session(self, config: Config) -> Iterator[None]:
        """Register the per-run objects plugins return, and unregister them afterwards."""
        objects = [o for o in self._h.fssync_session(config=config) if o is not None]
        for obj in objects:
            self.pm.register(obj)
        try:
            yield
        finally:
            for obj in objects:
                self.pm.unregister(obj)
