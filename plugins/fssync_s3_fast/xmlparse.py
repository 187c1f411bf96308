"""Read the XML answers of S3 (pure functions over bytes).

Listings are the hot path of a no-op sync (one page per 1,000 keys), so `list_page` uses a
streaming parser and keeps only the fields fssync needs.
"""

from __future__ import annotations

from urllib.parse import unquote_plus
from xml.etree import ElementTree

NS = "http://s3.amazonaws.com/doc/2006-03-01/"


class Page:
    """One ListObjectsV2 answer: (key, size, LastModified text, ETag) rows and what follows."""

    __slots__ = ("next_token", "objects", "truncated")

    def __init__(
        self, objects: list[tuple[str, int, str, str]], truncated: bool, next_token: str | None
    ) -> None:
        self.objects = objects
        self.truncated = truncated
        self.next_token = next_token


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def list_page(data: bytes) -> Page:
    root = ElementTree.fromstring(data)
    objects: list[tuple[str, int, str, str]] = []
    truncated = False
    token: str | None = None
    encoded = False
    for child in root:
        tag = _local(child.tag)
        if tag == "Contents":
            key = ""
            size = 0
            modified = ""
            etag = ""
            for field in child:
                name = _local(field.tag)
                text = field.text or ""
                if name == "Key":
                    key = text
                elif name == "Size":
                    size = int(text)
                elif name == "LastModified":
                    modified = text
                elif name == "ETag":
                    etag = text
            objects.append((key, size, modified, etag))
        elif tag == "IsTruncated":
            truncated = (child.text or "").strip().lower() == "true"
        elif tag == "NextContinuationToken":
            token = child.text
        elif tag == "EncodingType":
            encoded = (child.text or "").strip() == "url"
    if encoded:  # keys were sent URL-encoded, which carries any byte XML cannot
        objects = [(unquote_plus(k), s, m, e) for k, s, m, e in objects]
    return Page(objects, truncated, token)


def _find(data: bytes, name: str) -> str | None:
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return None
    for el in root.iter():
        if _local(el.tag) == name:
            return el.text or ""
    return None


def error_of(data: bytes) -> tuple[str, str]:
    """(Code, Message) of an <Error> answer; ("", "") when the body is not one."""
    if not data or b"<Error" not in data[:512]:
        return "", ""
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return "", ""
    if _local(root.tag) != "Error":
        return "", ""
    fields = {_local(el.tag): el.text or "" for el in root}
    return fields.get("Code", ""), fields.get("Message", "")


def etag_of(data: bytes) -> str | None:
    etag = _find(data, "ETag")
    return etag.strip('"') if etag else None


def upload_id(data: bytes) -> str:
    found = _find(data, "UploadId")
    if not found:
        raise ValueError("CreateMultipartUpload answered without an UploadId")
    return found


def delete_errors(data: bytes) -> list[tuple[str, str]]:
    """(key, message) for each <Error> in a DeleteObjects answer."""
    if b"<Error" not in data:
        return []
    root = ElementTree.fromstring(data)
    out = []
    for el in root:
        if _local(el.tag) == "Error":
            fields = {_local(f.tag): f.text or "" for f in el}
            out.append((fields.get("Key", ""), fields.get("Message", "delete failed")))
    return out
