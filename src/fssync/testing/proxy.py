"""A recording HTTP proxy on 127.0.0.1 in front of an S3 endpoint, for auth tests.

Point fssync's ``--endpoint-url`` at the proxy: it forwards every request unchanged (the Host
header too, so SigV4 signatures still verify upstream), records what each carried, and can
answer chosen requests itself, e.g. with ``ExpiredToken`` to requests signed with a key that
should have expired. Recorded headers hold real tokens: keep them inside the test.
"""

from __future__ import annotations

import http.client
import re
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType, TracebackType
from typing import Self

import attrs

__all__ = ["Recorded", "Reply", "S3Proxy", "expired_token", "s3_error"]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_SIGNED = re.compile(r"SignedHeaders=([^,\s]+)")


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up (fssync stopping on a fatal error) is normal here: not worth a
    traceback on stderr, where tests read what fssync printed."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _freeze(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@attrs.frozen
class Recorded:
    """One request as the proxy saw it (header names lower-cased)."""

    number: int
    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(converter=_freeze, repr=False)
    forwarded: bool = True

    @property
    def access_key(self) -> str | None:
        """The access key id the request was signed with."""
        m = _CREDENTIAL.search(self.headers.get("authorization", ""))
        return m.group(1) if m else None

    @property
    def signed_headers(self) -> frozenset[str]:
        m = _SIGNED.search(self.headers.get("authorization", ""))
        return frozenset(m.group(1).split(";")) if m else frozenset()

    @property
    def operation(self) -> str:
        """A rough S3 operation name, enough to tell uploads from the rest."""
        query = urllib.parse.urlsplit(self.path).query
        if self.method == "PUT":
            if "partNumber=" in query:
                return "UploadPart"
            if "x-amz-copy-source" in self.headers:
                return "CopyObject"
            return "PutObject"
        if self.method == "POST":
            if "uploads" in urllib.parse.parse_qs(query, keep_blank_values=True):
                return "CreateMultipartUpload"
            return "CompleteMultipartUpload" if "uploadId=" in query else "DeleteObjects"
        if self.method == "GET":
            return "ListObjectsV2" if "list-type=2" in query else "GetObject"
        return self.method


@attrs.frozen
class Reply:
    """An answer the proxy gives instead of forwarding."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_freeze)


def s3_error(code: str, message: str, status: int = 400) -> Reply:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>fssync-proxy</RequestId></Error>"
    ).encode()
    return Reply(status, body, {"Content-Type": "application/xml"})


def expired_token() -> Reply:
    return s3_error("ExpiredToken", "The provided token has expired.")


Answer = Callable[[Recorded], Reply | None]


class S3Proxy:
    """Forwards to `upstream`; `answer(request)` may return a `Reply` to send instead.

    `answer` is called for each request in arrival order, one at a time, so rules such as
    "after the 5th request signed with key X" are exact.
    """

    def __init__(self, upstream: str, answer: Answer | None = None) -> None:
        parts = urllib.parse.urlsplit(upstream)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the proxy forwards to loopback addresses only")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.answer = answer
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("S3Proxy is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"owner": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _decide(self, method: str, path: str, headers: Mapping[str, str]) -> Reply | None:
        with self._lock:
            request = Recorded(len(self.requests) + 1, method, path, headers)
            reply = self.answer(request) if self.answer is not None else None
            if reply is not None:
                request = attrs.evolve(request, forwarded=False)
            self.requests.append(request)
            return reply


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: S3Proxy

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.owner._decide(self.command, self.path, headers)
        if reply is not None:
            self._send(reply.status, dict(reply.headers), reply.body)
            return
        conn = http.client.HTTPConnection(
            self.owner.upstream_host, self.owner.upstream_port, timeout=30
        )
        try:
            forward = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            if body or self.command in ("PUT", "POST"):
                forward["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body or None, headers=forward)
            resp = conn.getresponse()
            data = resp.read()
            out = {k: v for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP}
            length_header = resp.getheader("Content-Length")
            self._send(resp.status, out, data, head_length=length_header)
        finally:
            conn.close()

    def _send(
        self, status: int, headers: dict[str, str], body: bytes, head_length: str | None = None
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", head_length or "0")
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay
