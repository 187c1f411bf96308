"""The fault-injecting proxy itself: each fault does what it says, and it stays bounded."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from fssync.testing.faultproxy import FAULTS, PAGE_FAULTS, FaultProxy

BODY = bytes(range(256)) * 40
ETAG = hashlib.md5(BODY).hexdigest()
PAGE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><Name>b</Name><Prefix>p/</Prefix>'
    b"<KeyCount>4</KeyCount><IsTruncated>true</IsTruncated>"
    + b"".join(b"<Contents><Key>p/k%d</Key><Size>1</Size></Contents>" % i for i in range(4))
    + b"<NextContinuationToken>t2</NextContinuationToken></ListBucketResult>"
)


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, bytes]] = []  # noqa: RUF012

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        Upstream.seen.append((self.command, self.rfile.read(length)))
        body, status = BODY, 200
        if "list-type=2" in self.path:
            body = PAGE
        if self.command == "POST":  # as CompleteMultipartUpload answers
            body = f"<Result><ETag>&quot;{ETAG}-2&quot;</ETag></Result>".encode()
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes="):  # a 206 for "bytes=a-b"
            first, last = (int(n) for n in wanted[6:].split("-"))
            body, status = BODY[first : last + 1], 206
        self.send_response(status)
        if self.path.endswith("chunked"):  # a listing sent in chunks, as some servers do
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for at in range(0, len(body), 100):
                piece = body[at : at + 100]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", f'"{ETAG}"')
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(BODY)}")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST = _reply  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    Upstream.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def request(
    proxy: FaultProxy, method: str = "GET", body: bytes | None = None, path: str = "/bucket/key"
):
    return exchange(proxy, method, path, body=body)[::2]


def exchange(
    proxy: FaultProxy,
    method: str = "GET",
    path: str = "/bucket/key",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_no_fault_relays_byte_for_byte(upstream):
    with FaultProxy(upstream) as proxy:
        assert request(proxy, "PUT", b"payload") == (200, BODY)
    assert Upstream.seen == [("PUT", b"payload")]
    assert proxy.stats.requests == 1 and proxy.stats.injected == 0


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [("500", 500, b"InternalError"), ("503", 503, b"SlowDown"), ("403", 403, b"AccessDenied")],
)
def test_error_replies_never_reach_the_server(upstream, fault, status, code):
    with FaultProxy(upstream, schedule={1: fault}) as proxy:
        got, body = request(proxy)
        assert got == status and code in body
        assert request(proxy) == (200, BODY)  # the next request goes through
    assert len(Upstream.seen) == 1


def test_reset_before_and_after_the_server_acted(upstream):
    with FaultProxy(upstream, schedule={1: "reset", 2: "reset-after"}) as proxy:
        for _ in range(2):
            with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
                request(proxy, "PUT", b"x")
    assert Upstream.seen == [("PUT", b"x")]  # only reset-after reached the server


def test_truncate_cuts_the_body(upstream):
    with (
        FaultProxy(upstream, schedule={1: "truncate"}) as proxy,
        pytest.raises((http.client.IncompleteRead, ConnectionError)),
    ):
        request(proxy)


def test_corrupt_flips_one_byte_and_keeps_the_length(upstream):
    with FaultProxy(upstream, schedule={1: "corrupt", 2: "corrupt"}) as proxy:
        status, body = request(proxy)
        assert status == 200 and len(body) == len(BODY) and body != BODY
        assert sum(a != b for a, b in zip(body, BODY, strict=True)) == 1
        request(proxy, "PUT", b"abcdef")
    assert Upstream.seen[-1] == ("PUT", b"abc\x9bef")


def test_rate_and_method_filter(upstream):
    with FaultProxy(upstream, rate=1.0, kinds=["503"], methods=["PUT"]) as proxy:
        assert request(proxy, "GET")[0] == 200
        assert request(proxy, "PUT", b"x")[0] == 503
    assert proxy.stats.faults == {"503": 1}
    assert [entry[3] for entry in proxy.stats.log] == ["503"]


def test_bounded_in_requests(upstream):
    with FaultProxy(upstream, max_requests=2) as proxy:
        request(proxy)
        request(proxy)
        with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
            request(proxy)


def test_only_loopback_and_known_faults():
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("http://10.0.0.1:9000")
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("https://127.0.0.1:9000")
    with pytest.raises(ValueError, match="unknown fault"):
        FaultProxy("http://127.0.0.1:9000", kinds=["explode"])
    assert set(FAULTS) >= {"500", "503", "reset", "reset-after", "truncate", "delay", "corrupt"}


# ---------------------------------------------------------------------------- wire faults


def test_etag_rewrites_the_replies_of_writes_only(upstream):
    with FaultProxy(upstream, rate=1.0, kinds=["etag"]) as proxy:
        _, put, body = exchange(proxy, "PUT", body=b"x")
        assert body == BODY and put["etag"].strip('"') not in ("", ETAG)
        _, got, _ = exchange(proxy, "GET")  # not a write: left alone
        assert got["etag"] == f'"{ETAG}"'
        _, _, done = exchange(proxy, "POST", "/bucket/key?uploadId=1", body=b"<x/>")
        assert b"<ETag>&quot;" in done and ETAG.encode() not in done and b"-2&quot;" in done
    assert proxy.stats.applied["etag"] == 2  # the PUT and the completion
    assert proxy.stats.methods == {"PUT": 1, "GET": 1, "POST": 1}


def test_stall_request_stops_reading_the_body(upstream):
    with FaultProxy(upstream, schedule={1: "stall-request"}, stall=20, stall_after=1000) as proxy:
        sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=1.0)
        size = 32 << 20
        sock.sendall(b"PUT /bucket/key HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        with pytest.raises(TimeoutError):
            sock.sendall(bytes(size))  # blocks: the proxy reads no more
        _abort(sock)  # as a client that gives up does: its unsent bytes are dropped
        deadline = time.monotonic() + 10
        while not proxy.stats.stalls and time.monotonic() < deadline:
            time.sleep(0.05)
    assert Upstream.seen == []  # the request never reached the server
    assert len(proxy.stats.stalls) == 1 and proxy.stats.stalls[0] < 10  # let go once closed


def test_stall_reply_stops_half_way_through_the_body(upstream):
    with FaultProxy(upstream, schedule={1: "stall-reply"}, stall=20) as proxy:
        sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=1.0)
        sock.sendall(b"GET /bucket/key HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        with pytest.raises(TimeoutError):
            while chunk := sock.recv(1 << 16):
                got += chunk
        _abort(sock)
        head, _, body = got.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.") and body == BODY[: len(BODY) // 2]
    assert [m for m, _ in Upstream.seen] == ["GET"]  # the server did answer


def test_ignore_range_answers_200_with_the_whole_object(upstream):
    asked: list[str] = []

    def whole(path: str) -> bytes:
        asked.append(path)
        return BODY

    with FaultProxy(upstream, rate=1.0, kinds=["ignore-range"], whole_object=whole) as proxy:
        status, headers, body = exchange(proxy, headers={"Range": "bytes=10-19"})
        assert (status, body) == (200, BODY) and "content-range" not in headers
        assert headers["etag"] == f'"{ETAG}"'  # the rest of the reply as the server gave it
        assert exchange(proxy)[::2] == (200, BODY)  # not ranged: relayed as it was
    assert asked == ["/bucket/key"] and proxy.stats.applied["ignore-range"] == 1
    with pytest.raises(ValueError, match="whole_object"):
        FaultProxy(upstream, kinds=["ignore-range"])


def _abort(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# ------------------------------------------------------------------------- listing pages

LIST = "/b?list-type=2&prefix=p%2F"


def listing(proxy: FaultProxy, path: str = LIST) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("kind", "content_type", "body"),
    [
        ("html", "text/html", b"<html>Maintenance</html>"),
        ("empty", "application/xml", b""),
        ("json", "application/json", b'{"message": "maintenance", "retry": true}'),
    ],
)
def test_a_listing_page_replaced_by_something_else(upstream, kind, content_type, body):
    with FaultProxy(upstream, pages={2: kind}) as proxy:
        assert listing(proxy) == (200, "", PAGE)  # the first page goes through
        assert request(proxy) == (200, BODY)  # not a listing: neither counted nor rewritten
        assert listing(proxy) == (200, content_type, body)
        assert listing(proxy)[2] == PAGE
    assert proxy.stats.pages == 3 and proxy.stats.faults == {kind: 1}
    assert [entry[3] for entry in proxy.stats.log] == [kind]


def test_an_error_inside_a_200(upstream):
    with FaultProxy(upstream, pages={1: "error-200"}) as proxy:
        status, _, body = listing(proxy)
    assert status == 200 and body.startswith(b"<?xml") and b"<Error><Code>InternalError" in body


@pytest.mark.parametrize("path", [LIST, LIST + "&chunked"])
def test_a_page_cut_in_half_still_parses(upstream, path):
    import xml.etree.ElementTree as ET

    with FaultProxy(upstream, pages_from=(1, "cut")) as proxy:
        status, _, body = listing(proxy, path)
    root = ET.fromstring(body)  # well formed
    assert status == 200 and [k.text for k in root.iter("Key")] == ["p/k0", "p/k1"]
    assert root.findtext("KeyCount") == "4"  # still counts the keys that were dropped
    assert root.findtext("NextContinuationToken") == "t2"


def test_a_truncated_page_without_its_token(upstream):
    import xml.etree.ElementTree as ET

    with FaultProxy(upstream, pages={1: "no-token"}) as proxy:
        root = ET.fromstring(listing(proxy)[2])
    assert root.findtext("IsTruncated") == "true" and root.find("NextContinuationToken") is None
    assert len(root.findall("Contents")) == 4


def test_a_token_that_repeats(upstream):
    import xml.etree.ElementTree as ET

    with FaultProxy(upstream, pages_from=(1, "same-token")) as proxy:
        first = ET.fromstring(listing(proxy)[2])  # no token sent yet: nothing to repeat
        again = ET.fromstring(listing(proxy, LIST + "&continuation-token=a%26b")[2])
    assert first.findtext("NextContinuationToken") == "t2"
    assert again.findtext("NextContinuationToken") == "a&b"  # the token the request sent
    assert again.findtext("IsTruncated") == "true"
    assert proxy.stats.faults == {"same-token": 2}


def test_only_known_page_faults():
    with pytest.raises(ValueError, match="unknown page fault"):
        FaultProxy("http://127.0.0.1:9000", pages={1: "explode"})
    with pytest.raises(ValueError, match="unknown page fault"):
        FaultProxy("http://127.0.0.1:9000", pages_from=(1, "explode"))
    assert set(PAGE_FAULTS) == {
        "html", "empty", "error-200", "json", "cut", "no-token", "same-token", "slowdown"
    }  # fmt: skip


def test_slowdown_on_listings_never_reaches_the_server(upstream):
    with FaultProxy(upstream, pages={1: "slowdown"}) as proxy:
        status, _, body = listing(proxy)
        assert status == 503 and b"<Code>SlowDown</Code>" in body
        assert listing(proxy)[2] == PAGE
    assert len(Upstream.seen) == 1 and proxy.stats.faults == {"slowdown": 1}


def test_a_slowdown_storm_on_listings_lasts_its_seconds(upstream):
    import time

    with FaultProxy(upstream, slow_pages=0.3) as proxy:
        assert request(proxy) == (200, BODY)  # not a listing: let through
        assert listing(proxy)[0] == 503  # the storm starts with the first listing request
        time.sleep(0.4)
        assert listing(proxy)[0] == 200
    assert proxy.stats.faults == {"slowdown": 1}
