"""The fast S3 store: the same objects, metadata and behaviour as fssync's s3fs store, with the
requests made by `client` instead of botocore. What is done with objects is
`fssync.stores.s3objects`, shared with the s3fs path; here are the listing and the adapter."""

from __future__ import annotations

import datetime as dt
from typing import Any

import fssync
from fssync.stores import Listing, ListingProgress, S3ObjectStore, s3objects, s3pages, unsafe_reason

from .client import S3Client
from .resolve import Settings, bucket_is_virtual
from .transport import FastTransport

PIECE = s3objects.PIECE  # a range is received and handed on in pieces of this size


def _stamp(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class FastS3Store(S3ObjectStore):
    """S3 through `S3Client`: one listing request per 1,000 keys, one request per object."""

    backend = "fast"

    def __init__(self, location: fssync.Location, settings: Settings, *, transfers: int) -> None:
        self.location = location
        self.settings = settings
        self.identity = settings.identity
        self.bucket, _, prefix = location.root.partition("/")
        self.prefix = prefix + "/" if prefix else ""
        self.parts = settings.parts
        virtual = settings.virtual_host and bucket_is_virtual(self.bucket)
        self.client = S3Client(
            settings.endpoint,
            settings.region,
            settings.credentials,
            connections=max(transfers, 4) + 2,
            virtual_host=virtual,
            user_agent=f"fssync/{fssync.__version__}",
            headers=settings.headers,
            operation_headers=settings.operation_headers,
            timeout=settings.stall_timeout,
            ca_bundle=settings.ca_bundle,
        )
        self._fast = FastTransport(self.client, settings)
        self._start_objects(self._fast)

    async def _ready(self) -> None:
        await self._fast.ready()

    async def scan(self, progress: ListingProgress | None = None) -> Listing:
        await self._ready()
        entries: dict[str, fssync.Entry] = {}
        rejected: list[tuple[str, str]] = []
        cut = len(self.prefix)
        Entry = fssync.Entry
        stamps: dict[str, float] = {}  # many objects share a LastModified second
        pages = s3pages.Pages(
            self.location.url, self.bucket, self.prefix, self.listing_retry, self.on_listing_retry
        )

        async def fetch(token: str | None) -> tuple[Any, s3pages.PageFacts]:
            page = await self.client.list_page(self.bucket, self.prefix, token)
            return page, page.facts

        while not pages.done:
            page = await pages.next(fetch)
            for full, size, modified, etag in page.objects:
                key = full[cut:]
                if key.endswith("/") and size == 0:
                    continue  # a folder marker, not a file
                reason = unsafe_reason(key)
                if reason:
                    rejected.append((full, reason))
                    continue
                stamp = stamps.get(modified)
                if stamp is None:
                    stamp = stamps[modified] = _stamp(modified)
                entries[key] = Entry(key, size, None, stamp, etag.strip('"') or None)
            if progress is not None:
                progress(len(entries))
        return Listing(entries=entries, rejected=tuple(rejected))
