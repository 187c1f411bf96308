"""Credentials as values, the interface of plugins that fetch temporary ones, and the rule that
picks static AWS-style credentials from the command line, the environment or a remote.

Nothing here talks to a network: plugins fetch, `stores.s3` signs and refreshes.
"""

from __future__ import annotations

import abc
import time
from typing import TYPE_CHECKING, Any

import attrs

from fssync.errors import UsageError
from fssync.model import redact
from fssync.settings.config import Config, Layer, Setting
from fssync.settings.secrets import register

if TYPE_CHECKING:
    from fssync.settings.location import Location


@attrs.frozen(repr=False)
class Credentials:
    """Credentials to sign requests with. Creating one registers its secrets for redaction."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    expires: float | None = None  # seconds since the epoch; None when they do not expire

    def __attrs_post_init__(self) -> None:
        register(self.secret_access_key, self.session_token)

    def __repr__(self) -> str:
        token = redact(self.session_token) if self.session_token else None
        return (
            f"Credentials(access_key_id={self.access_key_id!r}, "
            f"secret_access_key={redact(self.secret_access_key)!r}, session_token={token!r}, "
            f"expires={self.expires!r})"
        )


class CredentialProvider(abc.ABC):
    """Fetches credentials for one location; returned by the ``fssync_credential_provider`` hook.

    fssync signs every request with what `fetch` returned, calls `fetch` again before the
    credentials expire (judged by `now`), and when the store rejects them as expired in the
    middle of a run, then retries the rejected request once.
    """

    #: For messages and ``-v`` output, e.g. ``"STS AssumeRole arn:aws:iam::1:role/sync"``.
    description: str = "credentials from a plugin"
    #: False when a second `fetch` cannot give new credentials (e.g. a one-time MFA code).
    refreshable: bool = True

    @abc.abstractmethod
    async def fetch(self) -> Credentials:
        """Fetch fresh credentials. Raise ``fssync.AuthError`` with one line when that fails."""

    def now(self) -> float:
        """The current time in seconds since the epoch; tests override it to move time."""
        return time.time()


# --------------------------------------------------------------------------- static credentials

#: Option name -> the standard environment variables that set it, most specific first.
STATIC_ENV: dict[str, tuple[str, ...]] = {
    "access_key_id": ("AWS_ACCESS_KEY_ID",),
    "secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "session_token": ("AWS_SESSION_TOKEN",),
    "profile": ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"),
    "anonymous": (),
}


@attrs.frozen
class StaticAuth:
    """Which long-term (or caller-supplied temporary) credentials a location uses.

    `method` is ``keys``, ``profile``, ``anonymous`` or ``default`` (the SDK's own chain:
    ~/.aws default profile, container or instance credentials).
    """

    method: str
    source: str = "default"  # where they came from, for people
    access_key_id: str | None = None
    secret_access_key: str | None = attrs.field(default=None, repr=False)
    session_token: str | None = attrs.field(default=None, repr=False)
    profile: str | None = None
    token_source: str | None = None

    def storage_options(self) -> dict[str, Any]:
        """The s3fs keyword arguments for these credentials."""
        if self.method == "anonymous":
            return {"anon": True}
        if self.method == "keys":
            options: dict[str, Any] = {
                "key": self.access_key_id,
                "secret": self.secret_access_key,
            }
            if self.session_token:
                options["token"] = self.session_token
            return options
        if self.method == "profile":
            return {"profile": self.profile}
        return {}

    def describe(self) -> str:
        """One line for people, without secrets."""
        if self.method == "keys":
            token = f", session token from {self.token_source}" if self.session_token else ""
            return f"access key {self.access_key_id} from {self.source}{token}"
        if self.method == "profile":
            return f"profile {self.profile!r} from {self.source}"
        if self.method == "anonymous":
            return f"anonymous (unsigned requests) from {self.source}"
        return "the default credential chain (~/.aws default profile, instance credentials)"


def _by_layer(config: Config, location: Location | None) -> dict[Layer, dict[str, Setting]]:
    layers: dict[Layer, dict[str, Setting]] = {}
    for name, env in STATIC_ENV.items():
        for found in config.layers(name, location=location, env=env):
            layers.setdefault(found.layer, {})[name] = found
    return layers


def resolve_static(config: Config, location: Location | None = None) -> StaticAuth:
    """Pick static credentials by the precedence rule, taking them whole from one layer.

    The first layer (command line, environment, the location's remote) that names any
    credentials decides: anonymous, a key pair, or a profile. A session token is used with the
    key pair of its own layer or of a lower one, never with one from a higher layer: a stale
    AWS_SESSION_TOKEN does not attach itself to keys given on the command line.
    """
    layers = _by_layer(config, location)
    token: Setting | None = None
    for layer in sorted(layers):
        found = layers[layer]
        key, secret = found.get("access_key_id"), found.get("secret_access_key")
        profile, anonymous = found.get("profile"), found.get("anonymous")
        token = token or found.get("session_token")
        if anonymous is not None and bool(anonymous.value):
            if key is not None or profile is not None:
                raise UsageError(
                    f"{anonymous.source}: anonymous access takes no access key or profile"
                )
            return StaticAuth("anonymous", anonymous.source)
        if (key is None) != (secret is None):
            have, missing = (key, "secret access key") if key else (secret, "access key id")
            assert have is not None
            raise UsageError(
                f"{have.source} is set but the {missing} is not: the access key id and the "
                "secret access key go together"
            )
        if key is not None and secret is not None:
            if profile is not None and layer is not Layer.ENVIRONMENT:
                raise UsageError(
                    f"{profile.source} and {key.source} both name credentials: choose one"
                )
            return StaticAuth(
                "keys",
                key.source,
                access_key_id=str(key.value),
                secret_access_key=str(secret.value),
                session_token=str(token.value) if token else None,
                token_source=token.source if token else None,
            )
        if profile is not None:
            if token is not None:
                raise UsageError(
                    f"a session token ({token.source}) goes with an access key, not with a "
                    f"profile ({profile.source})"
                )
            return StaticAuth("profile", profile.source, profile=str(profile.value))
    if token is not None:
        raise UsageError(
            f"a session token ({token.source}) needs the access key id and secret access key "
            "it was issued with"
        )
    return StaticAuth("default")
