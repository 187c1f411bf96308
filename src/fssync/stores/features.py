"""What a store can do, declared once per store class, so no caller guesses it with `hasattr`.

A store's `features` joins two declarations: its `Operations` (what its code implements: a
HEAD of one object, server-side copy and move, positional writes, ranged reads, a multipart
upload journal) and its location's `Capabilities` (what the backend keeps and how precisely:
mtimes, their precision, the hashes a listing carries), which `location` holds per protocol and
``fssync backends`` prints. The engine, the transfers and the commands read `store.features`.
"""

from __future__ import annotations

import attrs

from fssync.model import Capabilities


@attrs.frozen
class Operations:
    """The optional operations a store class implements (all off by default).

    `head`: `Store.head` reads one object's metadata (the mtime and MD5 sync tools keep there).
    `server_copy`: `Store.copy_within` copies without the bytes passing through fssync.
    `server_move`: `Store.move` renames within the store.
    `positional_writes`: `Store.write_ranged` takes a file written at offsets, in any order (the
    transfer stage then downloads a large file as parallel ranges, `fssync.transfer.ranges`).
    `ranged_reads`: its readers answer `Reader.read_range`.
    `multipart_journal`: it makes multipart uploads and records them in the journal fssync
    gives it (`Store.journal`), and answers `list_uploads` and `abort_upload`.
    `set_mtime`: `Store.set_mtime` gives a file another mtime without rewriting its content.
    `stat`: `Store.stat` reads one file as it is now.
    `streaming_writes`: an upload is sent piece by piece as it is read, so a large file never
    waits whole in memory or in a spool file on this machine before it is sent.
    `recursive_listing`: one request (or one paged series of them) lists the whole tree, with
    no request per folder.
    `exclusive_create`: `Store.create_only` writes a small file only if nothing is there,
    atomically against every other client (O_EXCL, a conditional PUT), and `replace_small` and
    `read_small` work: what the two-way sync's lock on a side needs.
    `top`: `Store.top` reads the folders right under the root and the files beside them in one
    folder read or delimiter listing: how a run is cut in shards (`fssync.execute.sharding`).
    """

    head: bool = False
    server_copy: bool = False
    server_move: bool = False
    positional_writes: bool = False
    ranged_reads: bool = False
    multipart_journal: bool = False
    set_mtime: bool = False
    stat: bool = False
    streaming_writes: bool = False
    recursive_listing: bool = False
    exclusive_create: bool = False
    top: bool = False


@attrs.frozen
class Features:
    """Everything a caller may rely on for one open store: its operations and what its backend
    keeps. Built by `Store.features`; frozen, so it never changes during a run."""

    head: bool
    server_copy: bool
    server_move: bool
    positional_writes: bool
    ranged_reads: bool
    multipart_journal: bool
    set_mtime: bool
    stat: bool
    streaming_writes: bool
    recursive_listing: bool
    exclusive_create: bool
    top: bool
    keeps_mtime: bool  # fssync can store a file's mtime there
    mtime_window: float  # seconds below which two kept mtimes count as equal
    stamp_window: float  # precision of the store's own write time
    listing_has_mtime: bool  # a listing shows kept mtimes (S3's does not: a HEAD does)
    hashes: frozenset[str]  # content hashes a listing carries ("md5", "etag")
    case_sensitive: bool  # "A.txt" and "a.txt" are two files
    name_max: int | None  # bytes per name between slashes, None: no known limit
    key_max: int | None  # bytes per whole path in the store, root included

    @classmethod
    def of(cls, operations: Operations, capabilities: Capabilities) -> Features:
        return cls(
            **attrs.asdict(operations),
            keeps_mtime=capabilities.keeps_mtime,
            mtime_window=capabilities.mtime_window,
            stamp_window=capabilities.stamp_window,
            listing_has_mtime=capabilities.listing_has_mtime,
            hashes=capabilities.hashes,
            case_sensitive=capabilities.case_sensitive,
            name_max=capabilities.name_max,
            key_max=capabilities.key_max,
        )


# The built-in stores' declarations, one per backend. The S3 one serves both S3 request paths
# (s3fs and the fast client), which implement the same operations. The conformance suite
# (`fssync.testing.conformance`) checks each on its real server: a declared operation works
# (a server-side copy sends no byte through fssync), and one not declared is never called.
LOCAL = Operations(
    server_move=True,
    positional_writes=True,
    ranged_reads=True,
    set_mtime=True,
    streaming_writes=True,
    exclusive_create=True,
    top=True,
)
S3 = Operations(
    head=True,
    server_copy=True,
    server_move=True,
    ranged_reads=True,
    multipart_journal=True,
    set_mtime=True,
    stat=True,
    streaming_writes=True,
    recursive_listing=True,
    exclusive_create=True,
    top=True,
)
# fsspec's memory store: a copy is a copy in this process's memory, the whole tree is one dict.
MEMORY = Operations(server_copy=True, server_move=True, recursive_listing=True)
# SFTP renames in place and sets mtimes; it copies on the server only where the server offers
# the copy-data extension (asyncssh and OpenSSH 9 do): `SftpStore` asks at connect time.
SFTP = Operations(
    server_copy=True, server_move=True, ranged_reads=True, set_mtime=True, streaming_writes=True
)
FTP = Operations(server_move=True, streaming_writes=True)  # RNFR/RNTO; STOR streams
# WebDAV's COPY and MOVE; webdav4 spools an upload to a local temporary file, then sends it.
WEBDAV = Operations(server_copy=True, server_move=True)
# GCS rewrites and Azure copies on the server (a move is that copy and a delete); both list a
# whole prefix in pages, read byte ranges and take resumable or block uploads.
BUCKET = Operations(
    server_copy=True,
    server_move=True,
    ranged_reads=True,
    streaming_writes=True,
    recursive_listing=True,
)
READ_ONLY = Operations()  # HTTP(S) and archives: listed and read whole, never written
FSSPEC = Operations(server_move=True)  # any other fsspec filesystem, through worker threads

BUILTIN = {
    "file": LOCAL,
    "s3": S3,
    "memory": MEMORY,
    "sftp": SFTP,
    "ftp": FTP,
    "webdav": WEBDAV,
    "gs": BUCKET,
    "abfs": BUCKET,
    "http": READ_ONLY,
    "zip": READ_ONLY,
    "tar": READ_ONLY,
}


def builtin_operations(protocol: str) -> Operations:
    """What fssync's own store for a canonical protocol declares (``fssync backends``)."""
    return BUILTIN.get(protocol, FSSPEC)


# How ``fssync backends`` names each operation.
WORDS = {
    "head": "one HEAD per object for its stored metadata",
    "server_copy": "server-side copy",
    "server_move": "server-side move",
    "positional_writes": "parallel ranged downloads into it",
    "ranged_reads": "ranged reads",
    "multipart_journal": "multipart uploads resumed and cleaned up",
    "set_mtime": "mtime set without sending the file again",
    "stat": "one file read again as it is now",
    "streaming_writes": "uploads streamed in bounded memory",
    "recursive_listing": "the whole tree listed without a request per folder",
    "exclusive_create": "a lock file created atomically (bisync's side lock)",
    "top": "a run cut in shards by its top folders",
}
