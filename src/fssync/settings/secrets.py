"""Keep secret keys and session tokens out of every message fssync prints or records.

Plugins that handle a secret call `register(value)`; everything user-visible passes `scrub`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from fssync.model import redact

_lock = threading.Lock()
_known: set[str] = set()


def register(*values: str | None) -> None:
    with _lock:
        for value in values:
            if value and len(value) >= 6:
                _known.add(value)


def scrub(text: str) -> str:
    """Replace every registered secret in text by its redacted form."""
    if not _known or not text:
        return text
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, redact(secret))
    return text


# Query parameters of presigned URLs that carry credentials or signatures.
_SECRET_QUERY = {"x-amz-signature", "x-amz-security-token", "x-amz-credential", "signature"}


def safe_url(url: str) -> str:
    """A URL fit for a log line: the signature and credential parameters of a presigned query
    masked, and registered secrets redacted."""
    if "?" in url:
        from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

        parts = urlsplit(url)
        query = [
            (k, "****" if k.lower() in _SECRET_QUERY else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        url = urlunsplit(parts._replace(query=urlencode(query, safe="/*")))
    return scrub(url)


# Option names that say their value is a secret, whether or not a plugin registered it.
_SECRET_NAME = re.compile(
    r"secret|password|passwd|token|credential|private|(?:^|_)key$", re.IGNORECASE
)  # "_key$": an encryption key such as sse_c_key (access_key_id and kms_key_id are names)


def redact_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready copy of a run's options that is safe to record or send.

    Options whose name says they hold a secret are redacted, every string passes `scrub`, values
    that are not plain JSON become strings, and private entries (a leading ``_``) are left out.
    """
    out: dict[str, Any] = {}
    for name, value in sorted(options.items()):
        if name.startswith("_"):
            continue
        if value is not None and _SECRET_NAME.search(name) and not isinstance(value, bool):
            out[name] = redact(str(value))
        else:
            out[name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return scrub(str(value))
