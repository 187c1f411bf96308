"""Find fssync's entry points, remembering the answer between runs.

Importing ``importlib.metadata`` and reading every installed distribution costs about a quarter
of fssync's start-up, and the answer only changes when a package is installed, upgraded or
removed. Each of those adds, removes or rewrites a ``*.dist-info`` (or ``*.egg-info``) folder on
``sys.path``, so the answer is cached in the state folder under a fingerprint of those folders
(names and modification times): listing a few folders is cheap, and any change is a miss.
The file keeps the answers of the last few fingerprints: ``python -m fssync``, the ``fssync``
script and ``python -c`` each put another folder first on ``sys.path``, and one answer alone
would be thrown away each time a user or a script switched between them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

VERSION = 2
KEEP = 8  # fingerprints remembered


def _fingerprint() -> list[Any]:
    """sys.path with, for each folder, its distributions' metadata folders and their mtimes."""
    out: list[Any] = []
    for entry in sys.path:
        path = entry or "."
        try:
            with os.scandir(path) as it:
                found = sorted(
                    (e.name, e.stat().st_mtime_ns)
                    for e in it
                    if e.name.endswith((".dist-info", ".egg-info", ".egg-link", ".pth"))
                )
        except NotADirectoryError:
            try:
                found = [("", os.stat(path).st_mtime_ns)]  # a zip file on the path
            except OSError:
                found = []
        except OSError:
            found = []
        out.append([os.path.abspath(path), found])
    return out


def _cache_file() -> Path:
    from fssync.state.db import default_path

    return default_path().with_name("entry-points.json")


def entry_points(group: str) -> list[tuple[str, str]]:
    """(name, value) of every entry point in `group`, as importlib.metadata lists them."""
    key = json.loads(json.dumps([VERSION, group, _fingerprint()]))  # as it reads back
    cache = _cache_file()
    known: list[Any] = []
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        known = [pair for pair in data["answers"] if isinstance(pair, list) and len(pair) == 2]
        for seen, found in known:
            if seen == key:
                return [(str(name), str(value)) for name, value in found]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    import importlib.metadata

    answer = [(ep.name, ep.value) for ep in importlib.metadata.entry_points(group=group)]
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        temp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        answers = [[key, answer], *known][:KEEP]
        temp.write_text(json.dumps({"answers": answers}), encoding="utf-8")
        os.replace(temp, cache)
    except OSError:
        pass  # a cache that cannot be written is only slower
    return answer


def load(value: str) -> Any:
    """The object an entry point names: ``module`` or ``module:attr.path``."""
    import importlib

    module, _, attr = value.partition(":")
    obj: Any = importlib.import_module(module.strip())
    for part in attr.strip().split(".") if attr.strip() else ():
        obj = getattr(obj, part)
    return obj


def distributions(group: str, names: set[str]) -> dict[str, tuple[str, str]]:
    """Entry point name -> (distribution, version), for ``fssync plugins``."""
    import importlib.metadata

    out: dict[str, tuple[str, str]] = {}
    for ep in importlib.metadata.entry_points(group=group):
        if ep.name in names and ep.name not in out and ep.dist is not None:
            out[ep.name] = (ep.dist.name, ep.dist.version)
    return out
