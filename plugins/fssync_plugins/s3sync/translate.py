"""Turn checked S3 Sync settings into the ``fssync sync`` command line that does the same job.

Each word of the result keeps how it is shown: secrets are shown as shell references to
environment variables (``"$AWS_SECRET_ACCESS_KEY"``), so the line ``--explain`` prints is both
safe to paste into a ticket and runnable once those variables are set.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping

import attrs

import fssync

SECRET_HEADER = re.compile(r"token|secret|password|authorization|credential", re.IGNORECASE)
RECYCLE_SUFFIX = ".s3sync-deleted"  # the backup folder beside the local folder


@attrs.frozen
class Word:
    value: str
    shown: str | None = None  # a double-quoted shell word referring to a variable, for secrets


@attrs.frozen
class Native:
    """The native command line (after ``fssync``), and the variables its secrets travel in."""

    words: tuple[Word, ...]
    env: Mapping[str, str] = attrs.field(factory=dict)  # variable -> secret value
    run_env: Mapping[str, str] = attrs.field(factory=dict)  # what the run reads from there

    @property
    def argv(self) -> list[str]:
        return [w.value for w in self.words]

    def explain(self) -> str:
        """The line to print: secrets as "$VARIABLE", everything else quoted for a shell."""
        line = " ".join(w.shown if w.shown else shlex.quote(w.value) for w in self.words)
        text = f"fssync {line}"
        if self.env:
            names = ", ".join(sorted(self.env))
            text = f"# secrets not shown: set {names} in the environment, then run\n{text}"
        return text


def _pairs(text: object, what: str) -> list[tuple[str, str]]:
    """``name:value|name:value`` into pairs, each checked to have a name."""
    out = []
    for part in str(text).split("|"):
        if not part.strip():
            continue
        name, sep, value = part.partition(":")
        if not sep or not name.strip():
            raise fssync.UsageError(f"{what} takes name:value pairs separated by '|'")
        out.append((name.strip(), value.strip()))
    return out


def local_path(text: str) -> str:
    """The folder as fssync reads it: as written on Windows; elsewhere a plain path, so that
    ``C:\\myfolder`` is a folder of that name and not a remote called C."""
    if os.name == "nt" or os.path.isabs(text) or text.startswith("."):
        return text
    return "./" + text


def _relative_folder(folder: str, local: str) -> str:
    """An excluded folder relative to the local folder, as a key prefix with '/'."""
    for base in (local, local.replace("\\", "/")):
        low, head = folder.lower(), base.lower().rstrip("\\/")
        if head and low.startswith(head) and low[len(head) : len(head) + 1] in ("\\", "/"):
            folder = folder[len(head) + 1 :]
            break
    return folder.replace("\\", "/").strip("/")


def translate(v: Mapping[str, object]) -> Native:
    """The native command line for the settings `v` (every parameter, defaults filled in)."""
    words: list[Word] = []
    env: dict[str, str] = {}
    run_env: dict[str, str] = {}

    def add(*values: str) -> None:
        words.extend(Word(x) for x in values)

    def secret(option: str, value: str, variable: str, prefix: str = "") -> None:
        env[variable] = value
        words.extend((Word(option), Word(prefix + value, f'"{prefix}${variable}"')))

    direction = v["SyncDirection"]
    both = direction == "Bidirectional"
    if v["IgnoreSSLCertificateErrors"]:
        raise fssync.UsageError(
            "-IgnoreSSLCertificateErrors true is not available: fssync always checks "
            "certificates (give the endpoint's CA through AWS_CA_BUNDLE instead)"
        )
    prefix = str(v["S3FolderKeyName"] or "").replace("\\", "/").strip("/")
    bucket = str(v["BucketName"]).strip()
    remote = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    local = local_path(str(v["LocalFolderPath"]))
    upload = direction == "Upload" or both  # a two-way job uploads too
    if both:
        # Two-way: the newer version wins a conflict, as S3 Sync's bidirectional mode keeps
        # it; deletions since the last run are carried both ways (fssync keeps the state).
        add("bisync", local, remote, "--conflict", "newer")
    else:
        add("sync", *((local, remote) if upload else (remote, local)))

    add(
        "--compare",
        {"ETag": "checksum", "Size": "size", "FileName": "existence"}[str(v["CompareFilesBy"])],
    )
    if both:
        pass  # deletions follow the state, not a flag
    elif v["DeleteS3ItemsWhereNotInLocalList" if upload else "DeleteLocalItemsWhereNotInS3List"]:
        add("--delete")
    if not upload and v["DeleteLocalItemsToRecycleBin"]:
        add("--backup-dir", local.rstrip("\\/") + RECYCLE_SUFFIX)
    if v["LogOnlyMode"]:
        add("--dry-run")
    level = str(v["OutputLevel"])
    if level == "0":
        add("--quiet")
    elif level in ("2", "3"):
        add("-" + "v" * (int(level) - 1))
    if v["LogFilePath"]:
        add("--log-file", str(v["LogFilePath"]))
        if not v["OverwriteExistingLogFile"]:
            add("--log-file-append")
    if v["TransferThreads"]:
        add("--transfers", str(v["TransferThreads"]))
    if v["S3ErrorRetries"] is not None:
        add("--retries", str(v["S3ErrorRetries"]))
    if v["TransferSpeedLimitKBps"]:
        add("--bwlimit", f"{v['TransferSpeedLimitKBps']}k")
    if v["ShowTransferProgress"] is not None:
        add("--progress" if v["ShowTransferProgress"] else "--no-progress")

    # credentials, endpoint, headers
    add("--access-key-id", str(v["AWSAccessKeyId"]))
    secret("--secret-access-key", str(v["AWSSecretAccessKey"]), "AWS_SECRET_ACCESS_KEY")
    scheme = "https" if v["UseSSL"] else "http"
    endpoint = str(v["RequestEndpoint"] or "").strip()
    if endpoint:
        add("--endpoint-url", endpoint if "://" in endpoint else f"{scheme}://{endpoint}")
    elif not v["UseSSL"]:
        add("--endpoint-url", "http://s3.amazonaws.com")
    hidden = 0
    for name, value in _pairs(v["RequestHeaders"] or "", "-RequestHeaders"):
        if name.lower() == "x-amz-security-token":
            secret("--header", value, "AWS_SESSION_TOKEN", f"{name}:")
        elif SECRET_HEADER.search(name):
            hidden += 1
            secret("--header", value, f"S3SYNC_HEADER_{hidden}", f"{name}:")
        else:
            add("--header", f"{name}:{value}")

    # what goes up, and how
    if upload:
        for name, value in _pairs(v["UploadHeaders"] or "", "-UploadHeaders"):
            add("--upload-header", f"{name}:{value}")
        types = []
        for ext, kind in _pairs(v["OverrideContentTypes"] or "", "-OverrideContentTypes"):
            types.append(f"{ext if ext.startswith('.') else '.' + ext}:{kind}")
        if types:
            add("--content-type-map", "|".join(types))
        if v["UseServerSideEncryption"]:
            add("--sse", "AES256")
        if v["SaveTimestampsInMetadata"]:
            add("--s3sync-save-timestamps")
        if v["SaveETagInMetadataForMultipart"]:
            add("--s3sync-save-etags")
        if v["MultipartPartSizeBytes"]:
            add("--multipart-chunk-size", str(v["MultipartPartSizeBytes"]))
        if not v["UseMultipartUpload"]:  # one PUT up to S3's limit; larger files need parts
            add("--multipart-threshold", "5G")

    # which files: exclusions first, since the first matching rule decides
    raw_local = str(v["LocalFolderPath"])
    for folder in str(v["ExcludeLocalFolders"] or "").split("|"):
        rel = _relative_folder(folder.strip(), raw_local) if folder.strip() else ""
        if rel:
            add("--exclude", f"{rel}/**")
    if not v["IncludeLocalSubFolders"]:
        add("--exclude-regex", "/")
    for name in ("ExcludeLocalFilesRegularExpression", "ExcludeS3FilesRegularExpression"):
        if v[name]:
            add("--exclude-regex", str(v[name]))
    for name in ("IncludeOnlyLocalFilesRegularExpression", "IncludeOnlyS3FilesRegularExpression"):
        if v[name]:
            add("--include-regex", str(v[name]))

    # e-mail
    condition = str(v["EmailLogCondition"])
    if condition != "0":
        recipients = [r.strip() for r in re.split(r"[,;|]", str(v["EmailTo"] or "")) if r.strip()]
        if not recipients:
            raise fssync.UsageError(f"-EmailLogCondition {condition} needs -EmailTo")
        for address in recipients:
            add("--email-to", address)
        add("--email-on", "error" if condition == "1" else "always")
        if v["EmailFrom"]:
            add("--email-from", str(v["EmailFrom"]))
        if v["EmailSMTPHost"]:
            add("--smtp-host", str(v["EmailSMTPHost"]))
        if v["EmailSMTPPort"]:
            add("--smtp-port", str(v["EmailSMTPPort"]))
        add("--smtp-tls", "starttls" if v["EmailSMTPUseSSL"] else "none")
        if v["EmailSMTPUserName"]:
            add("--smtp-user", str(v["EmailSMTPUserName"]))
        if v["EmailSMTPPassword"]:
            env["FSSYNC_SMTP_PASSWORD"] = run_env["FSSYNC_SMTP_PASSWORD"] = str(
                v["EmailSMTPPassword"]
            )
    return Native(tuple(words), env, run_env)
