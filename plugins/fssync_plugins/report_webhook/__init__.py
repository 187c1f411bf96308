"""``--notify-url URL``: POST the run's JSON report (docs/reference/report.md) to one URL when
the run ends.

The report goes to that URL and nowhere else: redirects are not followed and proxy settings from
the environment are not used. A webhook URL is often a secret itself, so it is registered as one
and appears redacted in logs and reports. A failed delivery is reported on stderr and does not
change the exit code.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit

import fssync
from fssync.plugin import register, scrub

WHEN = ("never", "error", "always")


def should_send(when: str, report: fssync.Report) -> bool:
    """`error` means anything but exit code 0: failures, held deletions, a run that stopped."""
    return when == "always" or (when == "error" and report.exit_code != 0)


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser, command: str) -> None:
    if command not in ("sync", "bisync"):
        return
    group = parser.add_argument_group("webhook")
    group.add_argument(
        "--notify-url",
        metavar="URL",
        help="POST the run's JSON report to URL (http or https) when the run ends",
    )
    group.add_argument(
        "--notify-on",
        choices=WHEN,
        default="always",
        help="when to POST: never, error (exit code not 0) or always (default)",
    )


@fssync.hookimpl(trylast=True)
def fssync_configure(config: fssync.Config) -> None:
    url = config.get("notify_url")
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fssync.UsageError(f"--notify-url must be an http:// or https:// URL, not {url!r}")
    register(url)


@fssync.hookimpl(trylast=True)
def fssync_run_finished(report: fssync.Report, config: fssync.Config) -> None:
    url = config.get("notify_url")
    if not url or not should_send(config.get("notify_on", "always"), report):
        return
    import urllib.error  # with the module below: only a run that posts loads urllib.request

    from .post import post_json

    try:
        post_json(url, fssync.report_document(report, config))
    except urllib.error.HTTPError as exc:
        _warn(f"HTTP {exc.code} {exc.reason}")
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        _warn(str(reason))


def _warn(why: str) -> None:
    print(scrub(f"fssync: webhook not delivered: {why}"), file=sys.stderr)
