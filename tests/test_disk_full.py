"""A destination disk that fills up stops the run with one clear line and exit code 4, leaving
no temporary file behind, instead of failing every remaining file one by one.

The full disk is injected in a child process: its os.write and os.pwrite raise ENOSPC for
files under the destination folder (nothing else in the child, and nothing in this process,
is touched), so the real CLI runs against the real file system until the disk "fills"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import make_tree

CHILD = """
import errno, os, sys
dest, budget = os.path.realpath(sys.argv[1]), int(sys.argv[2])
written = [0]

def guarded(real):
    def write(fd, data, *rest):
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            path = ""
        if path.startswith(dest + os.sep):
            written[0] += len(data)
            if written[0] > budget:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data, *rest)
    return write

os.write, os.pwrite = guarded(os.write), guarded(os.pwrite)
from fssync.cli.main import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("size", [4096, 9 << 20], ids=["small-files", "large-files"])
def test_a_full_destination_disk_stops_the_run_cleanly(tmp_path, size, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    files = {f"d/f{i:02d}.bin": bytes([i]) * size for i in range(40)}
    make_tree(tmp_path / "src", files)
    dst = tmp_path / "dst"
    dst.mkdir()
    budget = 5 * size  # room for about five files
    args = ["sync", str(tmp_path / "src"), str(dst), "--transfers", "2"]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(dst), str(budget), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 4, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("fssync: error:")]
    assert len(errors) == 1 and "no space left on the device" in errors[0]
    landed = [p for p in dst.rglob("*") if p.is_file()]
    assert not [p for p in landed if ".fssync-tmp-" in p.name]  # nothing half-written left
    for p in landed:  # what did land is whole
        assert p.read_bytes() == files[p.relative_to(dst).as_posix()]
    assert len(landed) <= 6  # it stopped instead of trying every file
