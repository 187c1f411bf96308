"""fssync as its own credential_process, without a chain of copies that never ends.

The documented recipe has an SDK run ``fssync credentials --json --role-arn ...`` for a profile.
When that profile is also the one ``fssync credentials`` would take its long-term credentials
from (``AWS_PROFILE`` names it), each copy starts another until the machine runs out of memory.
Two guards stop it: ``fssync credentials`` ignores a profile of the environment whose
credential_process runs fssync (and refuses one named with ``--profile``), and it marks the
environment, so a copy started below it refuses to run at all.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Iterator

from fssync.errors import UsageError

#: Set in the environment of ``fssync credentials``; every process it starts inherits it.
MARKER = "FSSYNC_IN_CREDENTIALS"
PROFILE_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def runs_fssync(command: str) -> bool:
    """Whether a credential_process command line starts fssync (``fssync ...``, a path to it,
    or ``python -m fssync ...``)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if not words:
        return False
    name = os.path.basename(words[0]).lower()
    if name.removesuffix(".exe") == "fssync":
        return True
    for i, word in enumerate(words[1:], 1):
        if word == "-m" and i + 1 < len(words):
            return words[i + 1].split(".")[0] == "fssync"
        if word.startswith("-m") and len(word) > 2:
            return word[2:].split(".")[0] == "fssync"
    return False


def profile_command(profile: str) -> str | None:
    """The credential_process of `profile` in the AWS config files, or None."""
    from botocore.exceptions import BotoCoreError
    from botocore.session import Session

    try:
        profiles = Session().full_config.get("profiles", {})
    except (BotoCoreError, OSError, ValueError):
        return None  # an unreadable file: botocore will say so itself
    command = profiles.get(profile, {}).get("credential_process")
    return str(command) if command else None


@contextlib.contextmanager
def guard(cli_profile: str | None) -> Iterator[None]:
    """Run ``fssync credentials``: refuse when another one started us, refuse a --profile that
    runs fssync, drop AWS_PROFILE / AWS_DEFAULT_PROFILE when they name one, and mark the
    environment for the processes below. The environment is restored afterwards (the Python
    API and tests run the command in a longer-lived process)."""
    env = os.environ
    if env.get(MARKER):
        raise UsageError(
            "fssync credentials was started by another fssync credentials (a credential_process "
            "that runs fssync led back to fssync): the profile fssync takes its long-term "
            "credentials from must not run fssync; give it keys"
        )
    if cli_profile and _loops(cli_profile):
        raise UsageError(
            f"profile {cli_profile!r} (--profile) runs fssync itself as its credential_process: "
            "fssync credentials needs long-term credentials from elsewhere (keys, another profile)"
        )
    saved = {var: env[var] for var in (*PROFILE_ENV, MARKER) if var in env}
    try:
        for var in PROFILE_ENV:
            name = env.get(var)
            if name and _loops(name):
                print(
                    f"fssync: note: ignoring {var}={name}: that profile's credential_process "
                    "runs fssync itself",
                    file=sys.stderr,
                )
                for other in PROFILE_ENV:
                    env.pop(other, None)
                break
        env[MARKER] = "1"
        yield
    finally:
        for var in (*PROFILE_ENV, MARKER):
            if var in saved:
                env[var] = saved[var]
            else:
                env.pop(var, None)


def _loops(profile: str) -> bool:
    command = profile_command(profile)
    return command is not None and runs_fssync(command)
