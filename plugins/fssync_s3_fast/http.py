"""A small keep-alive HTTP/1.1 client on asyncio streams: just what S3 requests need.

Why not aiohttp: importing it costs about a third of a second, more than a whole no-op sync may
take, and its per-request machinery (tracing, cookie jars, multidicts) costs CPU that a sync of
small files pays thousands of times. S3 needs little: fixed-length bodies out, fixed-length or
chunked bodies back, and connections kept open between requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from fssync.stores import Stalled

WRITE_CHUNK = 1 << 20  # large bodies go out in slices, so the socket buffer never copies them whole
READ_CHUNK = 256 << 10  # large bodies come in as slices of at most this size, joined once
CONNECT_TIMEOUT = 20.0
# No byte sent or received for this long: the request has stalled, and fails (to be retried).
# The default of every pool; a store passes the stall timeout it was configured with.
READ_TIMEOUT = 60.0


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
    """The server sent something that is not HTTP/1.1 as this client understands it."""


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
        "_ahead",
        "_conn",
        "_left",
        "_pool",
        "_reusable",
        "attempts",
        "headers",
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
        self._ahead: bytes | None = None  # a body read ahead (chunked or close-delimited)
        self.timeout = READ_TIMEOUT  # the pool's stall timeout, for reads of the body

    @property
    def remaining(self) -> int:
        return self._left

    async def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes of a streamed body (all that is left when n < 0); b"" at its end."""
        if self._ahead is not None:
            data, self._ahead = (self._ahead, b"") if n < 0 else (self._ahead[:n], self._ahead[n:])
            self._left = len(self._ahead)
            return data
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

    async def read_into(self, view: memoryview) -> None:
        """Fill `view` with the next len(view) bytes of the body.

        On a plain connection the bytes go from the socket straight into `view` (`_Fill`):
        one copy, where reading through the stream costs four (a bytes object per 256 KiB
        received, the stream's buffer, a copy out of it, the join)."""
        n = len(view)
        conn = self._conn
        if self._ahead is not None or conn is None or not conn.plain or n > self._left:
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
            done = self._ahead is not None or self._left == 0
            self._pool.release(conn, reusable=self._reusable and done)

    def close(self) -> None:
        """Give the connection back; one with unread body bytes is closed, not reused."""
        if self._left and self._ahead is None:
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
    ) -> None:
        self.host = host
        self.timeout = timeout  # stall timeout: no byte sent or received for this long
        self.port = port
        self.limit = max(1, limit)
        self._tls: Any = None
        if tls:
            import ssl  # only for https endpoints: the import costs a few tens of milliseconds

            self._tls = ssl.create_default_context()
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
                limit=1 << 20,
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
        if resp._ahead is not None or resp._left == 0:
            resp._finish()  # nothing more to read from the connection
        if stream:
            return resp, b""
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
        try:
            # The bytes still in the socket's buffers go out meanwhile: a server that stopped
            # reading shows here too.
            async with _Timer(timeout, "waiting for the reply"):
                raw = await conn.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            raise _Closed(bool(exc.partial)) from exc
        resp = _parse_head(raw)
        if resp.status == 100:  # an unasked-for "continue": the real answer follows
            async with _Timer(timeout, "waiting for the reply"):
                resp = _parse_head(await conn.reader.readuntil(b"\r\n\r\n"))
        h = resp.headers
        if h.get("connection", "").lower() == "close":
            resp._reusable = False
        if method == "HEAD" or resp.status in (204, 304):
            resp._left = 0
        elif "transfer-encoding" in h and h["transfer-encoding"].lower() != "identity":
            resp._ahead = await _read_chunked(conn.reader, timeout)
            resp._left = len(resp._ahead)
        elif "content-length" in h:
            resp._left = int(h["content-length"])
        else:  # the body runs to the end of the connection
            async with _Timer(timeout, "receiving the reply"):
                resp._ahead = await conn.reader.read()
            resp._left = len(resp._ahead)
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
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if length or method in ("PUT", "POST"):
        lines.append(f"content-length: {length}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


def _parse_head(raw: bytes) -> Response:
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ProtocolError(f"not an HTTP/1.1 response: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"malformed response header: {line[:80]!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Response(int(parts[1]), headers)


async def _read_chunked(reader: asyncio.StreamReader, timeout: float) -> bytes:
    out = bytearray()
    async with _Timer(timeout, "receiving the reply"):
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return bytes(out)
            out += await reader.readexactly(size)
            await reader.readexactly(2)


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
    "host_header",
    "split_url",
]
