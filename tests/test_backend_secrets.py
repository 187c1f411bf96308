"""Passwords, account keys and connection strings of the other backends never reach output:
console lines at -vv, errors, the log file and the JSON report (the CLI in a child process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fssync.testing.servers import free_ports

from .backend_fixtures import make_place
from .helpers import make_tree


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fssync", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def _env(tmp_path: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE_"))}
    env.update(FSSYNC_STATE_DIR=str(tmp_path / "state"), PYTHONPATH=os.pathsep.join(sys.path))
    env.update(more)
    return env


def _everything(proc: subprocess.CompletedProcess[str], *files: Path) -> str:
    texts = [proc.stdout, proc.stderr]
    texts += [f.read_text(errors="replace") for f in files if f.exists()]
    return "\n".join(texts)


@pytest.mark.parametrize("kind", ["sftp", "ftp", "webdav"])
def test_passwords_never_printed(kind, request, tmp_path):
    place = make_place(request, kind, tmp_path)
    assert place.secret and place.secret in place.toml
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", "b/c.txt": b"c"})
    log, report = tmp_path / "run.log", tmp_path / "report.json"
    args = ["sync", "-vv", str(src), place.url(), "--config", str(place.config)]
    ok = _run([*args, "--log-file", str(log), "--report", str(report)], _env(tmp_path), tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert place.secret not in _everything(ok, log, report)
    # A refused login: the wrong password is not printed either.
    wrong = "Wr0ng-" + place.secret[::-1]
    bad = tmp_path / "bad.toml"
    bad.write_text(place.toml.replace(place.secret, wrong))
    refused = _run(
        ["sync", "-vv", place.url(), str(tmp_path / "x"), "--config", str(bad)],
        _env(tmp_path),
        tmp_path,
    )
    assert refused.returncode == 4, refused.stderr
    assert wrong not in _everything(refused) and place.secret not in _everything(refused)


def test_password_in_the_url_is_redacted(tmp_path):
    secret = "url-secret-" + os.urandom(4).hex()
    (port,) = free_ports(1)  # nothing listens: the error line names the URL
    url = f"sftp://someone:{secret}@127.0.0.1:{port}/x"
    proc = _run(["sync", url, str(tmp_path / "x")], _env(tmp_path), tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "cannot connect" in proc.stderr and "host and port" in proc.stderr
    assert secret not in _everything(proc)


def test_azure_connection_string_from_the_environment(request, tmp_path, azurite):
    from fssync.testing.backend_servers import AZURITE_KEY

    container = azurite.make_container(f"env-{os.urandom(5).hex()}")
    config = tmp_path / "env.toml"
    config.write_text(f'[remotes.blob]\ntype = "abfs"\nroot = "{container}"\n')
    env = _env(tmp_path, AZURE_STORAGE_CONNECTION_STRING=azurite.connection_string)
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a"})
    report = tmp_path / "report.json"
    proc = _run(
        ["sync", "-vv", str(src), "blob:data", "--config", str(config), "--report", str(report)],
        env,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 copied" in proc.stdout + proc.stderr or report.exists()
    again = _run(["check", str(src), "blob:data", "--config", str(config)], env, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert AZURITE_KEY not in _everything(proc, report) + _everything(again)
    # A wrong key in the environment: refused, one line, neither key printed.
    wrong_key = "B" * (len(AZURITE_KEY) - 2) + "=="
    bad = dict(
        env,
        AZURE_STORAGE_CONNECTION_STRING=azurite.connection_string.replace(AZURITE_KEY, wrong_key),
    )
    refused = _run(
        ["sync", "blob:data", str(tmp_path / "x"), "--config", str(config)], bad, tmp_path
    )
    assert refused.returncode == 4, refused.stderr
    assert wrong_key not in _everything(refused) and AZURITE_KEY not in _everything(refused)
