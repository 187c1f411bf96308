"""A URL whose client package is not installed: one line naming the extra, exit 2.

The package is made unimportable for real in a child interpreter (a finder on sys.meta_path
refuses it), so fsspec's own import of it fails as on a machine without the extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCKER = """
import sys
from importlib.abc import MetaPathFinder

class Block(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"No module named {{name!r}} (blocked)")
        return None

sys.meta_path.insert(0, Block())
from fssync.cli.main import main
sys.exit(main({argv!r}))
"""

CASES = [
    ("sftp://user@example.invalid/backup", {"sshfs", "asyncssh"}, "sftp"),
    ("az://container/prefix", {"adlfs", "azure"}, "azure"),
    ("gs://bucket/prefix", {"gcsfs"}, "gcs"),
    ("webdav://example.invalid/dav", {"webdav4"}, "webdav"),
]


@pytest.mark.parametrize(("url", "blocked", "extra"), CASES)
def test_missing_backend_package_names_the_extra(url, blocked, extra, tmp_path):
    code = BLOCKER.format(blocked=sorted(blocked), argv=["sync", url, str(tmp_path)])
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"pip install 'fssync[{extra}]'" in lines[0]
    assert "Traceback" not in proc.stderr
