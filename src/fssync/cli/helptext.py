"""Examples at the end of each command's ``--help``: a new user reads them before 200 lines
of options. Kept apart from the parser so the option code stays about options."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

_EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "sync": [
        ("fssync sync ./photos s3://my-bucket/photos", "upload what is new or changed"),
        ("fssync sync ./photos s3://my-bucket/photos -n --delete", "show what mirroring would do"),
        ("fssync sync ./photos s3://my-bucket/photos --delete", "mirror: also delete extra files"),
        ("fssync sync s3://my-bucket/photos ./restore", "download"),
        ("fssync sync ./site s3://my-bucket/www --exclude '*.tmp'", "leave some files out"),
        ("fssync sync ./photos archive:2024 --report run.json", "a config-file remote; a record"),
        ("fssync sync ./a s3://b/a --endpoint-url http://127.0.0.1:9000", "S3-compatible store"),
    ],
    "bisync": [
        ("fssync bisync ~/Documents s3://team/docs", "carry changes both ways"),
        ("fssync bisync ~/Documents s3://team/docs -n -v", "what it would do, and why"),
        ("fssync bisync /mnt/nas ./local --check-access", "stop if .fssync-check is missing"),
        ("fssync bisync ./a ./b --conflict newer", "the newer edit wins a conflict"),
    ],
    "check": [
        ("fssync check ./photos s3://my-bucket/photos", "list differences; exit 1 if any"),
        ("fssync check ./photos s3://my-bucket/photos -c", "compare content hashes too"),
        ("fssync check ./photos s3://my-bucket/photos --missing-on-dst todo.txt -q", ""),
    ],
    "ls": [
        ("fssync ls s3://my-bucket/photos", "one level: files and folders"),
        ("fssync ls -r --json s3://my-bucket/photos", "every file below, as JSON lines"),
        ("fssync ls -r archive:2024", "a remote of the config file"),
    ],
    "credentials": [
        ('eval "$(fssync credentials --role-arn arn:aws:iam::123456789012:role/backup)"', ""),
        ("fssync credentials archive: --json", "credential_process output for a remote"),
    ],
}
_FOOTER = {
    "sync": "exit codes: 0 done, 2 bad usage, 3 some files failed, 4 could not run, "
    "130 interrupted\nmore: docs/tutorial.md, docs/reference/cli.md",
    "bisync": "exit codes: 0 done, 2 bad usage, 3 some files failed or deletions over "
    "--max-delete (nothing changed), 4 could not run, 130 interrupted\n"
    "more: docs/how-to/bisync.md",
}


def examples(command: str) -> str | None:
    """The epilog of one command's help: its examples, one a line, what each does aligned."""
    rows = _EXAMPLES.get(command)
    if not rows:
        return None
    width = max(len(cmd) for cmd, what in rows if what) + 2
    lines = ["examples:"]
    for cmd, what in rows:
        lines.append(f"  {cmd:<{width}}{what}".rstrip() if what else f"  {cmd}")
    if command in _FOOTER:
        lines += ["", _FOOTER[command]]
    return "\n".join(lines)


class ExamplesFormatter(argparse.HelpFormatter):
    """Wraps descriptions and option help as usual, but prints the examples as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def add_examples(parsers: Mapping[str, argparse.ArgumentParser]) -> None:
    for name, parser in parsers.items():
        epilog = examples(name)
        if epilog:
            parser.epilog = epilog
            parser.formatter_class = ExamplesFormatter
