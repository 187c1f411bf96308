"""Resume a multipart upload that a gone run left, from the parts already on the server.

A run records each upload it starts with the source it sends (size, mtime, part size). When a
run is killed, loses power or its network, those parts stay on the server. The next upload of
the same key from the same, unchanged file takes that upload over: it lists its parts
(ListParts) and, as it reads the file part by part as always, keeps each part whose size and
ETag match what it just read (an MD5 of the local bytes), sending only the others. A part the
server does not vouch for by an MD5 ETag (SSE-KMS, SSE-C) is sent again; an upload of a changed
file is aborted, and a fresh one started. Shared by every S3 store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs


@attrs.frozen
class Resumed:
    """An interrupted upload this run took over, and the parts the server holds."""

    row: int
    upload_id: str
    parts: Mapping[int, tuple[str, int]] = attrs.field(repr=False)  # number -> (ETag, size)

    def reusable(self, number: int, md5_hex: str, length: int) -> str | None:
        """The ETag to complete with when the server already holds exactly these bytes as
        part `number`, else None (the part is sent)."""
        held = self.parts.get(number)
        if held is None:
            return None
        etag, size = held
        if size != length or etag.strip('"').lower() != md5_hex:
            return None
        return etag


async def find(
    store: Any, journal: Any, bucket: str, key: str, size: int, mtime_ns: int | None, part: int
) -> Resumed | None:
    """The interrupted upload of `key` that this file can resume, taken over; None to start a
    fresh one. Uploads of the key from another version of the file are aborted on the way."""
    from fssync.state.leftovers import error_code

    for row, upload_id, was_size, was_ns, was_part in await journal.interrupted(bucket, key):
        if (was_size, was_ns, was_part) != (size, mtime_ns, part):
            try:
                await store.abort_upload(bucket, key, upload_id)
            except Exception as exc:  # noqa: BLE001 - gone already is as good as aborted
                if error_code(exc) != "NoSuchUpload":
                    continue  # left on record: a later clean-up aborts it
            await journal.end(row)
            continue
        try:
            listed = await store.list_parts(bucket, key, upload_id)
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) == "NoSuchUpload":
                await journal.end(row)  # aborted meanwhile (by a lifecycle rule, cleanup)
                continue
            return None  # cannot tell what it holds: a fresh upload; the old one is aborted later
        await journal.adopt(row)
        return Resumed(row, upload_id, listed)
    return None
