"""The test servers are real and check credentials; otherwise auth tests would prove nothing.

Tests using a server fixture are marked `s3` by conftest.py.
"""

from __future__ import annotations

import re
import time
import urllib.request

import attrs
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from fssync.testing.servers import MotoAuth, S3Endpoint, SeaweedServer

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def error_code(endpoint: S3Endpoint, bucket: str | None = None) -> str | None:
    """The S3 error code a request with these credentials gets, or None if it succeeds."""
    client = endpoint.client(config=NO_RETRY)
    try:
        if bucket is None:
            client.list_buckets()
        else:
            client.get_object(Bucket=bucket, Key="hello.txt")["Body"].read()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return None


def put_hello(endpoint: S3Endpoint, bucket: str) -> None:
    endpoint.client().put_object(Bucket=bucket, Key="hello.txt", Body=b"hello")


# ---------------------------------------------------------------- both servers


def test_round_trip(bucket: tuple[S3Endpoint, str]) -> None:
    endpoint, name = bucket
    client = endpoint.client()
    body = bytes(range(256)) * 1000
    client.put_object(Bucket=name, Key="dir/file.bin", Body=body, Metadata={"mtime": "123"})
    got = client.get_object(Bucket=name, Key="dir/file.bin")
    assert got["Body"].read() == body
    assert got["Metadata"] == {"mtime": "123"}
    listed = client.list_objects_v2(Bucket=name)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("dir/file.bin", len(body))]


def test_wrong_secret_refused(bucket: tuple[S3Endpoint, str]) -> None:
    endpoint, name = bucket
    put_hello(endpoint, name)
    assert error_code(endpoint, name) is None
    assert (
        error_code(attrs.evolve(endpoint, secret_key="wrong-secret"), name)
        == "SignatureDoesNotMatch"
    )


def test_unknown_key_refused(bucket: tuple[S3Endpoint, str]) -> None:
    endpoint, name = bucket
    put_hello(endpoint, name)
    stranger = attrs.evolve(endpoint, access_key="AKIAFSSYNCSTRANGER00")
    assert error_code(stranger, name) == "InvalidAccessKeyId"
    assert error_code(stranger) == "InvalidAccessKeyId"


def test_make_bucket_names_are_unique_and_valid(s3: S3Endpoint) -> None:
    names = {s3.make_bucket() for _ in range(3)}
    assert len(names) == 3
    assert all(BUCKET_NAME.match(n) for n in names)
    listed = {b["Name"] for b in s3.client().list_buckets()["Buckets"]}
    assert names <= listed
    for name in names:
        s3.client().delete_bucket(Bucket=name)


def test_env_points_sdk_at_endpoint(s3_env: S3Endpoint, bucket: tuple[S3Endpoint, str]) -> None:
    """A client configured only from the environment reaches the same server with the same keys."""
    endpoint, name = bucket
    assert endpoint is s3_env
    put_hello(endpoint, name)
    client = boto3.session.Session().client(
        "s3", config=Config(s3={"addressing_style": "path"}, proxies={})
    )
    assert client.get_object(Bucket=name, Key="hello.txt")["Body"].read() == b"hello"


def test_endpoint_repr_hides_secrets() -> None:
    endpoint = S3Endpoint("http://127.0.0.1:1", "AKID", "sekrit", session_token="tok3n")
    assert "sekrit" not in repr(endpoint)
    assert "tok3n" not in repr(endpoint)
    assert endpoint.env()["AWS_SESSION_TOKEN"] == "tok3n"
    assert "AWS_SESSION_TOKEN" not in attrs.evolve(endpoint, session_token=None).env()


# ---------------------------------------------------------------- SeaweedFS: request counters

REQUEST_COUNTER = re.compile(
    r'^SeaweedFS_s3_request_total\{bucket="(?P<bucket>[^"]*)",code="200",type="(?P<type>\w+)"\} (?P<n>\S+)$',
    re.MULTILINE,
)


def counted(server: SeaweedServer, bucket: str) -> dict[str, int]:
    """Answered requests per type for one bucket, from the server's metrics port."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(server.metrics_url, timeout=5) as response:
        text = response.read().decode()
    return {
        m["type"]: int(float(m["n"]))
        for m in REQUEST_COUNTER.finditer(text)
        if m["bucket"] == bucket
    }


def test_seaweed_counts_requests_by_type(seaweed_server: SeaweedServer) -> None:
    """The benchmark's request counts come from these counters, read on 127.0.0.1 only."""
    assert seaweed_server.metrics_url.startswith("http://127.0.0.1:")
    endpoint = seaweed_server.endpoint
    bucket = endpoint.make_bucket()
    client = endpoint.client()
    client.list_objects_v2(Bucket=bucket)
    put_hello(endpoint, bucket)
    client.head_object(Bucket=bucket, Key="hello.txt")
    expected = {"PUT": 2, "LIST": 1, "GET": 1}  # bucket and object PUTs; HEAD counts as GET
    deadline = time.monotonic() + 5  # a counter moves just after its response is sent
    while (seen := counted(seaweed_server, bucket)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen == expected


# ---------------------------------------------------------------- moto: IAM and STS


def test_moto_user_is_limited_to_its_policy(moto: MotoAuth) -> None:
    """IAM policies are enforced: the user may use S3 and STS but not IAM."""
    with pytest.raises(ClientError) as info:
        moto.endpoint.client("iam", config=NO_RETRY).list_users()
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    identity = moto.endpoint.client("sts").get_caller_identity()
    assert identity["Arn"].endswith(":user/fssync-test")


def test_assume_role_needs_exact_token(moto: MotoAuth) -> None:
    name = moto.endpoint.make_bucket()
    put_hello(moto.endpoint, name)
    temp = moto.assume_role(session_name="round-trip")
    assert temp.access_key.startswith("ASIA")
    assert temp.session_token
    assert temp.url == moto.endpoint.url

    assert error_code(temp, name) is None
    put_hello(temp, name)  # the role's s3:* policy allows writes too
    assert error_code(attrs.evolve(temp, session_token=None), name) == "InvalidAccessKeyId"
    assert (
        error_code(attrs.evolve(temp, session_token=temp.session_token + "x"), name)
        == "InvalidToken"
    )
    assert (
        error_code(attrs.evolve(temp, secret_key="wrong-secret"), name) == "SignatureDoesNotMatch"
    )


def test_assumed_role_identity(moto: MotoAuth) -> None:
    temp = moto.assume_role(session_name="who-am-i")
    arn = temp.client("sts").get_caller_identity()["Arn"]
    assert arn.endswith(":assumed-role/fssync-test-role/who-am-i")
