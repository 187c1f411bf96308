"""boto3's transfer manager on the AWS Common Runtime (awscrt): the Python ceiling for large files.

Run by the harness as a plain script (``python bench/crt_copy.py SRC DST``), with the endpoint
and keys in the standard AWS variables. It copies every file of a folder up, or every object
under a prefix down, through s3transfer's ``CRTTransferManager``: the manager boto3 picks for
``TransferConfig(preferred_transfer_client="crt")``, whose parts are split, sent in parallel
and checksummed in C. boto3 builds that manager for AWS only (TLS always on, the endpoint left
to the region), so against a plain-HTTP test server this script assembles the same three parts
itself: the CRT S3 client with TLS off, botocore's request serializer pointed at the endpoint,
and the manager over them. Defaults otherwise (8 MiB parts, the CRT's own throughput target).
Standalone, like ``obstore_copy.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def _manager() -> tuple[Any, Any]:
    """The CRT transfer manager boto3 would build, but over plain HTTP to AWS_ENDPOINT_URL."""
    import botocore.session
    from botocore.config import Config
    from s3transfer.crt import (
        BotocoreCRTCredentialsWrapper,
        BotocoreCRTRequestSerializer,
        CRTTransferManager,
        create_s3_crt_client,
    )

    session = botocore.session.get_session()
    region = os.environ.get("AWS_REGION", "us-east-1")
    client_kwargs = {
        "region_name": region,
        "endpoint_url": os.environ["AWS_ENDPOINT_URL"],
        "config": Config(s3={"addressing_style": "path"}),
    }
    serializer = BotocoreCRTRequestSerializer(session, dict(client_kwargs))  # it adds keys
    credentials = BotocoreCRTCredentialsWrapper(session.get_credentials())
    crt = create_s3_crt_client(
        region, crt_credentials_provider=credentials.to_crt_credentials_provider(), use_ssl=False
    )
    manager = CRTTransferManager(crt_s3_client=crt, crt_request_serializer=serializer)
    return manager, session.create_client("s3", **client_kwargs)


def _split(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def upload(root: Path, url: str) -> int:
    bucket, prefix = _split(url)
    manager, _ = _manager()
    files = [p for p in root.rglob("*") if p.is_file()]
    with manager:
        futures = [
            manager.upload(str(p), bucket, f"{prefix}/{p.relative_to(root).as_posix()}")
            for p in files
        ]
        for future in futures:
            future.result()
    return len(files)


def download(url: str, root: Path) -> int:
    bucket, prefix = _split(url)
    manager, client = _manager()
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    with manager:
        futures = []
        for key in keys:
            target = root / key[len(prefix) :].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            futures.append(manager.download(bucket, key, str(target)))
        for future in futures:
            future.result()
    return len(keys)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: crt_copy.py SRC DST (one side s3://bucket/prefix)", file=sys.stderr)
        return 2
    src, dst = argv
    if src.startswith("s3://") and not dst.startswith("s3://"):
        download(src, Path(dst))
    elif dst.startswith("s3://") and not src.startswith("s3://"):
        upload(Path(src), dst)
    else:
        print("crt_copy.py copies between a folder and s3:// only", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
