"""Text made safe for a terminal and a log file, and JSON lines that stay exact.

Keys come from listings and may be hostile: a name holding ``ESC [2K`` erases the line it is
printed on, a carriage return or a newline forges a line of its own, a right-to-left override
turns ``txt.exe`` around. Every human line fssync prints passes `printable`, which shows such
characters as escapes (docs/reference/output.md, "Names with control characters"):

* a C0 control, DEL or a C1 control (U+0000-U+001F, U+007F-U+009F) as ``\\xNN``;
* a line or paragraph separator and the bidirectional controls (U+200E, U+200F, U+2028,
  U+2029, U+202A-U+202E, U+2066-U+2069) as ``\\uNNNN``;
* a byte of a local name that is not UTF-8 (held by Python as a lone surrogate) as ``\\xNN``
  of that byte; any other lone surrogate as ``\\uNNNN``.

JSON output needs no such rule to be unambiguous, but JSON leaves DEL, the C1 controls and the
characters above unescaped, and a lone surrogate cannot be written as UTF-8: `json_text` escapes
them as ``\\uNNNN``, which a JSON reader decodes back to the exact key.
"""

from __future__ import annotations

import json
import re
from typing import Any

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# The same, less the C0 controls: json.dumps escapes those itself.
_UNSAFE_IN_JSON = re.compile(
    "[\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    n = ord(match.group())
    if 0xDC80 <= n <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
        return f"\\x{n - 0xDC00:02x}"
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def printable(text: str) -> str:
    """`text` with every character that could act on a terminal shown as an escape."""
    if _UNSAFE.search(text) is None:
        return text  # the common case: one scan, no copy
    return _UNSAFE.sub(_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_text(obj: Any, **kwargs: Any) -> str:
    """``json.dumps(obj, ensure_ascii=False)`` with the characters above escaped: exact JSON,
    safe on a terminal, always encodable as UTF-8. Such characters can only stand inside a
    JSON string, where ``\\uNNNN`` means the same character."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    if _UNSAFE_IN_JSON.search(text) is None:
        return text
    return _UNSAFE_IN_JSON.sub(_json_escape, text)
