"""Check what a transfer read before anything is committed at the destination.

Every copy streams through a `Verified` reader. Before a destination commits (renames a temporary
file into place, completes a multipart upload, sends a PUT), it calls `reader.verify()`, which
raises an `IntegrityError` when:

- fewer or more bytes arrived than the source announced (a truncated body);
- the content's MD5 differs from the hash the source states for it (a single-part S3 ETag, the
  MD5 fssync keeps in object metadata) or from the hash the plan was made with;
- the multipart ETag of an object fssync uploaded in parts (it keeps the part size in the
  object's metadata) differs from the one computed over the bytes read;
- the source file changed while it was being read (its size or mtime moved), so the copy could
  be torn.

These errors are retryable: the next attempt reads the file again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

from fssync.model import Entry
from fssync.stores.base import RangeSink, Reader, Stated

HASH_INLINE = 1 << 20  # below this a chunk is hashed on the event loop; above, in a thread


class IntegrityError(OSError):
    """What was read cannot be trusted; the transfer is retried."""


class ShortRead(IntegrityError):
    pass


class ChecksumMismatch(IntegrityError):
    """Bytes that differ from what they should be. A destination that kept such bytes (an
    object is never deleted for it) says what it now holds in `left`, with `UNTRUSTED_MTIME`:
    recorded in the state file, it makes the next run send the file again rather than take the
    object, whose size and mtime metadata look right, as synced."""

    left: Entry | None = None


# A recorded mtime no file has: a destination file recorded with it always differs.
UNTRUSTED_MTIME = -1.0


def mismatch(message: str, key: str, size: int, etag: str | None) -> ChecksumMismatch:
    """A ChecksumMismatch for an object left in place with other bytes than were sent."""
    exc = ChecksumMismatch(message)
    exc.left = Entry(key, size, UNTRUSTED_MTIME, None, etag, etag)
    return exc


class SourceChanged(IntegrityError):
    pass


def _md5_file(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class PartHasher:
    """The S3 multipart ETag of a byte stream cut into parts of one size: the MD5 of the parts'
    binary MD5s, then "-" and the number of parts."""

    def __init__(self, part_size: int) -> None:
        self.part_size = part_size
        self.digests: list[bytes] = []
        self._current = hashlib.md5(usedforsecurity=False)
        self._filled = 0

    def update(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            take = min(len(view), self.part_size - self._filled)
            self._current.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == self.part_size:
                self.digests.append(self._current.digest())
                self._current = hashlib.md5(usedforsecurity=False)
                self._filled = 0

    def etag(self) -> str:
        digests = self.digests + ([self._current.digest()] if self._filled else [])
        whole = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
        return f"{whole}-{len(digests)}"


class RangeParts:
    """The multipart ETag of a file that arrives as ranges, in any order between ranges and in
    order within each: every part is hashed on its own as its bytes arrive, so nothing has to
    be read back from disk. A range that starts inside a part (ranges not aligned to the part
    size) cannot be hashed this way: `etag()` then says None and the file is hashed whole."""

    def __init__(self, part_size: int, size: int) -> None:
        self.part_size = part_size
        self.size = size
        self._parts: dict[int, tuple[Any, int]] = {}  # part number -> (md5, bytes hashed)
        self.aligned = True

    def update(self, data: Any, offset: int) -> None:
        view = memoryview(data)
        size = self.part_size
        while view and self.aligned:
            number, inside = divmod(offset, size)
            digest, filled = self._parts.get(number) or (hashlib.md5(usedforsecurity=False), 0)
            if filled != inside:
                self.aligned = False  # not its next byte: a range began inside this part
                return
            take = min(len(view), size - inside)
            digest.update(view[:take])
            self._parts[number] = (digest, filled + take)
            view, offset = view[take:], offset + take

    def etag(self) -> str | None:
        count = max(1, -(-self.size // self.part_size))
        if not self.aligned or len(self._parts) != count:
            return None
        lengths = [min(self.part_size, self.size - n * self.part_size) for n in range(count)]
        if any(self._parts[n][1] != lengths[n] for n in range(count)):
            return None
        whole = b"".join(self._parts[n][0].digest() for n in range(count))
        return f"{hashlib.md5(whole, usedforsecurity=False).hexdigest()}-{count}"


def _fits(parts: tuple[int, str], size: int) -> bool:
    """Whether a stated (part size, multipart ETag) can describe an object of `size` bytes: the
    ETag's part count is the one the part size gives, and no more than S3 allows. Anything else
    was rewritten by another tool, or is hostile (a part size of 1 byte would make a hasher
    per byte), and is not used."""
    from fssync.stores.s3.meta import MAX_PARTS

    part_size, etag = parts
    count = etag.rpartition("-")[2]
    return (
        count.isdigit()
        and 1 <= int(count) <= MAX_PARTS
        and int(count) == max(1, -(-size // part_size))
    )


def _etag_file(path: str, part_size: int) -> str:
    hasher = PartHasher(part_size)
    with open(path, "rb") as f:
        while chunk := f.read(part_size):
            hasher.update(chunk)
    return hasher.etag()


class Verified(Reader):
    """Wraps a source reader: counts and hashes the bytes read in sequence."""

    def __init__(self, inner: Reader, entry: Entry) -> None:
        self.inner = inner
        self.entry = entry
        self._count = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._ranged = False
        self._hashing: bool | None = None
        self._parts: PartHasher | None = None
        self._range_parts: RangeParts | None = None
        # Set by verify(): the source is a store that states hashes, but stated none this copy
        # could be checked with (another tool's multipart object without an MD5): its bytes
        # were checked by their count only.
        self.unverified = False
        self.ranged = inner.ranged
        self.cheap_ranges = inner.cheap_ranges

    # The writers read the file's facts after (or while) reading: the inner reader's.
    @property
    def stated(self) -> Stated:
        return self.inner.stated

    @stated.setter
    def stated(self, value: Stated) -> None:
        self.inner.stated = value

    def _by_parts(self) -> tuple[int, str] | None:
        """The stated part size and multipart ETag, when the copy is checked by them: they fit
        the object, and the plan holds no MD5 of its own to check. Checked part by part as
        ranges arrive, they need no read-back of the written file, which an MD5 would."""
        parts = self.inner.expected_parts
        if parts and not self.entry.md5 and _fits(parts, self.inner.size):
            return parts
        return None

    def _by_md5(self) -> bool:
        return bool(self.inner.expected_md5 or self.entry.md5)

    async def read(self, n: int = -1) -> bytes:
        if self._ranged:  # ranges gave way to one read from the start (Range was ignored)
            self._ranged = False
            self._range_parts = None
        data = await self.inner.read(n)
        self._count += len(data)
        if self._hashing is None:
            # Decided after the first read, when a remote reader has seen the source's reply:
            # hash only when there is a hash to compare with (uploads from disk pay nothing).
            parts = self._by_parts()
            self._hashing = parts is None and self._by_md5()
            if parts is not None:
                self._parts = PartHasher(parts[0])
        update: Callable[[bytes], None]
        if self._parts is not None:
            update = self._parts.update
        elif self._hashing:
            update = self._md5.update
        else:
            return data
        if len(data) > HASH_INLINE:
            await asyncio.to_thread(update, data)
        else:
            update(data)
        return data

    async def read_range(self, offset: int, length: int) -> bytes | bytearray | None:
        self._ranged = True
        return await self.inner.read_range(offset, length)

    async def copy_range(self, offset: int, length: int, sink: RangeSink) -> None:
        """Pieces are hashed as they pass when the source states a multipart ETag (each part on
        its own, so ranges may arrive in any order); otherwise verify() hashes the written
        file."""
        self._ranged = True

        async def hashed(piece: Any, at: int) -> None:
            await sink(piece, at)
            parts = self._range_parts
            if parts is None:
                stated = self._by_parts()  # known once the first reply has come
                if stated is None:
                    return
                parts = self._range_parts = RangeParts(stated[0], self.inner.size)
            if len(piece) > HASH_INLINE:
                await asyncio.to_thread(parts.update, piece, at)
            else:
                parts.update(piece, at)

        await self.inner.copy_range(offset, length, hashed)

    async def content_md5(self) -> str | None:
        return await self.inner.content_md5()

    async def close(self) -> None:
        await self.inner.close()

    async def verify(self, written: str | None = None) -> None:
        """Raise an `IntegrityError` unless what was read is whole and unchanged.

        :param written: the local file the bytes went to, used to hash ranged downloads.
        """
        await self.inner.verify(written)
        key = self.entry.key
        parts = self._by_parts()
        if parts is not None:
            await self._verify_parts(parts, written)
            return
        md5: str | None
        if not self._by_md5():
            self.unverified = self.inner.etag is not None
        if self._ranged:
            if written is None:
                return
            if not self._by_md5():
                return
            md5 = await asyncio.to_thread(_md5_file, written)
        else:
            if self._count != self.inner.size:
                raise ShortRead(
                    f"read {self._count} bytes, expected {self.inner.size}: the transfer was cut "
                    "short or the source changed"
                )
            md5 = self._md5.hexdigest() if self._hashing else None
        want = self.inner.expected_md5
        if want and md5 is not None and md5 != want:
            raise ChecksumMismatch(
                f"content MD5 {md5} differs from the source's {want}: corrupted in transit"
            )
        planned = self.entry.md5
        if planned and md5 is not None and md5 != planned and not want:
            raise SourceChanged(f"{key} changed after it was listed (its MD5 differs)")

    async def _verify_parts(self, parts: tuple[int, str], written: str | None) -> None:
        part_size, want = parts
        if self._ranged:
            got = self._range_parts.etag() if self._range_parts is not None else None
            if got is None and written is None:
                return
            if got is None:
                got = await asyncio.to_thread(_etag_file, str(written), part_size)
        else:
            if self._count != self.inner.size:
                raise ShortRead(
                    f"read {self._count} bytes, expected {self.inner.size}: the transfer was cut "
                    "short or the source changed"
                )
            got = self._parts.etag() if self._parts is not None else want
        if got != want:
            raise ChecksumMismatch(
                f"content ETag {got} differs from the source's {want}: corrupted in transit"
            )
