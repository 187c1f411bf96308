"""The small commands: ls, plugins, and the printing side of check."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shlex
import types
from collections.abc import Mapping
from typing import Any

from fssync.errors import ExitCode, UsageError
from fssync.hooks import PROJECT
from fssync.hooks.manager import Hooks
from fssync.model import Capabilities, Entry, Kind, Plan
from fssync.report.safetext import json_text, printable
from fssync.report.tally import check_output_path, write_atomically
from fssync.settings.config import Config
from fssync.settings.location import Location, parse
from fssync.settings.options import plugin_option_names
from fssync.settings.remotes import load_remotes
from fssync.settings.secrets import scrub


def _when(e: Entry) -> str:
    t = e.mtime if e.mtime is not None else e.stamp
    if t is None:
        return "-" * 19
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


LS_HEADS = 1000  # ls asks each shown object for its stored mtime up to this many objects


async def _stored_mtimes(store: Any, entries: dict[str, Entry], shown: list[str]) -> None:
    """Give the shown entries the source file's mtime that sync tools keep with an object,
    where the listing lacks it: from fssync's local record of synced objects (free), then
    with one HEAD per object (only for a listing of at most LS_HEADS objects)."""
    if store.features.listing_has_mtime:
        return
    from fssync.state.db import StateStore, enrich

    try:
        records = await asyncio.to_thread(StateStore().load, store.identity, store.location.root)
        entries.update(enrich(entries, records))
    except Exception:  # noqa: BLE001 - an unreadable record only costs the HEADs below
        pass
    todo = [entries[k] for k in shown if entries[k].mtime is None]
    if not store.features.head or not todo or len(todo) > LS_HEADS:
        return
    from fssync.content.metadata import read as read_metadata

    slots = asyncio.Semaphore(16)

    async def look(e: Entry) -> None:
        async with slots:
            meta, _ = await store.head(e)
        mtime = read_metadata(meta).mtime
        if mtime is not None:
            entries[e.key] = Entry(e.key, e.size, mtime, e.stamp, e.etag, e.md5)

    await asyncio.gather(*(look(e) for e in todo))


def ls(ns: argparse.Namespace, hooks: Hooks) -> int:
    from fssync.stores.connect import opened

    options = {k: v for k, v in vars(ns).items() if not k.startswith("_")}
    config = Config(command="ls", src=ns.url, options=options)
    hooks.configure(config)
    location = parse(ns.url, load_remotes(config, plugin_option_names(hooks)))

    async def listing() -> dict[str, Entry]:
        async with opened(hooks, config, location, is_source=True) as store:
            entries = dict((await store.scan()).entries)
            shown = [k for k in entries if ns.recursive or "/" not in k]
            await _stored_mtimes(store, entries, shown)
            return entries

    with hooks.session(config):
        entries = asyncio.run(listing())
    rows: list[dict[str, Any]] = []
    folders: set[str] = set()
    for key in sorted(entries):
        if not ns.recursive and "/" in key:
            folders.add(key.split("/", 1)[0] + "/")
            continue
        e = entries[key]
        rows.append(
            {"key": key, "size": e.size, "mtime": e.mtime, "modified": e.stamp, "etag": e.etag}
        )
    for folder in sorted(folders):
        rows.append({"key": folder, "size": None, "type": "directory"})
    for row in sorted(rows, key=lambda r: r["key"]):
        if ns.json:
            print(json_text(row))
        elif row.get("type") == "directory":
            print(f"{'DIR':>12}  {'':19}  {printable(row['key'])}")
        else:
            print(f"{row['size']:>12}  {_when(entries[row['key']])}  {printable(row['key'])}")
    return int(ExitCode.OK)


def per_run_hooks(plugin: object) -> list[str]:
    """Hooks implemented by the classes a plugin module defines: the objects its
    ``fssync_session`` returns, which exist only while a run does."""
    if not isinstance(plugin, types.ModuleType):
        return []
    marker = PROJECT + "_impl"  # the attribute pluggy's hookimpl marker sets
    found: set[str] = set()
    for value in vars(plugin).values():
        if isinstance(value, type) and value.__module__ == plugin.__name__:
            for name, fn in vars(value).items():
                if name.startswith("fssync_") and hasattr(fn, marker):
                    found.add(name)
    return sorted(found)


def credentials(ns: argparse.Namespace, hooks: Hooks) -> int:
    """Print the temporary credentials a provider fetches: the one place secrets are printed,
    on explicit request, for tools that cannot fetch them themselves."""
    from fssync.settings.credential_loop import guard

    # Before the environment is read: the guard may drop AWS_PROFILE.
    with guard(getattr(ns, "profile", None)):
        return _credentials(ns, hooks)


def _credentials(ns: argparse.Namespace, hooks: Hooks) -> int:
    options = {k: v for k, v in vars(ns).items() if not k.startswith("_")}
    config = Config(command="credentials", src=ns.location or "", options=options)
    hooks.configure(config)
    if ns.location:
        location = parse(ns.location, load_remotes(config, plugin_option_names(hooks)))
    else:
        location = Location(url="", protocol="s3", root="", capabilities=Capabilities(True))
    provider = hooks.credential_provider(location, config)
    if provider is None:
        raise UsageError(
            "no temporary credentials to print: give an STS method (--role-arn ARN, --sts "
            "session or --sts federation) or a remote that sets one"
        )
    creds = asyncio.run(provider.fetch())
    expires = (
        dt.datetime.fromtimestamp(creds.expires, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if creds.expires is not None
        else None
    )
    if ns.json:
        document: dict[str, Any] = {
            "Version": 1,
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key,
        }
        if creds.session_token:
            document["SessionToken"] = creds.session_token
        if expires:
            document["Expiration"] = expires
        print(json.dumps(document, indent=2))
        return int(ExitCode.OK)
    exports = {
        "AWS_ACCESS_KEY_ID": creds.access_key_id,
        "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
        "AWS_SESSION_TOKEN": creds.session_token,
        "AWS_CREDENTIAL_EXPIRATION": expires,
    }
    for name, value in exports.items():
        if value:
            print(f"export {name}={shlex.quote(value)}")
    return int(ExitCode.OK)


def plugin_table(hooks: Hooks) -> list[dict[str, Any]]:
    pm = hooks.pm
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        dist = hooks.distributions.get(name)
        callers = pm.get_hookcallers(plugin) or []
        rows.append(
            {
                "name": name,
                "module": getattr(plugin, "__name__", type(plugin).__name__),
                "distribution": dist[0] if dist else None,
                "version": dist[1] if dist else None,
                "hooks": sorted(c.name for c in callers),
                "per_run_hooks": per_run_hooks(plugin),
            }
        )
    return sorted(rows, key=lambda r: r["name"])


def plugins(ns: argparse.Namespace, hooks: Hooks) -> int:
    rows = plugin_table(hooks)
    modes = sorted(hooks.compare_modes())
    if ns.json:
        print(json.dumps({"plugins": rows, "compare_modes": modes}, indent=2))
        return 0
    for row in rows:
        dist = (
            f"{row['distribution']} {row['version']}"
            if row["distribution"]
            else "registered directly"
        )
        print(f"{row['name']}  ({dist}; module {row['module']})")
        for hook in row["hooks"]:
            print(f"    {hook}")
        for hook in row["per_run_hooks"]:
            print(f"    {hook}  (per run)")
    print(f"compare modes: {', '.join(modes)}")
    return 0


def backends(ns: argparse.Namespace) -> int:
    """``fssync backends``: the protocol table, from the declarations planning uses."""
    from fssync.settings.backends import table
    from fssync.stores.features import WORDS

    rows = table()
    if ns.json:
        print(json.dumps({"backends": rows}, indent=2))
        return 0
    for row in rows:
        extra = f"pip install 'fssync[{row['extra']}]'" if row["extra"] else "built in"
        state = "" if row["installed"] else "  (not installed)"
        hashes = ", ".join(row["hashes"]) or "none"
        kept = "kept" if row["keeps_mtime"] else "not kept"
        print(f"{row['backend']}  {row['url']}{state}")
        print(f"    install: {extra}")
        print(f"    mtime: {kept}, precision {row['precision']:g} s; hashes listed: {hashes}")
        print(f"    compare: {row['compare']}" + ("; read-only" if row["read_only"] else ""))
        print(f"    names: {_names(row)}")
        if row["operations"]:
            print("    can: " + ", ".join(WORDS[name] for name in row["operations"]))
        print(f"    tested against: {row['tested_with']}")
    return 0


def _names(row: Mapping[str, Any]) -> str:
    limits = [
        f"{row[name]} bytes a {what}"
        for name, what in (("name_max", "name"), ("key_max", "path"))
        if row[name] is not None
    ]
    case = "case-sensitive" if row["case_sensitive"] else "case-insensitive"
    return case + ("; at most " + ", ".join(limits) if limits else "; no length limit known")


# What check calls each kind of difference: its list option and its words.
_CHECK = {
    Kind.COPY: ("missing_on_dst", "only in source"),
    Kind.DELETE: ("missing_on_src", "only in destination"),
    Kind.UPDATE: ("differ", "differ"),
    Kind.SKIP: ("match", "equal"),
}


def check_lists(config: Config) -> None:
    """Refuse list files that cannot be written before comparing anything."""
    for option, _ in _CHECK.values():
        path = config.get(option)
        if path:
            check_output_path("--" + option.replace("_", "-"), path)


def print_check(plan: Plan, config: Config) -> int:
    """Print the differences with sigils (+ only in source, - only in destination, * differ,
    = equal with --combined), write the --missing-on-dst style lists; exit 1 when any differ."""
    combined = bool(config.get("combined"))
    as_json, quiet = bool(config.get("json")), bool(config.get("quiet"))
    keys: dict[Kind, list[str]] = {kind: [] for kind in _CHECK}
    # The equal keys are only counted unless they are shown or listed (a plan makes their
    # actions on demand, which costs seconds of CPU at a million keys).
    show_equal = combined or bool(config.get("match"))
    for a in plan.actions if show_equal else plan.changes:
        if a.kind not in _CHECK:
            continue  # excluded by a filter: neither compared nor counted
        keys[a.kind].append(a.key)
        if a.kind is Kind.SKIP and not combined:
            continue
        if as_json:
            name = "equal" if a.kind is Kind.SKIP else "difference"
            row = {"event": name, "sigil": a.kind.value, "key": a.key, "reason": a.reason}
            print(json_text(row))
        elif not quiet:
            why = f"  ({a.reason})" if config.verbose else ""
            print(printable(scrub(f"{a.kind.value} {a.key}{why}")))
    for kind, (option, _) in _CHECK.items():
        path = config.get(option)
        if path:
            write_atomically(path, "".join(k + "\n" for k in sorted(keys[kind])))
    number = {kind: len(found) for kind, found in keys.items()}
    if not show_equal:
        number[Kind.SKIP] = plan.counts()["skip"]
    counts = {option: number[kind] for kind, (option, _) in _CHECK.items()}
    differ = len(keys[Kind.COPY]) + len(keys[Kind.DELETE]) + len(keys[Kind.UPDATE])
    if as_json:
        summary = {
            "event": "summary",
            "differences": differ,
            **counts,
            "src_files": plan.src_count,
            "dst_files": plan.dst_count,
        }
        print(json.dumps(summary))
    elif not quiet:
        parts = ", ".join(f"{number[k]} {words}" for k, (_, words) in _CHECK.items())
        print(
            f"{differ} difference(s): {parts}; "
            f"{plan.src_count} file(s) in source, {plan.dst_count} in destination"
        )  # on stdout, as sync's summary is
    return int(ExitCode.DIFFERENT if differ else ExitCode.OK)
