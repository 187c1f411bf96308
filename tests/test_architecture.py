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


def _package_of(path: Path) -> str:
    """The dotted package a file of src/ or plugins/ belongs to."""
    for top in (ROOT / "src", ROOT / "plugins"):
        if top in path.parents:
            parts = path.relative_to(top).with_suffix("").parts
            return ".".join(parts if path.name == "__init__.py" else parts[:-1])
    raise ValueError(path)


def _top_level(tree: ast.Module) -> list[ast.AST]:
    """The statements run when the module is imported: its body, into ``try`` and ``if``
    blocks but not ``if TYPE_CHECKING``, never into functions or classes' methods."""
    out: list[ast.AST] = []
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            todo.extend([*node.body, *node.orelse])
        elif isinstance(node, ast.Try):
            todo.extend([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                todo.extend(handler.body)
    return out


def modules_of(
    path: Path, *, on_import: bool = False, package: str | None = None, runtime: bool = False
) -> set[str]:
    """Every module a file imports, by its full dotted name, in every form: ``import a.b``,
    ``from a import b`` (both ``a`` and ``a.b``: b may be a module), relative imports resolved
    against the file's package, ``importlib.import_module("a.b")`` and ``__import__("a")``
    with a literal name, and ``fssync.x.y`` reached as attributes of an imported ``fssync``.
    With `on_import`, only the import statements that run when the module is imported; with
    `runtime`, every import but those under ``if TYPE_CHECKING`` (types only)."""
    tree = ast.parse(path.read_text())
    if runtime:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                node.body = []
    package_parts = (package or _package_of(path)).split(".")
    names: set[str] = set()
    nodes = _top_level(tree) if on_import else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{a.name}".lstrip(".") for a in node.names if a.name != "*")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = ast.unparse(node.func)
            if func in ("importlib.import_module", "import_module", "__import__"):
                names.add(str(node.args[0].value))
        elif isinstance(node, ast.Attribute) and ast.unparse(node).startswith("fssync."):
            names.add(ast.unparse(node))
    return {n for n in names if n}


def imports_of(path: Path) -> set[str]:
    """The top-level packages a file imports, in any form."""
    return {name.split(".")[0] for name in modules_of(path)}


def fssync_modules_of(
    path: Path, *, on_import: bool = False, package: str | None = None
) -> set[str]:
    """The fssync modules (not names inside them) a file reaches, in any form."""
    out = set()
    for name in modules_of(path, on_import=on_import, package=package):
        parts = name.split(".")
        if parts[0] != "fssync":
            continue
        # The longest prefix that is a module of the package: `fssync.stores.s3.meta.PART`
        # reaches fssync.stores.s3.meta; `fssync.Entry` reaches only fssync.
        for n in range(len(parts), 0, -1):
            candidate = SRC.parent.joinpath(*parts[:n])
            if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
                out.add(".".join(parts[:n]))
                break
    return out


# What a pure stage may not reach: the standard library's and the backends' I/O, the event
# loop, and the plugin machinery (a pure stage is handed what plugins decide).
IO = frozenset(
    {
        "os",
        "io",
        "sys",
        "asyncio",
        "sqlite3",
        "socket",
        "ssl",
        "select",
        "selectors",
        "signal",
        "subprocess",
        "threading",
        "concurrent",
        "multiprocessing",
        "shutil",
        "tempfile",
        "pathlib",
        "glob",
        "http",
        "urllib.request",
        "ftplib",
        "smtplib",
        "fsspec",
        "s3fs",
        "botocore",
        "aiobotocore",
        "aiohttp",
        "pluggy",
    }
)
# The pure stages: every module of fssync.planning, the values every stage shares, and the
# rules that read hashes and mtimes from S3 object metadata.
PURE = sorted(
    {"fssync.model", "fssync.errors", "fssync.content.metadata"}
    | {
        "fssync.planning" + ("" if p.stem == "__init__" else f".{p.stem}")
        for p in (SRC / "planning").glob("*.py")
    }
)


def _file_of(name: str, src: Path = SRC) -> Path:
    path = src.parent.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def io_reached(start: str, src: Path = SRC) -> dict[str, set[str]]:
    """Transitively, from `start`: each fssync module it reaches that imports something in
    `IO`, with what. Empty for a pure module. A module imported is read whole (a function's
    import counts: it may run); the packages above it run only their import-time code first
    (``fssync``'s `sync` imports the engine, but importing ``fssync`` does not)."""

    def reached(name: str) -> list[tuple[str, bool]]:
        parts = name.split(".")
        return [(".".join(parts[:k]), k == len(parts)) for k in range(1, len(parts) + 1)]

    found: dict[str, set[str]] = {}
    seen: set[tuple[str, bool]] = set()
    todo = reached(start)
    while todo:
        name, whole = todo.pop()
        if (name, whole) in seen or (name, True) in seen:
            continue
        seen.add((name, whole))
        path = _file_of(name, src)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        if whole:
            modules = modules_of(path, package=package, runtime=True)
        else:
            modules = modules_of(path, package=package, on_import=True)
        bad = {m for m in modules if any(m == x or m.startswith(f"{x}.") for x in IO)}
        if bad:
            found[name] = bad
        for m in modules:
            parts = m.split(".")
            if parts[0] != "fssync":
                continue
            for n in range(len(parts), 0, -1):
                candidate = src.parent.joinpath(*parts[:n])
                if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
                    todo.extend(reached(".".join(parts[:n])))
                    break
    return found


@pytest.mark.parametrize("module", PURE)
def test_pure_stages_stay_pure_through_what_they_import(module):
    """Transitively: a pure stage, and every fssync module it reaches, imports no I/O."""
    assert not io_reached(module), f"{module} reaches I/O: {io_reached(module)}"


def test_the_purity_check_sees_an_import_reached_through_another_module(tmp_path):
    """`import os` in a planning module, or in a module a planning module imports (in a
    function too), fails the check above."""
    src = tmp_path / "fssync"
    (src / "planning").mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "planning" / "__init__.py").write_text("")
    (src / "planning" / "rules.py").write_text("from fssync import helper\n")
    (src / "helper.py").write_text("def f():\n    import os\n")
    (src / "typed.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import os\n"
    )
    assert io_reached("fssync.planning.rules", src) == {"fssync.helper": {"os"}}
    assert io_reached("fssync.typed", src) == {}
    (src / "planning" / "rules.py").write_text("import os.path\n")
    assert io_reached("fssync.planning.rules", src) == {"fssync.planning.rules": {"os.path"}}


@pytest.mark.parametrize("module", ["settings/config", "content/metadata"])
def test_rules_modules_import_no_store_or_plugin_libraries(module):
    """Rules that read settings or metadata load no backend and no plugin machinery."""
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


def test_one_module_opens_the_state_file():
    """`state/db.py` owns the one-way state SQLite file; bisync's own lives in twoway/."""
    opened = {
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if "sqlite3.connect(" in path.read_text()
    }
    assert opened == {"state/db.py", "twoway/state.py"}


def declared_entry_points() -> dict[str, str]:
    """name -> module of this checkout's pyproject.toml: what an install of it registers."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return dict(project["entry-points"]["fssync"])


PLUGINS = ROOT / "plugins" / "fssync_plugins"


def test_every_plugin_folder_is_the_entry_point_of_its_name():
    """The built-ins are one import name, fssync_plugins, with one subpackage per entry point:
    plugins/ holds nothing else, and the package itself imports nothing (a run loads only
    the plugins it registers)."""
    # Read from pyproject.toml, not the installed metadata, which may be an older checkout's.
    assert sorted(p.name for p in (ROOT / "plugins").iterdir() if p.name != "__pycache__") == [
        "fssync_plugins"
    ]
    assert not modules_of(PLUGINS / "__init__.py")
    folders = {p.name for p in PLUGINS.iterdir() if (p / "__init__.py").exists()}
    declared = declared_entry_points()
    assert declared == {name: f"fssync_plugins.{name}" for name in folders}
    for folder in folders:
        module = f"fssync_plugins.{folder}"
        assert importlib.import_module(module).__name__ == module


# The public API: `fssync` and the plugin-facing `fssync.plugin`; every other module is internal.
PUBLIC = {"fssync", "fssync.plugin"}
# The fast S3 store moves to fssync.plugin with the one-S3-layer change of issue 13 (its
# declaration already comes from there); until then it reaches the store interface directly.
NOT_YET: dict[str, str] = {}


def other_plugins_of(path: Path, *, package: str | None = None) -> set[str]:
    """The modules of other built-in plugins (or of fssync_plugins itself) a plugin's file
    reaches, in any import form: each plugin stands alone, as a third-party one would."""
    own = (package or _package_of(path)).split(".")[:2]  # fssync_plugins.<name>
    return {
        m
        for m in modules_of(path, package=package)
        if m.split(".")[0] == "fssync_plugins" and m.split(".")[:2] != own
    }


def test_builtin_plugins_use_only_the_public_api():
    """Plugins import of fssync only `fssync` and `fssync.plugin`, and no other plugin."""
    for path in PLUGINS.glob("*/**/*.py"):
        where = path.relative_to(ROOT / "plugins").as_posix()
        private = {
            m
            for m in fssync_modules_of(path) - PUBLIC
            if not (where in NOT_YET and (m + ".").startswith(NOT_YET[where] + "."))
        }
        assert not private, f"{where}: imports internal {sorted(private)}"
        assert not other_plugins_of(path), f"{where}: imports {sorted(other_plugins_of(path))}"


def test_the_import_reader_sees_every_form(tmp_path):
    """The check above is only as good as its reader: each form of import is seen."""
    sample = tmp_path / "sample.py"  # as if it were plugins/fssync_plugins/compare/sample.py
    sample.write_text(
        "import fssync.state.leftovers\n"
        "from fssync import state\n"
        "from fssync.stores.s3 import meta\n"
        "from .. import s3\n"
        "from . import rules\n"
        "import fssync_plugins.s3_fast.http\n"
        "import importlib\n"
        "importlib.import_module('fssync.engine')\n"
        "__import__('fssync.cli.main')\n"
        "import fssync\n"
        "fssync.content.integrity.Verified\n"
        "fssync.Entry\n"
    )
    found = fssync_modules_of(sample, package="fssync_plugins.compare")
    others = other_plugins_of(sample, package="fssync_plugins.compare")
    assert others == {"fssync_plugins", "fssync_plugins.s3", "fssync_plugins.s3_fast.http"}
    assert found == {
        "fssync",
        "fssync.state.leftovers",
        "fssync.state",
        "fssync.stores.s3",
        "fssync.stores.s3.meta",
        "fssync.engine",
        "fssync.cli.main",
        "fssync.content",
        "fssync.content.integrity",
    }


def test_the_plugin_api_is_declared_and_complete():
    """`fssync.plugin.__all__` holds the public API and what plugins need besides; every
    name in it resolves, and the documented list of internal modules is every other one."""
    import fssync.plugin

    assert set(fssync.__all__) <= set(fssync.plugin.__all__)
    assert len(set(fssync.plugin.__all__)) == len(fssync.plugin.__all__)
    for name in fssync.plugin.__all__:
        assert getattr(fssync.plugin, name) is not None, name
    for name in ("Store", "Reader", "Features", "CompareMode", "Reason", "register", "scrub"):
        assert name in fssync.plugin.__all__
    doc = (ROOT / "docs" / "reference" / "python-api.md").read_text()
    top = {p.stem for p in SRC.glob("*.py")} | {p.name for p in SRC.iterdir() if p.is_dir()}
    internal = top - {"__init__", "__main__", "plugin", "py", "data", "__pycache__"}
    missing = sorted(m for m in internal if f"`fssync.{m}`" not in doc)
    assert not missing, f"python-api.md does not list these internal modules: {missing}"


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


def test_every_hook_is_in_one_phase_and_labelled():
    hooks = {n for n, _ in inspect.getmembers(specs, inspect.isfunction) if n.startswith("fssync_")}
    grouped = [name for _, names in specs.phases() for name in names]
    assert sorted(grouped) == sorted(hooks)  # each hook once, none outside a phase
    assert set(specs.PROVISIONAL) <= hooks
    reference = (ROOT / "docs" / "reference" / "hooks.md").read_text()
    for name in hooks:
        label = f"### `{name}`\n\n*" + ("Provisional: " if name in specs.PROVISIONAL else "Stable.")
        assert label in reference, name


def test_the_architecture_doc_names_every_module():
    """architecture.md draws the package one line per module: a module added without its line
    (or a package without its folder) makes the map wrong, so it fails here."""
    doc = (ROOT / "docs" / "explanation" / "architecture.md").read_text(encoding="utf-8")
    package = ROOT / "src" / "fssync"
    code = [p for p in package.rglob("*.py") if "data" not in p.relative_to(package).parts]
    missing = sorted(
        str(p.relative_to(package)) for p in code if p.name != "__init__.py" and p.name not in doc
    )
    folders = {p.parent for p in code if p.parent != package}
    unnamed = sorted(str(d.relative_to(package)) for d in folders if f"{d.name}/" not in doc)
    assert (missing, unnamed) == ([], [])
