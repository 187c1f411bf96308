"""The options of one run, whether they came from the command line or the Python API, and the
one rule that layers them: command line > environment > config file > defaults."""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from fssync.errors import UsageError

if TYPE_CHECKING:
    from fssync.settings.location import Location


def _freeze(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _environ() -> Mapping[str, str]:
    return MappingProxyType(dict(os.environ))


class Layer(enum.IntEnum):
    """Where a setting came from; a lower number wins."""

    COMMAND_LINE = 0  # a flag, or a keyword of the Python API
    ENVIRONMENT = 1
    CONFIG_FILE = 2  # the named remote's table in the config file
    DEFAULT = 3


@attrs.frozen
class Setting:
    """One resolved setting. The value may be a secret, so the repr shows only where it came
    from. A setting that cannot be read (a config file naming an unset variable) carries the
    reason, raised only if its value is used: a higher layer may make it irrelevant."""

    _value: Any = attrs.field(repr=False)
    layer: Layer
    source: str  # for people: "--region", "environment variable AWS_REGION", "remote 'x' (file)"
    problem: str | None = None

    @property
    def value(self) -> Any:
        if self.problem is not None:
            raise UsageError(self.problem)
        return self._value


def given(value: Any) -> bool:
    """Whether an option value counts as set: None, False and empty collections do not."""
    if value is None or value is False:
        return False
    return not (isinstance(value, list | tuple | str) and len(value) == 0)


@attrs.frozen
class Config:
    """Every option by its name; plugins read theirs with `get` (run-wide) or `setting` (for one
    location, with the layering rule). Secrets may be inside, so options and the environment are
    left out of the repr."""

    command: str
    src: str
    dst: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze, repr=False)
    # The environment this run sees (a snapshot), so the layering is explicit and testable.
    environ: Mapping[str, str] = attrs.field(
        factory=_environ, converter=_freeze, repr=False, eq=False
    )

    def get(self, name: str, default: Any = None) -> Any:
        value = self.options.get(name, default)
        return default if value is None else value

    def layers(
        self, name: str, *, location: Location | None = None, env: Iterable[str] = ()
    ) -> list[Setting]:
        """Every layer that sets `name`, highest precedence first.

        :param name: the option's Python name (``endpoint_url``).
        :param location: its remote, if any, supplies the config-file layer.
        :param env: environment variables for this setting, most specific first.
        """
        found: list[Setting] = []
        value = self.options.get(name)
        if given(value):
            found.append(Setting(value, Layer.COMMAND_LINE, "--" + name.replace("_", "-")))
        for var in env:
            text = self.environ.get(var)
            if text:
                found.append(Setting(text, Layer.ENVIRONMENT, f"environment variable {var}"))
                break
        remote = location.remote if location is not None else None
        if remote is not None:
            from_file = remote.lookup(name, self.environ)
            if from_file is not None:
                found.append(from_file)
        return found

    def setting(
        self,
        name: str,
        *,
        location: Location | None = None,
        env: Iterable[str] = (),
        default: Any = None,
    ) -> Setting:
        """The value of `name` by the rule command line > environment > config file > default."""
        found = self.layers(name, location=location, env=env)
        return found[0] if found else Setting(default, Layer.DEFAULT, "default")

    def value(
        self,
        name: str,
        *,
        location: Location | None = None,
        env: Iterable[str] = (),
        default: Any = None,
    ) -> Any:
        """Shorthand for ``setting(...).value``."""
        return self.setting(name, location=location, env=env, default=default).value

    @property
    def delete(self) -> bool:
        return bool(self.get("delete", False))

    @property
    def dry_run(self) -> bool:
        return bool(self.get("dry_run", False))

    @property
    def transfers(self) -> int:
        return int(self.get("transfers", 16))

    @property
    def compare(self) -> str:
        return str(self.get("compare", "size-mtime"))

    @property
    def verbose(self) -> int:
        return int(self.get("verbose", 0))
