"""Client CPU per signed small PUT: the fast path's HTTP client, its framing against h11's,
and aiohttp, with the same signer against the same server in the same run.

    python -m bench.http_clients                  # starts SeaweedFS on loopback, 2,000 PUTs each
    python -m bench.http_clients --requests 5000 --concurrency 16

Every variant sends the same requests (PUT of 4 KiB with Content-MD5, signed by the fast
path's SigV4 signer, `--concurrency` at once over kept-alive connections) to one SeaweedFS
server; runs alternate between the variants, and each figure is the median over the rounds:

- ``client``: the fast path's whole client (`S3Client.put`: signing, retries, framing);
- ``strict``: signed heads through the fast path's connection pool (`http.Pool`), whose
  strict head writer and parser frame the requests;
- ``h11``: the same signed heads over asyncio streams, one kept-alive connection per
  worker, framed both ways by h11 (what handing the framing to h11 would cost);
- ``aiohttp``: the same signed heads through aiohttp.

The numbers are this process's CPU time per request (the server's is not counted), requests
per second of wall time (the server shares the machine, so it bounds these), and the import
time of each library in a fresh interpreter. ``h11 - strict`` is what h11 would add per
request; the fast path keeps its own framing unless that is under about 5%.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from fssync.testing.servers import S3Endpoint, SeaweedServer
from fssync_plugins.s3_fast.client import S3Client
from fssync_plugins.s3_fast.http import READ_TIMEOUT, Pool
from fssync_plugins.s3_fast.resolve import Credentials


def _headers(client: S3Client, key: str, body: bytes, bucket: str) -> tuple[str, dict[str, str]]:
    md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    host, path = client._where(bucket, key)
    signed = client._sign("PUT", host, path, "", {"content-md5": md5}, body)
    return path, signed


async def _with_streams(ep: S3Endpoint, bucket: str, n: int, conc: int, body: bytes) -> None:
    creds = Credentials((ep.access_key, ep.secret_key, None))
    client = S3Client(ep.url, ep.region, creds, connections=conc)
    slots = asyncio.Semaphore(conc)

    async def one(i: int) -> None:
        async with slots:
            md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
            await client.put(bucket, f"s/{i}", body, {"content-md5": md5})

    await asyncio.gather(*(one(i) for i in range(n)))
    await client.close()


async def _with_aiohttp(ep: S3Endpoint, bucket: str, n: int, conc: int, body: bytes) -> None:
    import aiohttp

    creds = Credentials((ep.access_key, ep.secret_key, None))
    signer = S3Client(ep.url, ep.region, creds, connections=conc)  # only its signer is used
    connector = aiohttp.TCPConnector(limit=conc)
    slots = asyncio.Semaphore(conc)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            async with slots:
                path, headers = _headers(signer, f"a/{i}", body, bucket)
                async with session.put(ep.url + path, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"PUT answered {resp.status}")

        await asyncio.gather(*(one(i) for i in range(n)))


async def _with_strict(ep: S3Endpoint, bucket: str, n: int, conc: int, body: bytes) -> None:
    creds = Credentials((ep.access_key, ep.secret_key, None))
    signer = S3Client(ep.url, ep.region, creds, connections=conc)  # only its signer is used
    pool = Pool(signer.host, signer.port, tls=False, limit=conc)
    slots = asyncio.Semaphore(conc)

    async def one(i: int) -> None:
        async with slots:
            path, headers = _headers(signer, f"p/{i}", body, bucket)
            resp, _ = await pool.request("PUT", path, headers, body)
            if resp.status != 200:
                raise RuntimeError(f"PUT answered {resp.status}")

    await asyncio.gather(*(one(i) for i in range(n)))
    await pool.close()


async def _with_h11(ep: S3Endpoint, bucket: str, n: int, conc: int, body: bytes) -> None:
    import h11

    creds = Credentials((ep.access_key, ep.secret_key, None))
    signer = S3Client(ep.url, ep.region, creds, connections=conc)  # only its signer is used
    keys = iter(range(n))
    length = ("content-length", str(len(body)))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(signer.host, signer.port)
        conn = h11.Connection(h11.CLIENT)
        try:
            for i in keys:
                path, headers = _headers(signer, f"h/{i}", body, bucket)
                request = h11.Request(method="PUT", target=path, headers=[*headers.items(), length])
                writer.write(
                    conn.send(request)
                    + conn.send(h11.Data(data=body))
                    + conn.send(h11.EndOfMessage())
                )
                status = 0
                async with asyncio.timeout(READ_TIMEOUT):  # as the pool times each answer
                    while True:
                        event = conn.next_event()
                        if event is h11.NEED_DATA:
                            conn.receive_data(await reader.read(1 << 16))
                        elif isinstance(event, h11.Response):
                            status = event.status_code
                        elif isinstance(event, h11.EndOfMessage):
                            break
                if status != 200:
                    raise RuntimeError(f"PUT answered {status}")
                conn.start_next_cycle()
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(conc)))


def _cpu_per_request(run: Callable[[], Awaitable[None]], n: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(run())  # type: ignore[arg-type]
    return (time.process_time() - cpu) / n * 1e3, time.perf_counter() - wall


def _import_time(module: str) -> float:
    times = []
    for _ in range(5):
        code = (
            f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout))
    return min(times) * 1e3


VARIANTS: dict[str, tuple[Callable[..., Awaitable[None]], str]] = {
    "client": (_with_streams, "asyncio"),
    "strict": (_with_strict, "asyncio"),
    "h11": (_with_h11, "h11"),
    "aiohttp": (_with_aiohttp, "aiohttp"),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.http_clients", description=__doc__)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    body = os.urandom(4096)
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    rate: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp, SeaweedServer(Path(tmp)) as server:
        ep = server.endpoint
        bucket = ep.make_bucket()
        ep.client().put_object(Bucket=bucket, Key="warm", Body=b"x")
        for _ in range(args.rounds):
            for name, (fn, _module) in VARIANTS.items():

                def run(fn=fn) -> Awaitable[None]:  # type: ignore[no-untyped-def]
                    return fn(ep, bucket, args.requests, args.concurrency, body)

                ms, wall = _cpu_per_request(run, args.requests)
                cpu[name].append(ms * 1e3)
                rate[name].append(args.requests / wall)
                print(
                    f"{name:8s} {ms * 1e3:7.1f} us CPU per PUT ({wall:.2f} s wall)", file=sys.stderr
                )
    n, c, r = args.requests, args.concurrency, args.rounds
    print(f"PUT of 4 KiB, {n} per round, {c} at once, median of {r} rounds:")
    for name, (_fn, module) in VARIANTS.items():
        print(
            f"  {name:8s} {statistics.median(cpu[name]):7.1f} us client CPU per request, "
            f"{statistics.median(rate[name]):6.0f} requests/s; import {module}: "
            f"{_import_time(module):.0f} ms"
        )
    strict, h11 = statistics.median(cpu["strict"]), statistics.median(cpu["h11"])
    # each round's two runs follow each other: their difference is less shaken by the load
    paired = statistics.median(h - s for h, s in zip(cpu["h11"], cpu["strict"], strict=True))
    print(
        f"  h11 instead of the strict framing: {h11 - strict:+.1f} us per request "
        f"({(h11 - strict) / strict:+.0%} of the strict variant's CPU); "
        f"median of the rounds' differences {paired:+.1f} us"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
