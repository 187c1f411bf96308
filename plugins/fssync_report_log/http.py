"""``-vvv``: one line per HTTP request and one per response (or connection error), from the
S3 client's own events. Only the method, URL and status are shown: headers carry signatures and
session tokens, so they are never logged."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fssync.secrets import scrub

# Query parameters of presigned URLs that carry credentials or signatures.
_SECRET_QUERY = {"x-amz-signature", "x-amz-security-token", "x-amz-credential", "signature"}


def safe_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.query:
        query = [
            (k, "****" if k.lower() in _SECRET_QUERY else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        parts = parts._replace(query=urlencode(query, safe="/*"))
    return scrub(urlunsplit(parts))


def log_http(filesystem: Any, logger: logging.Logger) -> None:
    """Register request and response handlers on an S3 filesystem's client (others: no-op)."""
    client = getattr(filesystem, "s3", None)
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is None:
        return

    def request(request: Any, **_: Any) -> None:
        logger.debug("> %s %s", request.method, safe_url(request.url))

    def response(
        request_dict: Any = None,
        response: Any = None,
        caught_exception: Any = None,
        attempts: int = 1,
        **_: Any,
    ) -> None:
        method = (request_dict or {}).get("method", "?")
        url = safe_url((request_dict or {}).get("url", "?"))
        if caught_exception is not None:
            name = type(caught_exception).__name__
            logger.debug("< %s %s: %s (attempt %d)", method, url, name, attempts)
        elif response is not None:
            status = getattr(response[0], "status_code", "?")
            logger.debug("< %s %s %s (attempt %d)", status, method, url, attempts)

    events.register("before-send.s3", request, unique_id="fssync-log-request")
    events.register("needs-retry.s3", response, unique_id="fssync-log-response")
