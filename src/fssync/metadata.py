"""Read the hashes and modification times that sync tools leave in S3 object metadata (pure).

fssync writes `mtime` (seconds since the epoch, as rclone does) and `md5` (hex). It also reads
rclone's `md5chksum` (base64 MD5), s3cmd's `s3cmd-attrs` (`mtime:...` and `md5:...` fields
separated by '/'), and the classic S3 Sync's `local-date-modified` and `multipart-etag`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
from collections.abc import Mapping

import attrs

from .hashing import is_md5


@attrs.frozen
class Found:
    mtime: float | None = None
    md5: str | None = None
    source: str | None = None  # which tool's metadata answered


def _time(text: str) -> float | None:
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(t)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _b64_md5(text: str) -> str | None:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 16 else None


def _s3cmd(attrs_text: str) -> dict[str, str]:
    fields = {}
    for part in attrs_text.split("/"):
        k, sep, v = part.partition(":")
        if sep:
            fields[k.strip()] = v.strip()
    return fields


def read(meta: Mapping[str, str]) -> Found:
    """The best mtime and MD5 the metadata holds, whichever tool wrote it."""
    m = {k.lower(): v for k, v in meta.items()}
    mtime: float | None = None
    md5: str | None = None
    source = None
    if "mtime" in m:
        mtime, source = _time(m["mtime"]), "mtime"
    if "md5" in m and is_md5(m["md5"].lower()):
        md5 = m["md5"].lower()
    if md5 is None and "md5chksum" in m:
        md5 = _b64_md5(m["md5chksum"])
        source = source or "rclone"
    if "s3cmd-attrs" in m:
        fields = _s3cmd(m["s3cmd-attrs"])
        if mtime is None and "mtime" in fields:
            mtime, source = _time(fields["mtime"]), "s3cmd"
        if md5 is None and is_md5(fields.get("md5", "").lower()):
            md5 = fields["md5"].lower()
    if mtime is None and "local-date-modified" in m:
        mtime, source = _time(m["local-date-modified"]), "s3sync"
    if md5 is None and is_md5(m.get("multipart-etag", "").lower()):
        md5 = m["multipart-etag"].lower()
    return Found(mtime=mtime, md5=md5, source=source)
