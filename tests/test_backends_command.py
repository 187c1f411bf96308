"""``fssync backends`` prints the declared table that planning uses."""

from __future__ import annotations

import json

import attrs

from fssync.cli.main import main
from fssync.settings.location import parse


def test_backends_table_is_the_declared_capabilities(capsys):
    assert main(["backends", "--json"]) == 0
    rows = {r["backend"]: r for r in json.loads(capsys.readouterr().out)["backends"]}
    assert rows["FTP"]["precision"] == parse("ftp://h/x").capabilities.stamp_window == 60.0
    assert rows["Google Cloud Storage"]["hashes"] == ["md5"]
    assert rows["Azure Blob"]["hashes"] == ["md5"]
    assert rows["HTTP(S)"]["read_only"] and rows["zip"]["read_only"]
    assert rows["SFTP"]["extra"] == "sftp" and rows["SFTP"]["installed"]
    assert not rows["WebDAV"]["keeps_mtime"]
    # The operations are the built-in stores' own declarations (Store.features).
    from fssync.stores.features import BUILTIN, LOCAL, S3

    assert set(rows["S3"]["operations"]) == {k for k, v in attrs.asdict(S3).items() if v}
    assert set(rows["local"]["operations"]) == {k for k, v in attrs.asdict(LOCAL).items() if v}
    assert "server_copy" in rows["SFTP"]["operations"] and rows["zip"]["operations"] == []
    assert "server_copy" not in rows["FTP"]["operations"]
    # Every backend of the table declares its own operations and its name rules.
    for row in rows.values():
        assert {"case_sensitive", "name_max", "key_max"} <= set(row)
    assert {"file", "s3", "memory", "sftp", "ftp", "webdav", "gs", "abfs", "http"} <= set(BUILTIN)
    assert rows["S3"]["key_max"] == rows["Azure Blob"]["key_max"] == 1024
    assert rows["WebDAV"]["name_max"] == 255


def test_backends_plain_text(capsys):
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "pip install 'fssync[azure]'" in out
    assert "precision 60 s" in out
    s3 = out[out.index("S3  s3://") :].split("\n")
    can = next(line for line in s3 if line.strip().startswith("can:"))
    for words in ("one HEAD per object", "multipart uploads resumed", "created atomically"):
        assert words in can, can
    assert "names: case-sensitive; at most 1024 bytes a path" in out
