"""Entry points are remembered between runs, and a package installed since is still found."""

from __future__ import annotations

import importlib.metadata

from fssync.hooks import discovery
from fssync.hooks.manager import make_hooks


def test_cached_entry_points_match_importlib_and_see_new_packages(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    expected = [(ep.name, ep.value) for ep in importlib.metadata.entry_points(group="fssync")]
    assert discovery.entry_points("fssync") == expected  # computed, then cached
    assert (tmp_path / "state" / "entry-points.json").exists()
    assert discovery.entry_points("fssync") == expected  # from the cache

    # "pip install" a plugin into a folder on sys.path: its metadata folder appears.
    (site / "late_plugin.py").write_text(
        "import fssync\n\n@fssync.hookimpl\ndef fssync_compare_modes():\n    return {'late': lambda s, d, p: None}\n"
    )
    info = site / "late_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: late-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[fssync]\nlate = late_plugin\n")
    assert ("late", "late_plugin") in discovery.entry_points("fssync")
    hooks = make_hooks()
    assert "late" in hooks.compare_modes()
    assert hooks.distributions["late"] == ("late-plugin", "1.0")


def test_unreadable_cache_falls_back_to_importlib(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "entry-points.json").write_text("{not json")
    expected = [(ep.name, ep.value) for ep in importlib.metadata.entry_points(group="fssync")]
    assert discovery.entry_points("fssync") == expected


def test_each_of_a_few_paths_keeps_its_own_answer(tmp_path, monkeypatch):
    """``python -m fssync``, the script and ``python -c`` put different folders first on
    sys.path: switching between them must not read every distribution again each time."""
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    path = list(discovery.sys.path)
    expected = discovery.entry_points("fssync")
    for folder in (first, second):
        monkeypatch.setattr(discovery.sys, "path", [str(folder), *path])
        assert discovery.entry_points("fssync") == expected
    reads = []
    real = importlib.metadata.entry_points
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda **kw: reads.append(kw) or real(**kw)
    )
    for folder in (first, second, first):
        monkeypatch.setattr(discovery.sys, "path", [str(folder), *path])
        assert discovery.entry_points("fssync") == expected
    assert reads == []
