"""A naive copy through obstore (Rust's object_store): the Python ceiling for many small files.

Run by the harness as a plain script (``python bench/obstore_copy.py SRC DST``), with the
endpoint and keys in the standard AWS variables. Naive on purpose: no comparison, no temporary
names, no retries beyond obstore's own; it lists one side and copies every file, ``CONCURRENCY``
requests at a time on one asyncio loop. Whatever fssync does beyond that (listing both sides,
comparing, writing under a temporary name) is its own cost; what is left is the price of Python
driving a Rust HTTP client. Kept standalone (no imports from the project or the harness) so that
what it costs is obstore's and the interpreter's only.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

CONCURRENCY = 32  # as rclone is run here (--transfers 32)


def _store(url: str) -> Any:
    """``s3://bucket/prefix`` as an obstore S3Store rooted at the prefix."""
    from obstore.store import S3Store

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return S3Store(
        bucket,
        prefix=prefix or None,
        endpoint=os.environ["AWS_ENDPOINT_URL"],
        access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ.get("AWS_REGION", "us-east-1"),
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )


async def _bounded(jobs: list[Any]) -> None:
    """Run coroutine factories, at most CONCURRENCY at once; the first error ends the run."""
    queue = iter(jobs)

    async def worker() -> None:
        for job in queue:
            await job()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def upload(root: Path, url: str) -> int:
    import obstore

    store = _store(url)
    files = [p for p in root.rglob("*") if p.is_file()]

    def job(path: Path) -> Any:
        async def put() -> None:
            await obstore.put_async(store, path.relative_to(root).as_posix(), path.read_bytes())

        return put

    await _bounded([job(p) for p in files])
    return len(files)


async def download(url: str, root: Path) -> int:
    import obstore

    store = _store(url)
    keys = [meta["path"] for page in obstore.list(store) for meta in page]
    for folder in {os.path.dirname(k) for k in keys}:
        (root / folder).mkdir(parents=True, exist_ok=True)

    def job(key: str) -> Any:
        async def get() -> None:
            data = await (await obstore.get_async(store, key)).bytes_async()
            (root / key).write_bytes(bytes(data))

        return get

    await _bounded([job(k) for k in keys])
    return len(keys)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: obstore_copy.py SRC DST (one side s3://bucket/prefix)", file=sys.stderr)
        return 2
    src, dst = argv
    if src.startswith("s3://") and not dst.startswith("s3://"):
        asyncio.run(download(src, Path(dst)))
    elif dst.startswith("s3://") and not src.startswith("s3://"):
        asyncio.run(upload(Path(src), dst))
    else:
        print("obstore_copy.py copies between a folder and s3:// only", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # Ended without the interpreter's teardown: with obstore 0.12 the process sometimes aborts
    # there (SIGABRT, no Python frame; 3 of 8 uploads here), after every file is written. The
    # few milliseconds of teardown skipped do not change the rows.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
