"""The small commands: ls, plugins, and the printing side of check."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from typing import Any

from .config import Config
from .diagnose import diagnose
from .errors import ExitCode, FssyncError
from .hooks.manager import Hooks
from .location import parse
from .model import Entry, Kind, Plan
from .secrets import scrub


def _when(e: Entry) -> str:
    t = e.mtime if e.mtime is not None else e.stamp
    if t is None:
        return "-" * 19
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def ls(ns: argparse.Namespace, hooks: Hooks) -> int:
    from .stores import connect

    options = {k: v for k, v in vars(ns).items() if not k.startswith("_")}
    config = Config(command="ls", src=ns.url, options=options)
    hooks.configure(config)
    location = parse(ns.url)

    async def listing() -> dict[str, Entry]:
        try:
            store = await connect(hooks, location, config, transfers=4, is_source=True)
        except FssyncError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise diagnose(exc, where=location.url, listing=True).exception() from None
        try:
            return dict((await store.scan()).entries)
        except FssyncError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise diagnose(exc, where=location.url, listing=True).exception() from None
        finally:
            await store.close()

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
            print(json.dumps(row, ensure_ascii=False))
        elif row.get("type") == "directory":
            print(f"{'DIR':>12}  {'':19}  {row['key']}")
        else:
            print(f"{row['size']:>12}  {_when(entries[row['key']])}  {row['key']}")
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
        print(f"{row['name']}  ({dist})")
        for hook in row["hooks"]:
            print(f"    {hook}")
    print(f"compare modes: {', '.join(modes)}")
    return 0


def print_check(plan: Plan, config: Config) -> int:
    """Print differences with sigils; exit 1 when any."""
    differ = 0
    combined = bool(config.get("combined"))
    out = []
    for a in plan.actions:
        if a.kind is Kind.SKIP:
            if combined:
                out.append({"sigil": "=", "key": a.key, "reason": a.reason})
            continue
        if a.kind is Kind.EXCLUDE:
            continue
        differ += 1
        sigil = a.kind.value
        out.append({"sigil": sigil, "key": a.key, "reason": a.reason})
    for row in out:
        if config.get("json"):
            print(json.dumps({"event": "difference", **row}, ensure_ascii=False))
        elif not config.get("quiet"):
            print(
                scrub(
                    f"{row['sigil']} {row['key']}"
                    + (f"  ({row['reason']})" if config.verbose else "")
                )
            )
    summary = f"{differ} difference(s); {plan.src_count} file(s) in source, {plan.dst_count} in destination"
    if config.get("json"):
        print(
            json.dumps(
                {
                    "event": "summary",
                    "differences": differ,
                    "src_files": plan.src_count,
                    "dst_files": plan.dst_count,
                }
            )
        )
    elif not config.get("quiet"):
        print(summary, file=sys.stderr)
    return int(ExitCode.DIFFERENT if differ else ExitCode.OK)
