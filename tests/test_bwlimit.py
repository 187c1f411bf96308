"""--bwlimit: one rate, an UP:DOWN pair, a timetable by time of day or week (rclone's syntax);
one budget shared by all transfers. The schedule is checked with a fake clock; end to end, a
limited run cannot be faster than its bytes at the rate (a lower bound only: a slow machine
never fails it)."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from fssync.cli.main import main
from fssync.transfer.bandwidth import Rate, Throttle, parse_bwlimit

from .helpers import make_tree, read_tree, s3_args

KIB, MIB = 1024, 1 << 20
MONDAY = dt.datetime(2026, 11, 30)  # a Monday


def at(day: int, hh: int, mm: int = 0) -> dt.datetime:
    return MONDAY + dt.timedelta(days=day, hours=hh, minutes=mm)


def test_rates_pairs_and_off():
    assert parse_bwlimit("1M").rate_at(MONDAY)[0] == Rate(MIB, MIB)
    assert parse_bwlimit("10M:512k").rate_at(MONDAY)[0] == Rate(10 * MIB, 512 * KIB)
    assert parse_bwlimit("off:1.5M").rate_at(MONDAY)[0] == Rate(None, 1.5 * MIB)
    assert Throttle.from_text("off") is None and Throttle.from_text("") is None


def test_a_daily_timetable_wraps_around_midnight():
    table = parse_bwlimit("08:00,512k 12:30,10M:1M 19:00,off")
    assert table.rate_at(at(0, 8))[0] == Rate(512 * KIB, 512 * KIB)
    assert table.rate_at(at(2, 12, 29))[0] == Rate(512 * KIB, 512 * KIB)
    assert table.rate_at(at(2, 12, 30))[0] == Rate(10 * MIB, MIB)
    assert table.rate_at(at(3, 23, 59))[0] == Rate(None, None)
    assert table.rate_at(at(4, 3))[0] == Rate(None, None)  # before 08:00: the 19:00 entry


def test_a_weekly_timetable_picks_the_most_recent_start():
    table = parse_bwlimit("Mon-08:00,1M Fri-18:00,off Sun-20:00,256k")
    assert table.rate_at(at(0, 7, 59))[0] == Rate(256 * KIB, 256 * KIB)  # from last Sunday
    assert table.rate_at(at(3, 12))[0] == Rate(MIB, MIB)  # Thursday: Monday's
    assert table.rate_at(at(5, 9))[0] == Rate(None, None)  # Saturday: Friday's
    assert table.rate_at(at(6, 21))[0] == Rate(256 * KIB, 256 * KIB)


@pytest.mark.parametrize(
    "text", ["fast", "25:00,1M", "08:00", "Xyz-08:00,1M", "08:00,1M 9:7,2M", "0", "1M:-2k"]
)
def test_bad_limits_are_refused(tmp_path, capsys, text):
    (tmp_path / "src").mkdir()
    assert main(["sync", str(tmp_path / "src"), str(tmp_path / "dst"), "--bwlimit", text]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fssync: error:") and err.count("\n") == 1


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_concurrent_reads_share_one_budget_per_direction():
    clock = Clock()
    throttle = Throttle(parse_bwlimit("1M:512k"), clock=clock, now=lambda: MONDAY)
    # Three transfers each read 1 MiB at the same moment: the last waits for all three.
    assert [throttle.delay("up", MIB) for _ in range(3)] == [1.0, 2.0, 3.0]
    assert throttle.delay("down", 512 * KIB) == 1.0  # its own budget
    clock.t += 10  # idle time is not saved up for a burst later
    assert throttle.delay("up", MIB) == 1.0


def test_the_timetable_is_followed_during_a_run_and_reported():
    clock, wall = Clock(), [at(0, 7, 59)]
    seen: list[str] = []
    throttle = Throttle(
        parse_bwlimit("08:00,1M 19:00,off"),
        on_change=lambda rate, slot: seen.append(rate.describe()),
        clock=clock,
        now=lambda: wall[0],
    )
    assert throttle.delay("up", MIB) == 0.0  # 07:59: still the 19:00 entry, off
    wall[0], clock.t = at(0, 8), clock.t + 5
    assert throttle.delay("up", MIB) == 1.0
    assert seen == ["off", "1.0 MiB/s"]


def _summary(out: str) -> dict:
    return [json.loads(line) for line in out.splitlines() if '"summary"' in line][-1]


def test_a_limited_local_run_is_no_faster_than_its_rate(tmp_path, capsys):
    src, dst = tmp_path / "src", tmp_path / "dst"
    files = {f"f{i}.bin": os.urandom(384 * KIB) for i in range(4)}  # 1.5 MiB in all
    make_tree(src, files)
    code = main(["sync", str(src), str(dst), "--bwlimit", "1M", "--json", "--transfers", "4"])
    out = capsys.readouterr().out
    assert code == 0 and read_tree(dst) == files
    assert _summary(out)["seconds"] >= 1.4  # 1.5 MiB at 1 MiB/s, four at once sharing it
    assert '"event": "bwlimit"' in out


@pytest.mark.usefixtures("s3_backend")
def test_up_and_down_limits_apply_to_their_own_direction(moto, tmp_path, capsys):
    ep = moto.endpoint
    name = ep.make_bucket()
    src, back = tmp_path / "src", tmp_path / "back"
    files = {"a.bin": os.urandom(MIB), "b.bin": os.urandom(MIB)}
    make_tree(src, files)
    url = f"s3://{name}/p"
    pair = ["--bwlimit", "off:1M", "--json", *s3_args(ep)]
    assert main(["sync", str(src), url, *pair]) == 0
    up = capsys.readouterr().out
    assert '"rate": "off up, 1.0 MiB/s down"' in up
    assert main(["sync", url, str(back), *pair]) == 0
    down = _summary(capsys.readouterr().out)
    assert read_tree(back) == files
    assert down["seconds"] >= 1.8  # 2 MiB read from S3 at 1 MiB/s
