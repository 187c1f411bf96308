"""Decide whether the fast path can serve a location's storage options, and with what settings.

The fast path must never quietly do less than the s3fs path would: anything it does not
understand (an unknown storage option, a client setting, a profile with SSO or a role, a proxy,
an AWS partition other than the main one) is a reason to leave the location to s3fs.

Credentials are looked up the way botocore does, cheapest first: explicit keys, then the
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` variables (botocore's first provider), and only
then botocore's own credential chain, imported lazily, whose refreshable credentials are asked
for a frozen copy before every request so that a refresh (STS, SSO, instance roles) keeps working.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from typing import Any

import attrs

import fssync
from fssync.plugin import KeySource, register, s3meta

# Options fssync's own plugins produce and the fast path understands.
_KNOWN = frozenset(
    {"key", "secret", "token", "anon", "profile", "endpoint_url", "client_kwargs", "headers",
     "upload_headers", "stall_timeout", s3meta.MULTIPART_OPTION, s3meta.OPERATION_HEADERS}
)  # fmt: skip
# Profile settings that change nothing about S3 requests, or that the fast path honours.
_PROFILE_OK = frozenset(
    {"region", "output", "aws_access_key_id", "aws_secret_access_key", "aws_session_token",
     "cli_pager", "cli_timestamp_format", "cli_follow_urlparam", "cli_binary_format",
     "cli_history", "cli_auto_prompt", "max_attempts", "retry_mode", "parameter_validation",
     "tcp_keepalive", "metadata_service_timeout", "metadata_service_num_attempts", "ca_bundle"}
)  # fmt: skip
_AWS_REGION = re.compile(r"^(?:us|eu|ap|ca|sa|me|af|il|mx)-[a-z]+-\d+$")
_DNS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9\-]{1,61}[a-z0-9]$")


class CannotServe(Exception):
    """The fast path cannot serve these options; the message says why."""


@attrs.frozen
class Settings:
    endpoint: str  # scheme://host[:port][/base]
    region: str
    identity: str  # the same store identity the s3fs path uses, so recorded state is shared
    virtual_host: bool
    credentials: Credentials = attrs.field(repr=False)
    # extra signed headers (name, value): on every request, and on uploads only; values may be
    # secrets (a session token), so they stay out of the repr
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)
    upload_headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)
    parts: s3meta.PartPlan = s3meta.PartPlan()  # --multipart-threshold, --multipart-chunk-size
    # signed into the named operations only (SSE-C keys: secrets, kept out of the repr)
    operation_headers: Mapping[str, tuple[tuple[str, str], ...]] = attrs.field(
        factory=dict, repr=False
    )
    stall_timeout: float = s3meta.STALL_TIMEOUT  # no byte sent or received this long: retried
    ca_bundle: str | None = None  # PEM file of the authorities an https endpoint is checked with


class Credentials:
    """Where signing keys come from: fixed keys, nothing (anonymous), a plugin's provider
    (through fssync's `KeySource`), or botocore's chain."""

    def __init__(
        self,
        static: tuple[str, str, str | None] | None = None,
        *,
        anonymous: bool = False,
        profile: str | None = None,
        provider: Any = None,
        keys: KeySource | None = None,
    ) -> None:
        """`provider`: botocore credentials already found (e.g. refreshable ones)."""
        self._static = static
        self._anonymous = anonymous
        self._profile = profile
        self._provider: Any = provider
        self._keys = keys
        self._fetched: tuple[str, str, str | None] | None = None
        self._lock = threading.Lock()

    @property
    def needs_chain(self) -> bool:
        return self._static is None and not self._anonymous and self._keys is None

    async def prepare(self) -> int:
        """Make sure the keys are fresh before a request is signed (a plugin's provider may
        fetch here); return the generation to hand to `expired` if the store refuses them."""
        keys = self._keys
        if keys is None:
            return 0
        creds = await keys.current()
        self._fetched = (creds.access_key_id, creds.secret_access_key, creds.session_token)
        return keys.generation

    def expired(self, generation: int) -> bool:
        """The store said the keys of `generation` have expired: whether a retry can work."""
        return self._keys is not None and self._keys.expired(generation)

    def load_chain(self) -> None:
        """Find credentials through botocore's chain (blocking: call it in a worker thread)."""
        if not self.needs_chain or self._provider is not None:
            return
        with self._lock:
            if self._provider is not None:
                return
            import botocore.session
            from botocore.exceptions import NoCredentialsError

            session = botocore.session.Session(profile=self._profile)
            found = session.get_credentials()
            if found is None:
                raise NoCredentialsError()
            self._provider = found

    def __call__(self) -> tuple[str, str, str | None] | None:
        if self._static is not None:
            return self._static
        if self._fetched is not None:
            return self._fetched
        if self._anonymous:
            return None
        if self._provider is None:
            self.load_chain()
        frozen = self._provider.get_frozen_credentials()  # refreshes when close to expiry
        register(frozen.secret_key, frozen.token)
        return frozen.access_key, frozen.secret_key, frozen.token

    def __repr__(self) -> str:
        kind = (
            "static"
            if self._static
            else "anonymous"
            if self._anonymous
            else "plugin"
            if self._keys
            else "chain"
        )
        return f"Credentials({kind})"


def _config_file(env: Mapping[str, str]) -> str:
    return env.get("AWS_CONFIG_FILE") or os.path.join(os.path.expanduser("~"), ".aws", "config")


def _profile_settings(env: Mapping[str, str], profile: str | None) -> dict[str, str]:
    """The settings of the active profile in the shared config file (empty when there is none).

    Read with configparser, not botocore, so that a plain profile costs no botocore import.
    """
    path = _config_file(env)
    if not os.path.exists(path):
        return {}
    import configparser

    name = profile or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        raise CannotServe(f"cannot read the AWS config file: {exc}") from None
    section = "default" if name == "default" else f"profile {name}"
    if not parser.has_section(section):
        return {}
    return dict(parser.items(section))


def _proxy_for(env: Mapping[str, str], scheme: str, host: str) -> str | None:
    proxy = env.get(f"{scheme}_proxy") or env.get(f"{scheme.upper()}_PROXY")
    if not proxy:
        return None
    skip = env.get("no_proxy") or env.get("NO_PROXY") or ""
    for item in (s.strip().lstrip(".") for s in skip.split(",")):
        if item == "*" or (item and (host == item or host.endswith("." + item))):
            return None
    return proxy


def resolve(
    options: Mapping[str, Any], env: Mapping[str, str], keys: KeySource | None = None
) -> Settings:
    """Settings for the fast path, or `CannotServe` with the reason.

    `keys`: the credentials a plugin fetches, which replace any in the options."""
    if keys is not None:
        options = {k: v for k, v in options.items() if k not in s3meta.CREDENTIAL_OPTIONS}
    unknown = sorted(set(options) - _KNOWN)
    if unknown:
        raise CannotServe(f"storage option(s) it does not support: {', '.join(unknown)}")
    client_kwargs = dict(options.get("client_kwargs") or {})
    region = client_kwargs.pop("region_name", None)
    verify = client_kwargs.pop("verify", None)
    if verify is False or (verify is not None and not isinstance(verify, str)):
        raise CannotServe("certificate checks are turned off")
    if client_kwargs:
        raise CannotServe(
            f"client setting(s) it does not support: {', '.join(sorted(client_kwargs))}"
        )
    profile = options.get("profile")
    settings = _profile_settings(env, profile)
    odd = sorted(set(settings) - _PROFILE_OK)
    if odd:
        raise CannotServe(f"the AWS profile sets {', '.join(odd)}, which only botocore handles")
    if profile and not settings and not _in_credentials_file(env, profile):
        raise CannotServe(f"profile {profile!r} is not in the AWS config or credentials file")

    region = (
        region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or settings.get("region")
    )
    endpoint = options.get("endpoint_url")
    if not endpoint and env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        endpoint = str(endpoint).rstrip("/")
        identity = f"s3|{endpoint}"
        region = region or "us-east-1"
        virtual = False  # path-style: every S3-compatible server understands it
    else:
        if not region:
            raise CannotServe("no region is configured (s3fs can discover the bucket's region)")
        if not _AWS_REGION.match(region):
            raise CannotServe(f"region {region!r} is outside the partition it knows")
        host = "s3.amazonaws.com" if region == "us-east-1" else f"s3.{region}.amazonaws.com"
        endpoint = f"https://{host}"
        identity = f"s3|{endpoint}"
        virtual = True
    scheme, _, rest = endpoint.partition("://")
    if scheme not in ("http", "https"):
        raise CannotServe(f"endpoint {endpoint!r} is not http(s)")
    host = rest.split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    if _proxy_for(env, scheme, host):
        raise CannotServe(f"a proxy is configured for {scheme}")
    # the endpoint's certificate is checked against this bundle (botocore's order: the client
    # setting, AWS_CA_BUNDLE, the profile's ca_bundle), else the system's authorities
    ca_bundle = verify or env.get("AWS_CA_BUNDLE") or settings.get("ca_bundle") or None

    credentials = (
        Credentials(keys=keys)
        if keys is not None
        else _credentials(options, env, settings, profile)
    )
    return Settings(
        endpoint,
        region,
        identity,
        virtual,
        credentials,
        _pairs(options.get("headers")),
        _pairs(options.get("upload_headers")),
        s3meta.part_plan(options),
        s3meta.operation_headers(options),
        float(options.get("stall_timeout") or s3meta.STALL_TIMEOUT),
        ca_bundle if scheme == "https" else None,
    )


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    """Header pairs from a storage option, names lower-cased as the signer wants them; a
    value with a line break (header injection) stops the run before any request."""
    problem = s3meta.header_problem(value, "storage option headers")
    if problem:
        raise fssync.UsageError(problem)
    return tuple((str(name).lower(), str(val)) for name, val in value or ())


def _in_credentials_file(env: Mapping[str, str], profile: str) -> bool:
    import configparser

    path = env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(
        os.path.expanduser("~"), ".aws", "credentials"
    )
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return False
    return parser.has_section(profile)


def _credentials(
    options: Mapping[str, Any],
    env: Mapping[str, str],
    settings: Mapping[str, str],
    profile: str | None,
) -> Credentials:
    if options.get("anon"):
        return Credentials(anonymous=True)
    key, secret = options.get("key"), options.get("secret")
    if key and secret:
        return Credentials((str(key), str(secret), options.get("token") or None))
    if key or secret or options.get("token"):
        raise CannotServe("incomplete keys in the storage options")
    if not profile:
        key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if key and secret and not env.get("AWS_CREDENTIAL_EXPIRATION"):
            token = env.get("AWS_SESSION_TOKEN") or env.get("AWS_SECURITY_TOKEN") or None
            return Credentials((key, secret, token))
    return Credentials(profile=profile)


def bucket_is_virtual(bucket: str) -> bool:
    """Whether a bucket can be addressed as a host name (no dots: TLS certificates)."""
    return bool(_DNS_BUCKET.match(bucket))
