"""Listing-page rewrites for the fault proxy: a ``200 OK`` to ListObjectsV2 that is not a whole,
right listing.

A listing that ends early makes ``--delete`` remove every file it did not see, so these faults
matter more than an error status: they look like success. Each rewrite takes the real page the
server sent and changes it:

- ``html``: a ``text/html`` maintenance page, as a captive portal or load balancer sends;
- ``empty``: no body at all;
- ``error-200``: an S3 ``<Error>`` document with status 200;
- ``json``: a JSON document, as a gateway in front of the store may send;
- ``cut``: the second half of the page's ``<Contents>`` dropped, the document still well formed
  (its ``KeyCount`` still counts them all);
- ``no-token``: ``IsTruncated`` true without a ``NextContinuationToken``;
- ``same-token``: the ``NextContinuationToken`` is the token the request sent (from the second
  page on), so a client that follows it asks for the same page for ever;
- ``slowdown``: not a rewrite: the request is answered ``503 SlowDown`` and never reaches the
  server (a throttling storm on listings; ``slow_pages=`` makes one last some seconds).

Pure functions over bytes; `fssync.testing.faultproxy.FaultProxy` applies them (``pages=``).
"""

from __future__ import annotations

import re
import urllib.parse
from xml.sax.saxutils import escape

__all__ = ["PAGE_FAULTS", "REWRITES", "is_listing", "request_token", "rewrite_page"]

PAGE_FAULTS = ("html", "empty", "error-200", "json", "cut", "no-token", "same-token", "slowdown")
REWRITES = PAGE_FAULTS[:-1]  # the kinds that change the server's reply

_CONTENTS = re.compile(rb"<Contents>.*?</Contents>", re.S)
_TOKEN = re.compile(rb"<NextContinuationToken>[^<]*</NextContinuationToken>")
_TRUNCATED = re.compile(rb"<IsTruncated>[^<]*</IsTruncated>")
_END = b"</ListBucketResult>"
_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    b"<Message>injected: an error inside a 200 reply</Message>"
    b"<RequestId>fssync-faultproxy</RequestId></Error>"
)


def is_listing(method: str, target: str) -> bool:
    """Whether a request line's method and target are a ListObjectsV2 call."""
    query = urllib.parse.urlsplit(target).query
    return method == "GET" and "list-type=2" in query.split("&")


def request_token(target: str) -> str | None:
    """The continuation token a listing request sent, if any."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
    values = query.get("continuation-token")
    return values[0] if values else None


def _truncated(body: bytes) -> bytes:
    """The page with ``IsTruncated`` set to true (added when it is missing)."""
    if _TRUNCATED.search(body):
        return _TRUNCATED.sub(b"<IsTruncated>true</IsTruncated>", body, count=1)
    return body.replace(_END, b"<IsTruncated>true</IsTruncated>" + _END, 1)


def _cut(body: bytes) -> bytes:
    spans = [m.span() for m in _CONTENTS.finditer(body)]
    drop = spans[len(spans) // 2 :]
    out, at = bytearray(), 0
    for start, end in drop:
        out += body[at:start]
        at = end
    return bytes(out + body[at:])


def _same_token(body: bytes, token: str | None) -> bytes:
    if token is None:
        return body  # the first page: there is no earlier token to repeat
    element = f"<NextContinuationToken>{escape(token)}</NextContinuationToken>".encode()
    body = _truncated(body)
    if _TOKEN.search(body):
        return _TOKEN.sub(lambda _: element, body, count=1)
    return body.replace(_END, element + _END, 1)


def rewrite_page(kind: str, body: bytes, token: str | None) -> tuple[str, bytes]:
    """(Content-Type, body) of the reply that replaces a listing page `body`; `token` is the
    continuation token of the request."""
    if kind == "html":
        return "text/html", b"<html>Maintenance</html>"
    if kind == "empty":
        return "application/xml", b""
    if kind == "error-200":
        return "application/xml", _ERROR
    if kind == "json":
        return "application/json", b'{"message": "maintenance", "retry": true}'
    if kind == "cut":
        return "application/xml", _cut(body)
    if kind == "no-token":
        return "application/xml", _truncated(_TOKEN.sub(b"", body))
    if kind == "same-token":
        return "application/xml", _same_token(body, token)
    raise ValueError(f"unknown page rewrite {kind!r}: choose from {REWRITES}")
