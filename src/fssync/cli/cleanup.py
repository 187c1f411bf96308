"""`fssync cleanup URL`: abort the incomplete multipart uploads under a prefix that no run of
this machine will finish, and which S3 bills for until someone does.

A sync already aborts the uploads its own killed runs left (they are in this machine's
journal, see `fssync.state.leftovers`). What no journal here knows stays: a run that died on
another machine, a lost state folder, another tool's uploads. This command lists them, keeps
the ones that are younger than ``--older-than`` (default 24 hours: an upload in progress
elsewhere is left alone) and those this machine's journal records (the next sync of that
destination resumes or aborts them), and aborts the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import time
from typing import TYPE_CHECKING, Any

import attrs

from fssync.diagnose import diagnose
from fssync.errors import ExitCode, UsageError
from fssync.hooks.manager import Hooks
from fssync.settings.config import Config
from fssync.settings.location import parse
from fssync.settings.options import plugin_option_names
from fssync.settings.remotes import load_remotes
from fssync.settings.secrets import scrub
from fssync.settings.units import checked, parse_duration

if TYPE_CHECKING:
    from fssync.stores import Store

DEFAULT_AGE = "24h"
ROUNDS = 100  # a listing shows up to 1,000 uploads; aborted ones make room for the next


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's own arguments (the CLI adds the config option and plugins' options)."""
    p.add_argument("url", metavar="URL", help="s3://bucket/prefix or a remote NAME:prefix")
    p.add_argument(
        "--older-than",
        default=DEFAULT_AGE,
        type=checked(parse_duration),
        metavar="AGE",
        help=f"only uploads started longer ago than AGE (default {DEFAULT_AGE}; 0 for all)",
    )
    p.add_argument(
        "-n", "--dry-run", action="store_true", help="list what would be aborted, abort nothing"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")


@attrs.frozen
class Upload:
    key: str
    upload_id: str
    started: float | None


@attrs.define
class Outcome:
    aborted: list[Upload] = attrs.field(factory=list)
    young: int = 0
    journaled: int = 0
    failed: list[tuple[Upload, str]] = attrs.field(factory=list)


def _known_ids(store: Any) -> set[str]:
    """Upload ids this machine's journal holds for the store (its own runs', live or not)."""
    from fssync.state.db import StateStore
    from fssync.state.leftovers import UploadJournal

    try:
        return UploadJournal(StateStore(), store.identity).known_ids()
    except Exception:  # noqa: BLE001 - no readable state: nothing is known
        return set()


async def _clean(store: Store, bucket: str, prefix: str, age: float, dry_run: bool) -> Outcome:
    known = await asyncio.to_thread(_known_ids, store)
    limit = time.time() - age
    out = Outcome()
    seen: set[str] = set()
    for _ in range(ROUNDS):
        listed = await store.list_uploads(bucket, prefix)
        fresh = [Upload(k, u, s) for k, u, s in listed if u not in seen]
        if not fresh:
            break
        for up in fresh:
            seen.add(up.upload_id)
            if up.upload_id in known:
                out.journaled += 1
            elif age > 0 and (up.started is None or up.started > limit):
                out.young += 1
            elif dry_run:
                out.aborted.append(up)
            else:
                try:
                    await store.abort_upload(bucket, up.key, up.upload_id)
                    out.aborted.append(up)
                except Exception as exc:  # noqa: BLE001 - said per upload; the rest go on
                    diag = diagnose(exc, where=up.key)
                    if diag.fatal:
                        raise diag.exception() from None
                    out.failed.append((up, diag.message))
        if dry_run or len(listed) < 1000:
            break
    return out


def run(ns: argparse.Namespace, hooks: Hooks) -> int:
    from fssync.stores.connect import opened

    options = {k: v for k, v in vars(ns).items() if not k.startswith("_")}
    config = Config(command="cleanup", src=ns.url, options=options)
    hooks.configure(config)
    location = parse(ns.url, load_remotes(config, plugin_option_names(hooks)))
    age = parse_duration(str(ns.older_than))

    async def go() -> Outcome:
        async with opened(hooks, config, location, is_source=False) as store:
            if not store.features.multipart_journal:
                raise UsageError(
                    f"cleanup: {location.url!r} has no multipart uploads to clean "
                    "(only S3 locations have them)"
                )
            bucket, _, prefix = location.root.partition("/")
            prefix = prefix.rstrip("/") + "/" if prefix else ""
            return await _clean(store, bucket, prefix, age, ns.dry_run)

    with hooks.session(config):
        out = asyncio.run(go())
    _print(out, ns)
    return int(ExitCode.PARTIAL if out.failed else ExitCode.OK)


def _when(t: float | None) -> str:
    if t is None:
        return "unknown"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _print(out: Outcome, ns: argparse.Namespace) -> None:
    from fssync.report.safetext import printable

    verb = "would abort" if ns.dry_run else "aborted"
    for up in out.aborted:
        if ns.json:
            print(
                json.dumps({"event": "upload_aborted", **attrs.asdict(up), "dry_run": ns.dry_run})
            )
        else:
            print(f"- {printable(up.key)}  (started {_when(up.started)})")
    for up, error in out.failed:
        if ns.json:
            print(json.dumps({"event": "failed", "key": up.key, "error": scrub(error)}))
        else:
            print(f"! {printable(up.key)}: {scrub(error)}")
    summary = {
        "event": "summary",
        "aborted": len(out.aborted),
        "failed": len(out.failed),
        "kept_young": out.young,
        "kept_journaled": out.journaled,
        "dry_run": ns.dry_run,
    }
    if ns.json:
        print(json.dumps(summary))
        return
    print(
        f"{verb} {len(out.aborted)} incomplete upload(s); kept {out.young} younger than "
        f"{ns.older_than} and {out.journaled} this machine's next sync resumes or aborts"
        + (f"; {len(out.failed)} failed" if out.failed else "")
    )
