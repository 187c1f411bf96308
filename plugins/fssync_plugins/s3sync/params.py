"""The classic S3 Sync parameters: their names, what values they take, and how a command line of
``-Name value`` pairs (names in any case) becomes a mapping of checked values."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

import attrs

import fssync


@attrs.frozen
class Param:
    """One classic parameter; `kind` is "text", "bool", "int" or a tuple of allowed words."""

    name: str
    kind: str | tuple[str, ...] = "text"
    default: object = None
    secret: bool = False


PARAMS: tuple[Param, ...] = (
    Param("AWSAccessKeyId"),
    Param("AWSSecretAccessKey", secret=True),
    Param("RequestHeaders"),
    Param("UploadHeaders"),
    Param("BucketName"),
    Param("S3FolderKeyName", default=""),
    Param("LocalFolderPath"),
    Param("SyncDirection", ("Upload", "Download", "Bidirectional"), "Upload"),
    Param("CompareFilesBy", ("ETag", "Size", "FileName"), "ETag"),
    Param("LogOnlyMode", "bool", False),
    Param("OutputLevel", ("0", "1", "2", "3"), "1"),
    Param("LogFilePath"),
    Param("OverwriteExistingLogFile", "bool", True),
    Param("TransferThreads", "int"),
    Param("MultipartThreads", "int"),
    Param("UseMultipartUpload", "bool", True),
    Param("MultipartPartSizeBytes", "int"),
    Param("TransferSpeedLimitKBps", "int", 0),
    Param("ShowTransferProgress", "bool"),
    Param("S3ErrorRetries", "int"),
    Param("OverrideContentTypes"),
    Param("SaveETagInMetadataForMultipart", "bool", True),
    Param("SaveTimestampsInMetadata", "bool", True),
    Param("GetETagFromMetadataForMultipart", "bool", True),
    Param("RestoreTimestampsFromMetadata", "bool", True),
    Param("IncludeLocalSubFolders", "bool", True),
    Param("ExcludeLocalFolders"),
    Param("IncludeOnlyLocalFilesRegularExpression"),
    Param("ExcludeLocalFilesRegularExpression"),
    Param("IncludeOnlyS3FilesRegularExpression"),
    Param("ExcludeS3FilesRegularExpression"),
    Param("DeleteS3ItemsWhereNotInLocalList", "bool", True),
    Param("DeleteLocalItemsWhereNotInS3List", "bool", True),
    Param("DeleteLocalItemsToRecycleBin", "bool", False),
    Param("UseServerSideEncryption", "bool", False),
    Param("UseSSL", "bool", True),
    Param("RequestEndpoint"),
    Param("IgnoreSSLCertificateErrors", "bool", False),
    Param("EmailLogCondition", ("0", "1", "2"), "0"),
    Param("EmailSMTPHost"),
    Param("EmailSMTPPort", "int"),
    Param("EmailSMTPUseSSL", "bool", False),
    Param("EmailSMTPUserName"),
    Param("EmailSMTPPassword", secret=True),
    Param("EmailFrom"),
    Param("EmailTo"),
    Param("LicenseKey", secret=True),
    Param("ConfigFile"),
)
ALIASES = {"includesubfolders": "IncludeLocalSubFolders"}
BY_NAME: Mapping[str, Param] = {p.name.lower(): p for p in PARAMS}
REQUIRED = ("AWSAccessKeyId", "AWSSecretAccessKey", "BucketName", "LocalFolderPath")


def lookup(name: str) -> Param:
    """The parameter `name` means (any case, with or without its leading '-'), or a usage error
    that names the closest known one."""
    bare = name.lstrip("-").lower()
    bare = ALIASES.get(bare, bare).lower()
    if bare in BY_NAME:
        return BY_NAME[bare]
    known = [*BY_NAME, *ALIASES]
    close = difflib.get_close_matches(bare, known, n=1, cutoff=0.6)
    hint = ""
    if close:
        best = BY_NAME[ALIASES.get(close[0], close[0]).lower()].name
        hint = f"; did you mean -{best}?"
    raise fssync.UsageError(f"unknown S3 Sync parameter {name!r}{hint}")


def value_of(param: Param, text: str) -> object:
    """`text` checked and converted for `param`; never echoes a secret in the error."""
    shown = "(hidden)" if param.secret else repr(text)
    if param.kind == "bool":
        word = text.strip().lower()
        if word not in ("true", "false"):
            raise fssync.UsageError(f"-{param.name} takes true or false, not {shown}")
        return word == "true"
    if param.kind == "int":
        try:
            number = int(text.strip())
        except ValueError:
            raise fssync.UsageError(f"-{param.name} takes a whole number, not {shown}") from None
        if number < 0:
            raise fssync.UsageError(f"-{param.name} cannot be negative")
        return number
    if isinstance(param.kind, tuple):
        by_fold = {k.lower(): k for k in param.kind}
        found = by_fold.get(text.strip().lower())
        if found is None:
            raise fssync.UsageError(f"-{param.name} takes {' | '.join(param.kind)}, not {shown}")
        return found
    return text


def parse_words(words: Sequence[str]) -> dict[str, str]:
    """``-Name value`` pairs into {canonical name: raw text}; later values win."""
    out: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("-") or word == "-":
            raise fssync.UsageError(
                f"expected a parameter such as -BucketName, found a value; S3 Sync parameters "
                f"are written '-Name value' (word {i + 1})"
            )
        param = lookup(word)
        if i + 1 >= len(words):
            raise fssync.UsageError(f"-{param.name} needs a value")
        out[param.name] = words[i + 1]
        i += 2
    return out


def checked(raw: Mapping[str, str]) -> dict[str, object]:
    """Every parameter's value: the given ones converted, the others at their classic default."""
    values: dict[str, object] = {p.name: p.default for p in PARAMS}
    for name, text in raw.items():
        param = BY_NAME[name.lower()]
        values[param.name] = value_of(param, text)
    missing = [name for name in REQUIRED if not values.get(name)]
    if missing:
        raise fssync.UsageError(
            f"missing required S3 Sync parameter -{missing[0]}"
            + (f" (also: {', '.join('-' + m for m in missing[1:])})" if missing[1:] else "")
        )
    return values
