"""Items whose measurements have finished run first, without upsetting pytest's setup."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import read_records, scripted_targets, write_targets

PER_TARGET_TEST = """

import pytest

MODULE_SETUPS = []


@pytest.fixture(scope="module")
def module_resource():
    MODULE_SETUPS.append(1)
    yield len(MODULE_SETUPS)


def test_per_target(spider_record, conn_base, module_resource):
    assert conn_base["calls"] == 1  # the experiment item's measurement, not a second one
    assert module_resource == 1  # reordering never tore the module down in between
"""


def test_a_slow_target_does_not_hold_up_finished_ones(scripted: pytest.Pytester) -> None:
    module = scripted.path / "experiments" / "scripted.py"
    module.write_text(module.read_text() + PER_TARGET_TEST)
    scripted.makepyfile(test_plain="def test_plain_one():\n    pass\n")
    targets = write_targets(
        scripted.path / "t.ndjson", scripted_targets("sleep,ok", *["ok,ok"] * 8)
    )
    out = scripted.path / "out.ndjson"
    result = scripted.runpytest(
        f"--spider-targets={targets}",
        f"--spider-output={out}",
        "experiments/",
        "test_plain.py",
        "-v",
    )
    result.assert_outcomes(passed=19)
    records = read_records(out)
    assert len(records) == 9
    # The slow target (0.3 s in its first connection) was planned first but reported last.
    assert records[-1]["dip"] == "198.18.0.1"
    assert sorted(r["dip"] for r in records[:-1]) == [f"198.18.0.{i}" for i in range(2, 10)]
    # A target's items stay together; the plain test file keeps its place after the module.
    result.stdout.fnmatch_lines(
        [
            "*Scripted[[]198.18.0.2:80 t1.example[]] PASSED*",
            "*test_per_target[[]198.18.0.2:80 t1.example[]] PASSED*",
            "*Scripted[[]198.18.0.1:80 t0.example[]] PASSED*",
            "*test_per_target[[]198.18.0.1:80 t0.example[]] PASSED*",
            "*test_plain.py::test_plain_one PASSED*",
        ]
    )


def test_reordered_run_still_stops_at_the_first_failure(scripted: pytest.Pytester) -> None:
    targets = write_targets(
        scripted.path / "t.ndjson", scripted_targets("sleep,ok", "ok,fail", *["ok,ok"] * 5)
    )
    out = scripted.path / "out.ndjson"
    result = scripted.runpytest(
        f"--spider-targets={targets}", f"--spider-output={out}", "experiments/", "-x"
    )
    result.assert_outcomes(failed=1)
    records = read_records(out)
    # The failing target finished long before the slow one and ended the run.
    assert records[-1]["dip"] == "198.18.0.2"
    assert "198.18.0.1" not in {r["dip"] for r in records}


def test_xdist_workers_run_their_share_finished_first(scripted: pytest.Pytester) -> None:
    # Shares are dealt round-robin, so each of the two workers gets one slow target first.
    targets = write_targets(
        scripted.path / "t.ndjson", scripted_targets("sleep,ok", "sleep,ok", *["ok,ok"] * 10)
    )
    out = scripted.path / "out.ndjson"
    result = scripted.runpytest_subprocess(
        f"--spider-targets={targets}", f"--spider-output={out}", "experiments/", "-n", "2"
    )
    result.assert_outcomes(passed=12)
    records = read_records(out)
    assert sorted(r["dip"] for r in records) == sorted(f"198.18.0.{i}" for i in range(1, 13))
    # Worker gw0 measured the odd addresses, gw1 the even ones: each reported its slow one last.
    last = [int(r["dip"].rsplit(".", 1)[1]) for r in records]
    assert [n for n in last if n % 2][-1] == 1
    assert [n for n in last if not n % 2][-1] == 2
    assert all(flow["calls"] == 1 for r in records for flow in r["flow_results"])


@pytest.mark.parametrize("dist", [[], ["--dist", "each"]], ids=["share", "each"])
def test_one_xdist_worker_runs_finished_first(scripted: pytest.Pytester, dist: list[str]) -> None:
    """Behaviour, not xdist's source: one worker's reports reach the controller in the order
    it runs them, so the slow target planned first must be recorded last."""
    targets = write_targets(
        scripted.path / "t.ndjson", scripted_targets("sleep,ok", *["ok,ok"] * 6)
    )
    out = scripted.path / "out.ndjson"
    result = scripted.runpytest_subprocess(
        f"--spider-targets={targets}", f"--spider-output={out}", "experiments/", "-n", "1", *dist
    )
    result.assert_outcomes(passed=7)
    records = read_records(out)
    assert records[-1]["dip"] == "198.18.0.1"
    assert len(records) == 7
