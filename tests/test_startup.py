"""Start-up cost: a run loads only what it uses. Each of these is imported where it is needed
(sending e-mail, drawing the live display, posting a webhook, reading a config file, writing a
report file), so a plain local sync or ``--help`` must not load any of them."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from .helpers import imported_after, make_tree, preloaded

LAZY = ("smtplib", "rich", "urllib.request", "tomllib", "tempfile", "html")
# The S3 and cluster clients, and the parts of fssync only S3, two-way sync, clean-up or
# --executor dask need: a local run builds none of their classes.
HEAVY = (
    "fsspec",
    "s3fs",
    "aiobotocore",
    "botocore",
    "aiohttp",
    "dask",
    "distributed",
    "rich",
    "fssync.execute.sharding",
    "fssync.stores.s3.objects",
    "fssync.stores.s3.pages",
    "fssync.twoway",
    "fssync.cli.cleanup",
    "fssync_plugins.dask.executor",
)


def _warm_env(tmp_path):
    """An environment without a config file, whose entry-point cache is filled: on a cold cache
    ``importlib.metadata`` is imported, and it imports tempfile itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FSSYNC_"))}
    env["FSSYNC_STATE_DIR"] = str(tmp_path / "state")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    imported_after(["--help"], env, ())
    return env


def test_plain_local_sync_and_help_load_no_optional_library(tmp_path):
    env = _warm_env(tmp_path)
    make_tree(tmp_path / "a", {"x.txt": b"x"})
    sync = ["sync", str(tmp_path / "a"), str(tmp_path / "b"), "-q"]
    assert imported_after(sync, env, LAZY) == set()  # copies the file
    assert imported_after(sync, env, LAZY) == set()  # the no-op re-run
    assert imported_after(["--help"], env, LAZY) == set()
    assert imported_after(["sync", "--help"], env, LAZY) == set()


def test_a_run_that_uses_them_loads_them(tmp_path):
    """The check above can fail: with a config file and an HTML report, what reading and
    writing them needs is loaded."""
    env = _warm_env(tmp_path)
    make_tree(tmp_path / "a", {"x.txt": b"x"})
    config = tmp_path / "config" / "fssync" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("")
    args = ["sync", str(tmp_path / "a"), str(tmp_path / "b"), "-q"]
    args += ["--report-html", str(tmp_path / "report.html")]
    wanted = {"html", "tempfile", "tomllib"} - preloaded(env, LAZY)
    assert wanted, "this machine's interpreter loads them all at start: nothing to check"
    assert imported_after(args, env, LAZY) == wanted
    assert (tmp_path / "report.html").is_file()


def test_a_local_no_op_loads_no_s3_client_and_no_other_command(tmp_path):
    env = _warm_env(tmp_path)
    make_tree(tmp_path / "a", {"x.txt": b"x"})
    sync = ["sync", str(tmp_path / "a"), str(tmp_path / "b"), "-q"]
    imported_after(sync, env, ())  # copies the file
    assert imported_after(sync, env, HEAVY) == set()  # the no-op re-run


def test_the_public_api_loads_each_name_on_first_use():
    """`import fssync` runs no other module of the package but the one-line `_version`; a
    name brings its own module."""
    code = (
        "import sys, fssync\n"
        "before = sorted(m for m in sys.modules if m.startswith('fssync.') and m != 'fssync._version')\n"
        "fssync.Entry\n"
        "print(before, 'fssync.model' in sys.modules, 'fssync.execute.sharding' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "True", "False"]


def test_a_parser_built_for_one_command_is_that_command_of_the_full_parser():
    """The CLI builds only the named command's options; what that command parses and prints
    must be what the parser of every command gives for it."""
    from fssync.cli.main import _HELP, build_parser
    from fssync.hooks.manager import make_hooks

    hooks = make_hooks()
    full = build_parser(hooks)
    commands = _subcommands(full)
    assert set(_HELP) <= set(commands)
    for name in _HELP:
        one = build_parser(hooks, command=name)
        assert one.format_help() == full.format_help()
        assert _subcommands(one)[name].format_help() == commands[name].format_help(), name


def _subcommands(parser):
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices
