"""The design's rules, checked: pure stages stay pure, built-ins come through entry points, and
every hook is documented."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import fssync
from fssync.hooks import specs

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "fssync"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", ["model", "bulk", "planning", "config", "errors", "naming"])
def test_pure_stages_import_no_io_or_plugin_libraries(module):
    assert not imports_of(SRC / f"{module}.py") & {
        "fsspec",
        "s3fs",
        "pluggy",
        "botocore",
        "aiobotocore",
    }


def test_only_stores_touch_s3fs():
    for path in SRC.rglob("*.py"):
        if "stores" in path.parts or "testing" in path.parts:
            continue
        assert "s3fs" not in imports_of(path), path


def declared_entry_points() -> dict[str, str]:
    """name -> module of this checkout's pyproject.toml: what an install of it registers."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return dict(project["entry-points"]["fssync"])


def test_every_plugin_folder_is_an_entry_point():
    # Read from pyproject.toml, not the installed metadata, which may be an older checkout's.
    folders = {p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").exists()}
    eps = {value: name for name, value in declared_entry_points().items()}
    assert folders <= set(eps), f"plugins without an entry point: {folders - set(eps)}"
    for folder in folders:
        assert importlib.import_module(folder).__name__ == folder


def test_builtin_plugins_use_only_the_public_api():
    allowed = {"fssync", "fssync.secrets", "fssync.stores", "fssync.units"}
    for path in (ROOT / "plugins").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("fssync.")
            ):
                assert node.module in allowed, f"{path}: private import {node.module}"


def test_every_hook_has_a_documented_parameter_list():
    hooks = [
        f for name, f in inspect.getmembers(specs, inspect.isfunction) if name.startswith("fssync_")
    ]
    assert len(hooks) >= 10
    for hook in hooks:
        doc = inspect.getdoc(hook) or ""
        assert doc, hook.__name__
        for param in inspect.signature(hook).parameters:
            assert f":param {param}:" in doc, f"{hook.__name__} does not document {param}"


def test_public_api():
    for name in ("sync", "plan", "check", "hookimpl", "Report", "Entry"):
        assert hasattr(fssync, name)
    report = fssync.Report()
    with pytest.raises(AttributeError):
        report.copied = 3  # type: ignore[misc]


def test_generated_references_are_current():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen", ROOT / "docs" / "generate.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for path, text in gen.render().items():
        assert path.read_text() == text, f"{path.name} is stale: run python docs/generate.py"
