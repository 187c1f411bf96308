"""A destination on a read-only file system (EROFS) stops the run with one line naming the
problem and exit code 4, instead of retrying every file and printing raw `OSError` lines that
name temporary files.

The read-only file system is real: the child runs in its own user and mount namespaces
(``unshare -rm``) and mounts an empty tmpfs read-only over the destination folder, so the
kernel itself answers EROFS. Where namespaces are not allowed the test is skipped."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fssync.diagnose import diagnose

from .helpers import make_tree, s3_args

UNSHARE = shutil.which("unshare")


def _can_mount_read_only(tmp: Path) -> bool:
    if UNSHARE is None or not sys.platform.startswith("linux"):
        return False
    (tmp / "probe").mkdir()
    script = f"mount -t tmpfs -o ro none {tmp / 'probe'} && ! touch {tmp / 'probe' / 'x'}"
    proc = subprocess.run([UNSHARE, "-rm", "sh", "-c", script], capture_output=True, timeout=30)
    return proc.returncode == 0


@pytest.fixture
def read_only(tmp_path):
    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs unshare -rm and mount (user and mount namespaces)")
    dst = tmp_path / "dst"
    dst.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "FSSYNC_STATE_DIR": str(tmp_path / "state")}
        command = f'mount -t tmpfs -o ro none "{dst}" && exec "$@"'
        return subprocess.run(
            [UNSHARE, "-rm", "sh", "-c", command, "sh", sys.executable, "-m", "fssync", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    return dst, run


def _check_one_line(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 4, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text and "Errno" not in text and "OSError" not in text
    assert ".fssync-tmp-" not in text  # a message names the file, never its temporary name
    lines = [line for line in text.splitlines() if "read-only file system" in line]
    assert len(lines) == 1 and lines[0].startswith("fssync: error:"), text
    assert "retried" not in text and "retry" not in text


@pytest.mark.parametrize("size", [100, 300_000], ids=["small-files", "large-files"])
def test_a_read_only_destination_stops_at_once(tmp_path, read_only, size):
    dst, run = read_only
    make_tree(tmp_path / "src", {f"d/f{i:02d}.bin": bytes([i]) * size for i in range(40)})
    proc = run("sync", str(tmp_path / "src"), str(dst), "--retries-sleep", "0.01")
    _check_one_line(proc)


@pytest.mark.usefixtures("s3_backend")
def test_a_download_into_a_read_only_folder_stops_at_once(tmp_path, read_only, moto):
    ep = moto.endpoint
    name = ep.make_bucket()
    client = ep.client()
    for i in range(20):
        client.put_object(Bucket=name, Key=f"p/f{i}.txt", Body=b"x" * 100)
    dst, run = read_only
    proc = run("sync", f"s3://{name}/p", str(dst), *s3_args(ep), "--retries-sleep", "0.01")
    _check_one_line(proc)


def test_an_os_error_message_never_names_a_temporary_file(tmp_path):
    """The classifier reports the system's words for the file, not the path it was given."""
    temp = tmp_path / ".a.txt.fssync-tmp-1-deadbeef"
    with pytest.raises(OSError) as caught:
        os.open(temp / "below", os.O_CREAT | os.O_WRONLY)  # a real ENOENT from the kernel
    diag = diagnose(caught.value, where="a.txt")
    assert ".fssync-tmp-" not in diag.message and "a.txt" in diag.message
    io = OSError(errno.EIO, os.strerror(errno.EIO), str(temp))
    assert diagnose(io, where="a.txt").message == f"a.txt: {os.strerror(errno.EIO)}"
    ro = OSError(errno.EROFS, os.strerror(errno.EROFS), str(temp))
    assert diagnose(ro, where="a.txt").fatal and not diagnose(ro, where="a.txt").retryable
