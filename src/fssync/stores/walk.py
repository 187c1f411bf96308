"""List a tree of a synchronous fsspec filesystem with several folders in flight.

fsspec's ``find`` walks one folder at a time, so on a server that answers one level per
request (WebDAV's PROPFIND with ``Depth: 1``) a listing costs one round trip per folder, in
turn. Here each folder found is listed in a bounded thread pool as soon as its parent's answer
arrives, as rclone's checkers do. Any folder that fails fails the whole listing: a partial
listing must never reach the planner, which would take the missing files for deletions.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

# Folders listed at once: rclone's default --checkers.
FOLDERS_IN_FLIGHT = 8


def parallel_find(
    fs: Any,
    root: str,
    workers: int = FOLDERS_IN_FLIGHT,
    ls: Callable[..., list[dict]] | None = None,
) -> dict[str, dict]:
    """Every file under `root`, as ``fs.find(root, detail=True)`` answers: path -> info.
    `ls` lists one folder (default: the filesystem's own ``ls``)."""
    ls = ls or fs.ls
    root = root.rstrip("/") or root
    files: dict[str, dict] = {}
    seen = {fs._strip_protocol(root).rstrip("/")}
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="fssync-list") as pool:
        pending: set[Future[list[dict]]] = {pool.submit(ls, root, detail=True)}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    for info in future.result():
                        name = str(info["name"]).rstrip("/")
                        if info.get("type") == "directory":
                            if name not in seen:  # a server may list the folder itself
                                seen.add(name)
                                pending.add(pool.submit(ls, name, detail=True))
                        else:
                            files[name] = info
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return files
