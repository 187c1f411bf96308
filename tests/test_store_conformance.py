"""The store conformance suite (fssync.testing.conformance) run for every built-in store and
each backend on its real server: local, memory, S3 (moto, both request paths), SFTP, FTP,
WebDAV, GCS and Azure Blob, with each backend's login and network failures."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from fssync.testing.conformance import StoreConformance, Target
from fssync.testing.servers import free_ports

from .backend_fixtures import Place, denied_place, make_place
from .helpers import s3_args, s3_opts


def _seed_folder(root: Path):
    def seed(files):
        for key, data in files.items():
            path = root.joinpath(*key.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    return seed


class TestLocal(StoreConformance):
    # Written straight into the folder. 10,000 keys take ~7 s here (writing 20,000 files on a
    # shared machine more than listing them): the default 2,000 keeps the suite's budget.
    @pytest.fixture
    def store_target(self, tmp_path):
        return Target(url=str(tmp_path / "store"), seed=_seed_folder(tmp_path / "store"))


class TestMemory(StoreConformance):
    MANY = 500  # fsspec's memory store lists in Python; the contract is the same
    # The store is this process's memory: the file itself is counted once it is stored.
    MEMORY_LIMIT = StoreConformance.LARGE + (24 << 20)

    @pytest.fixture
    def store_target(self):
        return Target(url=f"memory://conformance-{uuid.uuid4().hex}")


@pytest.mark.usefixtures("s3_backend")
class TestS3(StoreConformance):
    MANY = 1001  # more than one listing page (1,000), uploaded through fssync on moto

    @pytest.fixture(autouse=True)
    def _known_limits(self, request, s3_backend):
        if s3_backend == "s3fs" and "large_file" in request.node.name:
            # Measured: ~150 MB of Python memory for a 64 MiB upload on the s3fs path (the
            # fast path: ~9 MB). Known, not fixed here: the s3fs store is another's work.
            request.applymarker(
                pytest.mark.xfail(strict=True, reason="s3fs path holds the whole file")
            )

    @pytest.fixture
    def store_target(self, moto):
        ep = moto.endpoint
        bucket = ep.make_bucket()
        bad = [f"s3://{bucket}/x", "/tmp/unused", *s3_args(ep)]
        bad[bad.index("--secret-access-key") + 1] = "wrong-secret-key-0123456789"
        return Target(
            url=f"s3://{bucket}/data",
            options=s3_opts(ep),
            args=s3_args(ep),
            failures={
                "wrong secret": bad,
                "missing root": [f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/x", "/tmp/unused"]
                + s3_args(ep),
            },
        )


def _variant(place: Place, folder: Path, name: str, old: str, new: str) -> list[str]:
    """CLI arguments for the same remote with one setting changed (a wrong password...)."""
    toml = place.toml.replace(old, new)
    assert toml != place.toml, (old, place.toml)
    path = folder / f"{name}.toml"
    path.write_text(toml)
    return [place.url(), str(folder / "never"), "--config", str(path)]


def _target(
    place: Place,
    failures: dict[str, list[str]],
    denied: tuple[list[str], Callable[[], dict[str, bytes]]] | None = None,
) -> Target:
    return Target(
        url=place.url(),
        options={"config": str(place.config)},
        args=["--config", str(place.config)],
        failures=failures,
        seed=place.seed if place.disk is not None else None,
        denied=denied[0] if denied else (),
        denied_holds=denied[1] if denied else None,
    )


def _unreachable(place: Place, tmp_path: Path, port: int) -> list[str]:
    (closed,) = free_ports(1)  # nothing listens there
    return _variant(place, tmp_path, "unreachable", f"port = {port}", f"port = {closed}")


class TestSftp(StoreConformance):
    MANY = 10_000  # seeded on the server's disk; listed in ~2 s

    @pytest.fixture
    def store_target(self, request, tmp_path, sftp_server):
        place = make_place(request, "sftp", tmp_path)
        login = sftp_server.login
        stranger = tmp_path / "other_known_hosts"
        stranger.write_text(
            f"[{login.host}]:{login.port} ssh-ed25519 "
            "AAAAC3NzaC1lZDI1NTE5AAAAIHJx3W7aQ2mQ0v7fJp6cB8nmw1R3y0n1W9u1m3b9y8nB\n"
        )
        return _target(
            place,
            {
                "wrong password": _variant(
                    place, tmp_path, "badpw", login.password, "not-the-password"
                ),
                "unknown host key": _variant(
                    place, tmp_path, "hostkey", str(login.known_hosts), str(stranger)
                ),
                "unreachable host": _unreachable(place, tmp_path, login.port),
            },
            denied_place(request, "sftp", tmp_path),
        )


class TestFtp(StoreConformance):
    MANY = 10_000  # seeded on the server's disk; listed in ~1.5 s

    @pytest.fixture
    def store_target(self, request, tmp_path, ftp_server):
        place = make_place(request, "ftp", tmp_path)
        login = ftp_server.login
        return _target(
            place,
            {
                "wrong password": _variant(
                    place, tmp_path, "badpw", login.password, "not-the-password"
                ),
                "unreachable host": _unreachable(place, tmp_path, login.port),
            },
            denied_place(request, "ftp", tmp_path),
        )


class TestWebdav(StoreConformance):
    # 10,000 keys take ~6 s here (a PROPFIND per folder, in threads): that count is a bench
    # row (python -m bench.backends --list-keys 10000), this one stays in the suite's budget
    MANY = 2000

    @pytest.fixture
    def store_target(self, request, tmp_path, webdav_server):
        place = make_place(request, "webdav", tmp_path)
        login = webdav_server.login
        return _target(
            place,
            {
                "wrong password": _variant(
                    place, tmp_path, "badpw", login.password, "not-the-password"
                )
            },
            denied_place(request, "webdav", tmp_path),
        )


def _missing_bucket(place: Place, tmp_path: Path, bucket: str) -> list[str]:
    return _variant(place, tmp_path, "nobucket", f'root = "{bucket}', 'root = "no-such-bucket-x')


class TestGcs(StoreConformance):
    MANY = 200  # the emulator takes ~50 ms per upload; listing pages are the same code

    @pytest.fixture
    def store_target(self, request, tmp_path, gcs_server):
        place = make_place(request, "gcs", tmp_path)
        return _target(place, {"missing root": _missing_bucket(place, tmp_path, "b-")})


class TestAzure(StoreConformance):
    MANY = 500  # uploaded one by one through fssync

    @pytest.fixture
    def store_target(self, request, tmp_path, azurite):
        from fssync.testing.backend_servers import AZURITE_KEY

        place = make_place(request, "azure", tmp_path)
        wrong = "A" * (len(AZURITE_KEY) - 2) + "=="
        return _target(
            place,
            {
                "wrong account key": _variant(place, tmp_path, "badkey", AZURITE_KEY, wrong),
                "missing root": _missing_bucket(place, tmp_path, "c-"),
            },
        )
