"""Shared fixtures: real, credential-checking S3 servers on 127.0.0.1.

Servers are session-scoped (a start costs seconds) and started lazily, only when a test asks
for them. Tests that use them are marked `s3` automatically, so `-m "not s3"` skips them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fssync.testing.faultproxy import FaultProxy
from fssync.testing.servers import MotoAuth, MotoServer, S3Endpoint, SeaweedServer, free_ports

from .notify_servers import Inbox, Receiver

S3_FIXTURES = frozenset(
    {"seaweed", "seaweed_server", "moto", "moto_open", "s3", "bucket", "s3_env"}
)

# Variables that could steer an SDK away from the endpoint a test chose.
_AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
)


@pytest.fixture(autouse=True)
def _clean_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No test sees the developer's AWS variables or fssync config file."""
    for name in (*_AWS_ENV, "FSSYNC_CONFIG", "FSSYNC_S3_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))


@pytest.fixture(params=["fast", "s3fs"])
def s3_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on each S3 request path (``FSSYNC_S3_BACKEND``; fast never falls back).

    Modules that check S3 behaviour end to end use it (``pytest.mark.usefixtures``), so the
    fast plugin and the s3fs store are held to the same tests."""
    monkeypatch.setenv("FSSYNC_S3_BACKEND", request.param)
    return str(request.param)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a server with `s3`."""
    for item in items:
        if S3_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.s3)


@pytest.fixture(scope="session")
def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """SeaweedFS with one static key pair; wrong keys are refused."""
    with SeaweedServer(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


@pytest.fixture(scope="session")
def seaweed(seaweed_server: SeaweedServer) -> S3Endpoint:
    """The endpoint of the session's SeaweedFS server."""
    return seaweed_server.endpoint


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoAuth]:
    """moto with IAM auth on: an IAM user's keys plus a role it may assume."""
    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server.auth


@pytest.fixture(scope="session")
def moto_open(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoAuth]:
    """moto accepting any credentials: only for flows whose keys moto's own checks cannot
    recognise (GetFederationToken, GetSessionToken); tests then check what was sent."""
    with MotoServer(tmp_path_factory.mktemp("moto-open"), check_auth=False) as server:
        yield server.auth


@pytest.fixture(scope="session", params=["moto", "seaweed"])
def s3(request: pytest.FixtureRequest) -> S3Endpoint:
    """Each S3 test runs against both servers; moto through its IAM user's long-term keys."""
    if request.param == "moto":
        auth: MotoAuth = request.getfixturevalue("moto")
        return auth.endpoint
    endpoint: S3Endpoint = request.getfixturevalue("seaweed")
    return endpoint


@pytest.fixture
def bucket(s3: S3Endpoint) -> Iterator[tuple[S3Endpoint, str]]:
    """A fresh, empty bucket on `s3`, emptied and deleted afterwards (SeaweedFS caps volumes)."""
    name = s3.make_bucket()
    yield s3, name
    try:
        _delete_bucket(s3, name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchBucket":  # the test may delete it itself
            raise


@pytest.fixture
def seaweed_buckets(seaweed: S3Endpoint) -> Iterator[Callable[[], str]]:
    """Make fresh SeaweedFS buckets (`make()`), each emptied and deleted after the test."""
    made: list[str] = []

    def make() -> str:
        made.append(seaweed.make_bucket())
        return made[-1]

    yield make
    for name in made:
        _delete_bucket(seaweed, name)


@pytest.fixture
def s3_env(s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> S3Endpoint:
    """Point SDK environment variables at `s3` for one test only; clears competing AWS_* vars."""
    for name in _AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return s3


@pytest.fixture
def fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """Start fault-injecting proxies in front of endpoints: `fault_proxy(endpoint, rate=0.05)`.
    Every proxy is stopped when the test ends."""
    started: list[FaultProxy] = []

    def start(endpoint: S3Endpoint, **options: Any) -> FaultProxy:
        options.setdefault("max_seconds", 120.0)
        proxy = FaultProxy(endpoint.url, **options)
        proxy.start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def _delete_bucket(endpoint: S3Endpoint, name: str) -> None:
    """Abort uploads, delete every object, then the bucket."""
    client = endpoint.client()
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=name):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(
                Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"]
            )
    from concurrent.futures import ThreadPoolExecutor

    def delete(keys: list[dict[str, str]]) -> None:
        client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})

    pages = client.get_paginator("list_objects_v2").paginate(Bucket=name)
    batches = [
        [{"Key": o["Key"]} for o in page["Contents"]] for page in pages if page.get("Contents")
    ]
    with ThreadPoolExecutor(8) as pool:  # a large bucket's pages of 1,000 deleted side by side
        list(pool.map(delete, batches))
    client.delete_bucket(Bucket=name)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_ports(1)[0]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 that records every request (webhook tests)."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


from .backend_fixtures import (  # noqa: E402,F401 - session fixtures of the other backends
    azurite,
    ftp_readonly_server,
    ftp_server,
    gcs_server,
    http_server,
    sftp_server,
    webdav_server,
)
