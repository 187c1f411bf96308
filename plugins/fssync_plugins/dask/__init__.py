"""``--executor dask``: a run spread over a Dask distributed cluster.

By default (``--list-on workers``) the driver (the machine running ``fssync sync``) only looks
at each root once to cut the run in shards; each shard is listed on both sides and planned by a
worker, which keeps its plan and sends back the counts. The driver applies every guard to the
sums, then the shards' transfers (and deletions, when nothing holds them) run in batches of
about a thousand files per Dask task; each batch opens both stores itself from the run's options
and sends back its outcomes and events. With ``--list-on driver`` the driver lists and plans and
only the transfers go out. A worker lost mid-batch has its batch run again elsewhere (every
write goes through a temporary name or a multipart upload, so a rerun is harmless), and only the
batch that finished is counted.
"""

from __future__ import annotations

import argparse
import os

from fssync import Config, Executor, UsageError, hookimpl

NAME = "dask"
BATCH = 1000
LIST_ON = ("workers", "driver")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, not {value}")
    return value


@hookimpl
def fssync_add_options(parser: argparse.ArgumentParser, command: str) -> None:
    if command != "sync":
        return
    group = parser.add_argument_group("dask (with --executor dask)")
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="the Dask scheduler to send the transfers to, e.g. tcp://HOST:8786",
    )
    group.add_argument(
        "--workers",
        type=_positive,
        metavar="N",
        help="instead of --scheduler: start a cluster of N worker processes on this machine "
        "for the run (default: one per core)",
    )
    group.add_argument(
        "--list-on",
        choices=LIST_ON,
        help="who lists and plans: the workers, each a shard (a folder under the roots, and "
        "the files right under them), so that no machine holds the whole listing (the "
        "default); or the driver, which then sends only the transfers",
    )
    group.add_argument(
        "--batch-files",
        type=_positive,
        metavar="N",
        help=f"files per Dask task (default {BATCH}): fewer tasks cost less scheduling, "
        "smaller ones spread better and lose less when a worker dies",
    )


@hookimpl
def fssync_configure(config: Config) -> None:
    if config.command != "sync":
        return
    dask = config.get("executor") == NAME
    for name in ("scheduler", "workers", "batch_files", "list_on"):
        if config.get(name) and not dask:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} only matters with --executor dask: add it or drop {flag}")
    if not dask:
        return
    if config.get("scheduler") and config.get("workers"):
        raise UsageError(
            "--scheduler and --workers contradict each other: give the cluster's scheduler, or "
            "the number of local workers to start"
        )
    if config.get("track_renames") and (config.get("list_on") or "workers") == "workers":
        raise UsageError(
            "--track-renames pairs deletions and copies across the whole listing, which no "
            "machine holds with --list-on workers: drop it or add --list-on driver"
        )
    for name, flag in (
        ("bwlimit", "--bwlimit"),
        ("max_transfer", "--max-transfer"),
        ("max_duration", "--max-duration"),
    ):
        if config.get(name):
            raise UsageError(
                f"{flag} is counted in one process and cannot be shared by Dask workers yet: "
                f"drop {flag} or run with --executor in-process"
            )


@hookimpl
def fssync_executor(config: Config) -> Executor | None:
    if config.get("executor") != NAME:
        return None
    scheduler = config.get("scheduler")
    workers = int(config.get("workers") or 0) or (None if scheduler else os.cpu_count() or 1)
    from .executor import DaskExecutor  # here: a run without --executor dask needs none of it

    return DaskExecutor(
        scheduler=str(scheduler) if scheduler else None,
        workers=workers,
        batch=int(config.get("batch_files") or BATCH),
        sharded=(config.get("list_on") or "workers") == "workers",
    )
