"""The message and its delivery: composed and sent over SMTP only when a run sends e-mail, so
that a run without ``--email-to`` does not load smtplib, ssl and the email package."""

from __future__ import annotations

import json
import smtplib
import ssl
from email.message import EmailMessage
from typing import TYPE_CHECKING

import fssync
from fssync.plugin import scrub

if TYPE_CHECKING:
    from . import Smtp

TIMEOUT = 30.0
MAX_LISTED = 200  # failures listed in the body; the attached report has them all


def compose(
    report: fssync.Report, config: fssync.Config, sender: str, to: list[str]
) -> EmailMessage:
    """The message a person reads the morning after: outcome in the subject, failures listed."""
    document = fssync.report_document(report, config)
    outcome = "OK" if report.ok else f"FAILED (exit code {report.exit_code})"
    route = f"{document['src']} -> {document['dst']}"
    msg = EmailMessage()
    msg["Subject"] = scrub(f"fssync {outcome}: {route}: {fssync.summary_line(report)}")
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    lines = [
        f"fssync {document['fssync_version']} {document['command']} {route}",
        f"started {document['started']}, finished {document['finished']}, "
        f"exit code {report.exit_code}",
        "",
        fssync.summary_line(report),
    ]
    if report.error:
        lines += ["", f"The run stopped early: {report.error}"]
    if report.deletes_held:
        lines += ["", f"Deletions were not run: {report.deletes_held}"]
    if report.failures:
        lines += ["", f"{len(report.failures)} failure(s):"]
        lines += [f"  {f.key}: {f.error}" for f in report.failures[:MAX_LISTED]]
        if len(report.failures) > MAX_LISTED:
            lines.append(f"  ... and {len(report.failures) - MAX_LISTED} more (see report.json)")
    lines += ["", "The whole run is in the attached report.json."]
    msg.set_content(scrub("\n".join(fssync.printable(line) for line in lines)) + "\n")
    msg.add_attachment(
        json.dumps(document, indent=2, ensure_ascii=False).encode(),
        maintype="application",
        subtype="json",
        filename="report.json",
    )
    return msg


def send(message: EmailMessage, smtp: Smtp, timeout: float = TIMEOUT) -> None:
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.tls == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
    with client:
        if smtp.tls == "starttls":
            client.starttls(context=context)
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
        client.send_message(message)
