"""Under pytest-xdist: each worker measures its whole share ahead; vantage points; rate limit."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from tests.plugin.conftest import read_records, scripted_targets, write_targets

PER_TARGET_TEST = """

def test_per_target(spider_record, conn_base):
    assert conn_base["calls"] == 1
"""


def test_each_worker_builds_only_its_share_and_plain_tests_run_once(
    scripted: pytest.Pytester,
) -> None:
    module = scripted.path / "experiments" / "scripted.py"
    module.write_text(module.read_text() + PER_TARGET_TEST)
    worker = 'os.environ["PYTEST_XDIST_WORKER"]'
    plain = "import os\n\n" + "".join(
        f"def test_plain_{i}():\n    open(f'ran-{i}-{{{worker}}}', 'w')\n" for i in range(3)
    )
    scripted.makepyfile(test_plain=plain)
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets(*["ok,ok"] * 5))
    out = scripted.path / "out.ndjson"
    result = scripted.runpytest_subprocess(
        f"--spider-targets={targets}", f"--spider-output={out}", "-n", "2", "-v",
        "experiments/", "test_plain.py",
    )  # fmt: skip
    result.assert_outcomes(passed=13)
    records = read_records(out)
    assert sorted(r["dip"] for r in records) == [f"198.18.0.{i}" for i in range(1, 6)]
    # Targets were dealt round-robin: the first, third and fifth to one worker.
    worker_of = {
        line.split("Scripted[198.18.0.")[1][0]: line.split("[gw")[1][0]
        for line in result.outlines
        if line.startswith("[gw") and "::Scripted[" in line
    }
    assert worker_of["1"] == worker_of["3"] == worker_of["5"] != worker_of["2"] == worker_of["4"]
    ran = sorted(p.name.rsplit("-", 1)[0] for p in scripted.path.glob("ran-*"))
    assert ran == ["ran-0", "ran-1", "ran-2"]
    # pytest's progress counts against all shares together: it ends at 100 %, never past it.
    progress = [int(line.split("[")[2].split("%")[0]) for line in result.outlines
                if line.startswith("[gw") and "%]" in line]  # fmt: skip
    assert len(progress) == 13 and max(progress) == 100


def test_a_crashed_workers_share_goes_to_its_replacement(scripted: pytest.Pytester) -> None:
    marker = scripted.path / "crashed-once"
    targets = scripted_targets(*["sleep,ok"] * 4, *["ok,ok"] * 6)
    targets[5].update(script="crash_once,ok", marker=str(marker))
    out = scripted.path / "out.ndjson"
    result = scripted.runpytest_subprocess(
        f"--spider-targets={write_targets(scripted.path / 't.ndjson', targets)}",
        f"--spider-output={out}", "-n", "2", "experiments/",
    )  # fmt: skip
    assert marker.exists()
    result.stdout.fnmatch_lines(["*replacing crashed worker*"])
    # xdist blames the item the worker was running when it died, if any: it alone is lost.
    crashed = [line for line in result.outlines if "worker 'gw" in line and "crashed" in line]
    assert len(crashed) <= 1
    records = read_records(out)
    dips = [r["dip"] for r in records]
    assert len(dips) == len(set(dips)) == 10 - len(crashed)
    assert targets[5]["dip"] in dips  # measured again by the replacement, this time fine


def _peak_concurrency(pytester: pytest.Pytester, *args: str) -> int:
    targets = write_targets(pytester.path / "t.ndjson", scripted_targets(*["sleep,ok"] * 40))
    out = pytester.path / "out.ndjson"
    result = pytester.runpytest_subprocess(
        f"--spider-targets={targets}", f"--spider-output={out}", "-n", "2", "experiments/", *args
    )
    result.assert_outcomes(passed=40)
    return max(int(r["flow_results"][0]["concurrent"]) for r in read_records(out))


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
    # 20 per second: 8 starts are scheduled 50 ms apart. A start is recorded when its thread
    # gets going, which a busy machine may delay (two delayed starts can land closer than
    # 50 ms), so the span of all eight is what is sure: 350 ms, less some slack.
    span = (starts[-1] - starts[0]).total_seconds()
    assert span >= 0.3


def test_bad_dist_value_is_a_usage_error(scripted: pytest.Pytester) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets("ok,ok"))
    result = scripted.runpytest(f"--spider-targets={targets}", "--spider-dist=random")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def _first_target_crashes_its_worker(
    scripted: pytest.Pytester, count: int, *args: str
) -> tuple[pytest.RunResult, Path]:
    """``count`` slow targets under ``-n 2``; measuring the first kills its worker once."""
    marker = scripted.path / "crashed-once"
    targets = scripted_targets(*["sleep,ok"] * count)
    targets[0].update(script="crash_once,ok", marker=str(marker))
    out = scripted.path / "out.ndjson"
    result = scripted.runpytest_subprocess(
        f"--spider-targets={write_targets(scripted.path / 't.ndjson', targets)}",
        f"--spider-output={out}", "-n", "2", *args, "experiments/",
    )  # fmt: skip
    assert marker.exists()
    return result, out


def test_a_replacement_measures_what_is_left_of_its_share_ahead(
    scripted: pytest.Pytester,
) -> None:
    """The worker dies at its first measurement; its replacement learns what is left of the
    share from the controller, then measures all of it ahead, not one target at a time."""
    result, out = _first_target_crashes_its_worker(scripted, 24, "-v")
    result.stdout.fnmatch_lines(["*replacing crashed worker*"])
    records = read_records(out)
    assert len({r["dip"] for r in records}) == len(records) >= 23
    # Share 0 (even positions) was measured again by the replacement, many at once.
    replaced = [r for r in records if int(r["dip"].rsplit(".", 1)[1]) % 2 == 1]
    assert max(r["flow_results"][0]["concurrent"] for r in replaced) > 1
    progress = [int(line.split("[")[2].split("%")[0]) for line in result.outlines
                if line.startswith("[gw") and "%]" in line]  # fmt: skip
    assert max(progress) <= 100


def test_a_share_that_is_never_measured_fails_the_run(scripted: pytest.Pytester) -> None:
    result, _ = _first_target_crashes_its_worker(scripted, 8, "--max-worker-restart=0")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*spider: measurements lost*", "share 0: * never ran*"])
