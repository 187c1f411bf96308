"""Filter rules, compiled once and matched per key (pure; no I/O).

Semantics, like rclone's: rules are tried in the order given and the first that matches decides.
When there are include rules and none matched, the key is excluded. Patterns:

- ``*`` any run of characters except ``/``; ``**`` any run including ``/``; ``?`` one character
  except ``/``; ``[abc]``, ``[!abc]`` a set; ``{jpg,png}`` alternatives.
- A leading ``/`` anchors the pattern at the root; otherwise it matches at any folder depth
  (``*.jpg`` matches ``a/b/c.jpg``; ``logs/*.txt`` matches ``x/logs/1.txt``).
- A trailing ``/`` matches a folder and everything in it (``cache/``).
- ``+re REGEX`` / ``-re REGEX``: a Python regular expression searched in the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import attrs


class RuleError(ValueError):
    """A rule that cannot be compiled; the message is one line for the user."""


def glob_to_regex(glob: str) -> str:
    """Translate one glob (without anchoring) into a regular expression."""
    out: list[str] = []
    i, n = 0, len(glob)
    depth = 0  # inside {...}
    while i < n:
        c = glob[i]
        if c == "*":
            if glob.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = glob.find(
                "]", i + 2 if glob.startswith("[!", i) or glob.startswith("[]", i) else i + 1
            )
            if end < 0:
                raise RuleError(f"unclosed '[' in pattern {glob!r}")
            body = glob[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
            continue
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
            continue
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        raise RuleError(f"unclosed '{{' in pattern {glob!r}")
    return "".join(out)


@attrs.frozen
class Rule:
    include: bool
    text: str  # as the user wrote it, e.g. "- *.tmp"
    regex: re.Pattern[str] = attrs.field(repr=False, eq=False)

    def matches(self, key: str) -> bool:
        return self.regex.search(key) is not None


def compile_rule(text: str) -> Rule:
    """Parse one rule in filter-file syntax: '+ PATTERN', '- PATTERN', '+re REGEX', '-re REGEX'."""
    line = text.strip()
    sign, _, rest = line.partition(" ")
    rest = rest.strip()
    if sign not in ("+", "-", "+re", "-re") or not rest:
        raise RuleError(
            f"bad filter rule {text!r}: write '+ PATTERN' to include or '- PATTERN' to exclude"
        )
    include = sign.startswith("+")
    if sign.endswith("re"):
        try:
            return Rule(include, line, re.compile(rest))
        except re.error as exc:
            raise RuleError(f"bad regular expression {rest!r}: {exc}") from None
    anchored = rest.startswith("/")
    folder = rest.endswith("/")
    body = glob_to_regex(rest.strip("/"))
    if not body:
        raise RuleError(f"empty pattern in rule {text!r}")
    head = "^" if anchored else "(?:^|/)"
    tail = "/.*$" if folder else "$"
    try:
        return Rule(include, line, re.compile(head + body + tail, re.S))
    except re.error as exc:
        raise RuleError(f"bad pattern {rest!r}: {exc}") from None


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
            if line == "!":
                rules.append("!")
            else:
                rules.append(line)
        else:
            rules.append(("+ " if kind == "include" else "- ") + line)
    return rules


@attrs.frozen
class RuleSet:
    rules: tuple[Rule, ...]
    has_includes: bool

    @classmethod
    def build(cls, texts: Iterable[str]) -> RuleSet:
        rules: list[Rule] = []
        for text in texts:
            if text.strip() == "!":
                rules.clear()
                continue
            rules.append(compile_rule(text))
        return cls(tuple(rules), any(r.include for r in rules))

    def decide(self, key: str) -> tuple[bool, str] | None:
        for rule in self.rules:
            if rule.matches(key):
                return rule.include, rule.text
        if self.has_includes:
            return False, "matched no include rule"
        return None


def folders_marked(keys: Sequence[str], marker: str) -> tuple[str, ...]:
    """Folders (as 'a/b/' prefixes, '' for the root) that contain a file named `marker`."""
    found = []
    for key in keys:
        head, _, name = key.rpartition("/")
        if name == marker:
            found.append(head + "/" if head else "")
    return tuple(sorted(set(found)))
