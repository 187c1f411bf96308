"""Read the XML answers of S3 (pure functions over bytes).

Listings are the hot path of a no-op sync (one page per 1,000 keys), so `list_page` scans the
bytes for the few fields fssync needs instead of building a tree.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

NS = "http://s3.amazonaws.com/doc/2006-03-01/"


class Page:
    """One ListObjectsV2 answer: (key, size, LastModified text, ETag) rows and what follows."""

    __slots__ = ("facts", "next_token", "objects", "prefixes", "truncated")

    def __init__(
        self,
        objects: list[tuple[str, int, str, str]],
        truncated: bool,
        next_token: str | None,
        facts: Any = None,
    ) -> None:
        self.objects = objects
        self.truncated = truncated
        self.next_token = next_token
        self.facts = facts  # what fssync.stores.s3.pages checks, set by the client
        self.prefixes: list[str] = []  # CommonPrefixes of a delimiter listing (`common_prefixes`)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _entity(m: re.Match[str]) -> str:
    name = m.group(1)
    if name[0] != "#":
        return _NAMED[name]
    return chr(int(name[2:], 16) if name[1] in "xX" else int(name[1:]))


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8")
    return _ENTITY.sub(_entity, text) if "&" in text else text


def _field(data: bytes, open_tag: bytes, close_tag: bytes) -> bytes | None:
    start = data.find(open_tag)
    if start < 0:
        return None
    start += len(open_tag)
    end = data.find(close_tag, start)
    return data[start:end] if end >= 0 else None


_KEYS = re.compile(rb"<Key>([^<]*)</Key>")
_SIZES = re.compile(rb"<Size>([^<]*)</Size>")
_MODIFIED = re.compile(rb"<LastModified>([^<]*)</LastModified>")
_ETAGS = re.compile(rb"<ETag>([^<]*)</ETag>")


def list_page(data: bytes) -> Page:
    """Parse a ListObjectsV2 page.

    S3 listings are flat and regular: each field of every object is found by one regex scan of
    the page, several times faster than building a tree (which matters at one page per 1,000
    objects). A page that does not have exactly one of each field per object (or that uses
    CDATA or prefixed element names) goes to ElementTree instead.
    """
    count = data.count(b"<Contents>")
    if b"<![CDATA[" in data or (count == 0 and b"Contents>" in data):
        return _list_page_tree(data)
    keys = _KEYS.findall(data)
    sizes = _SIZES.findall(data)
    modified = _MODIFIED.findall(data)
    etags = _ETAGS.findall(data)
    if not len(keys) == len(sizes) == len(modified) == len(etags) == count:
        return _list_page_tree(data)
    try:
        objects = [
            (
                _text(k),
                int(z),
                m.decode(),
                e.replace(b"&#34;", b'"').replace(b"&quot;", b'"').decode(),
            )
            for k, z, m, e in zip(keys, sizes, modified, etags, strict=True)
        ]
    except (KeyError, ValueError):
        return _list_page_tree(data)
    if any("&" in e for _, _, _, e in objects):
        objects = [(k, z, m, _text(e.encode())) for k, z, m, e in objects]
    # The page's own elements come before the first <Contents> or after the last one.
    first = data.find(b"<Contents>")
    last = data.rfind(b"</Contents>")
    rest = data if first < 0 else data[:first] + data[last:]
    truncated = (_field(rest, b"<IsTruncated>", b"</IsTruncated>") or b"").strip().lower()
    token = _field(rest, b"<NextContinuationToken>", b"</NextContinuationToken>")
    encoding = (_field(rest, b"<EncodingType>", b"</EncodingType>") or b"").strip()
    if encoding == b"url":  # keys were sent URL-encoded, which carries any byte XML cannot
        objects = [
            (unquote_plus(k) if "%" in k or "+" in k else k, z, m, e) for k, z, m, e in objects
        ]
    return Page(objects, truncated == b"true", _text(token) if token is not None else None)


def _tree(data: bytes) -> Any:
    """An element tree, for the rare answers the byte scan leaves (imported when first needed)."""
    from xml.etree import ElementTree

    return ElementTree.fromstring(data)


def _list_page_tree(data: bytes) -> Page:
    root = _tree(data)
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


def common_prefixes(data: bytes) -> list[str]:
    """The CommonPrefixes of a ListObjectsV2 page asked with a delimiter (one per shard search,
    so read with a tree), URL-decoded when the keys were sent so."""
    root = _tree(data)
    encoded = any(_local(c.tag) == "EncodingType" and (c.text or "").strip() == "url" for c in root)
    out = []
    for child in root:
        if _local(child.tag) != "CommonPrefixes":
            continue
        for field in child:
            if _local(field.tag) == "Prefix" and field.text:
                out.append(unquote_plus(field.text) if encoded else field.text)
    return out


def _find(data: bytes, name: str) -> str | None:
    try:
        root = _tree(data)
    except SyntaxError:  # ElementTree.ParseError
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
        root = _tree(data)
    except SyntaxError:  # ElementTree.ParseError
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
    root = _tree(data)
    out = []
    for el in root:
        if _local(el.tag) == "Error":
            fields = {_local(f.tag): f.text or "" for f in el}
            out.append((fields.get("Key", ""), fields.get("Message", "delete failed")))
    return out


def uploads(data: bytes) -> list[tuple[str, str, float | None]]:
    """(key, upload id, start time) for each <Upload> of a ListMultipartUploads answer."""
    import datetime as dt

    out: list[tuple[str, str, float | None]] = []
    for el in _tree(data):
        if _local(el.tag) != "Upload":
            continue
        fields = {_local(f.tag): f.text or "" for f in el}
        when: float | None = None
        if fields.get("Initiated"):
            try:
                stamp = fields["Initiated"].replace("Z", "+00:00")
                when = dt.datetime.fromisoformat(stamp).timestamp()
            except ValueError:
                when = None
        out.append((fields.get("Key", ""), fields.get("UploadId", ""), when))
    return out


def parts(data: bytes) -> tuple[dict[int, tuple[str, int]], int | None]:
    """The <Part>s of a ListParts answer as number -> (ETag, size), and the marker of the next
    page (None on the last)."""
    found: dict[int, tuple[str, int]] = {}
    truncated, following = False, None
    for el in _tree(data):
        name = _local(el.tag)
        if name == "IsTruncated":
            truncated = (el.text or "").strip().lower() == "true"
        elif name == "NextPartNumberMarker":
            following = int((el.text or "0").strip() or 0)
        elif name == "Part":
            fields = {_local(f.tag): (f.text or "").strip() for f in el}
            found[int(fields["PartNumber"])] = (fields.get("ETag", ""), int(fields.get("Size", 0)))
    return found, following if truncated else None
