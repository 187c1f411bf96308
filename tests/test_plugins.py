"""Third-party plugins use the same hooks as the built-ins and can override them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fssync
from fssync import Kind

from .helpers import make_tree, read_tree


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


class SkipLogs:
    @fssync.hookimpl
    def fssync_key_filters(self, config):
        return [lambda key, src, dst: (False, "*.log") if key.endswith(".log") else None]


class ContentMode:
    def __init__(self):
        self.calls = 0

    @fssync.hookimpl
    def fssync_compare_modes(self):
        def first_byte(src, dst, policy):
            self.calls += 1
            return "size differs" if src.size != dst.size else None

        return {"mine": first_byte, "size": lambda s, d, p: "always"}


class Recorder:
    def __init__(self):
        self.events = []
        self.reports = []

    @fssync.hookimpl
    def fssync_event(self, event, config):
        self.events.append(event.to_json())

    @fssync.hookimpl
    def fssync_run_finished(self, report, config):
        self.reports.append(report)


def test_filter_plugin_excludes_and_protects_destination(tmp_path):
    make_tree(tmp_path / "s", {"a.txt": b"a", "debug.log": b"log"})
    make_tree(tmp_path / "d", {"old.log": b"keep"})
    report = fssync.sync(
        str(tmp_path / "s"), str(tmp_path / "d"), delete=True, plugins=[SkipLogs()]
    )
    assert read_tree(tmp_path / "d") == {"a.txt": b"a", "old.log": b"keep"}
    assert report.excluded == 2 and report.deleted == 0


def test_compare_mode_plugin_adds_and_overrides_modes(tmp_path):
    make_tree(tmp_path / "s", {"a.txt": b"a"})
    make_tree(tmp_path / "d", {"a.txt": b"b"}, mtime=1.0)
    mode = ContentMode()
    plan = fssync.plan(str(tmp_path / "s"), str(tmp_path / "d"), compare="mine", plugins=[mode])
    assert mode.calls == 1 and plan.actions[0].kind is Kind.SKIP
    plan = fssync.plan(str(tmp_path / "s"), str(tmp_path / "d"), compare="size", plugins=[mode])
    assert plan.actions[0].reason == "always"  # the third-party mode won over the built-in


def test_reporter_plugin_sees_every_event_and_the_report(tmp_path):
    make_tree(tmp_path / "s", {"a.txt": b"a", "b.txt": b"b"})
    rec = Recorder()
    report = fssync.sync(str(tmp_path / "s"), str(tmp_path / "d"), plugins=[rec])
    names = [e["event"] for e in rec.events]
    assert names.count("copy") == 2 and "plan" in names
    assert rec.reports == [report]


def test_unknown_api_option_is_a_usage_error(tmp_path):
    with pytest.raises(fssync.UsageError, match="unknown option"):
        fssync.sync(str(tmp_path), str(tmp_path / "x"), no_such_option=1)


def test_plugins_command_lists_every_plugin_with_its_distribution_and_hooks(capsys):
    from fssync.cli.main import main
    from fssync.hooks.manager import registered

    folders = {
        f"fssync_plugins.{p.name}"
        for p in (Path(__file__).resolve().parents[1] / "plugins" / "fssync_plugins").iterdir()
        if (p / "__init__.py").exists()
    }
    with registered(SkipLogs()):
        assert main(["plugins", "--json"]) == 0
    rows = {row["module"]: row for row in json.loads(capsys.readouterr().out)["plugins"]}
    assert folders <= set(rows)
    for folder in folders:
        assert (rows[folder]["distribution"], rows[folder]["version"]) == (
            "fssync",
            fssync.__version__,
        )
        assert rows[folder]["hooks"], folder
    assert rows["fssync_plugins.report_email"]["hooks"] == [
        "fssync_add_options",
        "fssync_configure",
        "fssync_run_finished",
    ]
    assert rows["fssync_plugins.report_progress"]["per_run_hooks"] == [
        "fssync_event",
        "fssync_run_finished",
    ]
    # The log plugin no longer touches filesystems: stores log their own HTTP requests.
    assert rows["fssync_plugins.report_log"]["per_run_hooks"] == [
        "fssync_event",
        "fssync_run_finished",
    ]
    direct = rows["SkipLogs"]
    assert direct["distribution"] is None and direct["hooks"] == ["fssync_key_filters"]

    assert main(["plugins"]) == 0
    text = capsys.readouterr().out
    assert f"report_html  (fssync {fssync.__version__}; module fssync_plugins.report_html)" in text
    assert "    fssync_event  (per run)" in text


class Misspelt:
    """A plugin whose hook name has a typo: pluggy alone would never call it, silently."""

    @fssync.hookimpl
    def fssync_evnet(self, event, config):
        raise AssertionError("never called")


class OptionalExtra:
    """A hook of a newer fssync, marked optional: accepted, just not called."""

    @fssync.hookimpl(optionalhook=True)
    def fssync_from_the_future(self):
        raise AssertionError("never called")


def test_a_misspelled_hook_is_a_clear_error_at_start_up(tmp_path, capsys):
    from fssync.cli.main import main
    from fssync.hooks.manager import registered

    make_tree(tmp_path / "s", {"a.txt": b"a"})
    with registered(Misspelt()):
        code = main(["sync", str(tmp_path / "s"), str(tmp_path / "d")])
        with pytest.raises(fssync.UsageError, match="fssync_evnet.*did you mean fssync_event"):
            fssync.sync(str(tmp_path / "s"), str(tmp_path / "d"))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "fssync_evnet, which is not an fssync hook (did you mean fssync_event?)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "d").exists()  # nothing ran


def test_an_optional_unknown_hook_is_accepted(tmp_path):
    from fssync.hooks.manager import registered

    make_tree(tmp_path / "s", {"a.txt": b"a"})
    with registered(OptionalExtra()):
        assert fssync.sync(str(tmp_path / "s"), str(tmp_path / "d")).copied == 1


def test_converted_and_checked_make_one_line_argparse_types(capsys):
    """`converted` gives the parsed value, `checked` keeps the text; a bad value is the
    parser's own message as argparse's one usage line (exit 2), never a traceback."""
    import argparse

    from fssync.plugin import checked, converted, parse_size

    parser = argparse.ArgumentParser(prog="fssync")
    parser.add_argument("--as-value", type=converted(parse_size))
    parser.add_argument("--as-text", type=checked(parse_size))
    ns = parser.parse_args(["--as-value", "10K", "--as-text", "10K"])
    assert (ns.as_value, ns.as_text) == (10240, "10K")
    for option in ("--as-value", "--as-text"):
        with pytest.raises(SystemExit) as stop:
            parser.parse_args([option, "ten"])
        err = capsys.readouterr().err.strip().splitlines()
        assert stop.value.code == 2 and len(err) == 2  # the usage line, then the error
        with pytest.raises(ValueError) as why:
            parse_size("ten")
        assert err[1] == f"fssync: error: argument {option}: {why.value}"
