"""The table of fsspec backends fssync knows by name: URL form, the extra that installs the
client, what each keeps, and the storage options a URL, a remote and the environment give.

Capabilities (what a store keeps and how precisely) live in `location` and the operations each
built-in store implements in `stores.features` (together a store's `features`); this module holds
what a user needs to know to pick and reach a backend, and is what ``fssync backends`` prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs

from fssync.errors import UsageError
from fssync.settings.secrets import register


@attrs.frozen
class Backend:
    """One row of the table users read (docs/how-to/backends.md)."""

    name: str
    protocols: tuple[str, ...]  # the URL schemes, canonical first
    url: str  # how a URL looks
    extra: str | None  # pip install 'fssync[EXTRA]'; None when fssync's own dependencies do
    package: str | None  # the client package that extra brings
    tested_with: str
    read_only: bool = False


BACKENDS: tuple[Backend, ...] = (
    Backend("local", ("file",), "/path or file:///path", None, None, "the local disk"),
    Backend("S3", ("s3",), "s3://bucket/prefix", None, "s3fs", "moto, SeaweedFS"),
    Backend("memory", ("memory",), "memory://path", None, None, "fsspec's memory store"),
    Backend(
        "SFTP", ("sftp", "ssh"), "sftp://user@host:port/path", "sftp", "sshfs", "asyncssh server"
    ),
    Backend("FTP", ("ftp",), "ftp://user@host:port/path", None, None, "pyftpdlib"),
    Backend("WebDAV", ("webdav", "dav"), "webdav://host:port/path", "webdav", "webdav4", "wsgidav"),
    Backend(
        "Azure Blob",
        ("abfs", "az", "abfss"),
        "az://container/prefix",
        "azure",
        "adlfs",
        "Azurite",
    ),
    Backend(
        "Google Cloud Storage",
        ("gs", "gcs"),
        "gs://bucket/prefix",
        "gcs",
        "gcsfs",
        "gcp-storage-emulator",
    ),
    Backend(
        "HTTP(S)",
        ("http", "https"),
        "https://host/folder/",
        None,
        None,
        "a static file server",
        read_only=True,
    ),
    Backend("zip", ("zip",), "zip:///path/archive.zip", None, None, "zipfile", read_only=True),
    Backend("tar", ("tar",), "tar:///path/archive.tar.gz", None, None, "tarfile", read_only=True),
)

_BY_PROTOCOL = {p: b for b in BACKENDS for p in b.protocols}


def backend(protocol: str) -> Backend | None:
    return _BY_PROTOCOL.get(protocol)


def missing_package(protocol: str, url: str) -> str:
    """The one line for a URL whose client package is not installed."""
    row = backend(protocol)
    if row is None or row.extra is None:
        return f"protocol {protocol!r} in {url!r} needs a package that is not installed"
    return (
        f"{url!r} needs the {row.package} package, which is not installed: "
        f"pip install 'fssync[{row.extra}]'"
    )


# Settings a remote of the config file may carry for these backends (``NAME-env`` too).
SETTINGS = frozenset(
    {
        "host",
        "port",
        "username",
        "password",
        "key_file",
        "passphrase",
        "known_hosts",
        "endpoint_url",
        "account_name",
        "account_key",
        "connection_string",
        "sas_token",
        "service_account_file",
        "anonymous",
        "project",
        "tls",
    }
)
# Those that hold secrets: registered for redaction before any request is made.
SECRET_SETTINGS = frozenset(
    {"password", "passphrase", "account_key", "connection_string", "sas_token"}
)
# The environment each ecosystem reads: their secrets are redacted too.
SECRET_ENV = (
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CLIENT_SECRET",
)


def _settings(remote: Any, environ: Mapping[str, str]) -> dict[str, Any]:
    if remote is None:
        return {}
    out: dict[str, Any] = {}
    for name in SETTINGS:
        setting = remote.lookup(name, environ)
        if setting is None:
            continue
        if setting.problem:
            raise UsageError(setting.problem)
        out[name] = setting.value
    return out


def storage_options(
    protocol: str, url: str, remote: Any, environ: Mapping[str, str]
) -> dict[str, Any]:
    """The fsspec options for a location of one of these backends.

    The URL gives host, port and user; a named remote of the config file gives the rest
    (``password``, ``key-file``, ``connection-string``, ...); the ecosystem's own environment
    variables are read by the client libraries themselves, and their secrets registered here.
    """
    given = _settings(remote, environ)
    for name in SECRET_SETTINGS:
        if given.get(name):
            register(str(given[name]))
    register(*(environ.get(name) for name in SECRET_ENV))
    for text in (given.get("connection_string"), environ.get("AZURE_STORAGE_CONNECTION_STRING")):
        register(*_connection_secrets(str(text or "")))
    canonical = backend(protocol)
    kind = canonical.protocols[0] if canonical else protocol
    builder = _BUILDERS.get(kind)
    return builder(url, given, environ) if builder else {}


def _connection_secrets(text: str) -> list[str]:
    """The key and signature inside an Azure connection string, which messages may quote
    without the rest of it."""
    out = []
    for part in text.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() in ("accountkey", "sharedaccesssignature") and value:
            out.append(value.strip())
    return out


def _netloc(url: str) -> tuple[str | None, int | None, str | None, str | None]:
    parts = urlsplit(url)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname, parts.port, user, password


def _sftp(url: str, given: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    host, port, user, password = _netloc(url)
    if password:
        register(password)
    opts: dict[str, Any] = {"host": given.get("host") or host}
    if not opts["host"]:
        raise UsageError(f"{url!r} names no host: use sftp://user@host/path")
    if given.get("port") or port:
        opts["port"] = int(given.get("port") or port or 22)
    if given.get("username") or user:
        opts["username"] = given.get("username") or user
    if given.get("password") or password:
        opts["password"] = given.get("password") or password
    if given.get("key_file"):
        import os

        opts["client_keys"] = [os.path.expanduser(str(given["key_file"]))]
        if given.get("passphrase"):
            opts["passphrase"] = given["passphrase"]
    known = given.get("known_hosts")
    if known is not None:
        # "ignore" accepts any host key (asyncssh's None); a path reads that file.
        import os

        opts["known_hosts"] = None if str(known) == "ignore" else os.path.expanduser(str(known))
    return opts


def _ftp(url: str, given: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    opts = _sftp(url, given, environ)
    opts.pop("client_keys", None)
    opts.pop("passphrase", None)
    opts.pop("known_hosts", None)
    if given.get("tls"):
        opts["tls"] = bool(given["tls"])
    return opts


def _webdav(url: str, given: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    host, port, user, password = _netloc(url)
    base = given.get("endpoint_url")
    if not base:
        if not host:
            raise UsageError(f"{url!r} names no host: use webdav://host:port/path")
        base = f"http://{host}:{port}" if port else f"http://{host}"
    user = given.get("username") or user
    password = given.get("password") or password
    if password:
        register(str(password))
    opts: dict[str, Any] = {"base_url": str(base)}
    if user:
        opts["auth"] = (str(user), str(password or ""))
    return opts


def _azure(url: str, given: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for name in ("account_name", "account_key", "connection_string", "sas_token"):
        if given.get(name):
            opts[name] = str(given[name])
    if given.get("anonymous"):
        opts["anon"] = True
    return opts


def _gcs(url: str, given: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if given.get("endpoint_url"):
        opts["endpoint_url"] = str(given["endpoint_url"])
    if given.get("service_account_file"):
        import os

        opts["token"] = os.path.expanduser(str(given["service_account_file"]))
    elif given.get("anonymous"):
        opts["token"] = "anon"
    if given.get("project"):
        opts["project"] = str(given["project"])
    return opts


def _archive(url: str, given: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    parts = urlsplit(url)
    return {"fo": unquote(parts.netloc + parts.path)}


_BUILDERS = {
    "sftp": _sftp,
    "ftp": _ftp,
    "webdav": _webdav,
    "abfs": _azure,
    "gs": _gcs,
    "zip": _archive,
    "tar": _archive,
}


def table() -> list[dict[str, Any]]:
    """One row per backend: how to reach it and what fssync can rely on there."""
    import importlib.util

    from fssync.settings.location import capabilities_of
    from fssync.stores.features import builtin_operations

    rows = []
    for row in BACKENDS:
        caps = capabilities_of(row.protocols[0])
        installed = row.package is None or importlib.util.find_spec(row.package) is not None
        rows.append(
            {
                "backend": row.name,
                "url": row.url,
                "extra": row.extra,
                "installed": installed,
                "keeps_mtime": caps.keeps_mtime,
                "precision": caps.mtime_window if caps.keeps_mtime else caps.stamp_window,
                "hashes": sorted(caps.hashes),
                "case_sensitive": caps.case_sensitive,
                "name_max": caps.name_max,
                "key_max": caps.key_max,
                "read_only": caps.read_only,
                "compare": _how(caps),
                "operations": sorted(
                    name
                    for name, on in attrs.asdict(builtin_operations(row.protocols[0])).items()
                    if on
                ),
                "tested_with": row.tested_with,
            }
        )
    return rows


def _how(caps: Any) -> str:
    if caps.keeps_mtime:
        return "size and modification time; -c compares MD5s (local files are read to hash)"
    if caps.hashes:
        return "size and write time; -c uses the listed " + "/".join(sorted(caps.hashes))
    return "size and write time (no mtime kept); -c falls back to these"
