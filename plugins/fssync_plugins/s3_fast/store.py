"""The fast S3 store: the same objects, metadata and behaviour as fssync's s3fs store, with the
requests made by `client` instead of botocore. What is done with objects (the listing
included) is `fssync.stores.s3.objects`, shared with the s3fs path; `transport` is the adapter."""

from __future__ import annotations

import fssync
from fssync.plugin import RetryPolicy, S3ObjectStore, s3objects

from .client import S3Client
from .resolve import Settings, bucket_is_virtual
from .transport import FastTransport

PIECE = s3objects.PIECE  # a range is received and handed on in pieces of this size


class FastS3Store(S3ObjectStore):
    """S3 through `S3Client`: one listing request per 1,000 keys, one request per object."""

    backend = "fast"

    def __init__(
        self,
        location: fssync.Location,
        settings: Settings,
        *,
        transfers: int,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.location = location
        self.retry = retry or RetryPolicy()
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
            retry=self.retry,
        )
        self._fast = FastTransport(self.client, settings)
        self.use_transport(self._fast)

    async def _ready(self) -> None:
        await self._fast.ready()
