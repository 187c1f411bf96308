"""--fsync: every file written to a local destination is flushed before it is renamed into
place, and its folder after the rename; without it nothing is flushed (the default, as fast as
before). A power loss cannot be staged in a test, so the test checks the order of the real
system calls: a child process records each os.fsync (by the path of its descriptor) and each
os.replace, then calls the real ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import make_tree

CHILD = """
import json, os, sys
log = []
real_fsync, real_replace = os.fsync, os.replace

def fsync(fd):
    log.append(["fsync", os.readlink(f"/proc/self/fd/{fd}")])
    return real_fsync(fd)

def replace(a, b, **kw):
    log.append(["replace", os.fspath(a), os.fspath(b)])
    return real_replace(a, b, **kw)

os.fsync, os.replace = fsync, replace
from fssync.cli.main import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    json.dump(log, f)
sys.exit(code)
"""

FILES = {"a.txt": b"a" * 100, "sub/b.bin": b"b" * 400_000, "sub/deep/c.txt": b"c"}


def run(tmp_path: Path, *args: str) -> list[list[str]]:
    out = tmp_path / "calls.json"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "FSSYNC_STATE_DIR": str(tmp_path / "state")},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def under(calls: list[list[str]], root: Path) -> list[list[str]]:
    return [c for c in calls if c[1].startswith(str(root))]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
def test_fsync_flushes_each_file_before_its_rename_and_the_folder_after(tmp_path):
    make_tree(tmp_path / "src", FILES)
    dst = (tmp_path / "dst").resolve()
    calls = under(run(tmp_path, "sync", str(tmp_path / "src"), str(dst), "--fsync"), dst)
    for key in FILES:
        final = str(dst / key)
        ((at, rename),) = [
            (i, c) for i, c in enumerate(calls) if c[0] == "replace" and c[2] == final
        ]
        temp = rename[1]
        flushed = [i for i, c in enumerate(calls) if c == ["fsync", temp]]
        assert flushed and flushed[0] < at, (key, calls)  # the file's bytes before its name
        folder = [i for i, c in enumerate(calls) if c == ["fsync", str(Path(final).parent)]]
        assert any(i > at for i in folder), (key, calls)  # the folder's entry after


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
def test_without_fsync_nothing_is_flushed(tmp_path):
    make_tree(tmp_path / "src", FILES)
    dst = (tmp_path / "dst").resolve()
    calls = under(run(tmp_path, "sync", str(tmp_path / "src"), str(dst)), dst)
    assert [c for c in calls if c[0] == "fsync"] == []
    assert len([c for c in calls if c[0] == "replace"]) == len(FILES)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
def test_fsync_from_the_python_api_and_a_file_remote(tmp_path, monkeypatch):
    import fssync
    from fssync.stores.local import LocalStore

    seen: list[bool] = []
    real = LocalStore.__init__

    def spy(self, *args, **kwargs):  # records the setting the store was opened with
        real(self, *args, **kwargs)
        seen.append(self.fsync)

    monkeypatch.setattr(LocalStore, "__init__", spy)
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    make_tree(tmp_path / "src", FILES)
    fssync.sync(str(tmp_path / "src"), str(tmp_path / "d1"), fsync=True)
    assert seen == [True, True]
    config = tmp_path / "config.toml"
    config.write_text(f'[remotes.disk]\ntype = "file"\nroot = "{tmp_path / "d2"}"\nfsync = true\n')
    seen.clear()
    fssync.sync(str(tmp_path / "src"), "disk:", config=str(config))
    assert seen[-1] is True
    config.write_text(f'[remotes.disk]\ntype = "file"\nroot = "{tmp_path / "d3"}"\nfsync = "yes"\n')
    with pytest.raises(fssync.UsageError, match="fsync must be true or false"):
        fssync.sync(str(tmp_path / "src"), "disk:", config=str(config))
