"""Parsers of user input, fuzzed: they accept or give one clear error, never a traceback."""

from __future__ import annotations

import os
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fssync.errors import FssyncError, LocationError
from fssync.planning.decide import parse_max_delete
from fssync.settings.location import parse, unsafe_reason
from fssync_plugins.filter_rules.rules import RuleError, RuleSet, compile_rule, glob_to_regex
from fssync_plugins.filter_rules.units import parse_age, parse_size

GLOBBY = st.text(alphabet=string.printable + "é日*?[]{}!\\/,", max_size=40)
KEYS = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=60)
# Numbers as users type them, including absurdly long ones (float("9" * 400) is infinite).
NUMBERS = st.one_of(
    st.integers(0, 10**420).map(str),
    st.floats(0, 1e30).map(lambda f: f"{f:f}"),
    st.from_regex(r"[0-9]{300,420}", fullmatch=True),
)
FUZZ = settings(max_examples=60, deadline=None)


@FUZZ
@given(text=GLOBBY, sign=st.sampled_from(["+", "-", "+re", "-re", "", "?", "++"]), key=KEYS)
def test_filter_rules_compile_or_say_why(text, sign, key):
    try:
        rules = RuleSet.build([f"{sign} {text}"])
    except RuleError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    verdict = rules.decide(key)  # a compiled rule matches any key without raising
    assert verdict is None or isinstance(verdict[0], bool)


@FUZZ
@given(glob=GLOBBY)
def test_globs_translate_or_say_why(glob):
    try:
        glob_to_regex(glob)
        compile_rule(f"- {glob}") if glob.strip("/ ") else None
    except RuleError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(
    text=st.text(max_size=30)
    | st.builds(str.__add__, NUMBERS, st.sampled_from(["", "K", "M", "Gi", "TB", "P", "x"]))
)
def test_sizes_parse_or_say_why(text):
    try:
        assert parse_size(text) >= 0
    except ValueError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(
    text=st.text(max_size=30)
    | st.builds(
        str.__add__, NUMBERS, st.sampled_from(["", "ms", "s", "m", "h", "d", "w", "M", "y"])
    )
)
def test_ages_parse_or_say_why(text):
    try:
        parse_age(text, now=1_700_000_000.0)
    except ValueError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(text=st.text(max_size=20) | st.builds(str.__add__, NUMBERS, st.sampled_from(["", "%"])))
def test_max_delete_parses_or_raises_value_error(text):
    try:
        number, _ = parse_max_delete(text)
        assert number >= 0
    except ValueError:
        pass


URLS = st.one_of(
    st.text(max_size=50),
    st.builds(
        lambda scheme, rest: f"{scheme}://{rest}",
        st.sampled_from(["s3", "S3", "s3a", "file", "memory", "local", "nope", "gs", "http", ""]),
        st.text(max_size=40),
    ),
)


@FUZZ
@given(url=URLS)
def test_locations_parse_or_say_why(url):
    try:
        location = parse(url)
    except LocationError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert location.protocol


@FUZZ
@given(key=st.text(max_size=60))
def test_a_safe_key_never_leaves_the_root(key):
    root = "/dest/root"
    if unsafe_reason(key) is None:
        path = os.path.normpath(os.path.join(root, *key.split("/")))
        assert path.startswith(root + "/")
        assert "\x00" not in key and "\\" not in key


FLAGS = [
    "--max-delete",
    "--transfers",
    "--retries",
    "--retries-sleep",
    "--retry-passes",
    "--low-level-retries",
    "--low-level-retries-sleep",
    "--retries-max-sleep",
    "--lock-wait",
    "--include",
    "--exclude",
    "--filter",
    "--include-regex",
    "--min-size",
    "--max-size",
    "--min-age",
    "--max-age",
    "--compare",
    "--endpoint-url",
    "--region",
]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    args=st.lists(
        st.tuples(st.sampled_from(FLAGS), st.text(max_size=12) | NUMBERS),
        max_size=4,
    )
)
def test_the_cli_never_shows_a_traceback(args, tmp_path, capsys, monkeypatch):
    from fssync.cli.main import main

    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "src").mkdir(exist_ok=True)
    argv = ["sync", str(tmp_path / "src"), str(tmp_path / "dst"), "--dry-run"]
    for flag, value in args:
        argv += [flag, value]
    try:
        code = main(argv)
    except SystemExit as exc:  # pragma: no cover - argparse must not exit by itself
        raise AssertionError(f"SystemExit({exc.code}) for {argv}") from None
    err = capsys.readouterr().err
    assert code in (0, 2, 3, 4), (argv, err)
    assert "Traceback" not in err and "unexpected error" not in err, (argv, err)
    if code == 2:
        assert err.startswith("fssync: error: ") and err.count("\n") == 1, err


def test_fssync_errors_are_one_line():
    assert issubclass(LocationError, FssyncError)
