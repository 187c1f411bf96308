"""``-vvv``: one line per HTTP request and one per answer (or connection error), written by the
S3 stores themselves on the ``fssync.http`` logger, so every store, built in or a plugin, shows
its traffic the same way and no plugin needs to reach into a store's client. Only the method,
the URL (see `fssync.settings.secrets.safe_url`) and the status are logged: headers carry signatures and
session tokens, so they never are.

The lines are debug records; whoever configures logging decides whether they show (the command
line does at ``-vvv``; a library user sets ``logging.getLogger("fssync.http")`` to DEBUG). A
store asks `enabled()` before building a line, which costs a dictionary lookup.
"""

from __future__ import annotations

import logging
from typing import Any

from fssync.settings.secrets import safe_url

HTTP = logging.getLogger("fssync.http")


def enabled() -> bool:
    return HTTP.isEnabledFor(logging.DEBUG)


def sent(method: str, url: str) -> None:
    HTTP.debug("> %s %s", method, safe_url(url))


def answered(status: int | str, method: str, url: str, attempt: int) -> None:
    HTTP.debug("< %s %s %s (attempt %d)", status, method, safe_url(url), attempt)


def failed(error: BaseException, method: str, url: str, attempt: int) -> None:
    HTTP.debug("< %s %s: %s (attempt %d)", method, safe_url(url), type(error).__name__, attempt)


def watch_botocore(client: Any) -> None:
    """Log the requests of a botocore (or aiobotocore) S3 client through its event hooks."""

    def request(request: Any, **_: Any) -> None:
        sent(request.method, request.url)

    def response(
        request_dict: Any = None,
        response: Any = None,
        caught_exception: Any = None,
        attempts: int = 1,
        **_: Any,
    ) -> None:
        method = (request_dict or {}).get("method", "?")
        url = (request_dict or {}).get("url", "?")
        if caught_exception is not None:
            failed(caught_exception, method, url, attempts)
        elif response is not None:
            answered(getattr(response[0], "status_code", "?"), method, url, attempts)

    events = client.meta.events
    events.register("before-send.s3", request, unique_id="fssync-log-request")
    events.register("needs-retry.s3", response, unique_id="fssync-log-response")
