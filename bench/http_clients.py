"""Client CPU per signed small PUT: the fast path's HTTP client against aiohttp, same signer.

    python -m bench.http_clients                  # starts SeaweedFS on loopback, 2,000 PUTs each
    python -m bench.http_clients --requests 5000 --concurrency 16

Both clients send the same requests (PUT of 4 KiB with Content-MD5, signed by the fast path's
SigV4 signer, `--concurrency` at once over kept-alive connections) to one SeaweedFS server; the
numbers are this process's CPU time per request (the server's is not counted) and the import
time of each client in a fresh interpreter. Runs alternate between the clients.
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.http_clients", description=__doc__)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    body = os.urandom(4096)
    results: dict[str, list[float]] = {"streams": [], "aiohttp": []}
    with tempfile.TemporaryDirectory() as tmp, SeaweedServer(Path(tmp)) as server:
        ep = server.endpoint
        bucket = ep.make_bucket()
        ep.client().put_object(Bucket=bucket, Key="warm", Body=b"x")
        for _ in range(args.rounds):
            for name, fn in (("streams", _with_streams), ("aiohttp", _with_aiohttp)):

                def run(fn=fn) -> Awaitable[None]:  # type: ignore[no-untyped-def]
                    return fn(ep, bucket, args.requests, args.concurrency, body)

                ms, wall = _cpu_per_request(run, args.requests)
                results[name].append(ms)
                print(f"{name:8s} {ms:.3f} ms CPU per PUT ({wall:.2f} s wall)", file=sys.stderr)
    print(
        f"PUT of 4 KiB, {args.requests} per round, {args.concurrency} at once, median of {args.rounds}:"
    )
    for name, module in (("streams", "asyncio"), ("aiohttp", "aiohttp")):
        print(
            f"  {name:8s} {statistics.median(results[name]):.3f} ms client CPU per request; "
            f"import {module}: {_import_time(module):.0f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
