"""Read the hashes and modification times that sync tools leave in S3 object metadata (pure).

fssync writes `mtime` (seconds since the epoch with nine decimals, as rclone does), `md5` (hex)
and, on multipart uploads, `md5chksum` (base64 of the raw MD5, rclone's key). It also reads
s3cmd's `s3cmd-attrs` (`mtime:...` and `md5:...` fields separated by '/'), and the classic S3
Sync's `local-date-modified` and `multipart-etag`.

Times are kept as integer nanoseconds: a float holds a present-day time to about 240 ns only,
and rclone compares modification times to the nanosecond.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping

import attrs

NS = 1_000_000_000
LIMIT_NS = 1 << 62  # beyond ~146 years from the epoch a stored time is taken as garbage
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@attrs.frozen
class Found:
    mtime_ns: int | None = None
    md5: str | None = None
    source: str | None = None  # which tool's metadata answered

    @property
    def mtime(self) -> float | None:
        return None if self.mtime_ns is None else self.mtime_ns / NS


def is_md5(etag: str | None) -> bool:
    """Whether an ETag or a stored value is a plain MD5 in hex (an S3 ETag of one part)."""
    return bool(etag) and len(etag or "") == 32 and all(c in "0123456789abcdef" for c in etag or "")


def seconds_ns(text: str) -> int | None:
    """'1700000000.123456789' (or '1700000000', '1.7e9') as exact nanoseconds, no float."""
    import decimal  # here: a run that reads no stored mtime does not load it

    try:
        number = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        return None
    if not number.is_finite() or abs(number) >= LIMIT_NS // NS:
        return None
    return int((number * NS).to_integral_value(decimal.ROUND_HALF_EVEN))


def _time_ns(text: str) -> int | None:
    t = text.strip()
    ns = seconds_ns(t)
    if ns is not None or not t:
        return ns
    try:
        when = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        import email.utils  # HTTP dates are rare (S3 Sync): loaded only for them

        try:
            when = email.utils.parsedate_to_datetime(t)
        except (TypeError, ValueError, IndexError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    delta = when - EPOCH
    return (delta.days * 86400 + delta.seconds) * NS + delta.microseconds * 1000


def format_ns(ns: int) -> str:
    """Nanoseconds as rclone writes `mtime`: whole seconds, a dot, nine digits."""
    seconds, fraction = divmod(ns, NS)
    return f"{seconds}.{fraction:09d}"


def b64_md5(text: str) -> str | None:
    """The hex MD5 of a base64 raw digest (rclone's `md5chksum`), else None."""
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
    mtime: int | None = None
    md5: str | None = None
    source = None
    if "mtime" in m:
        mtime = _time_ns(m["mtime"])
        source = "mtime" if mtime is not None else None
    if "md5" in m and is_md5(m["md5"].lower()):
        md5 = m["md5"].lower()
    if md5 is None and "md5chksum" in m:
        md5 = b64_md5(m["md5chksum"])
        source = source or "rclone"
    if "s3cmd-attrs" in m:
        fields = _s3cmd(m["s3cmd-attrs"])
        if mtime is None and "mtime" in fields:
            mtime = _time_ns(fields["mtime"])
            source = "s3cmd" if mtime is not None else source
        if md5 is None and is_md5(fields.get("md5", "").lower()):
            md5 = fields["md5"].lower()
    if mtime is None and "local-date-modified" in m:
        mtime = _time_ns(m["local-date-modified"])
        source = "s3sync" if mtime is not None else source
    if md5 is None and is_md5(m.get("multipart-etag", "").lower()):
        md5 = m["multipart-etag"].lower()
    return Found(mtime_ns=mtime, md5=md5, source=source)
