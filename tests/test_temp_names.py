"""User files whose names merely look like fssync's temporary files are user files: listed,
synced, never removed as leftovers; and a real temporary file in a source is reported, not
skipped in silence."""

from __future__ import annotations

import subprocess
import sys

import pytest

import fssync
from fssync.state.leftovers import TEMP_MARK, is_temp, owner, temp_name

from .helpers import make_tree, read_tree
from .helpers import s3_opts as opts


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture(scope="module")
def dead_pid() -> int:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(gone.stdout)


class Events:
    def __init__(self) -> None:
        self.seen: list[fssync.Event] = []

    @fssync.hookimpl
    def fssync_event(self, event: fssync.Event, config: fssync.Config) -> None:
        self.seen.append(event)

    def of(self, name: str) -> dict[str, str]:
        return {
            str(e.fields["key"]): str(e.fields.get("reason")) for e in self.seen if e.name == name
        }


def user_names(pid: int) -> list[str]:
    return [
        f"thesis{TEMP_MARK}{pid}-v2.tex",
        f"report{TEMP_MARK}2024-final.txt",
        f".notes{TEMP_MARK}{pid}-0badf00d.bak",  # the real shape with something after it
        f"sub/plain{TEMP_MARK}x",
    ]


def test_only_names_fssync_makes_count_as_temporary(dead_pid):
    made = temp_name("a.txt")
    assert is_temp(made) and owner(made) is not None
    assert is_temp(".a.txt.fssync-tmp-deadbeef0000")  # the older format, no pid
    for name in user_names(dead_pid):
        assert not is_temp(name.rpartition("/")[2]), name
        assert owner(name) is None


def test_a_destination_file_named_like_a_temp_file_is_kept(tmp_path, dead_pid):
    src, dst = tmp_path / "s", tmp_path / "d"
    make_tree(src, {"a.txt": b"a"})
    mine = {name: f"user data {i}".encode() for i, name in enumerate(user_names(dead_pid))}
    make_tree(dst, mine)
    report = fssync.sync(str(src), str(dst))
    assert report.failed == 0 and report.deleted == 0
    assert read_tree(dst) == {**mine, "a.txt": b"a"}


def test_a_source_file_named_like_a_temp_file_is_copied_locally(tmp_path, dead_pid):
    src, dst = tmp_path / "s", tmp_path / "d"
    files = {name: name.encode() for name in user_names(dead_pid)}
    make_tree(src, files)
    report = fssync.sync(str(src), str(dst))
    assert report.failed == 0 and report.copied == len(files)
    assert read_tree(dst) == files


def test_a_real_temp_file_in_a_source_is_reported(tmp_path, dead_pid):
    src = tmp_path / "s"
    temp = f"sub/.a.txt{TEMP_MARK}{dead_pid}-0badf00d"
    make_tree(src, {"ok.txt": b"ok", temp: b"half"})
    events = Events()
    report = fssync.sync(str(src), str(tmp_path / "d"), plugins=[events])
    assert read_tree(tmp_path / "d") == {"ok.txt": b"ok"}
    assert report.failed == 0
    assert "temporary file" in events.of("rejected")[temp]
    assert (src / temp).exists()  # a source is never cleaned


@pytest.mark.usefixtures("s3_backend")
def test_temp_like_names_round_trip_through_s3(moto, tmp_path, dead_pid):
    ep = moto.endpoint
    name = ep.make_bucket()
    files = {n: n.encode() for n in user_names(dead_pid)}
    make_tree(tmp_path / "s", files)
    up = fssync.sync(str(tmp_path / "s"), f"s3://{name}/t", **opts(ep))
    assert up.failed == 0 and up.copied == len(files)
    keys = {o["Key"] for o in ep.client().list_objects_v2(Bucket=name)["Contents"]}
    assert keys == {f"t/{n}" for n in files}
    back = tmp_path / "back"
    down = fssync.sync(f"s3://{name}/t", str(back), **opts(ep))
    assert down.failed == 0 and read_tree(back) == files
    again = fssync.sync(f"s3://{name}/t", str(back), **opts(ep))  # nothing removed, nothing new
    assert again.copied + again.updated + again.deleted == 0 and read_tree(back) == files
