from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fssync import LocationError
from fssync.settings.location import parse, unsafe_reason


@pytest.mark.parametrize(
    ("url", "protocol", "root"),
    [
        ("s3://bucket/some/prefix/", "s3", "bucket/some/prefix"),
        ("s3://bucket", "s3", "bucket"),
        ("memory://x/y", "memory", "/x/y"),
        ("/tmp/a/", "file", "/tmp/a"),
        ("file:///tmp/a", "file", "/tmp/a"),
    ],
)
def test_parse(url, protocol, root):
    loc = parse(url)
    assert (loc.protocol, loc.root) == (protocol, root)


def test_relative_local_path_is_made_absolute():
    assert parse("some/dir").root == os.path.abspath("some/dir")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("s3://", "names no bucket"),
        ("s3:///prefix", "names no bucket"),
        ("s3://a/x", "not a valid bucket name"),
        ("nosuchproto://x", "unknown protocol"),
        ("", "empty location"),
        ("s3://bucket/a//b", "empty path segment"),
    ],
)
def test_bad_urls_give_one_clear_line(url, words):
    with pytest.raises(LocationError) as info:
        parse(url)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "key",
    [
        "../x",
        "a/../../x",
        "/etc/passwd",
        "a\\..\\b",
        "a//b",
        "a/./b",
        "x\x00y",
        "tab\there",
        "..",
        "",
    ],
)
def test_hostile_keys_are_unsafe(key):
    assert unsafe_reason(key) is not None


@pytest.mark.parametrize("key", ["a", "a/b/c.txt", "..hidden", "x..y/z", "sp ace/é", "日本/語"])
def test_ordinary_keys_are_safe(key):
    assert unsafe_reason(key) is None


def _unsafe_reference(key: str) -> bool:
    """The rule written out plainly, to check the fast path of unsafe_reason against."""
    return (
        not key
        or "\\" in key
        or key.startswith("/")
        or any(ord(c) < 32 or c == "\x7f" for c in key)
        or any(part in ("", ".", "..") for part in key.split("/"))
        or any(not part.strip(". ") for part in key.split("/"))  # Windows would strip it away
    )


@given(st.text(alphabet="ab./\\\x00\x1f\x7f ü", max_size=12))
def test_unsafe_reason_fast_path_agrees_with_the_rule(key):
    assert (unsafe_reason(key) is not None) == _unsafe_reference(key)
