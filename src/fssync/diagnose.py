"""Turn exceptions from any backend into one line a user can act on, and say whether the run can
go on (a per-file failure) or must stop (credentials, missing bucket, unreachable endpoint)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import attrs

from fssync.errors import (
    AuthError,
    ExitCode,
    FatalError,
    FssyncError,
    MissingBucketError,
    UnreachableError,
    UnsafeWrite,
    UsageError,
)
from fssync.settings.secrets import scrub

_AUTH = {
    "InvalidAccessKeyId": "the store does not know this access key id; check --access-key-id, "
    "AWS_ACCESS_KEY_ID or the profile (temporary ASIA... keys also need their session token)",
    "SignatureDoesNotMatch": "the request signature was rejected: the secret key does not match "
    "the access key id",
    "InvalidToken": "the session token was rejected; pass the token that came with these "
    "temporary credentials (--session-token, AWS_SESSION_TOKEN or the x-amz-security-token "
    "header)",
    "ExpiredToken": "the temporary credentials have expired; get new ones, or let fssync fetch "
    "and refresh them (--role-arn / --sts)",
    "TokenRefreshRequired": "the temporary credentials have expired and must be refreshed",
    "InvalidClientTokenId": "the security token or access key id is invalid",
    "AuthorizationHeaderMalformed": "the authorization header was malformed; check --region",
}
_RETRYABLE = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling"}


@attrs.frozen
class Diagnosis:
    message: str
    fatal: bool
    error: type[FssyncError] = FatalError
    code: str | None = None
    retryable: bool = True
    changed: bool = False  # the source object changed during the transfer (412)

    def exception(self) -> FssyncError:
        exc = self.error(self.message)
        exc.code = self.code  # the store's error code, for callers that know more context
        return exc


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _client_error(exc: BaseException) -> tuple[str, int, str] | None:
    for e in _chain(exc):
        response = getattr(e, "response", None)
        if isinstance(response, dict) and "Error" in response:
            err = response["Error"]
            status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            return str(err.get("Code", "")), status, str(err.get("Message", ""))
    return None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return scrub(text[0] if text else type(exc).__name__)


def _refused(exc: BaseException) -> str | None:
    """What a server said when it refused this login an operation it may not do: a WebDAV or
    HTTP server's 403, an FTP server's 550 for missing privileges."""
    for e in _chain(exc):
        name = type(e).__name__
        response = getattr(e, "response", None)
        status = getattr(e, "status_code", None) or getattr(response, "status_code", None)
        if name in ("HTTPStatusError", "HTTPError") and status == 403:
            return "the server answered 403 Forbidden"
        text = str(e)
        if name == "error_perm" and text.startswith("550"):
            lowered = text.lower()
            if "privilege" in lowered or "permission" in lowered:
                return f"the FTP server answered {first_line(e)}"
    return None


def diagnose(exc: BaseException, *, where: str, listing: bool = False) -> Diagnosis:
    """Classify an exception raised while working on `where` (a URL or key)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]  # concurrent parts of one transfer: the first failure tells
    if isinstance(exc, FssyncError):
        return Diagnosis(scrub(str(exc)), fatal=True, error=type(exc), retryable=False)
    client = _client_error(exc)
    if client is not None:
        code, status, message = client
        if code in _AUTH:
            return Diagnosis(f"{where}: {_AUTH[code]} ({code})", True, AuthError, code, False)
        if code == "NoSuchBucket":
            return Diagnosis(
                f"{where}: the bucket does not exist; create it or check the name",
                True,
                MissingBucketError,
                code,
                False,
            )
        if code in ("AccessDenied", "AllAccessDisabled") or status == 403:
            return Diagnosis(
                f"{where}: access denied ({code or status}); the credentials lack permission",
                listing,
                AuthError,
                code,
                False,
            )
        if code == "PreconditionFailed" or status == 412:
            return Diagnosis(
                f"{where}: the object changed on the source while it was downloaded (its ETag "
                "is no longer the listed one); nothing of it was stored",
                False,
                FatalError,
                code,
                False,
                changed=True,
            )
        retry = code in _RETRYABLE or status >= 500 or status == 429
        text = scrub(f"{where}: {code or status}: {message}".strip().rstrip(":"))
        return Diagnosis(text, False, FatalError, code, retry)
    names = {type(e).__name__ for e in _chain(exc)}
    if names & {"gaierror", "ClientConnectorDNSError"}:
        return Diagnosis(
            f"{where}: cannot find the endpoint's host: its name does not resolve (DNS); check "
            "--endpoint-url and the network",
            listing,
            UnreachableError,
            None,
            True,
        )
    if "ProfileNotFound" in names:
        profile = next(
            (getattr(e, "kwargs", {}).get("profile") for e in _chain(exc) if hasattr(e, "kwargs")),
            None,
        )
        named = f"profile {profile!r}" if profile else "the profile"
        return Diagnosis(
            f"{where}: {named} is not in the AWS config files (~/.aws/config, "
            "~/.aws/credentials, or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE); check "
            "--profile or AWS_PROFILE",
            True,
            UsageError,
            "ProfileNotFound",
            False,
        )
    certificate = bad_certificate(exc)
    if certificate is not None:
        # The same answer for every request to this endpoint: one line and stop, never retried.
        return Diagnosis(
            f"{where}: the endpoint's TLS certificate failed verification ({certificate}); "
            "trust its authority with --ca-bundle or AWS_CA_BUNDLE, or check the host name",
            True,
            UnreachableError,
            None,
            False,
        )
    login = _login_refused(exc, names)
    if login is not None:
        return Diagnosis(f"{where}: {login}", True, AuthError, None, False)
    if names & {
        "EndpointConnectionError",
        "ClientConnectorError",
        "ConnectionRefusedError",
        "ConnectTimeoutError",
    }:
        return Diagnosis(
            f"{where}: cannot connect to the endpoint; is the server running, and are its "
            "host and port right (--endpoint-url, or the remote's host and port)?",
            listing,
            UnreachableError,
            None,
            True,
        )
    if "NoCredentialsError" in names:
        return Diagnosis(
            f"{where}: no credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "use --profile, or --anonymous for a public bucket",
            True,
            AuthError,
            None,
            False,
        )
    full = _disk_full(exc)
    if full:
        # Every other file would fail the same way: stop at once (rclone does too) rather than
        # retry and fail them one by one. Temporary files are removed as the transfers stop.
        return Diagnosis(
            f"{where}: {full} on the destination; free some space (or raise the quota), then "
            "run again",
            True,
            FatalError,
            None,
            False,
        )
    if _read_only(exc):
        # Permanent, and the same for every file: one line and stop, as for a full disk.
        return Diagnosis(
            f"{where}: the destination is on a read-only file system; remount it read-write "
            "or choose another destination, then run again",
            True,
            FatalError,
            None,
            False,
        )
    if isinstance(exc, UnsafeWrite):
        return Diagnosis(f"{where}: {first_line(exc)}", False, FatalError, None, False)
    if isinstance(exc, IsADirectoryError | NotADirectoryError | FileExistsError):
        return Diagnosis(f"{where}: {first_line(exc)}", False, FatalError, None, False)
    if isinstance(exc, PermissionError):
        return Diagnosis(f"{where}: permission denied", listing, AuthError, None, False)
    refused = _refused(exc)
    if refused is not None:
        return Diagnosis(f"{where}: permission denied ({refused})", listing, AuthError, None, False)
    if isinstance(exc, FileNotFoundError):
        return Diagnosis(f"{where}: not found", listing, FatalError, None, False)
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        # The system's words without the path: `where` names the file, and the path may be
        # a temporary file's, which the user never asked for.
        return Diagnosis(f"{where}: {exc.strerror}", listing, FatalError)
    return Diagnosis(f"{where}: {type(exc).__name__}: {first_line(exc)}", listing, FatalError)


def bad_certificate(exc: BaseException) -> str | None:
    """Why the peer's certificate was refused, when a TLS handshake failed verification."""
    import ssl

    for e in _chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return e.verify_message or "not trusted"
    return None


def _read_only(exc: BaseException) -> bool:
    import errno

    return any(isinstance(e, OSError) and e.errno == errno.EROFS for e in _chain(exc))


def _disk_full(exc: BaseException) -> str | None:
    """'no space left' or 'disk quota exceeded' when a write failed for want of space."""
    import errno

    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return "no space left on the device"
        if isinstance(e, OSError) and e.errno == errno.EDQUOT:
            return "disk quota exceeded"
    return None


def _login_refused(exc: BaseException, names: set[str]) -> str | None:
    """Why a server of another backend refused the login, in its ecosystem's words."""
    if "HostKeyNotVerifiable" in names:
        return (
            "the server's host key is not in known_hosts (unknown host key); add it with "
            "ssh-keyscan, or name the file with known-hosts in the remote"
        )
    if "PermissionDenied" in names:  # asyncssh: every offered password and key refused
        return "the SSH server refused the login; check username, password or key-file"
    if "ClientAuthenticationError" in names:  # azure-core
        return (
            "Azure refused the credentials; check the account key, SAS token or connection string"
        )
    for e in _chain(exc):
        text = str(e)
        if type(e).__name__ == "HttpResponseError" and "failed to authenticate" in text:
            return (
                "Azure refused the credentials; check the account key, SAS token or "
                "connection string"
            )
        if type(e).__name__ == "error_perm" and text.startswith("530"):
            return "the FTP server refused the login (530); check username and password"
        if type(e).__name__ in ("HTTPStatusError", "HTTPError") and " 401 " in f" {text} ":
            return "the server refused the login (401); check username and password"
    return None


# What the store says when it does not accept credentials, in words about fetched ones.
_KEYS_REFUSED = {
    "InvalidAccessKeyId": "the store does not know the access key id they hold",
    "SignatureDoesNotMatch": "the store rejected the signature made with their secret key",
    "InvalidToken": "the store rejected their session token",
    "InvalidClientTokenId": "the store rejected their access key id or session token",
}


def refused_fetched_keys(exc: BaseException, fetched_by: Mapping[str, str]) -> FssyncError | None:
    """The store refused keys that STS issued: the advice about --access-key-id would mislead,
    as the user gave none of these keys; say where they came from instead."""
    if not fetched_by or not isinstance(exc, FssyncError):
        return None
    if exc.code not in _KEYS_REFUSED:
        return None
    text = str(exc)
    url = next((u for u in fetched_by if text.startswith(u)), next(iter(fetched_by)))
    where = text.split(": ", 1)[0]
    better = type(exc)(
        f"{where}: the store refused the temporary credentials fetched with "
        f"{fetched_by[url]}: {_KEYS_REFUSED[exc.code]} ({exc.code}); they may come from an "
        "STS this store does not trust: check --sts-endpoint-url (or AWS_ENDPOINT_URL_STS) "
        "against --endpoint-url"
    )
    better.code = exc.code
    return better


def stop_reason(exc: BaseException) -> tuple[str, int]:
    """What a run that stopped early tells its reporters, and its exit code."""
    if isinstance(exc, FssyncError):
        return str(exc), int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", int(ExitCode.INTERRUPTED)
    return f"unexpected error: {type(exc).__name__}: {first_line(exc)}", int(ExitCode.FATAL)
