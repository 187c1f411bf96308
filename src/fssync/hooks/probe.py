"""A stand-in filesystem that records whether a plugin would use the real one.

Store plugins (``fssync_open_store``) have no fsspec filesystem, so a location may go to one only
when no ``fssync_filesystem_ready`` implementation would adjust its filesystem. Asking each
implementation with this probe answers that by behaviour: reading any attribute, calling,
indexing, setting, or checking its type (``isinstance`` reads ``__class__``) counts as use.
"""

from __future__ import annotations

from typing import Any


class FilesystemProbe:
    __slots__ = ("_uses",)

    def __init__(self, uses: list[str] | None = None) -> None:
        object.__setattr__(self, "_uses", uses if uses is not None else [])

    @property
    def used(self) -> bool:
        return bool(object.__getattribute__(self, "_uses"))

    def _note(self, what: str) -> FilesystemProbe:
        uses: list[str] = object.__getattribute__(self, "_uses")
        uses.append(what)
        return FilesystemProbe(uses)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._note(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._note(name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._note("()")

    def __getitem__(self, key: Any) -> Any:
        return self._note("[]")

    def __setitem__(self, key: Any, value: Any) -> None:
        self._note("[]")

    def __bool__(self) -> bool:
        self._note("bool")
        return True

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance() falls back to reading __class__
        self._note("__class__")
        return FilesystemProbe
