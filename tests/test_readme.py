"""The README's Python example runs as written, against a local S3 server (moto)."""

from __future__ import annotations

import re
from pathlib import Path

import fssync

from .helpers import make_tree

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_python_example_runs_as_written(moto, tmp_path, monkeypatch, capsys):
    ep = moto.endpoint
    name = ep.make_bucket()
    [block] = [
        b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if "fssync." in b
    ]
    # Only the server's address and the bucket differ from what a reader types.
    code = block.replace("http://127.0.0.1:9000", ep.url).replace("my-bucket", name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ep.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ep.secret_key)
    monkeypatch.setenv("AWS_REGION", ep.region)
    if ep.session_token:
        monkeypatch.setenv("AWS_SESSION_TOKEN", ep.session_token)
    make_tree(tmp_path / "photos", {"a.jpg": b"a", "b/c.jpg": b"cc"})
    names: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), names)  # noqa: S102 - our own README
    plan, report = names["plan"], names["report"]
    assert isinstance(plan, fssync.Plan) and plan.counts()["copy"] == 2
    assert isinstance(report, fssync.Report) and report.copied == 2 and report.ok
