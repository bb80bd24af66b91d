"""Under pytest-xdist: each worker measures its whole share ahead; vantage points; rate limit."""

from __future__ import annotations

import datetime
import itertools

import pytest

from pytest_spider.xdist import shares, target_group
from tests.plugin.conftest import read_records, scripted_targets, write_targets


def test_a_targets_items_group_together_and_targets_are_dealt_round_robin() -> None:
    ids = [
        "m.py::H2[198.18.0.1:443 a.example]",
        "m.py::test_x[198.18.0.1:443 a.example]",
        "m.py::H2[[2001:db8:0:0:0:0:0:1]:443 b.example]",
        "m.py::test_x[H2 [2001:db8:0:0:0:0:0:1]:443 b.example]",
        "m.py::H2[c.example]",
        "t.py::test_plain",
    ]
    assert target_group(ids[0]) == target_group(ids[1])
    assert target_group(ids[2]) == target_group(ids[3])
    assert target_group(ids[4]) == "m.py[c.example]"
    assert shares(ids, 2) == [[0, 1, 4], [2, 3, 5]]
    assert sorted(i for share in shares(ids, 3) for i in share) == list(range(len(ids)))


def _peak_concurrency(pytester: pytest.Pytester, *args: str) -> int:
    targets = write_targets(pytester.path / "t.ndjson", scripted_targets(*["sleep,ok"] * 40))
    out = pytester.path / "out.ndjson"
    result = pytester.runpytest_subprocess(
        f"--spider-targets={targets}", f"--spider-output={out}", "-n", "2", "experiments/", *args
    )
    result.assert_outcomes(passed=40)
    return max(r["flow_results"][0]["concurrent"] for r in read_records(out))


def test_share_scheduling_lets_each_worker_measure_ahead(scripted: pytest.Pytester) -> None:
    # Each worker plans its whole share of 20 targets: they all overlap.
    assert _peak_concurrency(scripted) >= 10
    # xdist's own scheduling shows a worker one item ahead: at most two overlap.
    assert _peak_concurrency(scripted, "--spider-dist=xdist") <= 2


def test_dist_each_measures_every_target_from_every_vantage(scripted: pytest.Pytester) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets("ok,ok", "ok,fail"))
    out = scripted.path / "out.ndjson"
    result = scripted.runpytest_subprocess(
        f"--spider-targets={targets}", f"--spider-output={out}", "--dist", "each",
        "--tx", "popen//id=paris", "--tx", "popen//id=tokyo", "experiments/",
    )  # fmt: skip
    records = read_records(out)
    assert sorted((r["vantage"], r["domain"], r["outcome"]) for r in records) == [
        ("paris", "t0.example", "passed"), ("paris", "t1.example", "failed"),
        ("tokyo", "t0.example", "passed"), ("tokyo", "t1.example", "failed"),
    ]  # fmt: skip
    result.stdout.fnmatch_lines_random(
        ["scripted @ paris: 2 targets (1 failed, 1 passed)", "scripted @ tokyo: 2 targets*"]
    )


def test_the_vantage_can_be_named(scripted: pytest.Pytester) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets("ok,ok"))
    out = scripted.path / "out.ndjson"
    scripted.runpytest(f"--spider-targets={targets}", f"--spider-output={out}",
                       "--spider-vantage=zurich-dc2", "experiments/")  # fmt: skip
    assert [r["vantage"] for r in read_records(out)] == ["zurich-dc2"]


def test_rate_limit_spaces_sequence_starts(scripted: pytest.Pytester) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets(*["ok,ok"] * 8))
    out = scripted.path / "out.ndjson"
    scripted.runpytest(f"--spider-targets={targets}", f"--spider-output={out}",
                       "--spider-rate=20", "experiments/")  # fmt: skip
    starts = sorted(
        datetime.datetime.fromisoformat(r["flow_results"][0]["spdr_start"])
        for r in read_records(out)
    )
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    # 20 per second: a start every 50 ms at the earliest (a little timer slack allowed).
    assert min(gaps) >= 0.045


def test_bad_dist_value_is_a_usage_error(scripted: pytest.Pytester) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets("ok,ok"))
    result = scripted.runpytest(f"--spider-targets={targets}", "--spider-dist=random")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
