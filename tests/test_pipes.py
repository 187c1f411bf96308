"""Output piped into a reader that stops early (``fssync sync ... | head``) does not stop the
sync: fssync stops printing, finishes the job and exits with its usual code. Real pipes and a
real child process; the reader is gone before the child writes its first line, so every line
meets a closed pipe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .helpers import make_tree, read_tree
from .helpers import s3_args as cli_opts

FILES = {f"dir{i % 7}/file{i:04}.txt": b"x" * i for i in range(400)}


@pytest.fixture
def tree(tmp_path):
    make_tree(tmp_path / "src", FILES)
    return tmp_path / "src"


def run_into_closed_pipe(args: list[str], tmp_path, *, stderr_too: bool) -> tuple[int, str]:
    """Run the command line with stdout (and maybe stderr) on a pipe nobody reads any more."""
    reader, writer = os.pipe()
    os.close(reader)  # like `head -0`: the reader has gone before the first line
    errors = tmp_path / "stderr.txt"
    try:
        with errors.open("wb") as err:
            proc = subprocess.run(
                [sys.executable, "-m", "fssync", *args],
                stdin=subprocess.DEVNULL,
                stdout=writer,
                stderr=writer if stderr_too else err,
                env={**os.environ, "FSSYNC_STATE_DIR": str(tmp_path / "state")},
                timeout=300,
            )
    finally:
        os.close(writer)
    return proc.returncode, errors.read_text()


@pytest.mark.parametrize("extra", [[], ["--json"], ["-v", "--json"]])
def test_a_closed_stdout_does_not_stop_the_sync(tree, tmp_path, extra):
    dst = tmp_path / "dst"
    code, err = run_into_closed_pipe(
        ["sync", str(tree), str(dst), *extra], tmp_path, stderr_too=False
    )
    assert (code, err) == (0, "")  # no "unexpected error", no "Exception ignored"
    assert read_tree(dst) == FILES


def test_closed_stdout_and_stderr_keep_the_exit_code_of_the_run(tree, tmp_path):
    """`2>&1 | head`: warnings and failures meet the closed pipe too; the code is still 3."""
    dst = tmp_path / "dst"
    os.symlink("file0001.txt", tree / "dir1" / "link")  # a warning on stderr
    blocked = tmp_path / "dst" / "dir3"
    blocked.parent.mkdir()
    blocked.write_bytes(b"a file where a folder must go")  # every file of dir3/ fails
    args = ["sync", str(tree), str(dst), "-vv", "--retries", "0", "--retry-passes", "0"]
    code, _ = run_into_closed_pipe(args, tmp_path, stderr_too=True)
    assert code == 3
    copied = read_tree(dst)
    assert copied == {k: v for k, v in FILES.items() if not k.startswith("dir3/")} | {
        "dir3": b"a file where a folder must go"
    }


def test_check_into_a_closed_pipe_still_says_they_differ(tree, tmp_path):
    code, err = run_into_closed_pipe(
        ["check", str(tree), str(tmp_path / "empty")], tmp_path, stderr_too=False
    )
    assert (code, err) == (1, "")


@pytest.mark.usefixtures("s3_backend")
def test_an_upload_into_a_closed_pipe_finishes(moto, tree, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    args = ["sync", str(tree), f"s3://{name}/up", *cli_opts(ep)]
    code, err = run_into_closed_pipe(args, tmp_path, stderr_too=False)
    assert (code, err) == (0, "")
    client = ep.client()
    keys = {
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix="up/")
        for o in page.get("Contents", [])
    }
    assert keys == {f"up/{k}" for k in FILES}
