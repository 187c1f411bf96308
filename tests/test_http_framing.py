"""The fast S3 path's HTTP/1.1 framing, against a tiny raw-socket server on 127.0.0.1.

Malformed answers are `ProtocolError`s (retried like a reset, then one line), header names and
values that would change the framing are refused before a byte is sent, and bodies without a
length are streamed chunk by chunk, read whole only up to a limit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from fssync.cli.main import main
from fssync_plugins.s3_fast import http
from fssync_plugins.s3_fast.http import Pool, ProtocolError, UnsafeHeader

from .helpers import make_tree

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _start(handler: Handler) -> tuple[asyncio.Server, int, list[int]]:
    """A server running `handler` on each connection; the list counts connections."""
    seen: list[int] = []

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(1)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


def _answer(raw: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(raw)
            await writer.drain()

    return handler


MALFORMED = {
    "negative length": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello",
    "plus sign length": b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
    "hex length": b"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello",
    "empty length": b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
    "differing duplicate lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 2\r\n\r\nhello",
    "differing listed lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 5, 2\r\n\r\nhello",
    "huge length": b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    "length and chunked": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "unknown coding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello",
    "not http": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "http/2 status": b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
    "short status": b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
    "word status": b"HTTP/1.1 OK 200\r\nContent-Length: 0\r\n\r\n",
    "no status": b"HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    "nul in reason": b"HTTP/1.1 200 O\x00K\r\nContent-Length: 0\r\n\r\n",
    "header without colon": b"HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n",
    "space before colon": b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
    "folded header": b"HTTP/1.1 200 OK\r\nx-a: b\r\n c\r\nContent-Length: 0\r\n\r\n",
    "bare LF in a header": b"HTTP/1.1 200 OK\r\nx-a: b\nx-amz-acl: public-read\r\nContent-Length: 0\r\n\r\n",
    "bare CR in a header": b"HTTP/1.1 200 OK\r\nx-a: b\rc\r\nContent-Length: 0\r\n\r\n",
    "nul in a header": b"HTTP/1.1 200 OK\r\nx-a: b\x00c\r\nContent-Length: 0\r\n\r\n",
    "empty header name": b"HTTP/1.1 200 OK\r\n: b\r\nContent-Length: 0\r\n\r\n",
    "bad chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "negative chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    "chunk not ended by CRLF": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
    "switching protocols": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_answer_is_a_protocol_error(raw: bytes):
    async def scenario() -> None:
        server, port, _ = await _start(_answer(raw))
        pool = Pool("127.0.0.1", port, tls=False, limit=1)
        try:
            async with asyncio.timeout(20):
                with pytest.raises(ProtocolError):
                    await pool.request("GET", "/k", {"host": "x"})
        finally:
            await pool.close()
            server.close()

    asyncio.run(scenario())


WELL_FORMED = {
    "equal duplicate lengths": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello",
        b"hello",
    ),
    "no reason phrase": (b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nhi", b"hi"),
    "interim answers first": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        b"hi",
    ),
    "chunk extensions and trailers": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b"3;a=b\r\nabc\r\n2 ; x\r\nde\r\n0\r\nx-trailer: 1\r\n\r\n",
        b"abcde",
    ),
    "tab in a value": (b"HTTP/1.1 200 OK\r\nx-a: b\tc\r\nContent-Length: 1\r\n\r\n!", b"!"),
}


@pytest.mark.parametrize(("raw", "body"), WELL_FORMED.values(), ids=WELL_FORMED.keys())
def test_well_formed_answers_are_read(raw: bytes, body: bytes):
    async def scenario() -> tuple[bytes, bytes, int]:
        server, port, seen = await _start(_answer(raw))
        pool = Pool("127.0.0.1", port, tls=False, limit=1)
        try:
            async with asyncio.timeout(20):
                _, first = await pool.request("GET", "/k", {"host": "x"})
                _, second = await pool.request("GET", "/k", {"host": "x"})
        finally:
            await pool.close()
            server.close()
        return first, second, len(seen)

    first, second, connections = asyncio.run(scenario())
    assert first == second == body
    assert connections == 1  # the connection was kept: the framing was read exactly


@pytest.mark.parametrize(
    "headers",
    [
        {"host": "x", "x-amz-meta-a": "b\r\nx-amz-acl: public-read"},
        {"host": "x", "x-amz-meta-a": "b\nx-amz-acl: public-read"},
        {"host": "x", "x-amz-meta-a": "b\rc"},
        {"host": "x", "x-amz-meta-a": "b\x00c"},
        {"host": "x", "x-amz-meta-a": "b\x7f"},
        {"host": "x", "x-amz-meta-a\r\nx-amz-acl": "public-read"},
        {"host": "x", "x-amz meta": "b"},
        {"host": "x", "": "b"},
        {"host": "x", "x-amz-meta-a": "\u65e5\u672c"},
    ],
    ids=["crlf", "lf", "cr", "nul", "del", "name crlf", "name space", "empty name", "wide"],
)
def test_an_unsafe_request_header_is_refused_before_sending(headers: dict[str, str]):
    async def scenario() -> int:
        server, port, seen = await _start(_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        pool = Pool("127.0.0.1", port, tls=False, limit=1)
        try:
            with pytest.raises(UnsafeHeader) as caught:
                await pool.request("PUT", "/k", headers, b"x")
            assert "public-read" not in str(caught.value).split("'")[0]
            assert "\n" not in str(caught.value)
            _, body = await pool.request("PUT", "/k", {"host": "x"}, b"x")  # the pool still works
            assert body == b""
        finally:
            await pool.close()
            server.close()
        return len(seen)

    assert asyncio.run(scenario()) == 1  # only the good request connected


def test_a_chunked_body_is_streamed_not_buffered_whole():
    """The first chunk is readable before the server has sent the rest."""
    more = asyncio.Event

    async def scenario() -> bytes:
        go_on = more()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await writer.drain()
            await go_on.wait()
            writer.write(b"4\r\nrest\r\n0\r\n\r\n")
            await writer.drain()

        server, port, _ = await _start(handler)
        pool = Pool("127.0.0.1", port, tls=False, limit=1)
        try:
            async with asyncio.timeout(20):
                resp, _ = await pool.request("GET", "/k", {"host": "x"}, stream=True)
                assert resp.remaining == -1  # no length known
                first = await resp.read(5)
                go_on.set()
                rest = await resp.read(-1)
                assert resp.remaining == 0
                resp.close()
        finally:
            await pool.close()
            server.close()
        return first + b"|" + rest

    assert asyncio.run(scenario()) == b"first|rest"


def test_a_chunked_body_read_whole_stops_at_the_limit(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(http, "BODY_LIMIT", 64 << 10)

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (4096, b"x" * 4096)
        for _ in range(10_000):  # 40 MiB if nobody stopped reading
            writer.write(chunk)
            await writer.drain()

    async def scenario() -> None:
        server, port, _ = await _start(endless)
        pool = Pool("127.0.0.1", port, tls=False, limit=1)
        try:
            async with asyncio.timeout(20):
                with pytest.raises(ProtocolError, match="without a length ran past"):
                    await pool.request("GET", "/k", {"host": "x"})
        finally:
            await pool.close()
            server.close()

    asyncio.run(scenario())


def test_many_small_chunks_are_joined_once():
    """A body of 20,000 one-byte chunks, read in 1 KiB pieces and whole."""
    body = bytes(range(256)) * 80
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw += b"".join(b"1\r\n%s\r\n" % body[i : i + 1] for i in range(len(body))) + b"0\r\n\r\n"

    async def scenario() -> tuple[bytes, bytes]:
        server, port, _ = await _start(_answer(raw))
        pool = Pool("127.0.0.1", port, tls=False, limit=1)
        try:
            async with asyncio.timeout(60):
                resp, _ = await pool.request("GET", "/k", {"host": "x"}, stream=True)
                pieces = []
                while piece := await resp.read(1024):
                    assert len(piece) == 1024 or not await resp.read(1)
                    pieces.append(piece)
                resp.close()
                _, whole = await pool.request("GET", "/k", {"host": "x"})
        finally:
            await pool.close()
            server.close()
        return b"".join(pieces), whole

    streamed, whole = asyncio.run(scenario())
    assert streamed == whole == body


def test_a_server_speaking_garbage_is_one_line_after_retries(tmp_path, capsys, monkeypatch):
    """Every answer malformed: retried like a reset, then reported in one line (the fast path;
    the s3fs path's aiohttp refuses such answers itself, after botocore's slow retries)."""
    monkeypatch.setenv("FSSYNC_S3_BACKEND", "fast")
    import threading

    ready = threading.Event()
    state: dict[str, object] = {}

    def serve() -> None:
        async def run() -> None:
            server, port, seen = await _start(_answer(MALFORMED["negative length"]))
            state.update(port=port, seen=seen, loop=asyncio.get_running_loop())
            stop = asyncio.Event()
            state["stop"] = stop
            ready.set()
            await stop.wait()
            server.close()

        asyncio.run(run())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "framing-test-secret-0123456789")
    make_tree(tmp_path / "s", {"x.txt": b"x"})
    url = f"http://127.0.0.1:{state['port']}"
    try:
        args = ["--endpoint-url", url, "--retries", "1", "--retries-sleep", "0"]
        code = main(["sync", str(tmp_path / "s"), "s3://bucket/p", *args])
    finally:
        loop = state["loop"]
        loop.call_soon_threadsafe(state["stop"].set)  # type: ignore[attr-defined]
        thread.join(10)
    err = capsys.readouterr().err
    assert code == 4, err  # the store does not answer normally: fatal, nothing was done
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert len(state["seen"]) > 1  # type: ignore[arg-type]
