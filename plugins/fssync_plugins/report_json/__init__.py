"""``--report FILE``: the whole run as one JSON document (schema: docs/reference/report.md),
written when the run ends, also when it stops early, so a night run always leaves its record."""

from __future__ import annotations

import argparse
import sys

import fssync


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser, command: str) -> None:
    if command not in ("sync", "bisync"):
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
        fssync.check_output_path("--report", config.get("report"))


@fssync.hookimpl(trylast=True)
def fssync_run_finished(report: fssync.Report, config: fssync.Config) -> None:
    path = config.get("report")
    if not path:
        return
    document = fssync.report_document(report, config)
    try:
        fssync.write_atomically(path, fssync.json_text(document, indent=2) + "\n")
    except OSError as exc:
        print(f"fssync: could not write --report {path!r}: {exc.strerror or exc}", file=sys.stderr)
