"""``fssync s3sync``: run SprightlySoft S3 Sync command lines (``-Name value``) and
``S3Sync.exe.config`` files unchanged, by translating them into ``fssync sync`` options.

The command comes through the public ``fssync_add_commands`` hook; the classic metadata names
are written through a per-run ``fssync_transfer_options`` (``fssync_session``) when the two ``--s3sync-save-*`` options of
``fssync sync`` (which the translation turns on) ask for them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fssync
from fssync.plugin import register

from . import metadata  # light; the parameter tables, XML and translation load when run

EXPLAIN = "--explain"
HELP_WORDS = ("-h", "--help", "-?", "/?", "-help")
USAGE = (
    "fssync s3sync -AWSAccessKeyId ID -AWSSecretAccessKey SECRET -BucketName NAME "
    "-LocalFolderPath PATH [-Name value ...] [--explain]"
)
DESCRIPTION = (
    "Run an S3 Sync command line as written: '-Name value' parameters (any case; booleans "
    "true/false), also read from -ConfigFile PATH or an S3Sync.exe.config in the working folder "
    "(the command line wins). --explain prints the equivalent 'fssync sync' command instead, "
    "with its secrets left out. Every parameter: docs/how-to/migrate-from-s3sync.md"
)


@fssync.hookimpl(trylast=True)
def fssync_add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "s3sync",
        help="run an S3 Sync (S3Sync.exe) command line unchanged",
        description=DESCRIPTION,
        usage=USAGE,
        prefix_chars="\0",  # no word can start with NUL: each reaches us as written
        add_help=False,
    )
    parser.add_argument("words", nargs="*", metavar="-Name value", help="S3 Sync parameters")
    parser.set_defaults(fssync_run=run_command)


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser, command: str) -> None:
    if command not in ("sync", "bisync"):
        return
    group = parser.add_argument_group("S3 Sync metadata (uploads)")
    group.add_argument(
        "--s3sync-save-timestamps",
        action="store_true",
        help="also record each file's modification time as x-amz-meta-local-date-modified, "
        "as S3 Sync does",
    )
    group.add_argument(
        "--s3sync-save-etags",
        action="store_true",
        help="also record the MD5 of files uploaded in parts as x-amz-meta-multipart-etag, "
        "as S3 Sync does (reads each such file once more before its upload)",
    )


@fssync.hookimpl(trylast=True)
def fssync_session(config: fssync.Config) -> object | None:
    if config.get("s3sync_save_timestamps") or config.get("s3sync_save_etags"):
        return ClassicMetadata()
    return None


class ClassicMetadata:
    """One run's classic metadata. The MD5s of the files that go up in parts are read when the
    plan is ready, on a few threads and before any transfer starts, so that no transfer waits
    while a large file is read on the event loop."""

    THREADS = 3

    def __init__(self) -> None:
        self.md5s: dict[str, str] = {}

    @fssync.hookimpl
    def fssync_plan_ready(self, plan: fssync.Plan, config: fssync.Config) -> None:
        if not config.get("s3sync_save_etags") or config.get("dry_run") or config.get("explain"):
            return
        if not (config.src and os.path.isdir(config.src)):
            return  # the classic names describe local files: uploads only
        root = Path(config.src)
        keys = [
            a.key
            for a in plan.transfers
            if a.kind in (fssync.Kind.COPY, fssync.Kind.UPDATE)
            and a.src is not None
            and a.src.size >= metadata.MULTIPART_THRESHOLD
        ]
        if not keys:
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.THREADS) as pool:  # hashlib releases the GIL
            hashes = pool.map(lambda k: metadata.file_md5(root / k), keys)
            for key, md5 in zip(keys, hashes, strict=True):
                if md5:
                    self.md5s[key] = md5

    @fssync.hookimpl
    def fssync_transfer_options(
        self, action: fssync.Action, location: fssync.Location, config: fssync.Config
    ) -> Mapping[str, Any] | None:
        if location.protocol != "s3" or action.src is None:
            return None
        meta: dict[str, str] = {}
        if config.get("s3sync_save_timestamps") and action.src.mtime is not None:
            meta[metadata.TIMESTAMP_KEY] = metadata.format_time(action.src.mtime)
        if config.get("s3sync_save_etags") and action.src.size >= metadata.MULTIPART_THRESHOLD:
            md5 = self.md5s.get(action.key) or action.src.md5
            if md5:
                meta[metadata.ETAG_KEY] = md5
        return {"Metadata": meta} if meta else None


def settings(words: Sequence[str], folder: Path) -> dict[str, object]:
    """The checked settings of a command line: the config file's, overridden by the words."""
    from . import configfile, params

    given = params.parse_words(words)
    path = given.get("ConfigFile")
    raw: dict[str, str] = {}
    found = Path(path) if path else folder / configfile.DEFAULT_NAME
    if path or found.is_file():
        for key, value in configfile.read(found).items():
            try:
                raw[params.lookup(key).name] = value
            except fssync.UsageError as exc:
                raise fssync.UsageError(f"{exc} (in {str(found)!r})") from None
    raw.update(given)
    return params.checked(raw)


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def run_command(*, args: argparse.Namespace, run: Callable[[list[str]], int]) -> int:
    words = list(args.words)
    if any(w.lower() in HELP_WORDS for w in words):
        print(f"usage: {USAGE}\n\n{DESCRIPTION}")
        return int(fssync.ExitCode.OK)
    explain = any(w.lower() == EXPLAIN for w in words)
    words = [w for w in words if w.lower() != EXPLAIN]
    from . import params
    from .translate import translate

    values = settings(words, Path.cwd())
    register(*(str(values[p.name]) for p in params.PARAMS if p.secret and values[p.name]))
    native = translate(values)
    register(*native.env.values())
    if explain:
        print(native.explain(), file=sys.stdout)
        return int(fssync.ExitCode.OK)
    with _environment(native.run_env):
        return run(native.argv)
