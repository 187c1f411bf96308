"""The exception tree and the exit-code table of the CLI contract."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    DIFFERENT = 1  # check found differences
    USAGE = 2  # bad flag, URL, plugin, remote, config; missing local source; unsafe delete
    PARTIAL = 3  # the run finished but some files failed, or deletions were held back
    FATAL = 4  # could not start or continue: auth, missing bucket, unreachable endpoint
    TRANSFER_LIMIT = 8  # --max-transfer reached (rclone's code)
    DURATION_LIMIT = 10  # --max-duration reached (rclone's code)
    INTERRUPTED = 130


class FssyncError(Exception):
    """An error the user can act on; its message is one line naming the problem and the fix."""

    exit_code: ExitCode = ExitCode.FATAL
    #: The store's error code behind it (``InvalidAccessKeyId`` ...), when there was one.
    code: str | None = None


class UsageError(FssyncError):
    exit_code = ExitCode.USAGE


class LocationError(UsageError):
    """A URL or path that cannot be used (malformed, unknown protocol, missing source)."""


class FatalError(FssyncError):
    exit_code = ExitCode.FATAL


class AuthError(FatalError):
    """The store rejected the credentials."""


class UnreachableError(FatalError):
    """The endpoint did not answer."""


class MissingBucketError(FatalError):
    """The bucket does not exist."""


class UnsafeWrite(Exception):
    """A write fssync refuses because it could reach outside the destination (through a
    symbolic link, or a link target that leaves it): that one file fails, never retried."""


class ListingError(FatalError):
    """A listing could not be completed, so nothing can be decided from it (nor deleted)."""
