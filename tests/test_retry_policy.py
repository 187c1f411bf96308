"""One retry policy for every layer: a store that answers every request with 503 SlowDown
costs a bounded, computable number of requests, on both S3 request paths.

A fault proxy in front of moto answers 503 and counts what it was sent. The bound is the
policy's own arithmetic (`RetryPolicy.requests`: every try of a file or listing page sends its
request ``1 + --low-level-retries`` times), so a layer that retried on its own schedule, or
retries multiplied by a forgotten loop, would show here as extra requests. Waits are cut to
milliseconds with the options a user has."""

from __future__ import annotations

import pytest

from fssync.cli.main import main
from fssync.transfer.retrying import RetryPolicy, backoff

from .helpers import make_tree, s3_args

pytestmark = pytest.mark.usefixtures("s3_backend")

# Small counts and waits of a millisecond: the whole module runs in a few seconds.
FLAGS = {
    "--low-level-retries": "2",
    "--low-level-retries-sleep": "0.0005",
    "--retries": "1",
    "--retries-sleep": "0.001",
    "--retry-passes": "1",
}
POLICY = RetryPolicy.from_config({k[2:].replace("-", "_"): float(v) for k, v in FLAGS.items()})
FILES = {"a.txt": b"alpha", "b.txt": b"bravo", "c/d.txt": b"delta"}


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("FSSYNC_STATE_DIR", str(tmp_path / "state"))


def _sync(tmp_path, ep, proxy_url: str, name: str) -> int:
    make_tree(tmp_path / "s", FILES)
    flags = [x for pair in FLAGS.items() for x in pair]
    return main(["sync", str(tmp_path / "s"), f"s3://{name}/x", *flags, *s3_args(ep, proxy_url)])


def test_the_policy_counts_every_level():
    assert (POLICY.sends, POLICY.tries, POLICY.requests) == (3, 4, 12)
    assert RetryPolicy().requests == 5 * 8  # the defaults: 5 sends, 4 tries in each of 2 passes
    waits = [backoff(1.0, n, 5.0) for n in (1, 2, 3, 4, 9) for _ in range(20)]
    assert all(0.5 <= w <= 5.0 for w in waits)  # doubling from the base, capped, never above


def test_a_store_that_only_answers_503_stops_the_run_after_a_bounded_listing(
    moto, fault_proxy, tmp_path, capsys
):
    """Every request answered 503: the listing page is tried as often as a file and sent
    as often as a request, then the run stops with exit code 4 and one line; nothing else
    is sent."""
    ep = moto.endpoint
    name = ep.make_bucket()
    proxy = fault_proxy(ep, kinds=["503"], rate=1.0)
    assert _sync(tmp_path, ep, proxy.url, name) == 4
    err = capsys.readouterr().err
    assert "listing page 1" in err and f"tried {POLICY.tries} times" in err
    assert "Traceback" not in err
    assert proxy.stats.requests == POLICY.requests  # 12, every one a listing request
    assert all(method == "GET" for method, _ in proxy.stats.targets)
    assert proxy.stats.faults == {"503": POLICY.requests}


def test_uploads_answered_503_fail_each_file_after_a_bounded_number_of_requests(
    moto, fault_proxy, tmp_path, capsys
):
    """The listing works, every PUT is answered 503: each file is sent exactly as the policy
    says (3 sends in each of 2 tries in each of 2 passes), never more, and the run ends with
    exit code 3 naming every file."""
    ep = moto.endpoint
    name = ep.make_bucket()
    proxy = fault_proxy(ep, kinds=["503"], rate=1.0, methods=["PUT"])
    assert _sync(tmp_path, ep, proxy.url, name) == 3
    err = capsys.readouterr().err
    for key in FILES:
        assert f"! {key}:" in err
    puts = [target for method, target in proxy.stats.targets if method == "PUT"]
    assert len(puts) == len(FILES) * POLICY.requests  # 36
    for key in FILES:
        assert sum(t.split("?")[0].endswith(f"/x/{key}") for t in puts) == POLICY.requests
    others = proxy.stats.requests - len(puts)
    assert others == 1  # the one listing page
