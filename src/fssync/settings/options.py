"""The command-line parser, built from core options plus every plugin's, and the bridge that
gives the Python API the same options with the same defaults."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from fssync.errors import UsageError
from fssync.hooks.manager import Hooks
from fssync.settings.config import Config
from fssync.settings.units import checked, parse_duration
from fssync.transfer import bandwidth, cutoff


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so every entry point maps errors the same way."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(_without_values(message))

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        argv = list(sys.argv[1:] if args is None else args)
        ns, extras = self.parse_known_args(argv, namespace)
        if extras:
            raise UsageError(unrecognized(argv, extras))
        return ns


_NUMBER = re.compile(r"^-\d+(\.\d*)?$")


def unrecognized(argv: Sequence[str], extras: Sequence[str]) -> str:
    """Which words were not understood, by flag name or by place, never by value: the word after
    a mistyped --secret-access-key is a secret."""
    parts: list[str] = []
    start = 0
    previous_flag = False
    for word in extras:
        try:
            at: int | None = argv.index(word, start)
        except ValueError:
            at = None
        if at is not None:
            start = at + 1
        if word.startswith("-") and len(word) > 1 and not _NUMBER.match(word):
            name, eq, _ = word.partition("=")
            parts.append(name + (" (with a value, not shown)" if eq else ""))
            previous_flag = not eq
            continue
        if previous_flag:
            parts[-1] += " and the value after it"
        elif at is not None:
            parts.append(f"word {at + 1} of the command line")
        else:
            parts.append("a word")
        previous_flag = False
    return "unrecognized arguments: " + "; ".join(parts) + " (values are not shown)"


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


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < 10**9:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more seconds")
    return value


class _Compare(argparse.Action):
    """--compare MODE, -c and --size-only set one thing: two of them that disagree are refused
    rather than letting the last one win silently."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        value = self.const if self.nargs == 0 else values
        given = getattr(namespace, "_compare_given", None)
        if given is not None and given[1] != value:
            parser.error(
                f"{given[0]} and {option_string} both choose how to compare files: give one"
            )
        namespace._compare_given = (option_string, value)
        setattr(namespace, self.dest, value)


def max_delete(text: str) -> str:
    from fssync.planning.decide import parse_max_delete

    try:
        parse_max_delete(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a count or a percentage (e.g. 100 or 10%)"
        ) from None
    return text


def add_sync_options(parser: argparse.ArgumentParser, hooks: Hooks, *, command: str) -> None:
    if command == "bisync":
        parser.add_argument(
            "src", metavar="A", help="one side: a folder or URL (s3://bucket/prefix, ...)"
        )
        parser.add_argument("dst", metavar="B", help="the other side: a folder or URL")
    else:
        parser.add_argument(
            "src", metavar="SRC", help="source folder or URL (s3://bucket/prefix, memory://x, ...)"
        )
        parser.add_argument("dst", metavar="DST", help="destination folder or URL")
    core = parser.add_argument_group("what to compare")
    core.add_argument(
        "--compare",
        action=_Compare,
        default="size-mtime",
        metavar="MODE",
        help="how to decide that a file changed: size-mtime (default), size, checksum, update, existence, "
        "or a mode added by a plugin (see 'fssync plugins')",
    )
    core.add_argument(
        "-c",
        "--checksum",
        dest="compare",
        action=_Compare,
        nargs=0,
        const="checksum",
        help="compare content hashes (same as --compare checksum)",
    )
    core.add_argument(
        "--size-only",
        dest="compare",
        action=_Compare,
        nargs=0,
        const="size",
        help="compare sizes only (same as --compare size)",
    )
    core.add_argument(
        "--modify-window",
        type=checked(parse_duration),
        metavar="TIME",
        help="modification times this close count as equal (e.g. 2s for FAT disks, 1h for a "
        "clock an hour off); the stores' own precision is always allowed for",
    )
    if command != "bisync":
        core.add_argument(
            "--ignore-existing",
            action="store_true",
            help="never update files that already exist at the destination",
        )
    if command == "bisync":
        _bisync_options(parser)
    if command in ("sync", "bisync"):
        run = parser.add_argument_group("what to do")
    if command == "sync":
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
    if command == "bisync":
        run.add_argument(
            "--max-delete",
            type=max_delete,
            metavar="N|N%",
            help="change nothing when more than N files (or N%% of a side) would be deleted "
            "on either side (default 50%%)",
        )
    if command == "sync":
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
    if command == "bisync":
        run.add_argument(
            "--suffix",
            metavar="SUFFIX",
            help="add SUFFIX to the names of kept files; without --backup-dir they are kept "
            "beside themselves on the side they were on (and never synced)",
        )
    if command == "sync":
        run.add_argument(
            "--suffix",
            metavar="SUFFIX",
            help="add SUFFIX to the names of kept files; without --backup-dir they are kept "
            "beside themselves in the destination (and never deleted as extraneous)",
        )
    if command in ("sync", "bisync"):
        run.add_argument(
            "--suffix-keep-extension",
            action="store_true",
            help="put the --suffix before the extension: a.txt -> a-SUFFIX.txt",
        )
    if command == "sync":
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
    if command in ("sync", "bisync"):
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
            "--low-level-retries",
            type=non_negative_int,
            default=4,
            metavar="N",
            help="times the S3 client sends one request again after a transient error "
            "(5xx, 429, SlowDown, a reset connection) before the file's transfer fails "
            "(default 4)",
        )
        run.add_argument(
            "--low-level-retries-sleep",
            type=non_negative_seconds,
            default=0.05,
            metavar="SECONDS",
            help="first wait before a request is sent again, doubled each time; 20 times "
            "longer when the store asked to slow down (default 0.05)",
        )
        run.add_argument(
            "--retries",
            type=non_negative_int,
            default=3,
            metavar="N",
            help="retries of a failing transfer or listing page, each from the start (default 3)",
        )
        run.add_argument(
            "--retries-sleep",
            type=non_negative_seconds,
            default=0.2,
            metavar="SECONDS",
            help="first retry delay, doubled each time (default 0.2)",
        )
        run.add_argument(
            "--retries-max-sleep",
            type=non_negative_seconds,
            default=20.0,
            metavar="SECONDS",
            help="the longest wait between two tries, at any level (default 20)",
        )
        run.add_argument(
            "--retry-passes",
            type=non_negative_int,
            default=1,
            metavar="N",
            help="after the run, transfer the files that failed with a transient error again, "
            "up to N more times (default 1; permanent errors are not retried); a failing "
            "listing page gets as many more rounds of retries",
        )
        run.add_argument(
            "--lock-wait",
            type=non_negative_seconds,
            default=0.0,
            metavar="SECONDS",
            help="when another run is writing to the same local destination, wait this long "
            "for it instead of failing at once (default 0)",
        )
    if command == "sync":
        parser.add_argument(
            "--executor",
            default="in-process",
            metavar="NAME",
            help="who runs the transfers: in-process (default), or a plugin's executor such as "
            "dask (pip install 'fssync[dask]'); listing, planning and the guards stay here",
        )
    if command in ("sync", "bisync"):
        cutoff.add_options(parser)
        bandwidth.add_options(parser)
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
    if command != "bisync":  # a two-way sync cannot run without its state
        out.add_argument(
            "--no-state",
            dest="state",
            action="store_false",
            help="do not use or update the local record of synced objects",
        )
    add_config_option(parser)
    hooks.add_options(parser, command)


def _bisync_options(parser: argparse.ArgumentParser) -> None:
    from fssync.twoway.decide import CONFLICT_POLICIES, FIRST_RUN_POLICIES

    two = parser.add_argument_group("two-way sync")
    two.add_argument(
        "--conflict",
        choices=CONFLICT_POLICIES,
        default="keep-both",
        metavar="POLICY",
        help="a path changed on both sides: newer, older, larger, smaller, a or b wins (the "
        "other edit is overwritten and named in the report), or keep-both (default: the newer "
        "keeps the name, the other is kept as NAME.conflict-SIDE-DATE.EXT on both sides)",
    )
    two.add_argument(
        "--first-run",
        choices=FIRST_RUN_POLICIES,
        default="newer",
        metavar="POLICY",
        help="with no state yet, a path on both sides with different content: newer "
        "(default), a or b keeps the name, the other is kept as a conflict copy; keep-both is "
        "the same as newer. A first run never deletes",
    )
    two.add_argument(
        "--check-access",
        action="store_true",
        help="change nothing unless the check file is on both sides (an unmounted disk must "
        "not look like every file deleted)",
    )
    two.add_argument(
        "--check-access-file",
        metavar="NAME",
        default=".fssync-check",
        help="the check file's path in both locations (default .fssync-check)",
    )
    two.add_argument(
        "--backup-dir",
        metavar="URL",
        help="keep what this run replaces or deletes: A's files under URL/a, B's under URL/b, "
        "at the same paths (outside both sides)",
    )
    two.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where the two-way state and lock are kept (default: FSSYNC_STATE_DIR, else "
        "the user's state folder)",
    )


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="config file with named remotes (default: FSSYNC_CONFIG, then "
        "~/.config/fssync/config.toml)",
    )


def check_combinations(config: Config) -> None:
    """Options that contradict each other, or do nothing without another, are refused (exit 2)
    instead of one silently winning or being ignored."""
    if config.get("quiet") and config.get("verbose"):
        raise UsageError("-q (print errors only) and -v (say more) contradict each other: give one")
    if config.command == "sync" and not config.get("delete"):
        for name, flag in (
            ("track_renames", "--track-renames"),
            ("allow_empty_source", "--allow-empty-source"),
            ("max_delete", "--max-delete"),
        ):
            if config.get(name):
                raise UsageError(f"{flag} only matters with --delete: add --delete or drop {flag}")


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
    """The options of a Python call, checked and converted by the very parser the command line
    uses: a keyword is a flag's name (``size_only=True``, ``no_state=True``, ``include=[...]``)
    or its option's name (``compare="size"``, ``state=False``), and its value passes the
    flag's checks (``transfers=0`` is refused as ``--transfers 0`` is)."""
    parser = sync_parser(hooks, command)
    options = dict(options)
    console = bool(options.pop("console", False))  # True: print like the CLI does
    argv, raw = api_argv(parser, command, options)
    values = vars(parser.parse_args([*argv, "--", src, dst]))
    values.update(raw)
    for name in [k for k in values if k.startswith("_")]:
        del values[name]
    values["console"] = console
    values.pop("src"), values.pop("dst")
    return Config(command=command, src=src, dst=dst, options=values)


_SCALAR = (str, int, float)


def api_argv(
    parser: argparse.ArgumentParser, command: str, options: Mapping[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """Keywords as command-line words, and the values no flag can spell (a plugin's objects),
    which are passed on as they are."""
    actions = [a for a in parser._actions if a.dest not in ("help", "src", "dst")]  # noqa: SLF001
    by_flag = {flag: a for a in actions for flag in a.option_strings if flag.startswith("--")}
    argv: list[str] = []
    raw: dict[str, Any] = {}
    unknown: list[str] = []
    for name, value in options.items():
        if value is None:
            continue
        action = by_flag.get("--" + name.replace("_", "-"))
        if (
            action is not None
            and action.nargs == 0
            and (action.dest != name or isinstance(value, bool | int))
        ):
            argv += _switch(name, value, action)
            continue
        same_dest = [a for a in actions if a.dest == name]
        takes = [a for a in same_dest if a.nargs != 0]
        if takes:
            action = takes[0]
        elif same_dest:
            argv += _by_value(name, value, same_dest)
            continue
        if action is None:
            unknown.append(name)
            continue
        flag = _long(action)
        if action.nargs == 0:
            argv += _by_value(name, value, [action])
        elif isinstance(action, argparse._AppendAction):  # noqa: SLF001
            items = [value] if isinstance(value, _SCALAR) else value
            if isinstance(items, list | tuple) and all(isinstance(i, _SCALAR) for i in items):
                argv += [f"{flag}={item}" for item in items]
            else:
                raw[action.dest] = value
        elif isinstance(value, _SCALAR) and not isinstance(value, bool):
            argv.append(f"{flag}={value}")
        elif isinstance(value, bool):
            raise UsageError(f"{name}= takes a value, as {flag} does, not {value}")
        else:
            raw[action.dest] = value
    if unknown:
        raise UsageError(
            f"unknown option(s) {', '.join(sorted(unknown))}: see 'fssync {command} --help'"
        )
    return argv, raw


def _long(action: argparse.Action) -> str:
    return max(action.option_strings, key=len)


def _switch(name: str, value: Any, action: argparse.Action) -> list[str]:
    """A flag without a value named by its own name: True turns it on, False leaves the
    default, a count repeats a counting flag (``verbose=2`` is ``-vv``)."""
    if isinstance(action, argparse._CountAction):  # noqa: SLF001
        if isinstance(value, bool) or value < 0:
            raise UsageError(f"{name}= takes a count (0, 1, 2 ...), as {_long(action)} repeats")
        return [_long(action)] * value
    if not isinstance(value, bool):
        raise UsageError(f"{name}= takes True or False")
    return [_long(action)] if value else []


def _by_value(name: str, value: Any, actions: list[argparse.Action]) -> list[str]:
    """Flags without a value named by the option they set: ``state=False`` is ``--no-state``,
    ``links="follow"`` is ``--copy-links``, ``compare`` values have their own flags."""
    for action in actions:
        if isinstance(action, argparse._CountAction):  # noqa: SLF001
            return _switch(name, value, action)
        if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):  # noqa: SLF001
            if not isinstance(value, bool):
                raise UsageError(f"{name}= takes True or False")
            return [_long(action)] if value is action.const else []
        if type(value) is type(action.const) and value == action.const:
            return [_long(action)]
    consts = [repr(a.const) for a in actions if a.const is not None]
    raise UsageError(f"{name}= takes {' or '.join(consts)}")


def modify_window(text: object) -> float:
    """--modify-window as seconds (0 when not given)."""
    if text in (None, ""):
        return 0.0
    try:
        return parse_duration(str(text))
    except ValueError as exc:
        raise UsageError(f"--modify-window: {exc}") from None
