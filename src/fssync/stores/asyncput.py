"""Uploads to GCS and Azure Blob on the run's loop, streamed in bounded memory and verified.

Both services commit an object at once when its last piece arrives (a resumable upload's final
chunk, a block list), so no reader ever sees half a file and no temporary name is needed. Each
upload is checked by a hash the service computes or checks itself: GCS answers the last chunk
with the object's MD5, compared with the one fssync computed while sending; Azure checks each
block's MD5 on arrival (``validate_content``) and keeps the whole file's MD5 fssync gives it,
so its listings carry it for ``-c``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

from fssync.content.integrity import ChecksumMismatch
from fssync.stores.base import Reader
from fssync.stores.generic import SMALL

PIECE = 4 << 20  # an upload sends pieces of this size (GCS wants multiples of 256 KiB)


async def put(
    protocol: str, fs: Any, path: str, reader: Reader, mtime_ns: int | None
) -> tuple[int, str]:
    """Write `reader` to `path`, with the source's mtime in the object's metadata (``mtime``,
    seconds since the epoch, as S3 objects keep it); return the size and hex MD5 written."""
    from fssync.stores.s3.meta import MTIME_KEY, format_mtime_ns

    meta = {MTIME_KEY: format_mtime_ns(mtime_ns)} if mtime_ns is not None else {}
    if protocol == "gs":
        return await _gcs(fs, path, reader, meta)
    if protocol == "abfs":
        return await _azure(fs, path, reader, meta)
    raise ValueError(f"{protocol} locations are read-only here")


async def _pieces(reader: Reader, digest: Any) -> AsyncIterator[tuple[bytes, bool]]:
    """The content in pieces of exactly `PIECE` bytes (the last may be shorter), each with
    whether it is the last: one piece is read ahead, so the last is known before it is sent."""
    buffer = bytearray()
    ahead: bytes | None = None
    while True:
        while len(buffer) < PIECE:
            chunk = await reader.read(PIECE - len(buffer))
            if not chunk:
                break
            buffer += chunk
        piece = bytes(buffer)
        buffer.clear()
        if ahead is not None:
            yield ahead, not piece
        if not piece:
            if ahead is None:
                yield b"", True
            return
        digest.update(piece)
        ahead = piece


async def _gcs(fs: Any, path: str, reader: Reader, meta: dict[str, str]) -> tuple[int, str]:
    from gcsfs.core import initiate_upload, simple_upload, upload_chunk

    bucket, key, _ = fs.split_path(path)
    digest = hashlib.md5(usedforsecurity=False)
    if reader.size <= SMALL:
        data = await reader.read(-1)
        await reader.verify()
        digest.update(data)
        answer = await simple_upload(fs, bucket, key, data, meta or None)
        size = len(data)
    else:
        location = await initiate_upload(fs, bucket, key, metadata=meta or None)
        size = 0
        answer = None
        try:
            async for piece, last in _pieces(reader, digest):
                if last:
                    await reader.verify()  # before the piece that commits the object
                answer = await upload_chunk(
                    fs, location, piece, size, reader.size, "application/octet-stream"
                )
                size += len(piece)
        except BaseException:
            await _cancel_gcs(fs, location)
            raise
    mine = digest.hexdigest()
    stated = (answer or {}).get("md5Hash")
    if stated and base64.b64decode(stated).hex() != mine:
        raise ChecksumMismatch(f"{path}: GCS stored MD5 {stated}, fssync sent {mine}")
    return size, mine


async def _cancel_gcs(fs: Any, location: str) -> None:
    try:
        await fs._call("DELETE", location)
    except Exception:  # noqa: BLE001, S110 - an unfinished upload expires on its own
        pass


async def _azure(fs: Any, path: str, reader: Reader, meta: dict[str, str]) -> tuple[int, str]:
    from azure.storage.blob import BlobBlock, ContentSettings

    container, blob, _ = fs.split_path(path)
    digest = hashlib.md5(usedforsecurity=False)
    keep = {"is_directory": "false", **meta}  # adlfs marks its files with is_directory
    async with fs.service_client.get_blob_client(container=container, blob=blob) as bc:
        if reader.size <= SMALL:
            data = await reader.read(-1)
            await reader.verify()
            digest.update(data)
            settings = ContentSettings(content_md5=bytearray(digest.digest()))
            await bc.upload_blob(
                data,
                overwrite=True,
                metadata=keep,
                content_settings=settings,
                validate_content=True,
            )
            return len(data), digest.hexdigest()
        blocks: list[Any] = []
        size = 0
        async for piece, _last in _pieces(reader, digest):
            block = base64.b64encode(b"%08d" % len(blocks)).decode()
            await bc.stage_block(block, piece, length=len(piece), validate_content=True)
            blocks.append(BlobBlock(block_id=block))
            size += len(piece)
        await reader.verify()  # staged blocks are no file until the list is committed
        settings = ContentSettings(content_md5=bytearray(digest.digest()))
        await bc.commit_block_list(blocks, metadata=keep, content_settings=settings)
    return size, digest.hexdigest()
