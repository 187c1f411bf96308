"""`fssync demo` runs the whole job on its own and says it succeeded."""

from __future__ import annotations

from fssync.cli.main import main


def test_demo_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    code = main(["demo", "--keep", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Demo succeeded" in out
    assert "* notes/shopping.md" in out  # the edit moved exactly that file
    assert (tmp_path / "demo" / "sample" / "notes" / "shopping.md").exists()
