"""Filter rules, compiled once and matched per key (pure; no I/O).

The semantics are rclone's, so that a filter file brought over from rclone selects the same
files (tests/data/rclone_filters.json holds what rclone itself answered):

- Rules are tried in order and the first that matches decides; a key no rule matches is
  included. Nothing is implied by a ``+`` rule: only ``--include`` and ``--include-from`` add
  "exclude the rest" (``- /**``) after every other rule, which the caller appends.
- Every rule is also a rule about folders, as rclone prunes folders while it walks: a key is
  excluded when one of its folders is. ``- dir/`` means ``- dir/**``; ``+ dir/`` only lets the
  folder be entered; a pattern with ``**`` applies to folders and files alike; an include rule
  lets in the folders its matches can live in (``+ logs/*.txt`` lets in ``logs/``).
- ``*`` any run of characters except ``/``; ``**`` any run including ``/``; ``?`` one
  character except ``/``; ``[abc]``, ``[^abc]`` a set (``!`` is no negation, as in rclone);
  ``{jpg,png}`` alternatives; ``\\x`` a literal x.
- A leading ``/`` anchors the pattern at the root; otherwise it matches at any folder depth.
- ``+re REGEX`` / ``-re REGEX`` (fssync's): a Python regular expression searched in the key;
  about files only (an ``+re`` rule lets every folder be entered).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence

import attrs

#: The rule --include and --include-from add after all others; its words for messages.
IMPLIED_EXCLUDE = "- /**"
IMPLIED_WORDS = "matched no include rule"


class RuleError(ValueError):
    """A rule that cannot be compiled; the message is one line for the user."""


def glob_to_regex(glob: str) -> str:
    """A path glob as an anchored regular expression: at the root with a leading '/', else at
    any folder boundary; to the end of the key."""
    body = glob[1:] if glob.startswith("/") else glob
    out = ["^" if glob.startswith("/") else "(?:^|/)"]
    i, n, braces = 0, len(body), 0
    while i < n:
        c = body[i]
        if c == "*":
            j = i
            while j < n and body[j] == "*":
                j += 1
            if j - i > 2:
                raise RuleError(f"too many '*' in a row in pattern {glob!r}: use '*' or '**'")
            out.append(".*" if j - i == 2 else "[^/]*")
            i = j
            continue
        if c == "?":
            out.append("[^/]")
        elif c == "[":
            end = body.find("]", i + 1)
            if end < 0:
                raise RuleError(f"unclosed '[' in pattern {glob!r}")
            inside = body[i + 1 : end]
            if "[" in inside:
                raise RuleError(f"a '[' inside a '[...]' set in pattern {glob!r} is not supported")
            out.append("[" + inside + "]")
            i = end + 1
            continue
        elif c == "]":
            raise RuleError(f"']' without its '[' in pattern {glob!r}")
        elif c == "{":
            braces += 1
            out.append("(?:")
        elif c == "}":
            if not braces:
                raise RuleError(f"'}}' without its '{{' in pattern {glob!r}")
            braces -= 1
            out.append(")")
        elif c == "," and braces:
            out.append("|")
        elif c == "\\":
            if i + 1 == n:
                raise RuleError(f"pattern {glob!r} ends with a lone '\\'")
            out.append(re.escape(body[i + 1]))
            i += 2
            continue
        else:
            out.append(re.escape(c))
        i += 1
    if braces:
        raise RuleError(f"unclosed '{{' in pattern {glob!r}")
    out.append(r"\Z")
    return "".join(out)


# Alternatives that hold a '/' or '**', or nest: which folders they need cannot be worked out.
_OPAQUE = re.compile(r"\{[^{}]*(?:\*\*|/)[^{}]*\}|\{[^{}]*\{")


def folder_globs(glob: str) -> list[str]:
    """The globs a folder (written with a trailing '/') must match to hold a match of `glob`:
    one per folder level the pattern names, deepest first. ``/**`` when any folder may."""
    if _OPAQUE.search(glob):
        return ["/**"]
    glob = re.sub("/{2,}", "/", glob)
    out: list[str] = []
    while True:
        slash, stars = glob.rfind("/"), glob.rfind("**")
        if slash < 0 and stars < 0:
            break
        if stars > slash:
            glob, folder = glob[:stars], glob[:stars] + "**/"
        else:
            glob, folder = glob[:slash], glob[:slash] + "/"
        if not out or out[-1] != folder:
            out.append(folder)
    return out or ["/**"]


@attrs.frozen
class Rule:
    include: bool
    text: str  # as the user wrote it, e.g. "- *.tmp"
    regex: re.Pattern[str] = attrs.field(repr=False, eq=False)

    def matches(self, key: str) -> bool:
        return self.regex.search(key) is not None


def _regex(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile without Python's FutureWarnings about sets ('[[', '--'): they are the user's
    text, and a warning would be lines of noise on stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(pattern, flags)


def _one_line(message: str) -> str:
    return message.replace("\n", "\\n").replace("\r", "\\r")


def _compile(include: bool, text: str, pattern: str) -> Rule:
    try:
        return Rule(include, text, _regex(pattern, re.S))
    except re.error as exc:
        raise RuleError(f"bad pattern in rule {text!r}: {_one_line(exc.msg)}") from None


def _parse(text: str) -> tuple[str, str]:
    line = text.strip()
    sign, _, rest = line.partition(" ")
    rest = rest.strip()
    if sign not in ("+", "-", "+re", "-re") or not rest:
        raise RuleError(
            f"bad filter rule {text!r}: write '+ PATTERN' to include or '- PATTERN' to exclude"
        )
    return sign, rest


def compile_rule(text: str) -> tuple[list[Rule], list[Rule]]:
    """One rule in filter-file syntax ('+ PATTERN', '- PATTERN', '+re REGEX', '-re REGEX') as
    the rules it makes about files and about folders."""
    sign, glob = _parse(text)
    line = text.strip()
    include = sign.startswith("+")
    if sign.endswith("re"):
        try:
            rule = Rule(include, line, _regex(glob))
        except re.error as exc:
            raise RuleError(f"bad regular expression {glob!r}: {_one_line(exc.msg)}") from None
        return [rule], [_compile(True, line, ".")] if include else []
    if not glob.strip("/"):
        raise RuleError(f"empty pattern in rule {text!r}")
    files: list[Rule] = []
    folders: list[Rule] = []
    for_folders = glob.endswith("/")
    for_files = not for_folders
    if for_folders and not include:
        glob += "**"  # excluding a folder excludes all it holds
    if "**" in glob:
        for_folders = for_files = True
    rule = _compile(include, line, glob_to_regex(glob))
    if for_files:
        files.append(rule)
        # An include can only match in the folders it names; an exclude rules no folder out,
        # except '- *', which matches every name.
        if include or glob == "*":
            folders += [
                _compile(include, line, glob_to_regex(g)) for g in folder_globs(glob) if g != "/"
            ]
    if for_folders:
        folders.append(rule)
    return files, folders


@attrs.frozen
class RuleSet:
    files: tuple[Rule, ...]
    folders: tuple[Rule, ...]
    _seen: dict[str, Rule | None] = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def build(cls, texts: Iterable[str]) -> RuleSet:
        """Rules in order; '!' clears the rules before it."""
        files: list[Rule] = []
        folders: list[Rule] = []
        for text in texts:
            if text.strip() == "!":
                files.clear()
                folders.clear()
                continue
            f, d = compile_rule(text)
            if text == IMPLIED_EXCLUDE:
                f = [attrs.evolve(r, text=IMPLIED_WORDS) for r in f]
                d = [attrs.evolve(r, text=IMPLIED_WORDS) for r in d]
            files += f
            folders += d
        return cls(tuple(files), tuple(folders))

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self.files + self.folders

    def _folder(self, folder: str) -> Rule | None:
        """The rule that excludes `folder` ('a/b/'), or None when it may be entered."""
        if folder not in self._seen:
            verdict = None
            for rule in self.folders:
                if rule.matches(folder):
                    verdict = None if rule.include else rule
                    break
            self._seen[folder] = verdict
        return self._seen[folder]

    def decide(self, key: str) -> tuple[bool, str] | None:
        if self.folders and "/" in key:
            end = key.find("/")
            while end >= 0:
                rule = self._folder(key[: end + 1])
                if rule is not None:
                    return False, f"{rule.text} (folder {key[: end + 1]})"
                end = key.find("/", end + 1)
        for rule in self.files:
            if rule.matches(key):
                return rule.include, rule.text
        return None


def read_rule_file(path: str, *, kind: str) -> list[str]:
    """Rules from a file: filter files hold '+ x' / '- x' lines ('!' clears what came before);
    include and exclude files hold bare patterns. Blank lines and '#' / ';' comments are skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise RuleError(f"cannot read {kind} file {path!r}: {exc.strerror or exc}") from None
    rules: list[str] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if kind == "filter":
            rules.append(line)
        else:
            rules.append(("+ " if kind == "include" else "- ") + line)
    return rules


def folders_marked(keys: Sequence[str], marker: str) -> tuple[str, ...]:
    """Folders (as 'a/b/' prefixes, '' for the root) that contain a file named `marker`."""
    found = []
    for key in keys:
        head, _, name = key.rpartition("/")
        if name == marker:
            found.append(head + "/" if head else "")
    return tuple(sorted(set(found)))
