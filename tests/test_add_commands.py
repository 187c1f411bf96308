"""The fssync_add_commands hook: a third party's command on the fssync command line, which can
run other fssync command lines in the same process."""

from __future__ import annotations

import pytest

import fssync
from fssync.cli.main import main
from fssync.hooks.manager import registered

from .helpers import make_tree, read_tree


class Mirror:
    """'fssync mirror SRC DST' = 'fssync sync SRC DST --delete'."""

    @fssync.hookimpl
    def fssync_add_commands(self, subparsers):
        p = subparsers.add_parser("mirror", help="sync with --delete")
        p.add_argument("src")
        p.add_argument("dst")
        p.add_argument("--answer", default=None)
        p.set_defaults(fssync_run=self.run)

    def run(self, *, args, run):
        if args.answer is not None:
            return args.answer  # not a whole number: the CLI refuses it
        return run(["sync", args.src, args.dst, "--delete"])


def test_a_plugin_command_runs_another_command_line(tmp_path, capsys):
    make_tree(tmp_path / "a", {"x.txt": b"x"})
    make_tree(tmp_path / "b", {"old.txt": b"old"})
    with registered(Mirror()):
        assert main(["mirror", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
        assert "mirror" in main_help(capsys)
    assert read_tree(tmp_path / "b") == {"x.txt": b"x"}


def main_help(capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    main(["--help"])
    return capsys.readouterr().out


def test_a_command_that_returns_no_exit_code_is_a_usage_error(tmp_path, capsys):
    with registered(Mirror()):
        assert main(["mirror", "a", "b", "--answer", "yes"]) == 2
    assert "returned 'yes', not an exit code" in capsys.readouterr().err


def test_a_plugin_commands_bad_flag_is_exit_2(capsys):
    with registered(Mirror()):
        assert main(["mirror", "a", "b", "--nope"]) == 2
    assert "unrecognized arguments: --nope" in capsys.readouterr().err
