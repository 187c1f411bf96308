"""A small keep-alive HTTP/1.1 client on asyncio streams: just what S3 requests need.

Why not aiohttp: importing it costs about a third of a second, more than a whole no-op sync may
take, and its per-request machinery (tracing, cookie jars, multidicts) costs CPU that a sync of
small files pays thousands of times. S3 needs little: fixed-length bodies out, fixed-length or
chunked bodies back, and connections kept open between requests.

The framing is checked strictly both ways, as a general parser would (h11 costs about
80 us of CPU per request where these checks cost 15-18 us: `python -m bench.http_framing`):
a header name or value that would change the framing (CR, LF, NUL or another control
character) is refused before anything is sent (`UnsafeHeader`), and an answer whose head is not
well-formed HTTP/1.1 (status line, header syntax, exactly one all-digit Content-Length, a
transfer coding other than chunked) is a `ProtocolError`, retried like a reset connection.
Bodies without a length (chunked or running to the close) are streamed chunk by chunk; read
whole, they may hold at most `BODY_LIMIT` bytes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import fssync
from fssync.plugin import Stalled

WRITE_CHUNK = 1 << 20  # large bodies go out in slices, so the socket buffer never copies them whole
READ_CHUNK = 256 << 10  # large bodies come in as slices of at most this size, joined once
CONNECT_TIMEOUT = 20.0
# No byte sent or received for this long: the request has stalled, and fails (to be retried).
# The default of every pool; a store passes the stall timeout it was configured with.
READ_TIMEOUT = 60.0
# A reply body read whole (XML answers; error bodies) may hold at most this many bytes: a server
# sending an endless chunked answer fails the request instead of filling the memory.
BODY_LIMIT = 64 << 20
HEAD_LIMIT = 1 << 20  # the stream's buffer limit: a longer response head is a ProtocolError
MAX_INTERIM = 8  # 1xx answers skipped before the real one

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a header name or method (RFC 9110 5.1)
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # controls, tab aside: would split a line
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")
_STATUS = re.compile(r"HTTP/1\.[01] ([1-9][0-9]{2})(?: [^\x00-\x08\x0a-\x1f\x7f]*)?")
_DIGITS = re.compile(r"[0-9]{1,19}")
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r\n]*)?\r\n")
_LENGTH, _CHUNKED, _TO_CLOSE = 0, 1, 2  # how a reply body is delimited


class BodySource:
    """A request body produced in chunks, for bodies too large to hold in memory.

    `chunks` is called again for each attempt, so a retried request sends the body again.
    """

    def __init__(self, length: int, chunks: Callable[[], AsyncIterator[bytes]]) -> None:
        self.length = length
        self.chunks = chunks

    def __len__(self) -> int:
        return self.length


Body = bytes | memoryview | BodySource


class ProtocolError(ConnectionError):
    """The server sent something that is not HTTP/1.1 as this client understands it.

    Retried like a reset connection (the client retries `OSError`); never resent silently on a
    kept-alive connection, as bytes of an answer did arrive (``partial``)."""

    partial = True


class UnsafeHeader(fssync.UsageError):
    """A request header that cannot go on the wire as given (it would end its line early and
    let what follows become headers of its own): refused before anything is sent."""


class _Timer:
    """`asyncio.timeout` that raises `Stalled` with what was being done."""

    __slots__ = ("_doing", "_inner", "_seconds")

    def __init__(self, seconds: float, doing: str) -> None:
        self._seconds, self._doing = seconds, doing
        self._inner = asyncio.timeout(seconds)

    async def __aenter__(self) -> None:
        await self._inner.__aenter__()

    async def __aexit__(self, kind: Any, exc: Any, tb: Any) -> bool | None:
        try:
            await self._inner.__aexit__(kind, exc, tb)
        except TimeoutError:
            raise Stalled(self._doing, self._seconds) from None
        return None


class Connection:
    __slots__ = ("plain", "reader", "used", "writer")

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, plain: bool = True
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.plain = plain  # no TLS: a body can be received straight into a buffer (`_Fill`)
        self.used = 0  # requests completed on it

    def close(self) -> None:
        """Close; a connection with bytes still waiting to go out (a stalled send) is aborted,
        as a plain close would wait for them to leave first."""
        try:
            transport = self.writer.transport
            if transport.get_write_buffer_size():
                transport.abort()
            else:
                self.writer.close()
        except Exception:  # noqa: BLE001 - the socket may be gone already
            pass


class Response:
    """Status, lower-case headers, and a body read whole or streamed (`read`)."""

    __slots__ = (
        "_chunk_left",
        "_conn",
        "_done",
        "_left",
        "_mode",
        "_pool",
        "_reusable",
        "attempts",
        "headers",
        "limit",
        "status",
        "timeout",
    )

    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers
        self.attempts = 1  # requests sent for this answer (retries included)
        self._conn: Connection | None = None
        self._pool: Pool | None = None
        self._left = 0
        self._reusable = True
        self._mode = _LENGTH
        self._chunk_left = 0  # bytes left in the current chunk of a chunked body
        self._done = False  # the end of a body without a length has been read
        self.timeout = READ_TIMEOUT  # the pool's stall timeout, for reads of the body
        self.limit = BODY_LIMIT  # for a body without a length read whole

    @property
    def remaining(self) -> int:
        """Body bytes still to read; -1 when the body has no length (chunked, to the close)."""
        if self._mode != _LENGTH:
            return 0 if self._done else -1
        return self._left

    @property
    def finished(self) -> bool:
        return self._done if self._mode != _LENGTH else self._left == 0

    async def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes of a streamed body (all that is left when n < 0); b"" at its end.

        Fewer than `n` only at the end of the body."""
        if self._mode != _LENGTH:
            return await self._read_unsized(n)
        conn = self._conn
        if conn is None or self._left == 0:
            self._finish()
            return b""
        want = self._left if n < 0 else min(n, self._left)
        try:
            async with _Timer(self.timeout, "receiving the reply"):
                if want <= READ_CHUNK:
                    data = await conn.reader.readexactly(want)
                else:
                    data = await _read_large(conn.reader, want)
        except BaseException as exc:
            self._broken()
            if isinstance(exc, asyncio.IncompleteReadError):
                raise _Closed(True) from exc  # a body cut short: retryable
            raise
        self._left -= len(data)
        if self._left == 0:
            self._finish()
        return data

    async def _read_unsized(self, n: int) -> bytes:
        """The next `n` bytes (all, up to `limit`, when n < 0) of a chunked or close-delimited
        body, taken chunk by chunk from the stream and joined once."""
        conn = self._conn
        if conn is None or self._done:
            self._finish()
            return b""
        reader = conn.reader
        parts: list[bytes] = []
        got = 0
        try:
            async with _Timer(self.timeout, "receiving the reply"):
                while n < 0 or got < n:
                    want = READ_CHUNK if n < 0 else min(READ_CHUNK, n - got)
                    if self._mode == _TO_CLOSE:
                        data = await reader.read(want)
                        if not data:
                            self._done = True
                            break
                    else:
                        if self._chunk_left == 0:
                            size = await _chunk_size(reader)
                            if size == 0:
                                await _trailers(reader)
                                self._done = True
                                break
                            self._chunk_left = size
                        data = await reader.read(min(want, self._chunk_left))
                        if not data:
                            raise asyncio.IncompleteReadError(b"", self._chunk_left)
                        self._chunk_left -= len(data)
                        if self._chunk_left == 0 and await reader.readexactly(2) != b"\r\n":
                            raise ProtocolError("a chunk of the reply does not end with CR LF")
                    got += len(data)
                    if n < 0 and got > self.limit:
                        raise ProtocolError(
                            f"a reply body without a length ran past {self.limit} bytes"
                        )
                    parts.append(data)
        except BaseException as exc:
            self._broken()
            if isinstance(exc, asyncio.IncompleteReadError):
                raise _Closed(True) from exc  # a body cut short: retryable
            if isinstance(exc, (asyncio.LimitOverrunError, ValueError)):
                raise ProtocolError("a chunk size line of the reply is too long") from exc
            raise
        if self._done:
            self._finish()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def read_into(self, view: memoryview) -> None:
        """Fill `view` with the next len(view) bytes of the body.

        On a plain connection the bytes go from the socket straight into `view` (`_Fill`):
        one copy, where reading through the stream costs four (a bytes object per 256 KiB
        received, the stream's buffer, a copy out of it, the join)."""
        n = len(view)
        conn = self._conn
        if self._mode != _LENGTH or conn is None or not conn.plain or n > self._left:
            data = await self.read(n)
            if len(data) != n:
                raise _Closed(True)
            view[:] = data
            return
        try:
            async with _Timer(self.timeout, "receiving the reply"):
                first = await conn.reader.read(n)  # what the stream holds, or the first bytes
                if not first:
                    raise asyncio.IncompleteReadError(b"", n)
                view[: len(first)] = first
                if len(first) < n:
                    await _fill(conn, view[len(first) :])
        except BaseException as exc:
            self._broken()
            if isinstance(exc, asyncio.IncompleteReadError):
                raise _Closed(True) from exc  # a body cut short: retryable
            raise
        self._left -= n
        if self._left == 0:
            self._finish()

    def _broken(self) -> None:
        """A body read failed: give the connection back, to be closed rather than reused."""
        self._reusable = False
        self._finish()

    def _finish(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._pool is not None:
            done = self.finished and self._mode != _TO_CLOSE
            self._pool.release(conn, reusable=self._reusable and done)

    def close(self) -> None:
        """Give the connection back; one with unread body bytes is closed, not reused."""
        if not self.finished:
            self._reusable = False
        self._finish()


class Pool:
    """Connections to one host, at most `limit` open at once."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: bool,
        limit: int,
        server_hostname: str | None = None,
        timeout: float = READ_TIMEOUT,
        ca_bundle: str | None = None,
    ) -> None:
        self.host = host
        self.timeout = timeout  # stall timeout: no byte sent or received for this long
        self.port = port
        self.limit = max(1, limit)
        self._tls: Any = None
        if tls:
            import ssl  # only for https endpoints: the import costs a few tens of milliseconds

            # a CA bundle replaces the system's authorities, as botocore's `verify` does
            self._tls = ssl.create_default_context(cafile=ca_bundle)
        self._server_hostname = server_hostname if tls else None
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(self.limit)
        self._closed = False
        self.opened = 0  # connections made, for tests and statistics

    async def _connect(self) -> Connection:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            reader, writer = await asyncio.open_connection(
                self.host,
                self.port,
                ssl=self._tls,
                server_hostname=self._server_hostname,
                limit=HEAD_LIMIT,
            )
        self.opened += 1
        return Connection(reader, writer, plain=self._tls is None)

    def release(self, conn: Connection, *, reusable: bool) -> None:
        if reusable and not self._closed and not conn.writer.is_closing():
            conn.used += 1
            self._idle.append(conn)
        else:
            conn.close()
        self._slots.release()

    async def request(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: Body = b"",
        *,
        stream: bool = False,
    ) -> tuple[Response, bytes]:
        """Send one request and read the response head (and the whole body unless `stream`).

        A kept-alive connection the server has closed in the meantime fails before any byte of
        a response arrives; the request is then sent once more on a fresh connection.
        """
        head = _head(method, target, headers, len(body))
        await self._slots.acquire()
        try:
            while True:
                fresh = not self._idle
                conn = await self._connect() if fresh else self._idle.pop()
                try:
                    resp = await self._exchange(conn, head, body, method)
                    break
                except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
                    conn.close()
                    if fresh or _got_bytes(exc):
                        raise
                except BaseException:  # cancelled, or an error of ours: the stream is unusable
                    conn.close()
                    raise
        except BaseException:
            self._slots.release()
            raise
        resp._pool = self
        resp._conn = conn
        resp.timeout = self.timeout
        if resp._mode == _LENGTH and resp._left == 0:
            resp._finish()  # nothing more to read from the connection
        if stream:
            return resp, b""
        if resp._mode == _LENGTH and resp._left > resp.limit:
            resp.close()
            raise ProtocolError(f"a reply of {resp._left} bytes, over {resp.limit} to read whole")
        try:
            data = await resp.read(-1)
        finally:
            resp.close()
        return resp, data

    async def _exchange(self, conn: Connection, head: bytes, body: Body, method: str) -> Response:
        writer = conn.writer
        timeout = self.timeout
        if isinstance(body, BodySource):
            writer.write(head)
            sent = 0
            async for chunk in body.chunks():
                writer.write(chunk)
                sent += len(chunk)
                async with _Timer(timeout, "sending the request"):
                    await writer.drain()
            if sent != body.length:  # the server would wait for the rest, or read it as garbage
                writer.close()
                raise ProtocolError(f"the body had {sent} bytes, not the {body.length} announced")
        elif len(body) <= WRITE_CHUNK:
            writer.write(head + body if body else head)
        else:
            writer.write(head)
            view = memoryview(body)
            for start in range(0, len(view), WRITE_CHUNK):
                writer.write(view[start : start + WRITE_CHUNK])
                async with _Timer(timeout, "sending the request"):
                    await writer.drain()
        # The bytes still in the socket's buffers go out meanwhile: a server that stopped
        # reading shows here too.
        resp = _parse_head(await _read_head(conn.reader, timeout))
        interim = 0
        while 100 <= resp.status < 200:  # an unasked-for "continue" or hint: the answer follows
            interim += 1
            if resp.status == 101 or interim > MAX_INTERIM:
                raise ProtocolError(f"an unexpected interim answer {resp.status}")
            resp = _parse_head(await _read_head(conn.reader, timeout))
        h = resp.headers
        if h.get("connection", "").lower() == "close":
            resp._reusable = False
        if method == "HEAD" or resp.status in (204, 304):
            resp._left = 0
        elif "transfer-encoding" in h:
            resp._mode = _CHUNKED
        elif "content-length" in h:
            resp._left = int(h["content-length"])
        else:  # the body runs to the end of the connection
            resp._mode = _TO_CLOSE
            resp._reusable = False
        return resp

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _Fill(asyncio.BufferedProtocol):
    """Stands in for a connection's stream protocol while a body is received into `view`, and
    hands the connection back the moment `view` is full. Everything else (flow control of
    writes, end of file, a lost connection) still reaches the stream protocol."""

    def __init__(
        self, transport: asyncio.Transport, inner: asyncio.BaseProtocol, view: memoryview
    ) -> None:
        self.transport = transport
        self.inner = inner
        self.view = view
        self.filled = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view[self.filled :]  # never empty: the stand-in leaves when it is full

    def buffer_updated(self, nbytes: int) -> None:
        self.filled += nbytes
        if self.filled >= len(self.view):
            self.transport.set_protocol(self.inner)
            if not self.done.done():
                self.done.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)

    def eof_received(self) -> bool | None:
        self._fail(asyncio.IncompleteReadError(bytes(self.view[: self.filled]), len(self.view)))
        return self.inner.eof_received()  # type: ignore[attr-defined, no-any-return]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or asyncio.IncompleteReadError(b"", len(self.view)))
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


async def _fill(conn: Connection, view: memoryview) -> None:
    """Receive exactly len(view) bytes into `view`; the stream's buffer must be empty."""
    transport = conn.writer.transport
    stand_in = _Fill(transport, transport.get_protocol(), view)  # type: ignore[arg-type]
    transport.set_protocol(stand_in)
    try:
        await stand_in.done
    finally:
        if transport.get_protocol() is stand_in:
            transport.set_protocol(stand_in.inner)


class _Closed(ConnectionResetError):
    """The server closed the connection before (or while) answering."""

    def __init__(self, partial: bool) -> None:
        super().__init__("the server closed the connection")
        self.partial = partial


def _got_bytes(exc: BaseException) -> bool:
    """Whether part of a response had arrived (then a retry here could repeat the request)."""
    return bool(getattr(exc, "partial", False))


async def _read_large(reader: asyncio.StreamReader, n: int) -> bytes:
    """Exactly n bytes, taken from the stream as they arrive and joined once.

    ``readexactly`` would first grow the stream's buffer to n bytes; a bytearray grown in small
    steps after reads from its front is copied again and again, several times n in all.
    """
    chunks: list[bytes] = []
    left = n
    while left:
        # Take whatever the stream holds (up to what is left): a smaller slice from the front of
        # its buffer would move the rest of the buffer down on every read.
        chunk = await reader.read(left)
        if not chunk:
            raise asyncio.IncompleteReadError(b"".join(chunks), n)
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _head(method: str, target: str, headers: Mapping[str, str], length: int) -> bytes:
    """The request head; a name or value that would change its framing is refused."""
    if not _TOKEN.fullmatch(method) or not target or _BAD_TARGET.search(target):
        raise UnsafeHeader(f"a request {method[:20]!r} {target[:80]!r} cannot be sent")
    lines = [f"{method} {target} HTTP/1.1"]
    for k, v in headers.items():
        if not _TOKEN.fullmatch(k) or _BAD_VALUE.search(v):
            raise UnsafeHeader(_header_problem(k, v))
        lines.append(f"{k}: {v}")
    if length or method in ("PUT", "POST"):
        lines.append(f"content-length: {length}")
    lines.append("\r\n")
    try:
        return "\r\n".join(lines).encode("latin-1")
    except UnicodeEncodeError:
        bad = next((k for k, v in headers.items() if not _latin1(f"{k}{v}")), target[:80])
        raise UnsafeHeader(
            f"request header {bad}: holds characters a header cannot carry"
        ) from None


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _header_problem(name: str, value: str) -> str:
    """One line saying what is wrong with a header, never repeating its value (a token)."""
    from fssync.plugin import s3meta

    problem = s3meta.header_problem([(name, value)], "request header")
    return problem or f"request header: {name[:80]!r} is not a valid header name"


async def _read_head(reader: asyncio.StreamReader, timeout: float) -> bytes:
    try:
        async with _Timer(timeout, "waiting for the reply"):
            return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise _Closed(bool(exc.partial)) from exc
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError(f"a response head longer than {HEAD_LIMIT} bytes") from exc


def _parse_head(raw: bytes) -> Response:
    """Status and headers of a response head (ending in CR LF CR LF), checked strictly."""
    lines = raw[:-4].decode("latin-1").split("\r\n")
    status = _STATUS.fullmatch(lines[0])
    if status is None:
        raise ProtocolError(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    lengths: list[str] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        # no space before the colon, no folded line (RFC 9112 5.1, 5.2), no control character
        if not sep or not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
            raise ProtocolError(f"malformed response header: {line[:80]!r}")
        key = name.lower()
        value = value.strip(" \t")
        if key == "content-length":
            lengths += (v.strip(" \t") for v in value.split(","))
            continue
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    if lengths:
        if not all(_DIGITS.fullmatch(v) for v in lengths) or len(set(map(int, lengths))) != 1:
            raise ProtocolError(f"a bad Content-Length in the response: {', '.join(lengths)[:80]}")
        headers["content-length"] = str(int(lengths[0]))
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.lower() == "identity":
            del headers["transfer-encoding"]
        elif coding.lower() != "chunked":
            raise ProtocolError(f"an unsupported transfer coding in the response: {coding[:40]!r}")
        elif lengths:  # both: a framing the two ends could read differently (RFC 9112 6.3)
            raise ProtocolError("a response with both Content-Length and Transfer-Encoding")
    return Response(int(status.group(1)), headers)


async def _chunk_size(reader: asyncio.StreamReader) -> int:
    line = await reader.readuntil(b"\r\n")
    match = _CHUNK_LINE.fullmatch(line)
    if match is None:
        raise ProtocolError(f"a bad chunk size line in the reply: {line[:40]!r}")
    return int(match.group(1), 16)


async def _trailers(reader: asyncio.StreamReader) -> None:
    """Skip the trailer fields after the last chunk, up to the empty line (at most 100)."""
    for _ in range(100):
        if await reader.readuntil(b"\r\n") == b"\r\n":
            return
    raise ProtocolError("too many trailer fields after a chunked reply")


def split_url(url: str) -> tuple[str, str, int, str]:
    """'https://host:port/base' -> (scheme, host, port, base path without trailing '/')."""
    scheme, _, rest = url.partition("://")
    hostport, _, base = rest.partition("/")
    host, port = hostport, 443 if scheme == "https" else 80
    if hostport.startswith("["):  # [::1]:port
        end = hostport.index("]")
        host = hostport[1:end]
        if hostport[end + 1 :].startswith(":"):
            port = int(hostport[end + 2 :])
    elif ":" in hostport:
        host, _, p = hostport.rpartition(":")
        port = int(p)
    return scheme, host, port, ("/" + base).rstrip("/") if base else ""


def host_header(scheme: str, host: str, port: int) -> str:
    default = 443 if scheme == "https" else 80
    name = f"[{host}]" if ":" in host else host
    return name if port == default else f"{name}:{port}"


__all__ = [
    "Body",
    "BodySource",
    "Pool",
    "ProtocolError",
    "Response",
    "Stalled",
    "UnsafeHeader",
    "host_header",
    "split_url",
]
