"""Keep secret keys and session tokens out of every message fssync prints or records.

Plugins that handle a secret call `register(value)`; everything user-visible passes `scrub`.
"""

from __future__ import annotations

import threading

from .model import redact

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
