"""Temporary credentials from STS, fetched by fssync and refreshed before they expire.

Given long-term credentials (chosen like any static ones: flags, environment, profile, remote),
ask STS for temporary ones with AssumeRole (``--role-arn``), GetSessionToken (``--sts session``)
or GetFederationToken (``--sts federation``). fssync then signs with them, fetches new ones
before they expire and when the store says they have (see ``fssync_credential_provider``), and
``fssync credentials`` prints them for other tools.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

import fssync
from fssync.plugin import register

METHODS = ("assume-role", "session", "federation")
STS_ENDPOINT_ENV = ("AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL")
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")
DEFAULT_DURATION = 3600
# The limits STS itself applies: AssumeRole up to 12 h (the role may allow less), the others 36 h.
MIN_DURATION = 900
MAX_DURATION = {"assume-role": 43_200, "session": 129_600, "federation": 129_600}
_FEDERATED_NAME = re.compile(r"^[\w+=,.@-]{2,32}$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
# Loose on purpose: S3-compatible stores write their own partitions and may leave out the account.
_ROLE_ARN = re.compile(r"^arn:[^:\s]+:iam:[^:\s]*:[^:\s]*:role/\S{1,2000}$")


def _duration(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value < MIN_DURATION:
        raise argparse.ArgumentTypeError(f"{value} s is too short: STS needs at least 900")
    return value


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("temporary credentials from STS")
    group.add_argument(
        "--sts",
        choices=METHODS,
        metavar="METHOD",
        help="fetch temporary credentials and refresh them before they expire: assume-role, "
        "session (GetSessionToken) or federation (GetFederationToken)",
    )
    group.add_argument(
        "--role-arn", metavar="ARN", help="the role to assume (implies --sts assume-role)"
    )
    group.add_argument(
        "--role-session-name",
        metavar="NAME",
        help="session name for AssumeRole (default: AWS_ROLE_SESSION_NAME or fssync)",
    )
    group.add_argument("--external-id", metavar="ID", help="external id the role's trust requires")
    group.add_argument(
        "--sts-duration",
        type=_duration,
        metavar="SECONDS",
        help=f"lifetime of the temporary credentials (default {DEFAULT_DURATION})",
    )
    group.add_argument(
        "--sts-policy",
        metavar="FILE",
        help="a JSON policy that narrows the temporary credentials (federation, assume-role)",
    )
    group.add_argument(
        "--sts-name", metavar="NAME", help="the federated user's name (federation; default fssync)"
    )
    group.add_argument("--mfa-serial", metavar="ARN", help="MFA device (session, assume-role)")
    group.add_argument(
        "--mfa-code",
        metavar="CODE",
        help="current MFA code; a code works once, so these credentials cannot be refreshed",
    )
    group.add_argument(
        "--sts-endpoint-url",
        metavar="URL",
        help="STS endpoint (default: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, or AWS)",
    )


@attrs.define
class StsRequest:
    """What to ask STS for, resolved from the settings of one location."""

    method: str
    duration: int = DEFAULT_DURATION
    role_arn: str | None = None
    session_name: str = "fssync"
    external_id: str | None = None
    policy: str | None = None
    name: str = "fssync"
    mfa_serial: str | None = None
    mfa_code: str | None = attrs.field(default=None, repr=False)

    def operation(self) -> tuple[str, dict[str, Any]]:
        """The STS operation and its parameters."""
        params: dict[str, Any] = {"DurationSeconds": self.duration}
        if self.method == "assume-role":
            params.update(RoleArn=self.role_arn, RoleSessionName=self.session_name)
            if self.external_id:
                params["ExternalId"] = self.external_id
        elif self.method == "federation":
            params["Name"] = self.name
        if self.policy is not None:
            params["Policy"] = self.policy
        if self.mfa_serial:
            params.update(SerialNumber=self.mfa_serial, TokenCode=self.mfa_code)
        op = {
            "assume-role": "assume_role",
            "session": "get_session_token",
            "federation": "get_federation_token",
        }
        return op[self.method], params


@attrs.define(eq=False)
class StsProvider(fssync.CredentialProvider):
    """Fetches temporary credentials from STS with long-term credentials `base`."""

    request: StsRequest
    base: fssync.StaticAuth
    endpoint_url: str | None = None
    region: str | None = None
    clock: Callable[[], float] = time.time
    fetches: int = 0

    @property
    def description(self) -> str:  # type: ignore[override]
        what = {
            "assume-role": f"STS AssumeRole {self.request.role_arn}",
            "session": "STS GetSessionToken",
            "federation": f"STS GetFederationToken for {self.request.name!r}",
        }[self.request.method]
        return f"{what} with {self.base.describe()}"

    @property
    def refreshable(self) -> bool:  # type: ignore[override]
        return not self.request.mfa_code

    def now(self) -> float:
        return self.clock()

    def _client_kwargs(self) -> dict[str, Any]:
        from aiobotocore.config import AioConfig

        kwargs: dict[str, Any] = {
            "region_name": self.region or "us-east-1",
            "config": AioConfig(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=10,
                read_timeout=30,
            ),
        }
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        if self.base.method == "keys":
            kwargs.update(
                aws_access_key_id=self.base.access_key_id,
                aws_secret_access_key=self.base.secret_access_key,
                aws_session_token=self.base.session_token,
            )
        return kwargs

    async def fetch(self) -> fssync.Credentials:
        from aiobotocore.session import AioSession
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ParamValidationError,
            ProfileNotFound,
        )

        operation, params = self.request.operation()
        label = operation.replace("_", " ")
        try:
            session = AioSession(profile=self.base.profile)
            async with session.create_client("sts", **self._client_kwargs()) as sts:
                response = await getattr(sts, operation)(**params)
        except ProfileNotFound:
            raise fssync.UsageError(
                f"profile {self.base.profile!r} ({self.base.source}) is not in ~/.aws"
            ) from None
        except ParamValidationError as exc:
            why = " ".join(str(exc).split())
            raise fssync.UsageError(f"STS would refuse the {label} request: {why}") from None
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise fssync.AuthError(
                f"STS refused {label} ({err.get('Code', '?')}: {err.get('Message', '')}); check "
                f"the long-term credentials ({self.base.describe()}) and the STS settings"
            ) from None
        except BotoCoreError as exc:
            where = self.endpoint_url or "the default STS endpoint"
            why = " ".join(str(exc).split())  # a credential_process's stderr has newlines
            raise fssync.AuthError(
                f"cannot get temporary credentials from {where} ({label}): {why}; check "
                "--sts-endpoint-url and the credentials"
            ) from None
        creds = response["Credentials"]
        self.fetches += 1
        return fssync.Credentials(
            access_key_id=creds["AccessKeyId"],
            secret_access_key=creds["SecretAccessKey"],
            session_token=creds["SessionToken"],
            expires=creds["Expiration"].timestamp(),
        )


def _read_policy(path: str, source: str) -> str:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise fssync.UsageError(f"cannot read the policy file {path} ({source}): {exc}") from None
    try:
        json.loads(text)
    except ValueError as exc:
        raise fssync.UsageError(f"the policy file {path} is not valid JSON: {exc}") from None
    return text


def _token_header(config: fssync.Config, location: fssync.Location | None) -> bool:
    for setting in config.layers("header", location=location):
        values = setting.value if isinstance(setting.value, list | tuple) else [setting.value]
        for header in values:
            name = getattr(header, "name", None) or str(header).partition(":")[0]
            if name.strip().lower() == "x-amz-security-token":
                return True
    return False


def sts_request(config: fssync.Config, location: fssync.Location | None) -> StsRequest | None:
    """The STS request a location's settings ask for, or None when they ask for none."""
    method = config.setting("sts", location=location)
    role = config.setting("role_arn", location=location)
    if not method.value and not role.value:
        return None
    chosen = str(method.value or "assume-role")
    if chosen not in METHODS:
        raise fssync.UsageError(
            f"STS method {chosen!r} ({method.source}) is not one of {', '.join(METHODS)}"
        )
    if chosen == "assume-role" and not role.value:
        if location is None:
            return None  # the command line alone; a remote may still name the role
        raise fssync.UsageError("--sts assume-role needs the role: give --role-arn ARN")
    if chosen != "assume-role" and role.value:
        raise fssync.UsageError(
            f"--role-arn ({role.source}) goes with AssumeRole, not with --sts {chosen}"
        )
    if _token_header(config, location):
        raise fssync.UsageError(
            "fssync fetches the session token itself with --sts/--role-arn: drop the "
            "x-amz-security-token header"
        )
    duration_setting = config.setting("sts_duration", location=location, default=DEFAULT_DURATION)
    try:
        duration = int(duration_setting.value)
    except (TypeError, ValueError):
        raise fssync.UsageError(
            f"sts-duration ({duration_setting.source}) must be a whole number of seconds"
        ) from None
    if not MIN_DURATION <= duration <= MAX_DURATION[chosen]:
        raise fssync.UsageError(
            f"sts-duration {duration} ({duration_setting.source}) is outside what STS allows "
            f"for {chosen}: {MIN_DURATION} to {MAX_DURATION[chosen]} seconds"
        )
    request = StsRequest(method=chosen, duration=duration)
    if chosen == "assume-role":
        request.role_arn = str(role.value)
        if not _ROLE_ARN.match(request.role_arn):
            raise fssync.UsageError(
                f"{request.role_arn!r} ({role.source}) is not a role ARN: write "
                "arn:aws:iam::ACCOUNT:role/NAME"
            )
        name = config.setting(
            "role_session_name", location=location, env=("AWS_ROLE_SESSION_NAME",)
        )
        request.session_name = str(name.value or "fssync")
        if not _SESSION_NAME.match(request.session_name):
            raise fssync.UsageError(
                f"role session name {request.session_name!r} ({name.source}) must be 2 to 64 "
                "letters, digits or +=,.@_-"
            )
        external = config.value("external_id", location=location)
        request.external_id = str(external) if external else None
    policy = config.setting("sts_policy", location=location)
    if policy.value:
        if chosen == "session":
            raise fssync.UsageError("--sts-policy applies to federation and assume-role only")
        request.policy = _read_policy(str(policy.value), policy.source)
    if chosen == "federation":
        name = config.setting("sts_name", location=location, default="fssync")
        request.name = str(name.value)
        if not _FEDERATED_NAME.match(request.name):
            raise fssync.UsageError(
                f"federated user name {request.name!r} ({name.source}) must be 2 to 32 letters, "
                "digits or +=,.@_-"
            )
    serial = config.value("mfa_serial", location=location)
    code = config.value("mfa_code", location=location)
    if bool(serial) != bool(code):
        raise fssync.UsageError("--mfa-serial and --mfa-code go together")
    if serial:
        if chosen == "federation":
            raise fssync.UsageError("GetFederationToken takes no MFA: drop --mfa-serial")
        request.mfa_serial, request.mfa_code = str(serial), str(code)
    return request


def provider_for(
    location: fssync.Location | None, config: fssync.Config, clock: Callable[[], float] = time.time
) -> StsProvider | None:
    """The STS provider a location's settings ask for (None when they name no STS method)."""
    request = sts_request(config, location)
    if request is None:
        return None
    base = fssync.resolve_static(config, location)
    if base.method == "anonymous":
        raise fssync.UsageError("STS needs credentials to ask with: drop --anonymous")
    register(base.secret_access_key, base.session_token)
    endpoint = config.setting("sts_endpoint_url", location=location, env=STS_ENDPOINT_ENV)
    if endpoint.value and not str(endpoint.value).startswith(("http://", "https://")):
        raise fssync.UsageError(
            f"STS endpoint {endpoint.value!r} ({endpoint.source}) must start with http:// "
            "or https://"
        )
    region = config.value("region", location=location, env=REGION_ENV)
    return StsProvider(
        request=request,
        base=base,
        endpoint_url=str(endpoint.value) if endpoint.value else None,
        region=str(region) if region else None,
        clock=clock,
    )


@fssync.hookimpl(trylast=True)
def fssync_configure(config: fssync.Config) -> None:
    register(config.get("mfa_code"))
    sts_request(config, None)  # contradictions on the command line fail before anything runs


@fssync.hookimpl(trylast=True)
def fssync_credential_provider(
    location: fssync.Location, config: fssync.Config
) -> fssync.CredentialProvider | None:
    if location.protocol != "s3":
        return None
    return provider_for(location, config)
