"""The command line: a thin front end over the Python API. Parses, runs, maps errors to exit
codes; every decision lives elsewhere."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fssync import __version__
from fssync.errors import ExitCode, FssyncError, UsageError
from fssync.settings.options import Parser, add_config_option, add_sync_options

COMMANDS = ("sync", "bisync", "check", "ls", "credentials", "plugins", "backends", "demo")


# Each built-in command: its help line (the list of commands) and its description (its --help).
_HELP: dict[str, tuple[str, str | None]] = {
    "sync": (
        "make DST hold what SRC holds",
        "Make DST hold what SRC holds. Deletes only with --delete.",
    ),
    "bisync": (
        "two-way sync: carry creations, edits and deletions both ways between A and B",
        "Two-way sync between A and B (any two backends): each side's changes "
        "since the last run (kept in a state file) are carried to the other; a path changed "
        "on both sides is a conflict (--conflict). The first run merges and never deletes.",
    ),
    "check": (
        "compare SRC and DST; exit 1 when they differ",
        "Compare without transferring. Exit code 1 when they differ.",
    ),
    "ls": (
        "list a location",
        "List a location: size, modification time (UTC) and name. The time is the "
        "file's own mtime where known: a local file's; an object's as synced (fssync's record of "
        "synced objects, else the object's metadata, read for up to 1000 objects), else when "
        "it was uploaded. --json gives both: mtime and modified.",
    ),
    "credentials": (
        "print temporary credentials from STS for other tools (prints secrets)",
        "Fetch temporary credentials with the STS settings (--role-arn, --sts ...) "
        "and print them as shell exports, or with --json in the credential_process format. "
        "This is the one command that prints secrets, because you ask it to.",
    ),
    "cleanup": (
        "abort incomplete multipart uploads under an S3 prefix that no run will finish",
        "Abort the incomplete multipart uploads under URL that are older than "
        "--older-than and that this machine's journal does not know (those, the next sync "
        "resumes or aborts). Incomplete uploads are billed until they are aborted.",
    ),
    "plugins": ("the loaded plugins and the hooks each implements", None),
    "backends": (
        "the backends fssync knows: URL form, extra to install, what each keeps",
        "Each backend's URL form, the extra that installs its client, whether it "
        "keeps modification times and how precisely, the hashes its listing carries, how "
        "comparison works there and the server it is tested against.",
    ),
    "demo": ("the whole job on an embedded local S3 server", None),
}


def build_parser(hooks: object | None = None, *, command: str | None = None) -> Parser:
    """The parser of every command; with `command`, only that one's options are built (the
    others keep their name and help line, for the list of commands and its errors): a run
    parses one command, and asking every plugin for every command's options would be a good
    part of its start-up."""
    from fssync.hooks.manager import make_hooks

    hooks = hooks or make_hooks()
    parser = Parser(
        prog="fssync",
        description="Keep two trees in step: local folders, S3 and any fsspec filesystem.",
    )
    _global_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    built = []
    for name, (help_line, description) in _HELP.items():
        p = sub.add_parser(name, help=help_line, description=description)
        if command is None or command == name:
            _add_options(name, p, hooks)
            built.append(name)
    hooks.add_commands(sub)  # type: ignore[attr-defined]
    built += [name for name in sub.choices if name not in _HELP]
    from fssync.cli.helptext import add_examples

    chosen = {name: sub.choices[name] for name in built}
    add_examples(chosen)
    for each in chosen.values():
        if "-" in each.prefix_chars:  # a command may read its words itself (s3sync)
            _global_flags(each, in_command=True)  # 'fssync sync ... --debug' works too
    parser.set_defaults(_hooks=hooks)
    return parser


def _add_options(command: str, p: Parser, hooks: object) -> None:
    """The arguments and options of one built-in command, plugins' options included."""
    if command in ("sync", "bisync", "check"):
        add_sync_options(p, hooks, command=command)  # type: ignore[arg-type]
        return
    if command == "ls":
        p.add_argument("url", metavar="URL")
        p.add_argument(
            "-r",
            "--recursive",
            action="store_true",
            help="list every file below (default: one level)",
        )
        p.add_argument("--json", action="store_true", help="one JSON object per line")
    elif command == "credentials":
        p.add_argument(
            "location",
            metavar="LOCATION",
            nargs="?",
            help="a remote (NAME:) or s3:// URL whose settings to use (default: the options only)",
        )
        p.add_argument(
            "--json", action="store_true", help="one JSON object, as a credential_process prints"
        )
    elif command == "cleanup":
        from fssync.cli.cleanup import add_arguments

        add_arguments(p)
    elif command in ("plugins", "backends"):
        p.add_argument("--json", action="store_true")
        return
    elif command == "demo":
        p.add_argument("--keep", metavar="DIR", help="keep the demo's local folder here")
        return
    add_config_option(p)
    hooks.add_options(p, command)  # type: ignore[attr-defined]


def _command_word(argv: Sequence[str]) -> str | None:
    """The built-in command `argv` names, when its only words before it are global flags."""
    for word in argv:
        if word in ("--debug", "--version", "-h", "--help"):
            continue
        return word if word in _HELP else None
    return None


def _global_flags(parser: argparse.ArgumentParser, *, in_command: bool = False) -> None:
    """--version and --debug, before the command or after it. After it, --debug is only set
    when given, so that it does not undo a --debug given before the command."""
    parser.add_argument("--version", action="version", version=f"fssync {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if in_command else False,
        help="show tracebacks of unexpected errors",
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from fssync.cli.pipes import guard_streams

    with guard_streams():  # output piped into `head` or `less`: the job still finishes
        return _guarded_main(argv)


def _guarded_main(argv: list[str]) -> int:
    debug = "--debug" in argv
    try:
        return _main(argv)
    except FssyncError as exc:
        from fssync.report.safetext import printable
        from fssync.settings.secrets import scrub

        print(f"fssync: error: {printable(scrub(str(exc)))}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        import signal

        from fssync.execute.interrupts import quit_now

        # Threads still wind down after this returns; a second Ctrl-C then must still mean
        # "quit now" with 130, not death by the signal (-2).
        signal.signal(signal.SIGINT, quit_now)
        print("fssync: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no traceback
        if debug:
            raise
        from fssync.diagnose import first_line
        from fssync.report.safetext import printable

        print(
            f"fssync: unexpected error: {type(exc).__name__}: {printable(first_line(exc))} "
            "(run with --debug for details)",
            file=sys.stderr,
        )
        return int(ExitCode.FATAL)


def _main(argv: list[str]) -> int:
    if not argv:
        argv = ["--help"]
    parser = build_parser(command=_command_word(argv))
    try:
        ns = parser.parse_args(argv)
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    hooks = ns._hooks
    command = ns.command
    if command is None:
        raise UsageError("no command given: try 'fssync sync SRC DST' or 'fssync --help'")
    if command in ("sync", "check"):
        return _sync_like(ns, hooks)
    if command == "bisync":
        from fssync.settings.config import Config
        from fssync.twoway.run import check_policies, run_bisync

        config = Config(command="bisync", src=ns.src, dst=ns.dst, options=_options(ns))
        check_policies(config)
        return run_bisync(config, hooks).exit_code
    if command == "ls":
        from fssync.cli.commands import ls

        return ls(ns, hooks)
    if command == "credentials":
        from fssync.cli.commands import credentials

        return credentials(ns, hooks)
    if command == "cleanup":
        from fssync.cli.cleanup import run as cleanup

        return cleanup(ns, hooks)
    if command == "plugins":
        from fssync.cli.commands import plugins

        return plugins(ns, hooks)
    if command == "backends":
        from fssync.cli.commands import backends

        return backends(ns)
    if command == "demo":
        from fssync.cli.demo import run_demo

        return run_demo(keep=ns.keep)
    run = getattr(ns, "fssync_run", None)
    if callable(run):  # a command a plugin added (fssync_add_commands)
        return _plugin_command(run, ns)
    raise UsageError(f"unknown command {command!r}")


def _plugin_command(run: object, ns: argparse.Namespace) -> int:
    code = run(args=ns, run=_main)  # type: ignore[operator]
    if isinstance(code, bool) or not isinstance(code, int):
        raise UsageError(f"the command {ns.command!r} returned {code!r}, not an exit code")
    return code


def _options(ns: argparse.Namespace) -> dict[str, object]:
    values = {k: v for k, v in vars(ns).items() if not k.startswith("_")}
    for k in ("command", "debug", "src", "dst"):
        values.pop(k, None)
    values["console"] = True
    return values


def _sync_like(ns: argparse.Namespace, hooks: object) -> int:
    from fssync.engine import make_plan, run_sync
    from fssync.settings.config import Config

    config = Config(command=ns.command, src=ns.src, dst=ns.dst, options=_options(ns))
    if ns.command == "sync":
        report = run_sync(config, hooks)  # type: ignore[arg-type]
        return report.exit_code
    from fssync.cli.commands import check_lists, print_check

    check_lists(config)
    plan = make_plan(config, hooks)  # type: ignore[arg-type]
    return print_check(plan, config)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
