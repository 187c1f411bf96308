"""A WebDAV folder listing that asks for the four properties a listing uses.

A PROPFIND without a body asks for every property (RFC 4918's ``allprop``), which is what
webdav4's ``ls`` sends: the server then works out lock discovery, supported locks, quotas and
the like for every entry, and the client parses them all. Naming the properties (type, size,
modification time, ETag) is what rclone does; against wsgidav it took 0.075 s instead of
0.131 s for a folder of 1,000 files. The answer is read with webdav4's own multistatus parser
and turned into the same info dicts its ``ls`` gives, so nothing downstream changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LISTING_PROPS = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:propfind xmlns:d="DAV:"><d:prop>'
    "<d:resourcetype/><d:getcontentlength/><d:getlastmodified/><d:getetag/>"
    "</d:prop></d:propfind>"
)
_HEADERS = {"Depth": "1", "Content-Type": "application/xml"}


def lister(fs: Any) -> Callable[..., list[dict[str, Any]]]:
    """``ls(path, detail=True)`` for a webdav4 filesystem, asking for the listing's
    properties only."""
    from webdav4.fsspec import translate_exceptions, translate_info

    client = fs.client

    def ls(path: str, detail: bool = True) -> list[dict[str, Any]]:
        path = fs._strip_protocol(path).strip()
        with translate_exceptions():
            answer = client.propfind(path, data=LISTING_PROPS, headers=_HEADERS)
        itself = client.join_url(path).path.rstrip("/")
        out = []
        for key, response in answer.responses.items():
            if key.rstrip("/") == itself:
                continue  # the folder's own entry
            info = {
                "name": response.path_relative_to(client.base_url),
                "href": response.href,
                **response.properties.as_dict(),
            }
            out.append(translate_info(info))
        return out

    return ls
