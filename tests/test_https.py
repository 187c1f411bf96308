"""S3 over TLS: moto behind a TLS-terminating proxy on 127.0.0.1 whose certificate is
self-signed (made in the test). Both S3 paths trust it through --ca-bundle or AWS_CA_BUNDLE
and refuse it, in one line (exit 4), without."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fssync.cli.main import main
from fssync.testing.servers import MotoAuth

from .helpers import make_tree, s3_args
from .test_email import self_signed

pytestmark = pytest.mark.usefixtures("s3_backend")


@contextlib.contextmanager
def tls_proxy(target: str, cert: Path, key: Path) -> Iterator[str]:
    """An https URL on 127.0.0.1 whose connections are decrypted and passed on to `target`."""
    parts = urlsplit(target)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    ready = threading.Event()
    box: dict[str, object] = {}

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def run() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        stop = asyncio.Event()
        box.update(
            port=server.sockets[0].getsockname()[1], stop=stop, loop=asyncio.get_running_loop()
        )
        ready.set()
        await stop.wait()
        server.close()

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"https://127.0.0.1:{box['port']}"
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)  # type: ignore[attr-defined]
        thread.join(10)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def _sync(moto: MotoAuth, tmp_path: Path, url: str, *more: str) -> tuple[int, str, str]:
    ep = moto.endpoint
    name = ep.make_bucket()
    make_tree(tmp_path / "s", {"a.txt": b"over tls", "b/c.bin": bytes(range(256)) * 100})
    code = main(["sync", str(tmp_path / "s"), f"s3://{name}/p", *s3_args(ep, url), *more])
    return code, name, url


def test_a_ca_bundle_lets_a_self_signed_endpoint_be_trusted(moto, certificate, tmp_path, capsys):
    cert, key = certificate
    with tls_proxy(moto.endpoint.url, cert, key) as url:
        code, name, _ = _sync(moto, tmp_path, url, "--ca-bundle", str(cert))
    err = capsys.readouterr().err
    assert code == 0, err
    keys = [o["Key"] for o in moto.endpoint.client().list_objects_v2(Bucket=name)["Contents"]]
    assert sorted(keys) == ["p/a.txt", "p/b/c.bin"]


def test_aws_ca_bundle_is_honoured(moto, certificate, tmp_path, capsys, monkeypatch):
    cert, key = certificate
    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
    with tls_proxy(moto.endpoint.url, cert, key) as url:
        code, name, _ = _sync(moto, tmp_path, url)
    err = capsys.readouterr().err
    assert code == 0, err
    assert moto.endpoint.client().head_object(Bucket=name, Key="p/a.txt")["ContentLength"] == 8


@pytest.mark.parametrize("trust", ["system", "another authority"])
def test_a_certificate_not_trusted_is_refused_in_one_line(
    moto, certificate, tmp_path, tmp_path_factory, capsys, trust
):
    cert, key = certificate
    more: list[str] = []
    if trust != "system":
        other, _ = self_signed(tmp_path_factory.mktemp("other-ca"))
        more = ["--ca-bundle", str(other)]
    with tls_proxy(moto.endpoint.url, cert, key) as url:
        code, name, _ = _sync(moto, tmp_path, url, *more, "--retries", "1")
    err = capsys.readouterr().err
    assert code == 4, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "certificate" in err.lower(), err
    assert "Contents" not in moto.endpoint.client().list_objects_v2(Bucket=name)


def _certificate_for_another_host(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the name ``elsewhere.test`` only, not for 127.0.0.1."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "elsewhere.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("elsewhere.test")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_a_certificate_for_another_host_is_refused(moto, tmp_path, tmp_path_factory, capsys):
    """Trusted authority, wrong name: the host name check is on, on both paths."""
    cert, key = _certificate_for_another_host(tmp_path_factory.mktemp("elsewhere"))
    with tls_proxy(moto.endpoint.url, cert, key) as url:
        code, name, _ = _sync(moto, tmp_path, url, "--ca-bundle", str(cert), "--retries", "1")
    err = capsys.readouterr().err
    assert code == 4, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "certificate" in err.lower() or "hostname" in err.lower(), err
    assert "Contents" not in moto.endpoint.client().list_objects_v2(Bucket=name)


@pytest.mark.parametrize("bundle", ["missing.pem", "not-pem.txt"])
def test_a_bad_ca_bundle_is_a_usage_error(moto, tmp_path, capsys, bundle):
    (tmp_path / "not-pem.txt").write_text("hello\n")
    code, _, _ = _sync(moto, tmp_path, "https://127.0.0.1:9", "--ca-bundle", str(tmp_path / bundle))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "CA bundle" in err and len(err.strip().splitlines()) == 1, err


def test_the_python_api_takes_ca_bundle(moto, certificate, tmp_path):
    import fssync

    from .helpers import s3_opts

    cert, key = certificate
    ep = moto.endpoint
    name = ep.make_bucket()
    make_tree(tmp_path / "s", {"a.txt": b"over tls"})
    with tls_proxy(ep.url, cert, key) as url:
        opts = s3_opts(ep, endpoint_url=url, ca_bundle=str(cert))
        report = fssync.sync(str(tmp_path / "s"), f"s3://{name}/p", **opts)
    assert report.copied == 1
    assert ep.client().get_object(Bucket=name, Key="p/a.txt")["Body"].read() == b"over tls"
