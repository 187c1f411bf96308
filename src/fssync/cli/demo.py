"""`fssync demo`: the whole job with no set-up, against an S3 server started on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from fssync.errors import ExitCode, FatalError

BUCKET = "fssync-demo"
KEY_ID, SECRET = "demo-key", "demo-secret-not-a-real-one"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _copy_sample(target: Path) -> None:
    sample = resources.files("fssync") / "data" / "sample"
    with resources.as_file(sample) as folder:
        shutil.copytree(folder, target)


def run_demo(keep: str | None = None) -> int:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise FatalError("the demo needs moto's server: pip install 'fssync[demo]'") from None
    import fssync

    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="fssync-demo-"))
    local = work / "sample"
    if local.exists():
        shutil.rmtree(local)
    _copy_sample(local)
    os.environ["FSSYNC_STATE_DIR"] = str(work / "state")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _make_bucket(endpoint)
        dst = f"s3://{BUCKET}/sample"
        opts: dict[str, Any] = dict(
            endpoint_url=endpoint,
            access_key_id=KEY_ID,
            secret_access_key=SECRET,
            region="us-east-1",
            console=True,
        )
        print(f"1. A local S3 server is running at {endpoint}; syncing {local} -> {dst}")
        first = fssync.sync(str(local), dst, **opts)
        print("\n2. Re-running the same sync: nothing should move")
        second = fssync.sync(str(local), dst, **opts)
        print("\n3. Editing notes/shopping.md and syncing again: exactly one file should move")
        edited = local / "notes" / "shopping.md"
        edited.write_text(edited.read_text() + "- apples\n")
        later = time.time() + 2
        os.utime(edited, (later, later))
        third = fssync.sync(str(local), dst, **opts)
        print(f"\nWhere the data went: bucket {BUCKET!r} on {endpoint}, prefix 'sample/':")
        fssync_ls(endpoint, dst)
        ok = (
            first.copied > 0
            and second.copied + second.updated == 0
            and third.updated == 1
            and third.copied == 0
            and not (first.failed or third.failed)
        )
        print(
            "\nDemo",
            "succeeded" if ok else "FAILED",
            f"(local files kept in {work})" if keep else "",
        )
        return int(ExitCode.OK if ok else ExitCode.PARTIAL)
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _make_bucket(endpoint: str) -> None:
    import botocore.session

    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )
    client.create_bucket(Bucket=BUCKET)


def fssync_ls(endpoint: str, url: str) -> None:
    from fssync.cli.main import main

    main(
        [
            "ls",
            "-r",
            url,
            "--endpoint-url",
            endpoint,
            "--access-key-id",
            KEY_ID,
            "--secret-access-key",
            SECRET,
        ]
    )
