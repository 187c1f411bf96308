"""The pages of an S3 listing: each one checked, a wrong one fetched again, then refused.

A ListObjectsV2 reply says where the listing ends. A ``200 OK`` that is not a listing (a
maintenance page in HTML, an empty body, an ``<Error>`` or JSON document, a page cut short) or
a page whose continuation token is missing or repeats would end the listing early or never,
and a listing that ends early makes ``--delete`` remove every file it did not see. Both S3
stores therefore check every page here: a page must be a whole ``ListBucketResult`` of the
bucket and prefix asked for, holding as many keys as its ``KeyCount`` says, with a new token
whenever ``IsTruncated`` is true. A page that is wrong, or that fails with a transient error,
is asked for again on the run's retry policy (`fssync.transfer.retrying`); when it stays wrong
the run stops with one line naming the page, before anything is copied or deleted.

Facts are read from the raw bytes with a few scans outside the ``<Contents>`` elements, so the
check costs little next to parsing the page.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import unquote_plus

import attrs

from fssync.errors import FssyncError, ListingError, UnreachableError
from fssync.transfer.retrying import RetryPolicy

__all__ = ["PAGE_SIZE", "BadPage", "PageFacts", "Pages", "facts_of"]

PAGE_SIZE = 1000  # keys asked for per page (S3's most); read at each request, tests lower it

T = TypeVar("T")
# Told of each retry of a page: (page number, try number, tries at most, wait, why).
OnRetry = Callable[[int, int, int, float, str], None]


class BadPage(Exception):
    """A reply to a listing request that is not a whole, right page; the text says why."""


@attrs.frozen
class PageFacts:
    """What a listing reply says about itself (None: the element is absent)."""

    root: str | None  # the document's root element, when the reply is a whole XML document
    name: str | None = None
    prefix: str | None = None
    truncated: bool | None = None
    token: str | None = None
    key_count: int | None = None
    listed: int = 0  # <Contents> and <CommonPrefixes> elements on the page
    what: str = ""  # the reply in a few words, for messages


_ROOT = re.compile(
    rb"\A\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<([A-Za-z_][\w.:-]*)[\s/>]", re.S
)


def _field(data: bytes, name: bytes) -> bytes | None:
    """The text of the first ``<name>`` element (b"" for ``<name/>``), or None."""
    start = data.find(b"<" + name + b">")
    if start < 0:
        return b"" if b"<" + name + b"/>" in data else None
    start += len(name) + 2
    end = data.find(b"</" + name + b">", start)
    return data[start:end] if end >= 0 else None


def _text(raw: bytes | None, url_encoded: bool = False) -> str | None:
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace")
    if "&" in text:
        import html

        text = html.unescape(text)  # XML's five entities and character references
    return unquote_plus(text) if url_encoded else text


def describe(data: bytes, content_type: str) -> str:
    """A few words for a reply: its type and how it starts (printable characters only)."""
    kind = (content_type.split(";")[0].strip() or "no content type").lower()
    if not data:
        return f"an empty reply ({kind})"
    start = "".join(c if c.isprintable() else " " for c in data[:40].decode("utf-8", "replace"))
    return f"{len(data)} bytes of {kind} starting {start.strip()!r}"


def facts_of(data: bytes, content_type: str = "") -> PageFacts:
    """The facts of a ListObjectsV2 reply body."""
    what = describe(data, content_type)
    match = _ROOT.match(data)
    if match is None:
        return PageFacts(root=None, what=what)
    tag = match.group(1)
    if not data.rstrip().endswith(b"</" + tag + b">"):
        return PageFacts(root=None, what=what + " that is not a whole XML document")
    root = tag.decode("ascii", "replace").rpartition(":")[2]
    if root == "Error":
        code = _text(_field(data, b"Code")) or "no Code"
        return PageFacts(root=root, what=f"an <Error> with Code {code}")
    if root != "ListBucketResult":
        return PageFacts(root=root, what=what)
    if b":" in tag or b"<![CDATA[" in data:
        return _facts_from_tree(data, what)  # prefixed names or CDATA: the byte scan cannot
    first, last = data.find(b"<Contents>"), data.rfind(b"</Contents>")
    rest = data if first < 0 or last < first else data[:first] + data[last:]
    encoded = (_field(rest, b"EncodingType") or b"").strip() == b"url"
    truncated = _field(rest, b"IsTruncated")
    count = _field(rest, b"KeyCount")
    try:
        key_count = int(count) if count is not None else None
    except ValueError:
        key_count = -1  # present but not a number: never matches
    return PageFacts(
        root=root,
        name=_text(_field(rest, b"Name")),
        prefix=_text(_field(rest, b"Prefix"), encoded),
        truncated=None if truncated is None else truncated.strip().lower() == b"true",
        token=_text(_field(rest, b"NextContinuationToken")),
        key_count=key_count,
        listed=data.count(b"<Contents>") + data.count(b"<CommonPrefixes>"),
        what=what,
    )


def _facts_from_tree(data: bytes, what: str) -> PageFacts:
    """The facts through a full parse, for the rare pages the byte scan cannot read."""
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return PageFacts(root=None, what=what + " that is not well-formed XML")
    fields: dict[str, str] = {}
    listed = 0
    for child in root:
        name = child.tag.rpartition("}")[2]
        if name in ("Contents", "CommonPrefixes"):
            listed += 1
        else:
            fields.setdefault(name, child.text or "")
    count = fields.get("KeyCount")
    encoded = fields.get("EncodingType", "").strip() == "url"
    prefix = fields.get("Prefix")
    return PageFacts(
        root=root.tag.rpartition("}")[2],
        name=fields.get("Name"),
        prefix=unquote_plus(prefix) if encoded and prefix is not None else prefix,
        truncated=None
        if "IsTruncated" not in fields
        else fields["IsTruncated"].strip().lower() == "true",
        token=fields.get("NextContinuationToken"),
        key_count=None if count is None else int(count) if count.strip().isdigit() else -1,
        listed=listed,
        what=what,
    )


class Pages:
    """The pages of one listing, in order: fetch each, check it, follow its token."""

    def __init__(
        self,
        url: str,
        bucket: str,
        prefix: str,
        policy: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
    ) -> None:
        self.url, self.bucket, self.prefix = url, bucket, prefix
        self.policy = policy or RetryPolicy()
        self.on_retry = on_retry
        self.number = 0  # pages accepted so far
        self.token: str | None = None  # the token that asks for the next page
        self._tokens: dict[str, int] = {}  # token -> the page that gave it
        self.done = False

    def problem(self, facts: PageFacts) -> str | None:
        """Why `facts` are not the next page of this listing, or None when they are."""
        if facts.root is None:
            return f"is not a listing: {facts.what}"
        if facts.root == "Error":
            return f"is an S3 error ({facts.what}) with status 200, not a listing"
        if facts.root != "ListBucketResult":
            return f"is not a listing: {facts.what}"
        if facts.name != self.bucket:
            return f"lists bucket {facts.name!r}, not {self.bucket!r}"
        if facts.prefix is not None and facts.prefix != self.prefix:
            return f"lists prefix {facts.prefix!r}, not {self.prefix!r}"
        if facts.truncated is None:
            return "has no IsTruncated: it does not say whether the listing goes on"
        if facts.key_count is not None and facts.key_count != facts.listed:
            return f"holds {facts.listed} keys but its KeyCount says {facts.key_count} (cut short?)"
        if facts.truncated and not facts.token:
            return "says IsTruncated but gives no NextContinuationToken to go on with"
        if facts.truncated and facts.token is not None:
            earlier = self._tokens.get(facts.token)
            if earlier is not None or facts.token == self.token:
                again = earlier if earlier is not None else self.number
                return (
                    f"gives the continuation token page {again} gave: the listing would never end"
                )
        return None

    def _accept(self, facts: PageFacts) -> None:
        self.number += 1
        if facts.truncated and facts.token:
            self._tokens[facts.token] = self.number
            self.token = facts.token
        else:
            self.done = True

    async def next(self, fetch: Callable[[str | None], Awaitable[tuple[T, PageFacts]]]) -> T:
        """The next page: `fetch(token)` asks for it and returns (page, facts). A wrong page or
        a transient error is asked for again on the run's retry policy; then `ListingError`."""
        from fssync.diagnose import diagnose

        number = self.number + 1
        waits = self.policy.waits()
        tries = self.policy.tries
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                page, facts = await fetch(self.token)
                why = self.problem(facts)
                if why is None:
                    self._accept(facts)
                    return page
                reason = f"page {number} {why}"
            except BadPage as exc:
                reason = f"page {number} {exc}"
            except FssyncError:
                raise
            except Exception as exc:  # noqa: BLE001 - diagnosed: transient ones are retried
                diag = diagnose(exc, where=self.url)
                # an endpoint that refuses connections was already retried by the client
                if diag.fatal or not diag.retryable or diag.error is UnreachableError:
                    raise
                reason = f"page {number}: {diag.message.removeprefix(self.url + ': ')}"
            wait = next(waits, None)
            if wait is None:
                spent = time.monotonic() - started
                raise ListingError(
                    f"{self.url}: listing {reason}; tried {attempt} times over {spent:.1f} s, "
                    "so nothing was copied or deleted; run again when the store answers "
                    "normally"
                ) from None
            if self.on_retry is not None:
                self.on_retry(number, attempt, tries - 1, wait, reason)
            await asyncio.sleep(wait)


def _check_botocore_page(
    response_dict: dict[str, Any],
    customized_response_dict: dict[str, Any],
    operation_model: Any = None,
    **_: Any,
) -> None:
    """botocore's before-parse handler: the facts of a ListObjectsV2 reply read from its raw
    body (handed to the store as ``FssyncPage`` in the parsed reply), and a ``200`` that is
    not a listing document refused at once."""
    if getattr(operation_model, "name", None) != "ListObjectsV2":
        return
    if response_dict.get("status_code") != 200:
        return
    headers = response_dict.get("headers") or {}
    body = response_dict.get("body") or b""
    facts = facts_of(body, str(headers.get("content-type", "")))
    if facts.root is None:
        raise BadPage(f"is not a listing: {facts.what}")
    if facts.root == "Error":
        raise BadPage(f"is an S3 error ({facts.what}) with status 200, not a listing")
    customized_response_dict["FssyncPage"] = facts


def watch_botocore(client: Any) -> None:
    """Check every listing reply of a botocore client before botocore reads it.

    botocore takes a ``200`` whose body is not XML, or is an ``<Error>``, for a server error and
    retries it with its own back-off (minutes), then reports a bare "500". This check runs
    first, so such a page is refused at once and retried on fssync's schedule, with a message
    that says what came back. (botocore's handler is moved behind it; it still serves the other
    operations, such as CopyObject, whose errors may come with status 200.)"""
    from botocore import handlers

    events = client.meta.events
    events.register_first("before-parse.s3.*", _check_botocore_page, unique_id="fssync-page")
    theirs = getattr(handlers, "_handle_200_error", None)
    if theirs is not None:
        events.unregister("before-parse.s3.*", theirs)
        events.register_first("before-parse.s3.*", theirs)
