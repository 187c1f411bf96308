"""``fssync s3sync``: classic S3 Sync command lines and config files, run against moto with
authentication on (temporary credentials from AssumeRole, the token only in -RequestHeaders) and
SeaweedFS, on both S3 request paths. Every row of docs/how-to/migrate-from-s3sync.md is covered
here: by a run, or (for the options that only set a native flag) by the translation test."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fssync.cli.main import main
from fssync.hooks.manager import registered
from fssync.testing.proxy import S3Proxy
from fssync.testing.servers import MotoAuth, S3Endpoint
from fssync_plugins import s3sync as s3sync_plugin

from .helpers import make_tree, mtimes, read_tree

pytestmark = pytest.mark.usefixtures("s3_backend")

MTIME = 1_700_000_000.0
FILES = {"a.txt": b"alpha", "dir/b.bin": b"b" * 3000, "dir/sub/c.log": b"log line\n"}
BIG = 17 << 20  # above fssync's multipart threshold
WRONG_TOKEN = "FwoGZXIvYXdzEXAMPLEwrongTOKENvalue0123456789"


@pytest.fixture(autouse=True)
def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    with registered(s3sync_plugin):  # the plugin's entry point is not installed in a checkout
        yield


def s3sync(*words: str) -> int:
    return main(["s3sync", *words])


def creds_words(ep: S3Endpoint, *, endpoint: bool = True) -> list[str]:
    """Key, secret and (as the classic tool sends it) the session token as a header."""
    words = ["-AWSAccessKeyId", ep.access_key, "-AWSSecretAccessKey", ep.secret_key]
    if ep.session_token:
        words += ["-RequestHeaders", f"x-amz-security-token:{ep.session_token}"]
    if endpoint:
        words += ["-RequestEndpoint", ep.url]
    return words


def objects(ep: S3Endpoint, bucket: str) -> dict[str, bytes]:
    client = ep.client()
    out = {}
    for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        out[obj["Key"]] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


@pytest.fixture
def role(moto: MotoAuth, monkeypatch: pytest.MonkeyPatch) -> tuple[S3Endpoint, str]:
    """Temporary credentials from AssumeRole, a fresh bucket, the region in the environment."""
    bucket = moto.endpoint.make_bucket()
    monkeypatch.setenv("AWS_REGION", moto.endpoint.region)
    return moto.assume_role(), bucket


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    make_tree(tmp_path / "local", FILES, mtime=MTIME)
    return tmp_path / "local"


def job(ep: S3Endpoint, bucket: str, local: Path, *more: str) -> list[str]:
    return [*creds_words(ep), "-BucketName", bucket, "-LocalFolderPath", str(local), *more]


# ------------------------------------------------------------------------------ the seed line


def test_the_seed_command_line_runs_as_written(role, moto, tmp_path, monkeypatch, capsys):
    """The issue's line, word for word but for the program name: a Windows path taken as a plain
    folder name, the licence key ignored, the token only in the request headers."""
    creds, bucket = role
    make_tree(tmp_path / "C:\\myfolder", FILES, mtime=MTIME)
    line = [
        "-AWSAccessKeyId", creds.access_key, "-AWSSecretAccessKey", creds.secret_key,
        "-BucketName", bucket, "-SyncDirection", "Upload", "-LocalFolderPath", "C:\\myfolder",
        "-LicenseKey", "x", "-RequestHeaders", f"x-amz-security-token:{creds.session_token}",
    ]  # fmt: skip
    with S3Proxy(creds.url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)  # the line names no endpoint: AWS's
        code = s3sync(*line)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert objects(moto.endpoint, bucket) == FILES
    assert {"ListObjectsV2", "PutObject"} <= {r.operation for r in proxy.requests}
    for request in proxy.requests:  # the token travels as a signed header on every request
        assert request.headers["x-amz-security-token"] == creds.session_token
        assert "x-amz-security-token" in request.signed_headers
    assert creds.secret_key not in out + err and str(creds.session_token) not in out + err
    head = moto.endpoint.client().head_object(Bucket=bucket, Key="a.txt")
    assert head["Metadata"]["local-date-modified"] == "2023-11-14T22:13:20.000000Z"


@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_a_missing_or_wrong_token_is_refused(token, role, moto, folder, capsys):
    creds, bucket = role
    words = job(creds, bucket, folder)
    at = words.index("-RequestHeaders")
    if token == "missing":
        del words[at : at + 2]
    else:
        words[at + 1] = f"x-amz-security-token:{WRONG_TOKEN}"
    code = s3sync(*words)
    out, err = capsys.readouterr()
    assert code == 4, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert objects(moto.endpoint, bucket) == {}
    assert WRONG_TOKEN not in out + err and creds.secret_key not in out + err


# ------------------------------------------------------------------ directions and deletions


def test_upload_deletes_by_default_and_not_when_told(role, moto, folder, capsys):
    creds, bucket = role
    client = moto.endpoint.client()
    client.put_object(Bucket=bucket, Key="jobs/old.txt", Body=b"stale")
    base = job(creds, bucket, folder, "-S3FolderKeyName", "/jobs/")
    assert s3sync(*base, "-DeleteS3ItemsWhereNotInLocalList", "false") == 0
    assert "jobs/old.txt" in objects(moto.endpoint, bucket)
    assert s3sync(*base) == 0, capsys.readouterr().err
    assert objects(moto.endpoint, bucket) == {f"jobs/{k}": v for k, v in FILES.items()}


def test_download_restores_times_and_deletes_to_the_recycle_folder(role, moto, tmp_path, capsys):
    """Objects the classic tool wrote (its metadata names) come down with their times; local
    extras are deleted by default, into the backup folder with -DeleteLocalItemsToRecycleBin."""
    creds, bucket = role
    client = moto.endpoint.client()
    for key, data in FILES.items():
        meta = {"local-date-modified": "2023-11-14T22:13:20Z"}
        client.put_object(Bucket=bucket, Key=key, Body=data, Metadata=meta)
    local = tmp_path / "down"
    make_tree(local, {"extra.txt": b"only here"})
    words = [*job(creds, bucket, local), "-SyncDirection", "download"]
    assert s3sync(*words, "-DeleteLocalItemsWhereNotInS3List", "False") == 0
    assert (local / "extra.txt").exists()
    assert mtimes(local)["dir/sub/c.log"] == MTIME  # from x-amz-meta-local-date-modified
    assert s3sync(*words, "-DeleteLocalItemsToRecycleBin", "true") == 0, capsys.readouterr().err
    assert read_tree(local) == FILES
    assert read_tree(tmp_path / "down.s3sync-deleted") == {"extra.txt": b"only here"}
    capsys.readouterr()
    assert s3sync(*words) == 0  # a second run is a no-op
    assert "0 copied, 0 updated, 0 deleted" in "".join(capsys.readouterr())


def test_log_only_mode_changes_nothing(role, moto, folder, capsys):
    creds, bucket = role
    assert s3sync(*job(creds, bucket, folder, "-LogOnlyMode", "true")) == 0
    assert "dry run" in "".join(capsys.readouterr())
    assert objects(moto.endpoint, bucket) == {}


def test_bidirectional_runs_a_two_way_sync(role, moto, folder, capsys):
    """-SyncDirection Bidirectional is fssync bisync: each side's new files and edits reach
    the other, and a deletion since the last run is carried over."""
    creds, bucket = role
    client = moto.endpoint.client()
    client.put_object(Bucket=bucket, Key="from-s3.txt", Body=b"made in the bucket")
    words = job(creds, bucket, folder, "-SyncDirection", "Bidirectional")
    assert s3sync(*words, "--explain") == 0
    assert "fssync bisync " in capsys.readouterr().out
    assert s3sync(*words) == 0, capsys.readouterr().err
    assert read_tree(folder) == objects(moto.endpoint, bucket)
    assert (folder / "from-s3.txt").read_bytes() == b"made in the bucket"
    assert set(FILES) <= set(objects(moto.endpoint, bucket))
    # one more file on each side, one deleted locally
    first = sorted(FILES)[0]
    (folder / first).unlink()
    (folder / "new-local.txt").write_bytes(b"local")
    client.put_object(Bucket=bucket, Key="new-s3.txt", Body=b"remote")
    assert s3sync(*words) == 0, capsys.readouterr().err
    there = objects(moto.endpoint, bucket)
    assert read_tree(folder) == there
    assert first not in there and {"new-local.txt", "new-s3.txt"} <= set(there)


def test_bidirectional_keeps_its_speed_limit(role, folder, capsys):
    """bisync has --bwlimit, so a two-way job's -TransferSpeedLimitKBps maps onto it."""
    creds, bucket = role
    words = job(creds, bucket, folder, "-SyncDirection", "Bidirectional")
    assert s3sync(*words, "-TransferSpeedLimitKBps", "100", "--explain") == 0
    line = capsys.readouterr().out
    assert "fssync bisync " in line and "--bwlimit 100k" in line


# ----------------------------------------------------------------------------- compare modes


@pytest.mark.parametrize(
    ("mode", "updated"),
    [("ETag", {"same-size.txt"}), ("Size", set()), ("FileName", set())],
)
def test_each_compare_mode(mode, updated, role, moto, tmp_path, capsys):
    """A same-size change is seen by ETag only; a size change by ETag and Size; FileName only
    looks at presence."""
    creds, bucket = role
    client = moto.endpoint.client()
    client.put_object(Bucket=bucket, Key="same-size.txt", Body=b"AAAA")
    client.put_object(Bucket=bucket, Key="grown.txt", Body=b"short")
    make_tree(tmp_path / "l", {"same-size.txt": b"BBBB", "grown.txt": b"much longer now"})
    code = s3sync(*job(creds, bucket, tmp_path / "l", "-CompareFilesBy", mode))
    assert code == 0, capsys.readouterr().err
    now = objects(moto.endpoint, bucket)
    assert (now["same-size.txt"] == b"BBBB") == ("same-size.txt" in updated)
    assert (now["grown.txt"] == b"much longer now") == (mode != "FileName")


# ------------------------------------------------------------------------------------ filters


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["-IncludeOnlyLocalFilesRegularExpression", r"\.txt$"], {"a.txt"}),
        (["-ExcludeLocalFilesRegularExpression", r"\.bin$"], {"a.txt", "dir/sub/c.log"}),
        (["-IncludeOnlyS3FilesRegularExpression", "^dir/"], {"dir/b.bin", "dir/sub/c.log"}),
        (["-ExcludeS3FilesRegularExpression", "c\\.log"], {"a.txt", "dir/b.bin"}),
        (["-IncludeLocalSubFolders", "false"], {"a.txt"}),
        (["-IncludeSubFolders", "false"], {"a.txt"}),
        (["-ExcludeLocalFolders", "dir/sub"], {"a.txt", "dir/b.bin"}),
    ],
)
def test_each_filter(words, expected, role, moto, folder, capsys):
    creds, bucket = role
    assert s3sync(*job(creds, bucket, folder), *words) == 0, capsys.readouterr().err
    assert set(objects(moto.endpoint, bucket)) == expected


def test_excluded_folders_given_as_full_windows_paths(role, moto, tmp_path, capsys):
    creds, bucket = role
    make_tree(tmp_path / "C:\\data", {"keep.txt": b"k", "skip/x.txt": b"x"})
    words = [*creds_words(creds), "-BucketName", bucket, "-LocalFolderPath", "C:\\data"]
    assert s3sync(*words, "-ExcludeLocalFolders", "C:\\data\\skip") == 0
    assert set(objects(moto.endpoint, bucket)) == {"keep.txt"}


# ------------------------------------------------------------------- what goes on the objects


def test_content_types_upload_headers_and_encryption(role, moto, folder, capsys):
    creds, bucket = role
    words = [
        "-OverrideContentTypes", ".log:text/x-log|bin:application/x-thing",
        "-UploadHeaders", "x-amz-storage-class:STANDARD_IA|Cache-Control:max-age=60",
        "-UseServerSideEncryption", "true",
    ]  # fmt: skip
    assert s3sync(*job(creds, bucket, folder), *words) == 0, capsys.readouterr().err
    client = moto.endpoint.client()
    log = client.head_object(Bucket=bucket, Key="dir/sub/c.log")
    assert log["ContentType"] == "text/x-log"
    assert (
        client.head_object(Bucket=bucket, Key="dir/b.bin")["ContentType"] == "application/x-thing"
    )
    assert log["StorageClass"] == "STANDARD_IA" and log["CacheControl"] == "max-age=60"
    assert log["ServerSideEncryption"] == "AES256"


def test_both_metadata_names_written_and_read_back(role, moto, tmp_path, capsys):
    """Up: local-date-modified on every object, multipart-etag (the file's MD5) on those sent in
    parts. Down into an empty folder: the times come back. Up again: nothing to do."""
    creds, bucket = role
    big = os.urandom(BIG)
    make_tree(tmp_path / "l", {"big.bin": big, "small.txt": b"s"}, mtime=MTIME)
    assert s3sync(*job(creds, bucket, tmp_path / "l")) == 0, capsys.readouterr().err
    client = moto.endpoint.client()
    head = client.head_object(Bucket=bucket, Key="big.bin")
    assert "-" in head["ETag"]  # uploaded in parts
    assert head["Metadata"]["multipart-etag"] == hashlib.md5(big).hexdigest()
    when = dt.datetime.fromisoformat(head["Metadata"]["local-date-modified"].replace("Z", "+00:00"))
    assert when.timestamp() == MTIME
    small = client.head_object(Bucket=bucket, Key="small.txt")["Metadata"]
    assert "multipart-etag" not in small and "local-date-modified" in small
    down = tmp_path / "d"
    assert s3sync(*job(creds, bucket, down, "-SyncDirection", "Download")) == 0
    assert mtimes(down) == {"big.bin": MTIME, "small.txt": MTIME}
    capsys.readouterr()
    assert s3sync(*job(creds, bucket, tmp_path / "l")) == 0
    assert "0 copied, 0 updated, 0 deleted" in "".join(capsys.readouterr())


def test_a_bucket_the_classic_tool_wrote_syncs_as_a_no_op(role, moto, tmp_path, capsys):
    """A multipart object in other part sizes than fssync's, with the classic names: an ETag
    compare finds it equal through multipart-etag, both ways."""
    creds, bucket = role
    big = os.urandom(BIG)
    make_tree(tmp_path / "l", {"big.bin": big}, mtime=MTIME)
    client = moto.endpoint.client()
    meta = {"multipart-etag": hashlib.md5(big).hexdigest(), "local-date-modified": "x"}
    upload = client.create_multipart_upload(Bucket=bucket, Key="big.bin", Metadata=meta)
    part = (7 << 20) - 12345  # no size fssync would guess
    parts = []
    for number, start in enumerate(range(0, BIG, part), 1):
        reply = client.upload_part(
            Bucket=bucket, Key="big.bin", UploadId=upload["UploadId"], PartNumber=number,
            Body=big[start : start + part],
        )  # fmt: skip
        parts.append({"PartNumber": number, "ETag": reply["ETag"]})
    client.complete_multipart_upload(
        Bucket=bucket, Key="big.bin", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
    )  # fmt: skip
    capsys.readouterr()
    assert s3sync(*job(creds, bucket, tmp_path / "l")) == 0
    assert "0 copied, 0 updated, 0 deleted" in "".join(capsys.readouterr())


# --------------------------------------------------------------------------- config and explain


def appsettings(values: dict[str, str], doctype: str = "") -> str:
    adds = "".join(f'    <add key="{k}" value="{v}"/>\n' for k, v in values.items())
    return f'<?xml version="1.0"?>\n{doctype}<configuration>\n  <appSettings>\n{adds}  </appSettings>\n</configuration>\n'


@pytest.mark.parametrize("where", ["working folder", "-ConfigFile"])
def test_a_config_file_job_and_the_command_line_wins(where, role, moto, folder, tmp_path, capsys):
    creds, bucket = role
    settings = {
        "AWSAccessKeyId": creds.access_key, "awssecretaccesskey": creds.secret_key,
        "RequestHeaders": f"x-amz-security-token:{creds.session_token}",
        "RequestEndpoint": creds.url, "BucketName": bucket, "LocalFolderPath": str(folder),
        "S3FolderKeyName": "from-file", "ExcludeLocalFilesRegularExpression": r"\.bin$",
    }  # fmt: skip
    if where == "working folder":
        (tmp_path / "S3Sync.exe.config").write_text(appsettings(settings))
        words: list[str] = []
    else:
        (tmp_path / "conf").mkdir()
        (tmp_path / "conf" / "job.config").write_text(appsettings(settings))
        words = ["-ConfigFile", str(tmp_path / "conf" / "job.config")]
    assert s3sync(*words, "-S3FolderKeyName", "from-line") == 0, capsys.readouterr().err
    assert set(objects(moto.endpoint, bucket)) == {"from-line/a.txt", "from-line/dir/sub/c.log"}


def test_a_config_file_with_a_doctype_is_refused(tmp_path, capsys):
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>\n'
    (tmp_path / "S3Sync.exe.config").write_text(appsettings({"BucketName": "&b;"}, bomb))
    code = s3sync("-AWSAccessKeyId", "K")
    err = capsys.readouterr().err
    assert code == 2 and "DOCTYPE" in err and len(err.strip().splitlines()) == 1


def test_an_unknown_key_in_the_config_file_names_the_file(tmp_path, capsys):
    (tmp_path / "S3Sync.exe.config").write_text(appsettings({"BucketNme": "b"}))
    assert s3sync() == 2
    err = capsys.readouterr().err
    assert "did you mean -BucketName?" in err and "S3Sync.exe.config" in err


def test_explain_prints_a_runnable_line_with_the_same_result(role, moto, folder, capsys):
    """--explain hides the secret and the token behind variables; the printed line, run by a
    shell with them set, leaves the bucket exactly as 'fssync s3sync' itself does."""
    creds, bucket = role
    other = moto.endpoint.make_bucket()
    extra = ["-OverrideContentTypes", ".log:text/x-log", "-S3FolderKeyName", "p"]
    assert s3sync(*job(creds, bucket, folder, *extra, "--explain")) == 0
    out, err = capsys.readouterr()
    assert creds.secret_key not in out and str(creds.session_token) not in out
    comment, line = out.strip().splitlines()
    assert "AWS_SECRET_ACCESS_KEY" in comment and line.startswith("fssync sync ")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env |= {"AWS_SECRET_ACCESS_KEY": creds.secret_key, "AWS_SESSION_TOKEN": creds.session_token}
    argv = shell_words(line.removeprefix("fssync "), env)
    assert s3sync(*job(creds, other, folder, *extra)) == 0
    assert main(argv) == 0, capsys.readouterr().err
    assert objects(moto.endpoint, bucket) == objects(moto.endpoint, other)
    client = moto.endpoint.client()
    for key in ("p/a.txt", "p/dir/sub/c.log"):
        one, two = (client.head_object(Bucket=b, Key=key) for b in (bucket, other))
        assert one["ContentType"] == two["ContentType"] and one["Metadata"] == two["Metadata"]


def shell_words(line: str, env: dict[str, str]) -> list[str]:
    """The words a POSIX shell makes of `line` with `env` set (quotes and "$VARIABLE"s)."""
    proc = subprocess.run(
        ["/bin/sh", "-c", f"printf '%s\\0' {line}"],
        capture_output=True,
        env=env,
        timeout=30,
        check=True,
    )
    return proc.stdout.decode().split("\0")[:-1]


# ------------------------------------------------------------------------------------- e-mail


@pytest.mark.parametrize(("condition", "sent"), [("0", False), ("1", False), ("2", True)])
def test_the_email_condition(condition, sent, smtp, role, moto, folder, capsys):
    inbox, port = smtp
    creds, bucket = role
    words = [
        "-EmailLogCondition", condition, "-EmailSMTPHost", "127.0.0.1",
        "-EmailSMTPPort", str(port), "-EmailFrom", "s3sync@example.org",
        "-EmailTo", "ops@example.org;night@example.org",
    ]  # fmt: skip
    assert s3sync(*job(creds, bucket, folder), *words) == 0, capsys.readouterr().err
    assert bool(inbox.messages) == sent
    if sent:
        [(sender, to, msg)] = inbox.messages
        assert sender == "s3sync@example.org" and to == ["ops@example.org", "night@example.org"]
        assert msg["Subject"].startswith("fssync OK: ")


def test_the_email_condition_on_errors_sends_when_the_run_fails(smtp, role, moto, folder, capsys):
    inbox, port = smtp
    creds, bucket = role
    words = job(creds, bucket, folder)
    words[words.index("-RequestHeaders") + 1] = f"x-amz-security-token:{WRONG_TOKEN}"
    mail = ["-EmailLogCondition", "1", "-EmailSMTPHost", "127.0.0.1"]
    mail += ["-EmailSMTPPort", str(port), "-EmailTo", "ops@example.org"]
    assert s3sync(*words, *mail) == 4
    [(_, _, msg)] = inbox.messages
    assert "FAILED" in msg["Subject"] and WRONG_TOKEN not in msg.as_string()


# --------------------------------------------------------------------------------- SeaweedFS


def test_a_round_trip_on_seaweedfs_with_a_plain_http_endpoint(
    seaweed, folder, tmp_path, capsys, monkeypatch
):
    """-RequestEndpoint as a bare host:port with -UseSSL false becomes an http:// endpoint."""
    monkeypatch.setenv("AWS_REGION", seaweed.region)
    bucket = seaweed.make_bucket()
    host = seaweed.url.split("://", 1)[1]
    words = [*creds_words(seaweed, endpoint=False), "-RequestEndpoint", host, "-UseSSL", "false"]
    words += ["-BucketName", bucket, "-S3FolderKeyName", "backup"]
    assert s3sync(*words, "-LocalFolderPath", str(folder)) == 0, capsys.readouterr().err
    assert objects(seaweed, bucket) == {f"backup/{k}": v for k, v in FILES.items()}
    down = tmp_path / "back"
    assert s3sync(*words, "-LocalFolderPath", str(down), "-SyncDirection", "Download") == 0
    assert read_tree(down) == FILES and mtimes(down)["a.txt"] == MTIME


# ------------------------------------------------------------------ bad input and the mapping


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["-BuketName", "b"], "unknown S3 Sync parameter '-BuketName'; did you mean -BucketName?"),
        (["-synchdirection", "Upload"], "did you mean -SyncDirection?"),
        (["-AWSAccessKeyId", "K"], "missing required S3 Sync parameter -AWSSecretAccessKey"),
        (["-LogOnlyMode", "yes"], "-LogOnlyMode takes true or false, not 'yes'"),
        (["-AWSSecretAccessKey"], "-AWSSecretAccessKey needs a value"),
        (["-TransferThreads", "many"], "-TransferThreads takes a whole number"),
        (["-CompareFilesBy", "Date"], "-CompareFilesBy takes ETag | Size | FileName"),
        (["bare"], "S3 Sync parameters are written '-Name value'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(words, message, capsys):
    code = s3sync(*words)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_a_secret_with_a_bad_value_is_not_echoed(capsys):
    assert s3sync("-EmailSMTPPassword") == 2
    assert s3sync("-AWSAccessKeyId", "K", "-IgnoreSSLCertificateErrors", "maybe") == 2
    assert "maybe" in capsys.readouterr().err  # not a secret: shown


def test_ignoring_certificate_errors_is_refused(capsys):
    words = ["-AWSAccessKeyId", "K", "-AWSSecretAccessKey", "S", "-BucketName", "b"]
    words += ["-LocalFolderPath", "x", "-IgnoreSSLCertificateErrors", "true"]
    assert s3sync(*words) == 2
    assert "fssync always checks certificates" in capsys.readouterr().err


BASE = ["-AWSAccessKeyId", "AKIDEXAMPLE", "-AWSSecretAccessKey", "wJalrXUtnFEMIK7MDENGbPxRfiCY"]
BASE += ["-BucketName", "b", "-LocalFolderPath", "/data"]


@pytest.mark.parametrize(
    ("words", "native"),
    [
        (["-OutputLevel", "0"], "--quiet"),
        (["-OutputLevel", "2"], " -v "),
        (["-OutputLevel", "3"], " -vv "),
        (["-LogFilePath", "/logs/job.log"], "--log-file /logs/job.log"),
        (["-LogFilePath", "j.log", "-OverwriteExistingLogFile", "false"], "--log-file-append"),
        (["-TransferThreads", "4"], "--transfers 4"),
        (["-TransferSpeedLimitKBps", "512"], "--bwlimit 512k"),
        (["-ShowTransferProgress", "true"], "--progress"),
        (["-ShowTransferProgress", "false"], "--no-progress"),
        (["-S3ErrorRetries", "7"], "--retries 7"),
        (["-UseServerSideEncryption", "true"], "--sse AES256"),
        (["-RequestEndpoint", "s3.example.com"], "--endpoint-url https://s3.example.com"),
        (["-RequestEndpoint", "s3.example.com", "-UseSSL", "false"], "http://s3.example.com"),
        (["-UseSSL", "false"], "--endpoint-url http://s3.amazonaws.com"),
        (["-CompareFilesBy", "size"], "--compare size"),
        (["-CompareFilesBy", "filename"], "--compare existence"),
        (["-SyncDirection", "Download", "-DeleteLocalItemsToRecycleBin", "true"],
         "--backup-dir /data.s3sync-deleted"),
        (["-SaveTimestampsInMetadata", "true"], "--s3sync-save-timestamps"),
        (["-SaveETagInMetadataForMultipart", "true"], "--s3sync-save-etags"),
        (["-LicenseKey", "ABCD-EFGH-IJKL"], "--access-key-id AKIDEXAMPLE"),
    ],
)  # fmt: skip
def test_the_translation_of_each_option(words, native, capsys):
    assert s3sync(*BASE, *words, "--explain") == 0
    line = capsys.readouterr().out.splitlines()[-1] + " "
    assert native in line, line
    assert "wJalrXUtnFEMIK7MDENGbPxRfiCY" not in line and "ABCD-EFGH-IJKL" not in line


@pytest.mark.parametrize(
    ("words", "native"),
    [
        (["-MultipartPartSizeBytes", "10485760"], "--multipart-chunk-size 10485760"),
        (["-UseMultipartUpload", "false"], "--multipart-threshold 5G"),
    ],
)
def test_the_part_size_and_single_puts(words, native, capsys):
    assert s3sync(*BASE, *words, "--explain") == 0
    assert native in capsys.readouterr().out


@pytest.mark.parametrize(
    "words",
    [
        ["-MultipartThreads", "8"],
        ["-GetETagFromMetadataForMultipart", "true"],
        ["-RestoreTimestampsFromMetadata", "true"],
        ["-UseMultipartUpload", "true"],
    ],
)
def test_accepted_options_fssync_decides_itself(words, capsys):
    """Part threads are fssync's own choice; the metadata is always read."""
    assert s3sync(*BASE, "--explain") == 0
    plain = capsys.readouterr().out
    assert s3sync(*BASE, *words, "--explain") == 0
    assert capsys.readouterr().out == plain


def test_skipping_metadata_writes_when_told(capsys):
    off = ["-SaveTimestampsInMetadata", "false", "-SaveETagInMetadataForMultipart", "false"]
    assert s3sync(*BASE, *off, "--explain") == 0
    assert "--s3sync-save" not in capsys.readouterr().out


def test_a_log_file_and_verbose_output(role, moto, folder, tmp_path, capsys):
    creds, bucket = role
    log = tmp_path / "job.log"
    log.write_text("earlier run\n")
    words = ["-LogFilePath", str(log), "-OverwriteExistingLogFile", "false", "-OutputLevel", "2"]
    assert s3sync(*job(creds, bucket, folder), *words) == 0
    text = log.read_text()
    assert text.startswith("earlier run\n") and "a.txt" in text
    assert "a.txt" in "".join(capsys.readouterr())


def test_the_help(capsys):
    assert s3sync("-?") == 0
    assert "-ConfigFile" in capsys.readouterr().out


def test_metadata_of_several_plugins_is_merged(role, moto, folder, capsys):
    """--metadata (the S3 plugin) and the S3 Sync names (this plugin) on the same object."""
    creds, bucket = role
    args = ["sync", str(folder), f"s3://{bucket}", "--endpoint-url", creds.url]
    args += ["--access-key-id", creds.access_key, "--secret-access-key", creds.secret_key]
    args += ["--session-token", str(creds.session_token), "--metadata", "origin=nightly"]
    assert main([*args, "--s3sync-save-timestamps"]) == 0, capsys.readouterr().err
    meta = moto.endpoint.client().head_object(Bucket=bucket, Key="a.txt")["Metadata"]
    assert meta["origin"] == "nightly" and "local-date-modified" in meta


def test_email_over_starttls_with_a_login(role, moto, folder, tmp_path, monkeypatch, capsys):
    """-EmailSMTPUseSSL true is STARTTLS (as the classic tool's mail client does it); the
    password reaches the e-mail reporter through its variable, set for this run only."""
    import ssl

    from aiosmtpd.controller import Controller

    from fssync.testing.servers import free_ports

    from .notify_servers import PASSWORD, Inbox
    from .test_email import self_signed

    monkeypatch.delenv("FSSYNC_SMTP_PASSWORD", raising=False)
    creds, bucket = role
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    inbox, port = Inbox(), free_ports(1)[0]
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=server_tls, require_starttls=True,
        auth_required=True, authenticator=inbox.authenticate,
    )  # fmt: skip
    mail = [
        "-EmailLogCondition", "2", "-EmailSMTPHost", "127.0.0.1", "-EmailSMTPPort", str(port),
        "-EmailSMTPUseSSL", "true", "-EmailSMTPUserName", "s3sync-bot",
        "-EmailSMTPPassword", PASSWORD, "-EmailTo", "ops@example.org",
    ]  # fmt: skip
    assert s3sync(*job(creds, bucket, folder), *mail, "--explain") == 0
    out = capsys.readouterr().out
    assert "FSSYNC_SMTP_PASSWORD" in out and PASSWORD not in out
    controller.start()
    try:
        assert s3sync(*job(creds, bucket, folder), *mail) == 0
    finally:
        controller.stop()
    assert inbox.logins == ["s3sync-bot"] and len(inbox.messages) == 1
    assert "FSSYNC_SMTP_PASSWORD" not in os.environ
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err + inbox.messages[0][2].as_string()
