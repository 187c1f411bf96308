"""A fault-injecting HTTP proxy on 127.0.0.1, for testing what a client does on a bad network.

Put it between a client and an S3 server by giving the client the proxy's URL as its endpoint
(``--endpoint-url``). It relays every request byte for byte (the Host header too, so SigV4
signatures still match) and, at a set rate or on chosen request numbers, injects one fault
instead:

- ``500``: an ``InternalError`` reply; ``503``: a ``SlowDown`` reply (the request is not sent on);
- ``reset``: the connection is reset before the request reaches the server;
- ``reset-after``: the server handles the request, then the connection is reset before the
  reply (the client cannot know that its request took effect);
- ``truncate``: the reply is cut off half-way through its body, then the connection is reset;
- ``delay``: the request is held for ``delay`` seconds, then relayed normally;
- ``corrupt``: one byte of the body is flipped (the request body of a PUT, the reply body of a
  GET), the length unchanged: what only an end-to-end checksum can catch;
- ``403``: an ``AccessDenied`` reply, a permanent error that must not be retried;
- ``etag``: the ETag of a PUT / UploadPart reply (header) or of a CompleteMultipartUpload or
  CopyObject reply (XML body) is replaced by another: a reply that does not vouch for the bytes
  sent, as from a store whose ETags are not MD5s;
- ``stall-request``: the proxy reads only ``stall_after`` bytes of the request body, then stops
  reading (the client's send blocks) and holds the connection for up to ``stall`` seconds;
- ``stall-reply``: the request is relayed, then the reply stops half-way through its body (or
  before its head when it has none) and the connection is held for up to ``stall`` seconds;
- ``ignore-range``: a ranged GET is answered ``200`` with the whole object, as a server that
  ignores ``Range`` does (the request is relayed unchanged, so its signature holds; the whole
  object comes from the ``whole_object`` callable).

Only the transient faults above ``corrupt`` are drawn at random unless others are named in
``kinds``. A held connection is let go as soon as the client closes its end (Linux: seen in
``TCP_INFO``) or sends the same request again; ``stats.stalls`` records how long each one was
held, and ``stats.outlasted`` counts those the client never let go of within ``stall``.

Listing pages can be rewritten too (``pages`` / ``pages_from``, counted over ListObjectsV2
requests only): a ``200 OK`` that is HTML, empty, an ``<Error>``, JSON, a page cut short, or a
page whose continuation token is missing or repeats, or a ``503 SlowDown`` (``slow_pages``:
for some seconds from the first listing request on; see `fssync.testing.pagefaults`).

It is bounded: it serves at most ``max_requests`` requests and stops by itself after
``max_seconds``, and it only ever binds and connects to loopback addresses.

>>> with FaultProxy("http://127.0.0.1:9000", rate=0.05, seed=1) as proxy:  # doctest: +SKIP
...     run_client(endpoint_url=proxy.url)
...     print(proxy.stats.faults)
"""

from __future__ import annotations

import collections
import hashlib
import ipaddress
import random
import re
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection, Mapping
from types import TracebackType
from typing import IO, Self

import attrs

from fssync.testing.pagefaults import PAGE_FAULTS, is_listing, request_token, rewrite_page

__all__ = ["FAULTS", "PAGE_FAULTS", "TRANSIENT", "WIRE", "FaultProxy", "ProxyStats"]

TRANSIENT = ("500", "503", "reset", "reset-after", "truncate", "delay")
WIRE = ("etag", "stall-request", "stall-reply", "ignore-range")  # see "wire faults" below
FAULTS = (*TRANSIENT, "corrupt", "403", *WIRE)
_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
    "<Message>{message}</Message><RequestId>fssync-faultproxy</RequestId></Error>"
)
_REPLIES = {
    "500": (500, "Internal Server Error", "InternalError", "injected internal error"),
    "503": (503, "Slow Down", "SlowDown", "injected throttling: reduce your request rate"),
    "403": (403, "Forbidden", "AccessDenied", "injected: access denied"),
}
_MAX_HEAD = 64 * 1024


@attrs.define
class ProxyStats:
    """What the proxy saw and did; read it after the run."""

    requests: int = 0
    faults: collections.Counter[str] = attrs.field(factory=collections.Counter)
    log: list[tuple[int, str, str, str]] = attrs.field(factory=list)  # (n, method, path, fault)
    pages: int = 0  # ListObjectsV2 requests seen
    methods: collections.Counter[str] = attrs.field(factory=collections.Counter)  # requests
    targets: list[tuple[str, str]] = attrs.field(factory=list)  # (method, target) of each request
    # faults that changed something (an "etag" drawn for a reply without an ETag does not)
    applied: collections.Counter[str] = attrs.field(factory=collections.Counter)
    # seconds each stalled connection was held until the client let go (closed it, or sent the
    # same request again), and how many stalls the proxy had to end itself after ``stall`` s
    stalls: list[float] = attrs.field(factory=list)
    outlasted: int = 0
    started: dict[int, float] = attrs.field(factory=dict)  # request number -> time.monotonic()

    @property
    def injected(self) -> int:
        return sum(self.faults.values())


class _Closed(Exception):
    """The peer closed the connection between requests."""


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _read_head(f: IO[bytes]) -> bytes:
    head = b""
    while True:
        line = f.readline(_MAX_HEAD)
        if not line:
            if head:
                raise ConnectionError("connection closed inside a message head")
            raise _Closed
        head += line
        if line in (b"\r\n", b"\n") and head.strip():
            return head
        if line in (b"\r\n", b"\n"):
            head = b""  # tolerate blank lines between messages
        if len(head) > _MAX_HEAD:
            raise ConnectionError("message head too long")


def _headers(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return lines[0], fields


def _read_body(f: IO[bytes], fields: Mapping[str, str], *, until_close: bool) -> bytes:
    """The raw bytes of a body, framed by Content-Length or chunked encoding (kept as sent)."""
    if "chunked" in fields.get("transfer-encoding", "").lower():
        out = bytearray()
        while True:
            size_line = f.readline(_MAX_HEAD)
            if not size_line:
                raise ConnectionError("connection closed inside a chunked body")
            out += size_line
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers, then the final blank line
                    trailer = f.readline(_MAX_HEAD)
                    out += trailer
                    if trailer in (b"\r\n", b"\n", b""):
                        return bytes(out)
            out += _read_exact(f, size + 2)
    if "content-length" in fields:
        return _read_exact(f, int(fields["content-length"]))
    return f.read() if until_close else b""


def _read_exact(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ConnectionError("connection closed inside a body")
    return data


def _flip(data: bytes) -> bytes:
    """The same bytes with the middle one inverted."""
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset rather than a clean FIN, as a dropped connection looks."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class FaultProxy:
    """A reverse proxy to one upstream HTTP endpoint that injects faults (see the module doc).

    :param upstream: the server's URL, e.g. ``http://127.0.0.1:9000`` (loopback only).
    :param rate: the share of requests (0..1) that get a fault drawn from ``kinds``.
    :param kinds: the faults to draw from at ``rate``.
    :param schedule: request number (from 1) -> fault, injected whatever the rate.
    :param methods: only requests with these HTTP methods get faults (all when empty).
    :param seed: seeds the random draws, so a run can be repeated.
    :param delay: seconds a ``delay`` fault holds a request.
    :param max_requests: requests served before the proxy refuses more.
    :param max_seconds: the proxy stops by itself this long after it started.
    :param stall: seconds a ``stall-*`` fault holds a connection at most.
    :param stall_after: request body bytes a ``stall-request`` reads before it stops reading.
    :param whole_object: request path -> the whole object, for ``ignore-range``.
    :param pages: listing request number (from 1, ListObjectsV2 only) -> page rewrite
        (`PAGE_FAULTS`), applied to the server's ``200`` reply.
    :param pages_from: (n, rewrite): every listing request from the n-th on gets the rewrite.
    :param slow_pages: listing requests get ``503 SlowDown`` for this many seconds, counted from
        the first one.
    """

    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.0,
        kinds: Collection[str] = TRANSIENT,
        schedule: Mapping[int, str] | None = None,
        methods: Collection[str] = (),
        seed: int = 0,
        delay: float = 0.2,
        max_requests: int = 20_000,
        max_seconds: float = 300.0,
        stall: float = 60.0,
        stall_after: int = 1 << 20,
        whole_object: Callable[[str], bytes] | None = None,
        pages: Mapping[int, str] | None = None,
        pages_from: tuple[int, str] | None = None,
        slow_pages: float = 0.0,
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname or not _loopback(parsed.hostname):
            raise ValueError(f"upstream must be an http:// URL on a loopback address: {upstream!r}")
        unknown = (set(kinds) | set((schedule or {}).values())) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}: choose from {FAULTS}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        named = set(kinds) | set((schedule or {}).values())
        if "ignore-range" in named and whole_object is None:
            raise ValueError("the ignore-range fault needs whole_object")
        self.pages, self.pages_from = _check_pages(pages, pages_from)
        self.slow_pages = slow_pages
        self._first_page = 0.0
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.rate = rate
        self.kinds = tuple(kinds)
        self.schedule = dict(schedule or {})
        self.methods = frozenset(m.upper() for m in methods)
        self.delay = delay
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.stall = stall
        self.stall_after = stall_after
        self.whole_object = whole_object
        self.stats = ProxyStats()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._latest: dict[tuple[str, str], int] = {}  # (method, path) -> its last request
        self._stopping = threading.Event()
        self._deadline = 0.0
        self.port = 0

    # ------------------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("FaultProxy is not started")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        if self._listener is not None:
            raise RuntimeError("FaultProxy is already started")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        listener.settimeout(0.2)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._deadline = time.monotonic() + self.max_seconds
        accept = threading.Thread(target=self._accept, name="faultproxy-accept", daemon=True)
        accept.start()
        self._threads.append(accept)
        return self.url

    def stop(self) -> None:
        """Stop accepting, close every connection, wait for the threads. Safe to call twice."""
        self._stopping.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept()
            except OSError:
                pass
        with self._lock:
            socks = list(self._open)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------------ serving

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set() and time.monotonic() < self._deadline:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            client.settimeout(max(1.0, self._deadline - time.monotonic()))
            thread = threading.Thread(
                target=self._serve, args=(client,), name="faultproxy-conn", daemon=True
            )
            with self._lock:
                self._open.add(client)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()
        self._stopping.set()

    def _draw(self, method: str, path: str) -> tuple[int, str | None]:
        with self._lock:
            self.stats.requests += 1
            n = self.stats.requests
            self.stats.methods[method] += 1
            self.stats.targets.append((method, path))
            self.stats.started[n] = time.monotonic()
            self._latest[(method, path)] = n
            if n > self.max_requests:
                return n, "refuse"
            fault = self.schedule.get(n)
            eligible = not self.methods or method in self.methods
            if fault is None and eligible and self.rate and self._random.random() < self.rate:
                fault = self._random.choice(self.kinds)
            if fault is not None:
                self.stats.faults[fault] += 1
                self.stats.log.append((n, method, path, fault))
            return n, fault

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        up_file: IO[bytes] | None = None
        cf = client.makefile("rb")
        try:
            while not self._stopping.is_set():
                try:
                    head = _read_head(cf)
                except _Closed:
                    return
                request_line, fields = _headers(head)
                method, path = (request_line.split(" ") + ["", ""])[:2]
                if fields.get("expect", "").lower() == "100-continue":
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    head = (
                        b"".join(
                            line + b"\r\n"
                            for line in head.split(b"\r\n")[:-2]
                            if not line.lower().startswith(b"expect:")
                        )
                        + b"\r\n"
                    )
                n, fault = self._draw(method, path)
                page_fault = self._page_fault(method, path)
                if page_fault == "slowdown":
                    fault, page_fault = "503", None
                if fault == "stall-request":
                    self._stall_request(client, cf, fields, (method, path, n))
                    return
                body = _read_body(cf, fields, until_close=False)
                if fault == "corrupt" and method == "PUT" and body:
                    body = _flip(body)
                if fault == "refuse":
                    _reset(client)
                    return
                if fault in _REPLIES:
                    status, reason, code, message = _REPLIES[fault]
                    payload = _XML.format(code=code, message=message).encode()
                    client.sendall(
                        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
                        f"Content-Length: {len(payload)}\r\n\r\n".encode()
                        + (b"" if method == "HEAD" else payload)
                    )
                    continue
                if fault == "reset":
                    _reset(client)
                    return
                if fault == "delay":
                    time.sleep(self.delay)
                if upstream is None:
                    upstream = socket.create_connection(self.upstream, timeout=60)
                    up_file = upstream.makefile("rb")
                assert up_file is not None
                upstream.sendall(head + body)
                reply_head = _read_head(up_file)
                status_line, reply_fields = _headers(reply_head)
                status = int(status_line.split(" ")[1])
                no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
                reply_body = b"" if no_body else _read_body(up_file, reply_fields, until_close=True)
                if reply_fields.get("connection", "").lower() == "close":
                    up_file.close()
                    upstream.close()
                    upstream = up_file = None
                if fault == "reset-after" or (fault == "truncate" and not reply_body):
                    _reset(client)
                    return
                if fault == "truncate":
                    client.sendall(reply_head + reply_body[: len(reply_body) // 2])
                    _reset(client)
                    return
                if fault == "corrupt" and method == "GET" and reply_body:
                    reply_body = _flip(reply_body)
                if fault == "stall-reply":
                    self._stall_reply(client, reply_head, reply_body, (method, path, n))
                    return
                if fault == "etag":
                    reply_head, reply_body = self._rewrite_etag(
                        method, path, reply_head, reply_body
                    )
                if fault == "ignore-range":
                    reply_head, reply_body = self._ignore_range(
                        method, path, reply_head, reply_body
                    )
                if page_fault is not None and status == 200:
                    reply_head, reply_body = _rewritten(
                        page_fault, reply_head, reply_fields, reply_body, request_token(path)
                    )
                client.sendall(reply_head + reply_body)
        except (OSError, ValueError, IndexError):
            return  # a broken client or server connection ends this connection only
        finally:
            with self._lock:
                self._open.discard(client)
            cf.close()
            try:
                client.close()
            except OSError:
                pass
            if upstream is not None:
                upstream.close()

    # ------------------------------------------------------------------------------ listing pages

    def _page_fault(self, method: str, path: str) -> str | None:
        """The rewrite for this request if it is a listing page that gets one."""
        if not is_listing(method, path):
            return None
        with self._lock:
            self.stats.pages += 1
            n = self.stats.pages
            if n == 1:
                self._first_page = time.monotonic()
            kind = self.pages.get(n)
            if kind is None and self.pages_from is not None and n >= self.pages_from[0]:
                kind = self.pages_from[1]
            if kind is None and time.monotonic() - self._first_page < self.slow_pages:
                kind = "slowdown"
            if kind is not None:
                self.stats.faults[kind] += 1
                self.stats.log.append((self.stats.requests, method, path, kind))
            return kind

    # ------------------------------------------------------------------------------ wire faults
    # ETag rewrite, stalls and ignored Range: each in a function of its own.

    def _applied(self, fault: str) -> None:
        with self._lock:
            self.stats.applied[fault] += 1

    def _hold(self, sock: socket.socket, request: tuple[str, str, int]) -> None:
        """Keep a connection open, silent, until the client lets go: it closes its end, or
        sends the same request again (on another connection). Give up after `stall` seconds
        (counted in ``stats.outlasted``) or when the proxy stops; record how long it took."""
        method, path, n = request
        start = time.monotonic()
        end = start + self.stall
        while not self._stopping.is_set():
            if _peer_closed(sock) or self._latest.get((method, path), n) > n:
                break
            if time.monotonic() >= end:
                with self._lock:
                    self.stats.outlasted += 1
                break
            self._stopping.wait(0.02)
        with self._lock:
            self.stats.stalls.append(time.monotonic() - start)

    def _stall_request(
        self,
        client: socket.socket,
        cf: IO[bytes],
        fields: Mapping[str, str],
        request: tuple[str, str, int],
    ) -> None:
        """Read `stall_after` bytes of the body, then stop reading: the client's send blocks
        once the socket buffers are full (the receive buffer is made small for that)."""
        self._applied("stall-request")
        try:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        except OSError:
            pass
        want = min(self.stall_after, int(fields.get("content-length") or 0))
        got = 0
        while got < want:
            chunk = cf.read1(min(1 << 16, want - got))  # type: ignore[attr-defined]
            if not chunk:
                return
            got += len(chunk)
        self._hold(client, request)
        _reset(client)

    def _stall_reply(
        self, client: socket.socket, head: bytes, body: bytes, request: tuple[str, str, int]
    ) -> None:
        """Send the reply's head and half its body (nothing when it has no body), then hold."""
        self._applied("stall-reply")
        if body:
            client.sendall(head + body[: len(body) // 2])
        self._hold(client, request)
        _reset(client)

    def _rewrite_etag(
        self, method: str, path: str, head: bytes, body: bytes
    ) -> tuple[bytes, bytes]:
        """Another ETag in the reply of a request that writes an object or a part."""
        writes = method == "PUT" or (method == "POST" and "uploadId=" in path)
        if not writes:
            return head, body
        new_head = _ETAG_HEADER.sub(lambda m: m.group(1) + _other_hex(m.group(2)), head)
        new_body = _ETAG_ELEMENT.sub(lambda m: m.group(1) + _other_hex(m.group(2)), body)
        if new_body != body:
            new_head = _set_length(new_head, len(new_body))
        if (new_head, new_body) != (head, body):
            self._applied("etag")
        return new_head, new_body

    def _ignore_range(
        self, method: str, path: str, head: bytes, body: bytes
    ) -> tuple[bytes, bytes]:
        """A 206 becomes a 200 with the whole object, as from a server that ignores Range."""
        if method != "GET" or not head.startswith((b"HTTP/1.1 206", b"HTTP/1.0 206")):
            return head, body
        assert self.whole_object is not None
        whole = self.whole_object(urllib.parse.unquote(path.split("?", 1)[0]))
        lines = head.split(b"\r\n")
        kept = [
            line
            for line in lines[1:]
            if line and not line.lower().startswith((b"content-range:", b"content-length:"))
        ]
        self._applied("ignore-range")
        new_head = b"\r\n".join([b"HTTP/1.1 200 OK", *kept, b"Content-Length: %d" % len(whole)])
        return new_head + b"\r\n\r\n", whole


_ETAG_HEADER = re.compile(rb'(?im)^(etag:\s*"?)([0-9a-f]{32})')
_ETAG_ELEMENT = re.compile(rb"(<ETag>(?:&quot;|&#34;|\")?)([0-9a-f]{32})")
_TCP_CLOSED_STATES = (7, 8, 9)  # TCP_CLOSE, TCP_CLOSE_WAIT, TCP_LAST_ACK


def _other_hex(value: bytes) -> bytes:
    """Another 32-digit hex string, derived from `value` (so the rewrite is repeatable)."""
    return hashlib.md5(b"faultproxy:" + value, usedforsecurity=False).hexdigest().encode()


def _set_length(head: bytes, length: int) -> bytes:
    return re.sub(rb"(?im)^(content-length:\s*)\d+", b"\\g<1>%d" % length, head)


def _peer_closed(sock: socket.socket) -> bool:
    """Whether the client has closed its end (Linux's TCP_INFO state); False where unknown."""
    info = getattr(socket, "TCP_INFO", None)
    if info is None:
        return False
    try:
        state = sock.getsockopt(socket.IPPROTO_TCP, info, 8)[0]
    except OSError:
        return True
    return state in _TCP_CLOSED_STATES


# ---------------------------------------------------------------------------- listing pages
# Rewrites of ListObjectsV2 replies (`fssync.testing.pagefaults`): kept apart from the faults
# above, which act on any request.


def _check_pages(
    pages: Mapping[int, str] | None, pages_from: tuple[int, str] | None
) -> tuple[dict[int, str], tuple[int, str] | None]:
    chosen = dict(pages or {})
    unknown = (set(chosen.values()) | ({pages_from[1]} if pages_from else set())) - set(PAGE_FAULTS)
    if unknown:
        raise ValueError(f"unknown page fault(s) {sorted(unknown)}: choose from {PAGE_FAULTS}")
    return chosen, pages_from


def _dechunk(raw: bytes) -> bytes:
    """The payload of a chunked body as `_read_body` kept it."""
    out, at = bytearray(), 0
    while True:
        end = raw.index(b"\r\n", at)
        size = int(raw[at:end].split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return bytes(out)
        out += raw[end + 2 : end + 2 + size]
        at = end + 2 + size + 2


def _rewritten(
    kind: str, head: bytes, fields: Mapping[str, str], body: bytes, token: str | None
) -> tuple[bytes, bytes]:
    """The reply head and body of a listing page after the rewrite `kind`."""
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    content_type, new_body = rewrite_page(kind, body, token)
    lines = head.decode("latin-1").split("\r\n")
    dropped = ("content-length:", "content-type:", "transfer-encoding:", "content-md5:")
    kept = [line for line in lines[1:] if line and not line.lower().startswith(dropped)]
    new_head = "\r\n".join(
        [lines[0], *kept, f"Content-Type: {content_type}", f"Content-Length: {len(new_body)}"]
    )
    return (new_head + "\r\n\r\n").encode("latin-1"), new_body
