"""Named remotes from a TOML config file: ``fssync sync ./photos archive:2024``.

A remote is a table under ``[remotes.NAME]`` with a ``type``, where it points (``bucket`` and
``prefix`` for S3, ``root`` for other filesystems) and settings named like the command-line
options without their dashes (``endpoint-url``, ``region``, ``profile``, ``role-arn``, ...).
Any setting can instead be read from an environment variable at run time with ``NAME-env``
(``secret-access-key-env = "ARCHIVE_SECRET"``), so secrets need not be written into the file.

The file is found by ``--config``, then ``FSSYNC_CONFIG``, then the user's default path. Values
from it are the config-file layer: the command line and the environment override them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from fssync.errors import UsageError
from fssync.settings.config import Config, Layer, Setting

ENV_SUFFIX = "_env"
_PLACE_KEYS = frozenset({"type", "bucket", "prefix", "root"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _freeze(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen
class Remote:
    """One named remote. Its settings may hold secrets, so they are left out of the repr."""

    name: str
    protocol: str  # "s3", "file", "memory", ...
    root: str  # bucket[/prefix] for S3, a path for other filesystems
    settings: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze, repr=False)
    origin: str = ""  # the config file it came from, for messages

    def lookup(self, name: str, environ: Mapping[str, str]) -> Setting | None:
        """The config-file layer of option `name`: a literal value or one read from the
        environment variable that ``NAME-env`` names."""
        where = f"remote {self.name!r} in {self.origin}"
        if name in self.settings:
            return Setting(self.settings[name], Layer.CONFIG_FILE, where)
        var = self.settings.get(name + ENV_SUFFIX)
        if var is None:
            return None
        text = environ.get(str(var))
        if not text:
            key = (name + ENV_SUFFIX).replace("_", "-")
            problem = (
                f"{where}: {key} names the environment variable {var!r}, which is not set; "
                "set it or remove the setting"
            )
            return Setting(None, Layer.CONFIG_FILE, where, problem)
        return Setting(text, Layer.CONFIG_FILE, f"environment variable {var} named by {where}")


def default_path(environ: Mapping[str, str]) -> Path:
    """The user's config file: $XDG_CONFIG_HOME/fssync/config.toml (~/.config by default)."""
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "fssync" / "config.toml"


def config_path(config: Config) -> tuple[Path | None, bool]:
    """The config file to read and whether the user named it (then it must exist)."""
    explicit = config.get("config")
    if explicit:
        return Path(os.path.expanduser(str(explicit))), True
    from_env = config.environ.get("FSSYNC_CONFIG")
    if from_env:
        return Path(os.path.expanduser(from_env)), True
    path = default_path(config.environ)
    try:
        found = path.is_file()
    except OSError:  # e.g. a home folder this user may not enter: no default file to read
        found = False
    return (path, False) if found else (None, False)


def load_remotes(config: Config, allowed: Collection[str]) -> dict[str, Remote]:
    """Read the remotes of the config file this run uses (none when there is no file).

    :param allowed: option names a remote may set (the options plugins add).
    """
    path, named = config_path(config)
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if named:
            raise UsageError(f"config file {path} does not exist") from None
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}") from None
    import tomllib  # only a run with a config file pays for the parser

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    return parse_remotes(data, origin=str(path), allowed=allowed)


def parse_remotes(
    data: Mapping[str, Any], *, origin: str, allowed: Collection[str]
) -> dict[str, Remote]:
    unknown = sorted(set(data) - {"remotes"})
    if unknown:
        raise UsageError(
            f"{origin}: unknown table(s) {', '.join(unknown)}; expected [remotes.NAME]"
        )
    from fssync.settings.backends import (
        SETTINGS,  # sftp, Azure, GCS, ... settings (see backends.py)
    )

    allowed = frozenset(allowed) | SETTINGS
    tables = data.get("remotes", {})
    if not isinstance(tables, Mapping):
        raise UsageError(f"{origin}: 'remotes' must be a table of [remotes.NAME] tables")
    return {
        name: _remote(name, table, origin=origin, allowed=allowed) for name, table in tables.items()
    }


def _remote(name: str, table: Any, *, origin: str, allowed: Collection[str]) -> Remote:
    where = f"{origin}: remote {name!r}"
    if not _NAME.match(name):
        raise UsageError(f"{where}: a remote name uses letters, digits, '_', '.' and '-'")
    if not isinstance(table, Mapping):
        raise UsageError(f"{where} must be a table")
    settings = {str(k).replace("-", "_"): v for k, v in table.items()}
    for key in sorted(set(settings) - _PLACE_KEYS):
        base = key[: -len(ENV_SUFFIX)] if key.endswith(ENV_SUFFIX) else key
        if base not in allowed:
            raise UsageError(f"{where}: unknown setting {key.replace('_', '-')!r}")
        if key != base and not isinstance(settings[key], str):
            raise UsageError(f"{where}: {key.replace('_', '-')} must name an environment variable")
    kind = str(settings.pop("type", "s3")).lower()
    if kind in ("s3", "s3a"):
        bucket = settings.pop("bucket", None)
        if not bucket or not isinstance(bucket, str):
            raise UsageError(f'{where}: an S3 remote needs bucket = "NAME"')
        prefix = str(settings.pop("prefix", "")).strip("/")
        root = f"{bucket}/{prefix}" if prefix else bucket
        kind = "s3"
    else:
        root = settings.pop("root", None)
        if not isinstance(root, str):
            raise UsageError(f'{where}: a {kind!r} remote needs root = "PATH"')
        for key in ("bucket", "prefix"):
            if key in settings:
                raise UsageError(f"{where}: {key} is for S3 remotes; use root")
    return Remote(name=name, protocol=kind, root=root, settings=settings, origin=origin)
