"""What an S3 store does with a PUT whose reply's ETag is not the MD5 of what was sent, shared by
every S3 store so the rule lands once."""

from __future__ import annotations

from typing import Any

from fssync.model import Entry


async def unconfirmed_put(store: Any, entry: Entry, size: int, md5: str, etag: str) -> None:
    """Read the object back (`store._stored_md5`). The same bytes: this store's ETags are not
    MD5s (``store.etags_opaque`` is set for the run, so no more read-backs). Other bytes: the
    object is left as it is (never deleted: a delete would lose the file's only copy there) and
    the transfer fails, to be sent again or reported; the error says what is left, so that the
    next run sends the file again."""
    from fssync.content.integrity import mismatch  # integrity imports the stores

    stored = await store._stored_md5(store._key(entry.key))
    if stored == md5:
        store.etags_opaque = True
        return
    raise mismatch(
        f"the store saved other bytes than were sent (ETag {etag}, read back as MD5 "
        f"{stored or 'unknown'}); the object is left as it is",
        entry.key,
        size,
        stored or etag,
    )
