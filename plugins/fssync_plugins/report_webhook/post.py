"""The POST itself, imported only by a run that notifies (urllib.request is slow to import)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import fssync

TIMEOUT = 10.0  # seconds; a slow receiver must not hold a night run for long


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def post_json(url: str, document: dict[str, Any], timeout: float = TIMEOUT) -> int:
    """POST the document; return the HTTP status (2xx), raise OSError otherwise."""
    body = json.dumps(document, ensure_ascii=False).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"fssync/{fssync.__version__}",
        },
    )
    with _opener().open(request, timeout=timeout) as response:
        status: int = response.status
    return status
