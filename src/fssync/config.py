"""The options of one run, whether they came from the command line or the Python API."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs


def _freeze(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen
class Config:
    """Every option by its name; plugins read theirs with `get`. Secrets may be inside, so the
    options are left out of the repr."""

    command: str
    src: str
    dst: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze, repr=False)

    def get(self, name: str, default: Any = None) -> Any:
        value = self.options.get(name, default)
        return default if value is None else value

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
