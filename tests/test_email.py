"""The e-mail reporter against a real SMTP server (aiosmtpd) on 127.0.0.1: the message, when it
is sent, STARTTLS with a login, and failures to send as warnings."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import ssl
from pathlib import Path

import fsspec
import jsonschema
import pytest
from aiosmtpd.controller import Controller

import fssync
from fssync.cli.main import main
from fssync.testing.servers import free_ports

from .helpers import make_tree
from .notify_servers import PASSWORD, Inbox
from .test_report_file import SCHEMA
from .test_reporting import FlakyFS


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, made here, so TLS can be verified without the network."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    for name in ("HOST", "PORT", "TLS", "USER", "PASSWORD"):
        monkeypatch.delenv(f"FSSYNC_SMTP_{name}", raising=False)
    monkeypatch.delenv("FSSYNC_EMAIL_FROM", raising=False)
    fsspec.register_implementation("flaky", FlakyFS, clobber=True)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    make_tree(tmp_path / "s", {"a.txt": b"alpha", "b.txt": b"bravo"})
    return tmp_path / "s"


def mail_args(port: int) -> list[str]:
    return ["--email-to", "ops@example.org", "--smtp-host", "127.0.0.1", "--smtp-port", str(port)]


def attachment(msg: email.message.EmailMessage) -> dict:
    [part] = [p for p in msg.iter_attachments() if p.get_filename() == "report.json"]
    return json.loads(part.get_content())


def test_a_run_sends_its_summary_and_report(smtp, src, tmp_path, capsys):
    inbox, port = smtp
    args = ["sync", str(src), str(tmp_path / "d"), *mail_args(port)]
    assert main([*args, "--email-from", "backup@example.org"]) == 0
    [(sender, to, msg)] = inbox.messages
    assert (sender, to) == ("backup@example.org", ["ops@example.org"])
    assert msg["Subject"].startswith("fssync OK: ")
    assert "2 copied, 0 updated" in msg["Subject"]
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert "2 copied, 0 updated, 0 deleted, 0 unchanged, 0 failed" in body
    document = attachment(msg)
    jsonschema.validate(document, SCHEMA)
    assert document["counts"]["copied"] == 2
    assert capsys.readouterr().err == ""


def test_on_error_sends_the_failures_only_when_something_failed(smtp, src, tmp_path):
    inbox, port = smtp
    fssync.sync(
        str(src),
        str(tmp_path / "d"),
        email_to=["ops@example.org"],
        email_on="error",
        smtp_host="127.0.0.1",
        smtp_port=port,
    )
    assert inbox.messages == []
    fs = FlakyFS()
    fs.pipe_file("/mailsrc/ok.txt", b"fine")
    fs.pipe_file("/mailsrc/bad.txt", b"never")
    fssync.sync(
        "flaky:///mailsrc",
        str(tmp_path / "e"),
        retries=1,
        retries_sleep=0.001,
        email_to=["ops@example.org,night@example.org"],
        email_on="error",
        smtp_host="127.0.0.1",
        smtp_port=port,
    )
    [(_, to, msg)] = inbox.messages
    assert to == ["ops@example.org", "night@example.org"]
    assert msg["Subject"].startswith("fssync FAILED (exit code 3): ")
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert "1 failure(s):" in body and "bad.txt: " in body and "connection reset" in body
    assert attachment(msg)["failures"][0]["key"] == "bad.txt"


def test_starttls_and_login_with_the_password_from_the_environment(
    src, tmp_path, monkeypatch, capsys
):
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts only this certificate
    monkeypatch.setenv("FSSYNC_SMTP_PASSWORD", PASSWORD)
    inbox = Inbox()
    port = free_ports(1)[0]
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=inbox.authenticate,
    )
    controller.start()
    try:
        args = ["sync", str(src), str(tmp_path / "d"), *mail_args(port)]
        args += ["--smtp-tls", "starttls", "--smtp-user", "fssync-bot", "--json"]
        assert main(args) == 0
    finally:
        controller.stop()
    assert inbox.logins == ["fssync-bot"] and len(inbox.messages) == 1
    out, err = capsys.readouterr()
    raw = inbox.messages[0][2].as_string()
    assert PASSWORD not in out + err + raw


def test_a_server_that_does_not_answer_is_a_warning(src, tmp_path, capsys):
    port = free_ports(1)[0]  # nothing listens there
    assert main(["sync", str(src), str(tmp_path / "d"), *mail_args(port)]) == 0
    err = capsys.readouterr().err
    assert f"e-mail not sent via 127.0.0.1:{port}" in err and len(err.strip().splitlines()) == 1


def test_a_password_is_never_sent_in_the_clear(src, tmp_path, monkeypatch, capsys):
    args = ["sync", str(src), str(tmp_path / "d"), "--email-to", "ops@example.org"]
    args += ["--smtp-host", "mail.example.org", "--smtp-tls", "none", "--smtp-user", "me"]
    assert main(args) == 2
    assert "FSSYNC_SMTP_PASSWORD" in capsys.readouterr().err
    monkeypatch.setenv("FSSYNC_SMTP_PASSWORD", PASSWORD)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "without TLS" in err and PASSWORD not in err
    assert not (tmp_path / "d").exists()
