"""``--backup-dir`` and ``--suffix``: what a sync would replace or delete is kept, not lost.

Before an update overwrites a destination file, and before a delete removes one, the file is
kept under the backup folder at the same relative path (``--backup-dir URL``), its name ending
in ``--suffix`` if given; with ``--suffix`` alone it is kept beside itself in the destination.
The copy is made by the store itself where it can (a server-side copy on S3, a hard link on a
local disk, so no byte moves), else streamed through fssync and checked like any transfer. The
destination file is only replaced or deleted once its backup is in place: a failed backup fails
that file, and the file stays as it was.
"""

from __future__ import annotations

import posixpath

import attrs

from fssync.content.integrity import Verified
from fssync.errors import UsageError
from fssync.model import Entry
from fssync.settings.location import Location
from fssync.stores.base import Store


def backup_key(key: str, suffix: str, keep_extension: bool) -> str:
    """The key a file is kept under: ``a/b.txt`` with suffix ``-old`` is ``a/b.txt-old``, or
    ``a/b-old.txt`` when the extension is kept (as rclone's ``--suffix-keep-extension``)."""
    if not suffix:
        return key
    if keep_extension:
        folder, name = posixpath.split(key)
        stem, dot, ext = name.rpartition(".")
        if dot and stem:  # ".bashrc" has no extension to keep
            return posixpath.join(folder, f"{stem}{suffix}.{ext}")
    return key + suffix


def is_backup_name(key: str, suffix: str, keep_extension: bool) -> bool:
    """Whether a destination key looks like a backup made beside its file (``--suffix`` without
    ``--backup-dir``): such keys are never deleted as extraneous."""
    if not suffix:
        return False
    if key.endswith(suffix):
        return True
    if keep_extension:
        stem, dot, _ = posixpath.basename(key).rpartition(".")
        return bool(dot) and stem.endswith(suffix)
    return False


def check_locations(backup: Location, src: Location, dst: Location) -> None:
    """The backup folder may not hold, or be held by, either side: a sync would list the backups
    as files to copy or delete."""
    for side, location in (("destination", dst), ("source", src)):
        if backup.protocol == location.protocol and _overlaps(backup.root, location.root):
            raise UsageError(
                f"--backup-dir {backup.url!r} and the {side} {location.url!r} overlap: "
                "choose a backup folder outside both sides"
            )


def _overlaps(a: str, b: str) -> bool:
    a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)


@attrs.define
class Backups:
    """Keeps destination files before they are replaced or deleted. `store` is the backup
    folder's store, or the destination's own with ``--suffix`` alone."""

    store: Store
    suffix: str = ""
    keep_extension: bool = False
    kept: int = 0

    def key_for(self, key: str) -> str:
        return backup_key(key, self.suffix, self.keep_extension)

    async def keep(self, dst: Store, entry: Entry) -> str:
        """Keep `entry` of `dst` in the backup; return its key there. Raises when it cannot,
        and then the caller must leave the destination file alone."""
        key = self.key_for(entry.key)
        if await self.store.keep_copy(dst, entry, key) is None:
            reader = Verified(await dst.open(entry), entry)
            try:
                await self.store.write(attrs.evolve(entry, key=key), reader, {})
            finally:
                await reader.close()
        self.kept += 1
        return key
