"""E-mail when a run ends: the summary and the failures in the body, the JSON report attached.

``--email-to`` turns it on; the SMTP server comes from ``--smtp-host/--smtp-port/--smtp-tls/
--smtp-user`` or the environment (``FSSYNC_SMTP_HOST``, ``FSSYNC_SMTP_PORT``, ``FSSYNC_SMTP_TLS``,
``FSSYNC_SMTP_USER``, ``FSSYNC_EMAIL_FROM``). The password is read from ``FSSYNC_SMTP_PASSWORD``
only (a command line is visible to every user of the machine) and is never sent without TLS.
A message that cannot be sent is reported on stderr and does not change the exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

import attrs

import fssync
from fssync.plugin import register, scrub

WHEN = ("never", "error", "always")
TLS = ("none", "starttls", "ssl")
PORTS = {"none": 25, "starttls": 587, "ssl": 465}
LOOPBACK = {"localhost", "127.0.0.1", "::1"}


@attrs.frozen
class Smtp:
    """Where and how to send; the password stays out of the repr."""

    host: str
    port: int
    tls: str
    sender: str
    user: str | None = None
    password: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_config(cls, config: fssync.Config, env: Mapping[str, str] = os.environ) -> Smtp:
        host = config.get("smtp_host") or env.get("FSSYNC_SMTP_HOST") or "localhost"
        tls = config.get("smtp_tls") or env.get("FSSYNC_SMTP_TLS")
        if not tls:
            tls = "none" if host in LOOPBACK else "starttls"
        if tls not in TLS:
            raise fssync.UsageError(f"SMTP TLS mode {tls!r}: choose one of {', '.join(TLS)}")
        raw_port = config.get("smtp_port") or env.get("FSSYNC_SMTP_PORT") or PORTS[tls]
        try:
            port = int(raw_port)
        except ValueError:
            raise fssync.UsageError(f"SMTP port {raw_port!r} is not a number") from None
        import socket  # for the host name only; a run without e-mail need not load it

        sender = (
            config.get("email_from")
            or env.get("FSSYNC_EMAIL_FROM")
            or f"fssync@{socket.getfqdn() or 'localhost'}"
        )
        user = config.get("smtp_user") or env.get("FSSYNC_SMTP_USER")
        password = env.get("FSSYNC_SMTP_PASSWORD")
        return cls(host, port, tls, sender, user, password)


def recipients(config: fssync.Config) -> list[str]:
    """--email-to may be repeated and may hold comma-separated addresses."""
    out: list[str] = []
    for item in config.get("email_to") or ():
        out += [a.strip() for a in str(item).split(",") if a.strip()]
    return out


def should_send(when: str, report: fssync.Report) -> bool:
    return when == "always" or (when == "error" and report.exit_code != 0)


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser, command: str) -> None:
    if command not in ("sync", "bisync"):
        return
    group = parser.add_argument_group("e-mail")
    group.add_argument(
        "--email-to",
        metavar="ADDRESS",
        action="append",
        help="e-mail the summary and failures to ADDRESS when the run ends (repeatable)",
    )
    group.add_argument(
        "--email-on",
        choices=WHEN,
        default="always",
        help="when to send: never, error (exit code not 0) or always (default)",
    )
    group.add_argument(
        "--email-from", metavar="ADDRESS", help="sender (or FSSYNC_EMAIL_FROM; default fssync@HOST)"
    )
    group.add_argument(
        "--smtp-host", metavar="HOST", help="SMTP server (or FSSYNC_SMTP_HOST; default localhost)"
    )
    group.add_argument(
        "--smtp-port",
        metavar="PORT",
        type=int,
        help="SMTP port (or FSSYNC_SMTP_PORT; default 25, 587 with starttls, 465 with ssl)",
    )
    group.add_argument(
        "--smtp-tls",
        choices=TLS,
        help="none, starttls or ssl (or FSSYNC_SMTP_TLS; default none for a server on this "
        "machine, starttls otherwise)",
    )
    group.add_argument(
        "--smtp-user",
        metavar="NAME",
        help="log in as NAME (or FSSYNC_SMTP_USER); the password comes from FSSYNC_SMTP_PASSWORD",
    )


@fssync.hookimpl(trylast=True)
def fssync_configure(config: fssync.Config) -> None:
    if not recipients(config):
        return
    smtp = Smtp.from_config(config)
    register(smtp.password)
    if smtp.user and not smtp.password:
        raise fssync.UsageError("--smtp-user needs the password in FSSYNC_SMTP_PASSWORD")
    if smtp.user and smtp.tls == "none" and smtp.host not in LOOPBACK:
        raise fssync.UsageError(
            f"refusing to send the SMTP password to {smtp.host} without TLS: "
            "use --smtp-tls starttls or ssl"
        )


@fssync.hookimpl(trylast=True)
def fssync_run_finished(report: fssync.Report, config: fssync.Config) -> None:
    to = recipients(config)
    if not to or not should_send(config.get("email_on", "always"), report):
        return
    smtp = Smtp.from_config(config)
    import smtplib  # with the module below: only a run that sends e-mail loads them

    from .message import compose, send

    try:
        send(compose(report, config, smtp.sender, to), smtp)
    except (OSError, smtplib.SMTPException) as exc:
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        print(scrub(f"fssync: e-mail not sent via {smtp.host}:{smtp.port}: {why}"), file=sys.stderr)
