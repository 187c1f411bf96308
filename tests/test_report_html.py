"""--report-html: a self-contained page with the run's figures, checked by parsing the HTML in
Python and by rendering it in headless Chromium (skipped where Chromium is not installed)."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import fsspec
import pytest

import fssync
from fssync.cli.main import main

from .test_reporting import FlakyFS

HOSTILE = "<b>&'quoted\".txt"  # a key that must be escaped, not interpreted


class Figures(HTMLParser):
    """Text of every element marked data-figure, and every tag that could load something."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.loads: list[tuple[str, str]] = []
        self.tags: set[str] = set()
        self._open: list[tuple[str, str | None]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        named = dict(attrs)
        for attr in ("src", "href", "srcset", "data", "action"):
            if named.get(attr):
                self.loads.append((tag, named[attr] or ""))
        name = named.get("data-figure")
        if name is not None:
            self.figures[name] = ""
        if tag not in ("meta", "br", "line", "polygon", "input"):
            self._open.append((tag, name))

    def handle_endtag(self, tag):
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data):
        for _, name in self._open:
            if name is not None:
                self.figures[name] += data


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    fsspec.register_implementation("flaky", FlakyFS, clobber=True)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """The page of a run with copies of several sizes, a retry per file, and one failure."""
    folder = tmp_path_factory.mktemp("html")
    fsspec.register_implementation("flaky", FlakyFS, clobber=True)
    fs = FlakyFS()
    fs.pipe_file("/htmlsrc/big.bin", b"b" * 3_000_000)
    fs.pipe_file("/htmlsrc/medium.bin", b"m" * 200_000)
    fs.pipe_file(f"/htmlsrc/{HOSTILE}", b"h" * 10)
    fs.pipe_file("/htmlsrc/bad-file.txt", b"never")
    out = folder / "run.html"
    report = fssync.sync(
        "flaky:///htmlsrc",
        str(folder / "dst"),
        retries=1,
        retries_sleep=0.001,
        retry_passes=0,
        report_html=str(out),
    )
    assert (report.copied, report.failed) == (3, 1)
    return out


def check_figures(figures: dict[str, str]) -> None:
    assert figures["status"] == "FAILED, exit code 3"
    assert (figures["copied"], figures["failed"], figures["updated"]) == ("3", "1", "0")
    assert figures["bytes"] == "3.1 MiB"  # 3,200,010 bytes
    assert figures["retries"] == "4"
    assert figures["rate"].endswith("/s") and figures["seconds"].endswith("s")
    assert figures["src"] == "flaky:///htmlsrc"
    assert "bad-file.txt" in figures["failures"] and "connection reset" in figures["failures"]
    largest = figures["largest"]
    assert largest.index("big.bin") < largest.index("medium.bin") < largest.index(HOSTILE)
    assert "2.9 MiB" in largest and "195.3 KiB" in largest
    assert figures["chart-peak"].startswith("peak ") and figures["chart-average"].startswith(
        "average "
    )


def test_page_holds_the_figures_and_loads_nothing(page):
    text = page.read_text()
    parsed = Figures(text)
    check_figures(parsed.figures)
    assert parsed.loads == []  # no external scripts, styles, images or links
    assert "script" not in parsed.tags and "svg" in parsed.tags
    assert HOSTILE not in text and "&lt;b&gt;&amp;" in text  # escaped, not markup


def test_an_empty_run_has_a_page_without_a_chart(tmp_path, capsys):
    (tmp_path / "s").mkdir()
    out = tmp_path / "empty.html"
    assert main(["sync", str(tmp_path / "s"), str(tmp_path / "d"), "--report-html", str(out)]) == 0
    figures = Figures(out.read_text()).figures
    assert figures["status"] == "OK" and figures["copied"] == "0"
    assert "chart-empty" in figures and figures["failures"] == "None."


def test_a_stopped_run_says_why(tmp_path, capsys):
    out = tmp_path / "stopped.html"
    code = main(["sync", str(tmp_path / "none"), str(tmp_path / "d"), "--report-html", str(out)])
    assert code == 2
    figures = Figures(out.read_text()).figures
    assert figures["status"] == "FAILED, exit code 2" and "does not exist" in figures["error"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    _chromium() is None, reason="Chromium is not installed (apt-get install chromium)"
)
def test_chromium_renders_the_figures(page, tmp_path):
    base = [
        _chromium() or "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [*base, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    parsed = Figures(dom)
    check_figures(parsed.figures)
    assert "svg" in parsed.tags and "polygon" in parsed.tags
    shot = tmp_path / "page.png"
    subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1000,1400", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
