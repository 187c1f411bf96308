"""The fault-injecting proxy itself: each fault does what it says, and it stays bounded."""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Iterator

import pytest

from fssync.testing.faultproxy import FAULTS, FaultProxy

BODY = bytes(range(256)) * 40


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, bytes]] = []  # noqa: RUF012

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        Upstream.seen.append((self.command, self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(BODY)

    do_GET = do_PUT = do_HEAD = _reply  # noqa: N815

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


def request(proxy: FaultProxy, method: str = "GET", body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        conn.request(method, "/bucket/key", body=body)
        resp = conn.getresponse()
        return resp.status, resp.read()
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
