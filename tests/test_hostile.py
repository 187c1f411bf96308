"""A hostile bucket: keys made to escape the destination, odd names, and names that collide.

The bucket is filled directly through the S3 API on moto, which stores keys as given (SeaweedFS
rewrites some of them itself). A download into an empty folder must write only inside it, skip
and report every key it cannot write safely, and write the rest byte for byte.
"""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import pytest

import fssync
from fssync.cli.main import main
from fssync.testing.servers import S3Endpoint

from .helpers import make_tree, read_tree
from .helpers import s3_args as cli_opts
from .helpers import s3_opts as opts

NFC = unicodedata.normalize("NFC", "café.txt")
NFD = unicodedata.normalize("NFD", "café.txt")

# Keys that must never be written (they would escape the root, or cannot be a path).
ESCAPING = [
    "../up.txt",
    "../../up2.txt",
    "a/../../up3.txt",
    "a/b/../../../up4.txt",
    "/abs.txt",
    "//double-abs.txt",
    "a//b.txt",
    "./dot.txt",
    "a/./b.txt",
    "..",
    ".",
    "a/..",
    "back\\slash.txt",
    "..\\..\\win-up.txt",
    "a/..\\..\\x.txt",
    "ctrl\x01.txt",
    "tab\there.txt",
    # ("new\nline" cannot be stored on moto's server at all; unsafe_reason is tested on it)
    "car\rriage.txt",
    "del\x7f.txt",
    "esc\x1b[31m.txt",
    "...",
    "a/.../b.txt",
    " ",
    "a/ /b.txt",
    ". .",
    "a/.. /x.txt",
    "a/ ../x.txt",
]
# Keys a local folder cannot hold as given: reported as conflicts, the rest of the run goes on.
CONFLICTS = [
    "x" * 300,  # one name longer than 255 bytes
    "deep/" + "y" * 256 + "/z.txt",
    "clash",  # a file ...
]
# Odd but harmless on this (POSIX, case-sensitive) destination: written as they are.
WRITTEN = [
    "clash/inner.txt",  # ... next to a folder of the same name: the folder wins, `clash` is reported
    "trailing-dot.",
    "trailing-space ",
    "..hidden",
    "x..y/z.txt",
    "Case.txt",
    "case.txt",
    "CASE.TXT",
    NFC,
    NFD,
    "日本/語.txt",
    "emoji-🙂.txt",
    "sp ace/and%20percent+plus.txt",
    "empty-file",
    "-dash-start.txt",
    "a/" + "n" * 255,  # exactly the longest name allowed
    "b/" + "é" * 127,  # 254 bytes of two-byte characters: its temporary name must fit too
]
HOSTILE_TOTAL = {"keys": 0}


class Events:
    def __init__(self) -> None:
        self.seen: list[fssync.Event] = []

    @fssync.hookimpl
    def fssync_event(self, event: fssync.Event, config: fssync.Config) -> None:
        self.seen.append(event)

    def keys(self, name: str) -> set[str]:
        return {str(e.fields["key"]) for e in self.seen if e.name == name}


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def everything_under(root: Path) -> set[str]:
    """Every path below root, folders and links included, without following links."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, name), root))
    return out


def fill(ep: S3Endpoint, name: str, prefix: str, keys: list[str]) -> dict[str, bytes]:
    client = ep.client()
    stored = {}
    for key in keys:
        body = b"" if key == "empty-file" else f"content of {key!r}".encode()
        client.put_object(Bucket=name, Key=prefix + key, Body=body)
        stored[key] = body
    listed = {
        o["Key"][len(prefix) :]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=prefix)
        for o in page.get("Contents", [])
    }
    assert set(keys) <= listed, f"the server changed some keys: {set(keys) - listed}"
    return stored


def test_a_hostile_bucket_writes_only_inside_the_destination(moto, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    stored = fill(ep, name, "h/", ESCAPING + CONFLICTS + WRITTEN)
    HOSTILE_TOTAL["keys"] += len(stored)
    box = tmp_path / "box"
    dst = box / "inner" / "dst"
    before = everything_under(tmp_path) - {"state"}
    events = Events()
    report = fssync.sync(f"s3://{name}/h", str(dst), plugins=[events], **opts(ep))

    # Nothing outside dst: the whole temporary tree, the box around dst and dst's parents.
    after = everything_under(tmp_path)
    new = {p for p in after - before if not p.startswith("state")}
    inside = os.path.join("box", "inner", "dst") + os.sep
    outside = {p for p in new if not p.startswith(inside)}
    assert outside == {"box", os.path.join("box", "inner"), os.path.join("box", "inner", "dst")}
    assert not list(box.glob("*up*")) and not (tmp_path / "up.txt").exists()
    assert not any(".fssync-tmp-" in p for p in after)

    # Every escaping key was skipped and reported with its full key.
    rejected = events.keys("rejected")
    assert {f"h/{k}" for k in ESCAPING} <= rejected
    # Every key the folder cannot hold was reported as a conflict; both kinds count as failed.
    conflicts = events.keys("conflict")
    assert set(CONFLICTS) == conflicts
    by_kind = {(f.kind, f.key) for f in report.failures}
    assert by_kind == {("conflict", k) for k in CONFLICTS} | {
        ("unsafe", f"h/{k}") for k in ESCAPING
    }
    assert report.failed == len(CONFLICTS) + len(ESCAPING) and report.exit_code == 3
    # The rest arrived byte for byte, under exactly their own names.
    assert read_tree(dst) == {k: stored[k] for k in WRITTEN}
    assert report.copied == len(WRITTEN)


@pytest.mark.usefixtures("s3_backend")
def test_skipped_hostile_keys_are_failures_in_the_report_and_exit_3(moto, tmp_path, capsys):
    ep = moto.endpoint
    name = ep.make_bucket()
    bad = ["../up.txt", "a//b.txt", "esc\x1b[31m.txt", "back\\slash.txt"]
    fill(ep, name, "r/", [*bad, "fine.txt"])
    out = tmp_path / "run.json"
    args = ["sync", f"s3://{name}/r", str(tmp_path / "d"), "--report", str(out), *cli_opts(ep)]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert f"{len(bad)} failure(s):" in err
    doc = json.loads(out.read_text())
    assert doc["exit_code"] == 3 and doc["ok"] is False
    assert doc["counts"]["failed"] == len(bad) and doc["counts"]["copied"] == 1
    assert sorted((f["kind"], f["key"]) for f in doc["failures"]) == sorted(
        ("unsafe", f"r/{k}") for k in bad
    )
    assert all(f["error"].startswith("not copied: ") for f in doc["failures"])
    assert read_tree(tmp_path / "d") == {"fine.txt": b"content of 'fine.txt'"}


def test_links_skipped_by_default_are_not_failures(tmp_path, capsys):
    make_tree(tmp_path / "s", {"a.txt": b"a"})
    os.symlink("a.txt", tmp_path / "s" / "link")
    assert main(["sync", str(tmp_path / "s"), str(tmp_path / "d")]) == 0
    assert "! link: symbolic link" in capsys.readouterr().err


def test_case_and_unicode_twins_are_reported_on_a_case_insensitive_destination(moto, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    keys = ["Case.txt", "case.txt", NFC, NFD, "solo.txt", "Dir/a.txt", "dir/b.txt"]
    stored = fill(ep, name, "c/", keys)
    HOSTILE_TOTAL["keys"] += len(stored)
    dst = tmp_path / "dst"
    events = Events()
    report = fssync.sync(
        f"s3://{name}/c", str(dst), plugins=[events], local_case="insensitive", **opts(ep)
    )
    twins = {"Case.txt", "case.txt", NFC, NFD}
    assert events.keys("conflict") == twins
    assert {f.key for f in report.failures} == twins
    # "Dir/" and "dir/" hold different names: each file lands (in one folder on such a disk).
    assert read_tree(dst) == {k: stored[k] for k in ("solo.txt", "Dir/a.txt", "dir/b.txt")}


def test_a_file_next_to_a_folder_of_its_name_is_a_reported_conflict(moto, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    stored = fill(ep, name, "f/", ["a", "a/b", "a/c/d"])
    report = fssync.sync(f"s3://{name}/f", str(tmp_path / "d"), **opts(ep))
    assert [(f.key, f.kind) for f in report.failures] == [("a", "conflict")]
    assert read_tree(tmp_path / "d") == {"a/b": stored["a/b"], "a/c/d": stored["a/c/d"]}


def test_nfc_and_nfd_names_round_trip_unchanged(moto, tmp_path):
    ep = moto.endpoint
    name = ep.make_bucket()
    files = {NFC: b"composed", NFD: b"decomposed", f"{NFD}-dir/{NFC}": b"mixed"}
    make_tree(tmp_path / "src", files)
    up = fssync.sync(str(tmp_path / "src"), f"s3://{name}/u", **opts(ep))
    assert up.failed == 0 and up.copied == 3
    keys = {o["Key"] for o in ep.client().list_objects_v2(Bucket=name)["Contents"]}
    assert keys == {f"u/{k}" for k in files}  # byte-exact keys, no normalisation
    down = fssync.sync(f"s3://{name}/u", str(tmp_path / "back"), **opts(ep))
    assert down.failed == 0
    assert read_tree(tmp_path / "back") == files
    names = set(os.listdir(tmp_path / "back"))
    assert NFC in names and NFD in names


@pytest.mark.parametrize("size", [0, 8 << 20, (16 << 20) - 1, 16 << 20])
def test_part_size_boundaries_round_trip(moto, tmp_path, size):
    ep = moto.endpoint
    name = ep.make_bucket()
    data = os.urandom(size)
    make_tree(tmp_path / "s", {"f.bin": data})
    up = fssync.sync(str(tmp_path / "s"), f"s3://{name}/p", **opts(ep))
    assert up.failed == 0 and up.copied == 1
    head = ep.client().head_object(Bucket=name, Key="p/f.bin")
    assert head["ContentLength"] == size
    multipart = "-" in head["ETag"]
    assert multipart == (size >= 16 << 20)
    down = fssync.sync(f"s3://{name}/p", str(tmp_path / "d"), **opts(ep))
    assert down.failed == 0
    assert (tmp_path / "d" / "f.bin").read_bytes() == data
