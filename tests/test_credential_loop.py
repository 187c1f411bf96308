"""fssync as its own credential_process: the documented recipe with AWS_PROFILE pointing at it
must not start copies of fssync without end. Every test runs real processes, bounded: a
wrapper named fssync counts its starts and refuses past a few, and each run has a timeout."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fssync.settings.credential_loop import runs_fssync
from fssync.testing.servers import MotoAuth

from .helpers import make_tree

LIMIT = 6  # starts of the wrapper after which it refuses: the bound on a runaway chain


@pytest.mark.parametrize(
    ("command", "loops"),
    [
        ("fssync credentials --json --role-arn arn:aws:iam::1:role/x", True),
        ("/usr/local/bin/fssync credentials --json", True),
        ("'C:/Tools/fssync.exe' credentials --json", True),
        ("python3 -m fssync credentials --json", True),
        ("python3 -mfssync credentials --json", True),
        ("aws-vault export --format=json work", False),
        ("python3 -m other fssync", False),
        ("", False),
    ],
)
def test_which_commands_run_fssync(command, loops):
    assert runs_fssync(command) is loops


@pytest.fixture
def rig(tmp_path: Path, moto: MotoAuth):
    """A wrapper `fssync` first on PATH that counts its starts, an AWS config with the
    documented recipe, and the environment of a user who chose that profile."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    count = tmp_path / "starts"
    count.write_text("")
    wrapper = bin_dir / "fssync"
    wrapper.write_text(
        "#!/bin/sh\n"
        'echo start >> "$FSSYNC_TEST_COUNT"\n'
        f'if [ "$(wc -l < "$FSSYNC_TEST_COUNT")" -gt {LIMIT} ]; then\n'
        '  echo "runaway chain stopped by the test" >&2; exit 99\n'
        "fi\n"
        'exec "$FSSYNC_TEST_PYTHON" -m fssync "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    ep = moto.endpoint
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and not k.startswith("FSSYNC_")
    }
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        FSSYNC_TEST_COUNT=str(count),
        FSSYNC_TEST_PYTHON=sys.executable,
        FSSYNC_STATE_DIR=str(tmp_path / "state"),
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL_STS=ep.url,
        AWS_DEFAULT_REGION=ep.region,
    )
    recipe = f"fssync credentials --json --role-arn {moto.role_arn}"
    keys = f"aws_access_key_id = {ep.access_key}\naws_secret_access_key = {ep.secret_key}\n"
    return {"env": env, "count": count, "recipe": recipe, "keys": keys, "moto": moto}


def run(rig, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["fssync", *args],
        env={**rig["env"], **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def starts(rig) -> int:
    return len(rig["count"].read_text().splitlines())


def write_config(rig, text: str) -> None:
    Path(rig["env"]["AWS_CONFIG_FILE"]).write_text(text)


def test_the_documented_recipe_with_aws_profile_syncs(rig, tmp_path):
    """The sync starts fssync credentials once (the SDK runs the profile's process); that one
    ignores AWS_PROFILE, which points back at itself, and asks STS with the default keys."""
    write_config(
        rig,
        f"[default]\n{rig['keys']}\n[profile photo-sync]\ncredential_process = {rig['recipe']}\n",
    )
    make_tree(tmp_path / "src", {"a.txt": b"alpha", "b/c.txt": b"charlie"})
    ep = rig["moto"].endpoint
    bucket = ep.make_bucket()
    proc = run(
        rig,
        ["sync", str(tmp_path / "src"), f"s3://{bucket}/p", "--endpoint-url", ep.url],
        AWS_PROFILE="photo-sync",
    )
    assert proc.returncode == 0, proc.stderr
    assert starts(rig) == 2  # the sync itself, and the one credential_process
    listed = ep.client().list_objects_v2(Bucket=bucket, Prefix="p/").get("Contents", [])
    assert sorted(o["Key"] for o in listed) == ["p/a.txt", "p/b/c.txt"]


def test_credentials_ignores_aws_profile_that_runs_fssync(rig):
    write_config(
        rig,
        f"[default]\n{rig['keys']}\n[profile photo-sync]\ncredential_process = {rig['recipe']}\n",
    )
    proc = run(
        rig,
        ["credentials", "--json", "--role-arn", rig["moto"].role_arn],
        AWS_PROFILE="photo-sync",
    )
    assert proc.returncode == 0, proc.stderr
    assert starts(rig) == 1
    assert json.loads(proc.stdout)["AccessKeyId"].startswith("ASIA")
    assert "ignoring AWS_PROFILE=photo-sync" in proc.stderr


def test_a_nested_run_is_refused(rig):
    """The default profile itself runs fssync: the copy the SDK starts finds the marker and
    refuses, so the chain stops at depth two with one clear line."""
    write_config(rig, f"[default]\ncredential_process = {rig['recipe']}\n")
    proc = run(rig, ["credentials", "--json", "--role-arn", rig["moto"].role_arn])
    assert starts(rig) == 2
    assert proc.returncode == 4 and proc.stdout == ""
    assert "started by another fssync credentials" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_profile_flag_that_runs_fssync_is_refused(rig):
    write_config(rig, f"[profile photo-sync]\ncredential_process = {rig['recipe']}\n")
    proc = run(
        rig,
        ["credentials", "--json", "--profile", "photo-sync", "--role-arn", rig["moto"].role_arn],
    )
    assert proc.returncode == 2 and starts(rig) == 1
    assert "runs fssync itself" in proc.stderr
