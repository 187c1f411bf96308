"""The command-line parser, built from core options plus every plugin's, and the bridge that
gives the Python API the same options with the same defaults."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from .config import Config
from .errors import UsageError
from .hooks.manager import Hooks


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so every entry point maps errors the same way."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(_without_values(message))


def _without_values(message: str) -> str:
    """argparse repeats unrecognized arguments; keep only the option names, since the word after
    a mistyped --secret-access-key is a secret."""
    head = "unrecognized arguments: "
    if not message.startswith(head):
        return message
    words = [w for w in message[len(head) :].split() if w.startswith("-")]
    shown = " ".join(w.split("=", 1)[0] for w in words) or "(values not shown)"
    return head + shown


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def max_delete(text: str) -> str:
    from .planning import parse_max_delete

    try:
        parse_max_delete(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a count or a percentage (e.g. 100 or 10%)"
        ) from None
    return text


def add_sync_options(parser: argparse.ArgumentParser, hooks: Hooks, *, command: str) -> None:
    parser.add_argument(
        "src", metavar="SRC", help="source folder or URL (s3://bucket/prefix, memory://x, ...)"
    )
    parser.add_argument("dst", metavar="DST", help="destination folder or URL")
    core = parser.add_argument_group("what to compare")
    core.add_argument(
        "--compare",
        default="size-mtime",
        metavar="MODE",
        help="how to decide that a file changed: size-mtime (default), size, checksum, update, existence, "
        "or a mode added by a plugin (see 'fssync plugins')",
    )
    core.add_argument(
        "-c",
        "--checksum",
        dest="compare",
        action="store_const",
        const="checksum",
        help="compare content hashes (same as --compare checksum)",
    )
    core.add_argument(
        "--size-only",
        dest="compare",
        action="store_const",
        const="size",
        help="compare sizes only (same as --compare size)",
    )
    core.add_argument(
        "--ignore-existing",
        action="store_true",
        help="never update files that already exist at the destination",
    )
    if command == "sync":
        run = parser.add_argument_group("what to do")
        run.add_argument(
            "--delete",
            action="store_true",
            help="delete destination files the source lacks (after all copies succeed)",
        )
        run.add_argument(
            "--max-delete",
            type=max_delete,
            metavar="N|N%",
            help="delete nothing when more than N files (or N%% of the destination) would go",
        )
        run.add_argument(
            "--allow-empty-source",
            action="store_true",
            help="allow --delete even when the source is empty",
        )
        run.add_argument(
            "--backup-dir",
            metavar="URL",
            help="keep the files this sync would replace or delete there, at the same paths "
            "(server-side on S3, hard links on a local disk, where possible)",
        )
        run.add_argument(
            "--suffix",
            metavar="SUFFIX",
            help="add SUFFIX to the names of kept files; without --backup-dir they are kept "
            "beside themselves in the destination (and never deleted as extraneous)",
        )
        run.add_argument(
            "--suffix-keep-extension",
            action="store_true",
            help="put the --suffix before the extension: a.txt -> a-SUFFIX.txt",
        )
        run.add_argument(
            "--track-renames",
            action="store_true",
            help="with --delete: move destination files whose content was renamed at the source "
            "instead of uploading them again (matched by size and hash)",
        )
        run.add_argument(
            "--explain",
            metavar="PATH",
            help="say what sync would do with PATH and which rule decided; change nothing",
        )
        run.add_argument(
            "-n",
            "--dry-run",
            action="store_true",
            help="print what would happen and change nothing",
        )
        run.add_argument(
            "--transfers",
            type=positive_int,
            default=16,
            metavar="N",
            help="files transferred at once (default 16)",
        )
        run.add_argument(
            "--retries",
            type=int,
            default=3,
            metavar="N",
            help="retries of a failing transfer or listing page (default 3)",
        )
        run.add_argument(
            "--retries-sleep",
            type=float,
            default=0.2,
            metavar="SECONDS",
            help="first retry delay, doubled each time (default 0.2)",
        )
        run.add_argument(
            "--retry-passes",
            type=int,
            default=1,
            metavar="N",
            help="after the run, transfer the files that failed with a transient error again, "
            "up to N more times (default 1; permanent errors are not retried); a failing "
            "listing page gets as many more rounds of retries",
        )
        run.add_argument(
            "--lock-wait",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="when another run is writing to the same local destination, wait this long "
            "for it instead of failing at once (default 0)",
        )
    if command == "check":
        lists = parser.add_argument_group("what to print")
        lists.add_argument(
            "--combined", action="store_true", help="also print equal files, as '= key'"
        )
        for flag, what in (
            ("--missing-on-dst", "files only in the source (+)"),
            ("--missing-on-src", "files only in the destination (-)"),
            ("--differ", "files on both sides that differ (*)"),
            ("--match", "files on both sides that are equal (=)"),
        ):
            lists.add_argument(flag, metavar="FILE", help=f"write the {what} to FILE, one a line")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="one JSON object per line on stdout")
    out.add_argument("-v", "--verbose", action="count", default=0, help="say more (repeatable)")
    out.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    out.add_argument(
        "--no-state",
        dest="state",
        action="store_false",
        help="do not use or update the local record of synced objects",
    )
    add_config_option(parser)
    hooks.add_options(parser, command)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="config file with named remotes (default: FSSYNC_CONFIG, then "
        "~/.config/fssync/config.toml)",
    )


def plugin_option_names(hooks: Hooks) -> frozenset[str]:
    """The options plugins add: the settings a remote of the config file may carry."""
    parser = argparse.ArgumentParser(add_help=False)
    hooks.add_options(parser, "sync")
    return frozenset(vars(parser.parse_args([])))


def sync_parser(hooks: Hooks, command: str = "sync") -> Parser:
    parser = Parser(prog=f"fssync {command}")
    add_sync_options(parser, hooks, command=command)
    return parser


def config_from_api(
    hooks: Hooks, command: str, src: str, dst: str, options: Mapping[str, Any]
) -> Config:
    """Defaults exactly as the CLI has them, overridden by the caller's keywords."""
    parser = sync_parser(hooks, command)
    defaults = vars(parser.parse_args([src, dst]))
    defaults["console"] = False  # print like the CLI does
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join(unknown)}: see 'fssync {command} --help'")
    values = {**defaults, **options}
    values.pop("src"), values.pop("dst")
    return Config(command=command, src=src, dst=dst, options=values)
