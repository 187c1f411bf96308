"""``fssync_request_headers``: what a plugin's answer becomes in the storage options both S3
paths read, and what it may not hold. End to end on both paths: test_auth_headers.py."""

from __future__ import annotations

import pytest

import fssync
from fssync.hooks.manager import make_hooks
from fssync.plugin import RequestHeaders

S3 = fssync.Location("s3://b/p", "s3", "b/p", fssync.Capabilities(keeps_mtime=True))
LOCAL = fssync.Location("/tmp/x", "file", "/tmp/x", fssync.Capabilities(keeps_mtime=True))
CONFIG = fssync.Config(command="sync", src="x", dst="s3://b/p")


class Answer:
    def __init__(self, headers: RequestHeaders | None) -> None:
        self.headers = headers

    @fssync.hookimpl
    def fssync_request_headers(self, location, config):
        return self.headers


class Options:
    @fssync.hookimpl
    def fssync_storage_options(self, location, config):
        return {"headers": (("x-from-options", "1"),)}


def options(*plugins: object, location: fssync.Location = S3) -> dict:
    hooks = make_hooks(entry_points=False, plugins=plugins)
    return hooks.storage_options(location, CONFIG)


def test_answers_are_added_up_into_the_options_both_paths_read():
    a = Answer(RequestHeaders(every=[("x-a", "1")], operations={"GetObject": [("x-g", "2")]}))
    b = Answer(RequestHeaders(uploads=[("x-u", "3")], operations={"GetObject": [("x-h", "4")]}))
    got = options(Options(), a, b)
    assert set(got["headers"]) == {("x-from-options", "1"), ("x-a", "1")}
    assert got["upload_headers"] == (("x-u", "3"),)
    assert set(got["operation_headers"]["GetObject"]) == {("x-g", "2"), ("x-h", "4")}


def test_no_answer_leaves_the_options_as_they_were():
    assert options(Options(), Answer(None), Answer(RequestHeaders())) == {
        "headers": (("x-from-options", "1"),)
    }


@pytest.mark.parametrize(
    "first, second",
    [
        (RequestHeaders(every=[("X-A", "1")]), RequestHeaders(every=[("x-a", "2")])),
        (RequestHeaders(every=[("x-a", "1")]), RequestHeaders(uploads=[("x-a", "2")])),
        (
            RequestHeaders(uploads=[("x-a", "1")]),
            RequestHeaders(operations={"PutObject": [("x-a", "2")]}),
        ),
    ],
)
def test_a_name_given_twice_for_the_same_requests_is_a_usage_error(first, second):
    with pytest.raises(fssync.UsageError, match="given twice"):
        options(Answer(first), Answer(second))


def test_the_same_name_on_different_operations_is_fine():
    a = Answer(RequestHeaders(uploads=[("x-a", "1")]))
    b = Answer(RequestHeaders(operations={"GetObject": [("x-a", "2")]}))
    assert options(a, b)["operation_headers"] == {"GetObject": (("x-a", "2"),)}


@pytest.mark.parametrize(
    "pairs",
    [
        [("x-amz-meta-a", "v\r\nx-amz-acl: public-read")],  # a second header smuggled in
        [("x-amz-meta-a", "v\nx")],
        [("x-amz-meta-a", "v\x00")],
        [("x-a\r\nx-amz-acl", "public-read")],
        [("x a", "1")],
        [("x:a", "1")],
        [("", "1")],
    ],
)
@pytest.mark.parametrize("where", ["every", "uploads", "operations"])
def test_a_header_that_would_break_framing_is_refused_when_made(pairs, where):
    kwargs = {where: {"GetObject": pairs} if where == "operations" else pairs}
    with pytest.raises(fssync.UsageError) as caught:
        RequestHeaders(**kwargs)
    assert "public-read" not in str(caught.value)  # the value is never echoed


def test_the_repr_names_headers_but_never_shows_a_value():
    token = "FwoGZXIvYXdzEXAMPLEsessionTOKEN"
    headers = RequestHeaders(
        every=[("x-amz-security-token", token)], operations={"GetObject": [("x-k", token)]}
    )
    assert token not in repr(headers) and "x-amz-security-token" in repr(headers)


def test_headers_for_a_location_that_cannot_send_them_are_a_usage_error():
    plugin = Answer(RequestHeaders(every=[("x-a", "1")]))
    with pytest.raises(fssync.UsageError, match="only S3 locations"):
        options(plugin, location=LOCAL)


@pytest.mark.parametrize("wrong", [{"x-a": "1"}, {}, ()])
def test_an_answer_of_the_wrong_type_is_a_usage_error(wrong):
    with pytest.raises(fssync.UsageError, match="expected an fssync.plugin.RequestHeaders"):
        options(Answer(wrong))  # type: ignore[arg-type]  (an empty one too: never ignored)
