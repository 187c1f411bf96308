"""Generate the CLI and hook references from the code, so they cannot drift.

    python docs/generate.py          # rewrite docs/reference/cli.md and hooks.md
A test runs `render()` and fails when the committed files differ.
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def checkout_hooks():  # type: ignore[no-untyped-def]
    """The plugins this checkout's pyproject.toml declares, in entry-point name order as an
    install registers them, so the reference does not depend on what happens to be installed."""
    import importlib
    import tomllib

    from fssync.hooks.manager import make_hooks

    project = tomllib.loads((HERE.parent / "pyproject.toml").read_text())["project"]
    declared = sorted(project["entry-points"]["fssync"].items())
    plugins = [importlib.import_module(value) for _, value in declared]
    return make_hooks(entry_points=False, plugins=plugins, ambient=False)


def render_cli() -> str:
    os.environ["COLUMNS"] = "100"
    from fssync.cli.main import build_parser

    parser = build_parser(checkout_hooks())
    parts = [
        "# Command-line reference\n",
        "Generated from the parser by `python docs/generate.py`; a test keeps it current.\n",
        "Options added by plugins appear under their own headings.\n",
        "## fssync\n",
        "```text\n" + parser.format_help() + "```\n",
    ]
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():  # type: ignore[attr-defined]
        parts.append(f"## fssync {name}\n")
        parts.append("```text\n" + p.format_help() + "```\n")
    return "\n".join(parts)


def render_hooks() -> str:
    from fssync.hooks import specs

    parts = [
        "# Hook reference\n",
        "Generated from `src/fssync/hooks/specs.py` by `python docs/generate.py`. Implement a hook",
        "with `@fssync.hookimpl` in a module and declare it as an entry point of the `fssync`",
        "group; see [writing a plugin](../how-to/write-a-plugin.md). Import what a plugin needs",
        "from `fssync` and `fssync.plugin` only: every other module is internal.\n",
        "The hooks are grouped by the phase of a run that calls them, in the order a run reaches",
        "them. A **stable** hook keeps its signature and meaning within a major version (it may",
        "gain keyword parameters, which old implementations need not take); a **provisional**",
        "one may change in a minor release.\n",
    ]
    for phase, names in specs.phases():
        parts.append(f"## {phase}\n")
        for name in names:
            fn = getattr(specs, name)
            sig = str(inspect.signature(fn)).replace("'", "")
            why = specs.PROVISIONAL.get(name)
            parts.append(f"### `{name}`\n")
            parts.append(f"*Provisional: {why}.*\n" if why else "*Stable.*\n")
            parts.append(f"```python\ndef {name}{sig}\n```\n")
            parts.append(inspect.getdoc(fn) or "")
            parts.append("")
    return "\n".join(parts) + "\n"


def render() -> dict[Path, str]:
    return {
        HERE / "reference" / "cli.md": render_cli(),
        HERE / "reference" / "hooks.md": render_hooks(),
    }


if __name__ == "__main__":
    for path, text in render().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(HERE.parent)}", file=sys.stderr)
