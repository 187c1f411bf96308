"""The run a person leaves to cron: to a real S3 server with temporary credentials, every
reporter on at once. It must leave a log file, a JSON report, an HTML page, an e-mail and a
webhook POST, and no secret may appear in any of them, nor on stdout or stderr."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from fssync.cli.main import main

from .helpers import make_tree
from .test_email import attachment
from .test_report_file import SCHEMA


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    for name in ("HOST", "PORT", "TLS", "USER", "PASSWORD"):
        monkeypatch.delenv(f"FSSYNC_SMTP_{name}", raising=False)


def test_a_night_run_leaves_every_record_and_no_secret(
    moto,
    smtp,
    receiver,
    tmp_path,
    capsys,
):
    inbox, port = smtp
    creds = moto.assume_role()
    bucket = moto.endpoint.make_bucket()
    make_tree(tmp_path / "photos", {f"2026/{i:03}.jpg": bytes([i]) * (i * 100) for i in range(60)})
    records = tmp_path / "records"
    records.mkdir()
    args = [
        "sync",
        str(tmp_path / "photos"),
        f"s3://{bucket}/photos",
        "--endpoint-url",
        creds.url,
        "--region",
        creds.region,
        "--access-key-id",
        creds.access_key,
        "--secret-access-key",
        creds.secret_key,
        "--session-token",
        creds.session_token,
        "-vvv",
        "--json",
        "--log-file",
        str(records / "run.log"),
        "--report",
        str(records / "run.json"),
        "--report-html",
        str(records / "run.html"),
        "--email-to",
        "ops@example.org",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(port),
        "--notify-url",
        receiver.url + "/night",
    ]
    assert main(args) == 0
    out, err = capsys.readouterr()

    summary = json.loads(out.splitlines()[-1])
    assert summary["event"] == "summary" and summary["copied"] == 60
    log = (records / "run.log").read_text()
    assert log.count("copied 2026/") == 60 and "< 200 PUT" in log
    report = json.loads((records / "run.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["counts"]["copied"] == 60 and report["exit_code"] == 0
    assert report["options"]["secret_access_key"] == "****" + creds.secret_key[-4:]
    assert report["options"]["session_token"] == "****" + creds.session_token[-4:]
    page = (records / "run.html").read_text()
    assert 'data-figure="copied">60<' in page
    [(_, _, mail)] = inbox.messages
    assert attachment(mail)["counts"]["copied"] == 60
    [(_, _, _, posted)] = receiver.requests
    assert json.loads(posted)["counts"]["copied"] == 60

    everything = "\n".join([out, err, log, json.dumps(report), page, mail.as_string()])
    everything += posted.decode()
    for secret in (creds.secret_key, creds.session_token):
        assert secret not in everything
        # nor a long piece of it (a secret cut across a line would still leak)
        assert not re.search(re.escape(secret[4:20]), everything)
