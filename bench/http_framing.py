"""CPU per request of HTTP/1.1 framing alone: the fast path's strict head writer and parser
against h11 doing the same work (no sockets, no signing).

    python -m bench.http_framing                 # 20,000 requests each, alternating, 3 rounds

Each request is a signed PUT's head out (seven headers) and a typical S3 answer's head in
(seven headers, no body). The figure decides whether the fast path hands its framing to h11;
see plugins/fssync_plugins/s3_fast/http.py.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from fssync_plugins.s3_fast import http

HEADERS = {
    "host": "127.0.0.1:9000",
    "content-md5": "1B2M2Y8AsgTpgAmY7PhCfg==",
    "x-amz-date": "20261203T100000Z",
    "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
    "authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/us-east-1/s3/aws4_request, "
    "SignedHeaders=content-md5;host;x-amz-content-sha256;x-amz-date, Signature=" + "a" * 64,
    "user-agent": "fssync/bench",
}
ANSWER = (
    b"HTTP/1.1 200 OK\r\nx-amz-id-2: abcdefghijklmnop\r\nx-amz-request-id: 0123456789\r\n"
    b'Date: Thu, 03 Dec 2026 10:00:00 GMT\r\nETag: "0123456789abcdef0123456789abcdef"\r\n'
    b"Content-Length: 0\r\nServer: AmazonS3\r\n\r\n"
)


def own(n: int) -> None:
    for _ in range(n):
        http._head("PUT", "/bucket/some/key.txt", HEADERS, 4096)
        http._parse_head(ANSWER)


def with_h11(n: int) -> None:
    import h11

    conn = h11.Connection(h11.CLIENT)
    headers = [*HEADERS.items(), ("content-length", "0")]
    for _ in range(n):
        conn.send(h11.Request(method="PUT", target="/bucket/some/key.txt", headers=headers))
        conn.send(h11.EndOfMessage())
        conn.receive_data(ANSWER)
        while not isinstance(conn.next_event(), h11.EndOfMessage):
            pass
        conn.start_next_cycle()


def _per_request(run: Callable[[int], None], n: int) -> float:
    cpu = time.process_time()
    run(n)
    return (time.process_time() - cpu) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.rounds):
        mine = _per_request(own, args.requests)
        theirs = _per_request(with_h11, args.requests)
        print(f"fast path {mine:6.1f} us/request   h11 {theirs:6.1f} us/request")


if __name__ == "__main__":
    main()
