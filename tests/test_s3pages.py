"""The listing-page check on its own: what a page must say, and the retry schedule it uses."""

from __future__ import annotations

import asyncio

import pytest

from fssync.errors import ListingError
from fssync.stores.s3.pages import BadPage, PageFacts, Pages, facts_of
from fssync.transfer.retrying import RetryPolicy


def page(
    keys: int = 2,
    *,
    count: int | None = None,
    truncated: str | None = "true",
    token: str | None = "t1",
    name: str = "b",
    prefix: str = "p/",
    order: str = "moto",
) -> bytes:
    contents = b"".join(
        b"<Contents><Key>p/k%d</Key><Size>1</Size></Contents>" % i for i in range(keys)
    )
    head = b"<Name>%s</Name><Prefix>%s</Prefix>" % (name.encode(), prefix.encode())
    tail = b"<KeyCount>%d</KeyCount>" % (keys if count is None else count)
    if truncated is not None:
        tail += b"<IsTruncated>%s</IsTruncated>" % truncated.encode()
    if token is not None:
        tail += b"<NextContinuationToken>%s</NextContinuationToken>" % token.encode()
    body = contents + head + tail if order == "moto" else head + tail + contents
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        + body
        + b"</ListBucketResult>"
    )


@pytest.mark.parametrize("order", ["moto", "seaweed"])
def test_the_facts_of_a_real_page(order):
    facts = facts_of(page(3, order=order, token="a&amp;b"), "application/xml")
    assert facts == PageFacts(
        root="ListBucketResult", name="b", prefix="p/", truncated=True, token="a&b",
        key_count=3, listed=3, what=facts.what,
    )  # fmt: skip


def test_prefixed_names_are_read_by_a_full_parse():
    data = (
        b'<s3:ListBucketResult xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<s3:Name>b</s3:Name><s3:Prefix>p%2F</s3:Prefix><s3:EncodingType>url</s3:EncodingType>"
        b"<s3:KeyCount>1</s3:KeyCount><s3:IsTruncated>false</s3:IsTruncated>"
        b"<s3:Contents><s3:Key>p/k</s3:Key></s3:Contents></s3:ListBucketResult>"
    )
    facts = facts_of(data)
    assert (facts.root, facts.name, facts.prefix, facts.truncated) == (
        "ListBucketResult", "b", "p/", False
    )  # fmt: skip
    assert (facts.key_count, facts.listed) == (1, 1)


@pytest.mark.parametrize(
    ("data", "content_type", "why"),
    [
        (b"<html>Maintenance</html>", "text/html", "is not a listing: 24 bytes of text/html"),
        (b"", "", "is not a listing: an empty reply"),
        (b'{"a": 1}', "application/json", "is not a listing: 8 bytes of application/json"),
        (b"<Error><Code>SlowDown</Code></Error>", "", "S3 error (an <Error> with Code SlowDown)"),
        (page()[:-30], "", "that is not a whole XML document"),
        (page(name="other"), "", "lists bucket 'other', not 'b'"),
        (page(prefix="q/"), "", "lists prefix 'q/', not 'p/'"),
        (page(truncated=None), "", "has no IsTruncated"),
        (page(2, count=4), "", "holds 2 keys but its KeyCount says 4"),
        (page(token=None), "", "says IsTruncated but gives no NextContinuationToken"),
    ],
)
def test_what_is_not_a_page(data, content_type, why):
    problem = Pages("s3://b/p", "b", "p/").problem(facts_of(data, content_type))
    assert problem is not None and why in problem


def test_the_last_page_needs_no_token():
    assert (
        Pages("s3://b/p", "b", "p/").problem(facts_of(page(truncated="false", token=None))) is None
    )


def fetcher(replies: list[bytes | Exception]):
    sent: list[str | None] = []

    async def fetch(token):
        sent.append(token)
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply, facts_of(reply)

    return fetch, sent


def test_a_repeated_token_is_refused_and_only_the_wrong_page_is_asked_again():
    fetch, sent = fetcher([page(token="t1"), page(token="t1"), page(truncated="false", token=None)])
    retries: list[tuple[int, int, str]] = []
    pages = Pages(
        "s3://b/p",
        "b",
        "p/",
        RetryPolicy(sleep=0.0),
        lambda n, a, of, w, why: retries.append((n, a, why)),
    )

    async def run():
        while not pages.done:
            await pages.next(fetch)

    asyncio.run(run())
    assert sent == [None, "t1", "t1"]  # page 2 asked twice, page 1 once
    assert retries == [
        (2, 1, "page 2 gives the continuation token page 1 gave: the listing would never end")
    ]


def test_a_page_that_stays_wrong_ends_in_one_listing_error_after_every_try():
    schedule = RetryPolicy(retries=2, sleep=0.0, passes=1)
    fetch, sent = fetcher([BadPage("is odd")] * schedule.tries)
    with pytest.raises(ListingError, match=r"s3://b/p: listing page 1 is odd; tried 6 times"):
        asyncio.run(Pages("s3://b/p", "b", "p/", schedule).next(fetch))
    assert len(sent) == 6


def test_listings_and_transfers_share_one_schedule():
    schedule = RetryPolicy(retries=3, sleep=1.0, passes=1)
    waits = list(schedule.waits())
    assert schedule.tries == 8 and len(waits) == 7
    # doubling, the pass's pause going on from the last retry, each in the upper half of its step
    assert all(0.5 * b <= w <= b for w, b in zip(waits, [1, 2, 4, 8, 1, 2, 4], strict=True))
