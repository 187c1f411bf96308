"""``--report FILE``: the whole run as one JSON document (schema: docs/reference/report.md),
written when the run ends, also when it stops early, so a night run always leaves its record."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import fssync


def check_output_path(option: str, path: str) -> None:
    """A bad path is a usage error before the run starts, not a lost report after it."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise fssync.UsageError(f"{option} {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise fssync.UsageError(f"{option} {path!r} is a folder: give a file name")


def write_atomically(path: str, text: str) -> None:
    """Readers never see half a report: write a temporary file, then rename it into place."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".fssync-report-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser, command: str) -> None:
    if command != "sync":
        return
    group = parser.add_argument_group("run report")
    group.add_argument(
        "--report",
        metavar="FILE",
        help="write the whole run to FILE as one JSON document: options (secrets redacted), "
        "counts, bytes, time, throughput, every failure, exit code",
    )


@fssync.hookimpl(trylast=True)
def fssync_configure(config: fssync.Config) -> None:
    if config.get("report"):
        check_output_path("--report", config.get("report"))


@fssync.hookimpl(trylast=True)
def fssync_run_finished(report: fssync.Report, config: fssync.Config) -> None:
    path = config.get("report")
    if not path:
        return
    document = fssync.report_document(report, config)
    try:
        write_atomically(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        print(f"fssync: could not write --report {path!r}: {exc.strerror or exc}", file=sys.stderr)
