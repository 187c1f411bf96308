"""Start-up cost: a run loads only what it uses. Each of these is imported where it is needed
(sending e-mail, drawing the live display, posting a webhook, reading a config file, writing a
report file), so a plain local sync or ``--help`` must not load any of them."""

from __future__ import annotations

import os

from .helpers import imported_after, make_tree, preloaded

LAZY = ("smtplib", "rich", "urllib.request", "tomllib", "tempfile", "html")


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
