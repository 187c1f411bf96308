"""Include / exclude / filter rules, files-from lists, marker files, size and age limits.

Every rule applies to both sides: a destination file that a rule excludes is never deleted
unless --delete-excluded is given.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from typing import Any

import fssync

from .rules import IMPLIED_EXCLUDE, RuleError, RuleSet, folders_marked, read_rule_file
from .units import parse_age, parse_size


@fssync.hookimpl(trylast=True)
def fssync_add_options(parser: argparse.ArgumentParser, command: str) -> None:
    if command not in ("sync", "bisync", "check"):
        return  # ls lists everything; credentials lists no files
    g = parser.add_argument_group(
        "filters (first matching rule wins; see docs/reference/filters.md)"
    )
    add = g.add_argument
    for flag, dest, metavar, what in (
        (
            "--include",
            "include",
            "PATTERN",
            "include files matching PATTERN (and exclude the rest)",
        ),
        ("--include-from", "include_from", "FILE", "read --include patterns from FILE"),
        ("--exclude", "exclude", "PATTERN", "exclude files matching PATTERN"),
        ("--exclude-from", "exclude_from", "FILE", "read --exclude patterns from FILE"),
        ("--filter", "filters", "RULE", "a rule: '+ PATTERN' or '- PATTERN' ('!' clears)"),
        ("--filter-from", "filter_from", "FILE", "read --filter rules from FILE"),
        (
            "--include-regex",
            "include_regex",
            "REGEX",
            "include keys in which REGEX is found (and exclude the rest)",
        ),
        ("--exclude-regex", "exclude_regex", "REGEX", "exclude keys in which REGEX is found"),
    ):
        add(flag, action="append", dest=dest, metavar=metavar, help=what)
    add("--files-from", metavar="FILE", help="consider only the paths listed in FILE")
    add(
        "--exclude-if-present",
        metavar="NAME",
        action="append",
        help="exclude folders that contain a file named NAME (e.g. .nosync)",
    )
    add("--min-size", metavar="SIZE", help="skip files smaller than SIZE (10K, 5M, 1G)")
    add("--max-size", metavar="SIZE", help="skip files larger than SIZE")
    add(
        "--min-age",
        metavar="AGE",
        help="skip files modified less than AGE ago (2h, 3d) or after a date",
    )
    add("--max-age", metavar="AGE", help="skip files modified more than AGE ago or before a date")
    add(
        "--delete-excluded",
        action="store_true",
        help="with --delete, also delete excluded destination files",
    )


def _listed(config: fssync.Config, name: str) -> list[str]:
    value = config.get(name) or ()
    return [value] if isinstance(value, str) else [str(v) for v in value]


def ordered_rules(config: fssync.Config) -> list[str]:
    """Every rule in the order rclone tries them, whatever the order of the flags: --include,
    --include-from, --include-regex, then --exclude, --exclude-from, --exclude-regex, then
    --filter (the API's ``filters``), --filter-from; last "exclude the rest" when an include
    flag was given. ``@filter:``, ``@include:``, ``@exclude:`` entries of ``filters`` read
    those files in place (``@include:`` also asks for "exclude the rest")."""
    out = ["+ " + p for p in _listed(config, "include")]
    implied = bool(out)
    for path in _listed(config, "include_from"):
        out += read_rule_file(path, kind="include")
        implied = True
    regexes = ["+re " + r for r in _listed(config, "include_regex")]
    implied = implied or bool(regexes)
    out += regexes
    out += ["- " + p for p in _listed(config, "exclude")]
    for path in _listed(config, "exclude_from"):
        out += read_rule_file(path, kind="exclude")
    out += ["-re " + r for r in _listed(config, "exclude_regex")]
    for item in _listed(config, "filters"):
        kind, _, path = item[1:].partition(":")
        if item.startswith("@") and kind in ("filter", "include", "exclude") and path:
            out += read_rule_file(path, kind=kind)
            implied = implied or kind == "include"
        else:
            out.append(item)
    for path in _listed(config, "filter_from"):
        out += read_rule_file(path, kind="filter")
    if implied:
        out.append(IMPLIED_EXCLUDE)
    return out


def _files_from(path: str) -> frozenset[str]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise fssync.UsageError(
            f"cannot read --files-from {path!r}: {exc.strerror or exc}"
        ) from None
    return frozenset(
        line.strip().lstrip("/")
        for line in lines
        if line.strip() and not line.startswith(("#", ";"))
    )


@fssync.hookimpl(trylast=True)
def fssync_configure(config: fssync.Config) -> None:
    if config.get("delete_excluded") and not (config.command == "sync" and config.get("delete")):
        raise fssync.UsageError(
            "--delete-excluded only matters with sync --delete: add --delete or drop "
            "--delete-excluded"
        )
    try:
        RuleSet.build(ordered_rules(config))
        for name in ("min_size", "max_size"):
            if config.get(name):
                parse_size(config.get(name))
        for name in ("min_age", "max_age"):
            if config.get(name):
                parse_age(config.get(name), time.time())
    except (RuleError, ValueError) as exc:
        raise fssync.UsageError(str(exc)) from None
    if config.get("files_from"):
        _files_from(config.get("files_from"))


def _when(entry: fssync.Entry) -> float | None:
    return entry.mtime if entry.mtime is not None else entry.stamp


@fssync.hookimpl(trylast=True)
def fssync_key_filters(
    config: fssync.Config, src: Mapping[str, fssync.Entry], dst: Mapping[str, fssync.Entry]
) -> list[fssync.KeyFilter] | None:
    filters: list[fssync.KeyFilter] = []
    if config.get("files_from"):
        wanted = _files_from(config.get("files_from"))
        filters.append(lambda key, s, d: None if key in wanted else (False, "not in --files-from"))
    markers = config.get("exclude_if_present") or ()
    if markers:
        marked = tuple(
            f for name in markers for side in (src, dst) for f in folders_marked(list(side), name)
        )
        if marked:
            filters.append(_under(marked))
    rules = RuleSet.build(ordered_rules(config))
    if rules.files or rules.folders:
        filters.append(lambda key, s, d: rules.decide(key))
    limits = _limits(config)
    if limits is not None:
        filters.append(limits)
    if not filters:
        return None
    return [_first(filters)]


def _under(folders: tuple[str, ...]) -> fssync.KeyFilter:
    whole = "" in folders

    def check(key: str, s: Any, d: Any) -> tuple[bool, str] | None:
        if whole or key.startswith(folders):
            return False, "folder has an --exclude-if-present marker"
        return None

    return check


def _limits(config: fssync.Config) -> fssync.KeyFilter | None:
    now = time.time()
    lo = parse_size(config.get("min_size")) if config.get("min_size") else None
    hi = parse_size(config.get("max_size")) if config.get("max_size") else None
    newest = parse_age(config.get("min_age"), now) if config.get("min_age") else None
    oldest = parse_age(config.get("max_age"), now) if config.get("max_age") else None
    if lo is None and hi is None and newest is None and oldest is None:
        return None

    def check(key: str, s: fssync.Entry | None, d: fssync.Entry | None) -> tuple[bool, str] | None:
        e = s if s is not None else d
        if e is None:
            return None
        if lo is not None and e.size < lo:
            return False, f"smaller than --min-size {config.get('min_size')}"
        if hi is not None and e.size > hi:
            return False, f"larger than --max-size {config.get('max_size')}"
        when = _when(e)
        if when is not None:
            if newest is not None and when > newest:
                return False, f"newer than --min-age {config.get('min_age')}"
            if oldest is not None and when < oldest:
                return False, f"older than --max-age {config.get('max_age')}"
        return None

    return check


def _first(filters: list[fssync.KeyFilter]) -> fssync.KeyFilter:
    """Exclusions from any source win; an include from the rules does not override a size limit."""

    def decide(key: str, s: fssync.Entry | None, d: fssync.Entry | None) -> tuple[bool, str] | None:
        verdict = None
        for f in filters:
            v = f(key, s, d)
            if v is not None:
                if not v[0]:
                    return v
                verdict = verdict or v
        return verdict

    return decide
