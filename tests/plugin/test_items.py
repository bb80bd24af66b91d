"""Target x experiment items: node ids, selection and the pytest features users rely on."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.plugin.conftest import read_records, scripted_targets, write_targets


def _targets(pytester: pytest.Pytester, *scripts: str) -> str:
    return str(write_targets(pytester.path / "targets.ndjson", scripted_targets(*scripts)))


def test_one_item_per_target_with_readable_node_ids(scripted: pytest.Pytester) -> None:
    targets = write_targets(
        scripted.path / "t.ndjson",
        [
            {"dip": "198.18.0.5", "dp": 443, "domain": "example.com"},
            {"dip": "2001:db8::1", "dp": 443, "domain": "example.com"},
            {"dip": "198.18.0.6"},
        ],
    )
    result = scripted.runpytest(f"--spider-targets={targets}", "experiments/", "--co", "-q")
    result.stdout.fnmatch_lines(
        [
            "experiments/scripted.py::Scripted[[]198.18.0.5:443 example.com[]]",
            "experiments/scripted.py::Scripted[[][[]2001:db8:0:0:0:0:0:1[]]:443 example.com[]]",
            "experiments/scripted.py::Scripted[[]198.18.0.6[]]",
            "3 tests collected*",
        ]
    )
    assert result.ret == 0


def test_selecting_one_item_by_node_id_ipv6_included(scripted: pytest.Pytester) -> None:
    targets = write_targets(
        scripted.path / "t.ndjson",
        [{"dip": "2001:db8::1", "dp": 443, "domain": "a.example"}, {"dip": "198.18.0.7"}],
    )
    nodeid = "experiments/scripted.py::Scripted[[2001:db8:0:0:0:0:0:1]:443 a.example]"
    result = scripted.runpytest(f"--spider-targets={targets}", nodeid, "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*Scripted[[][[]2001:db8:0:0:0:0:0:1[]]:443 a.example[]] PASSED*"])


def test_k_expression_and_marker_select_items(scripted: pytest.Pytester) -> None:
    targets = _targets(scripted, "ok,ok", "ok,ok", "ok,ok")
    result = scripted.runpytest(f"--spider-targets={targets}", "experiments/", "-k", "t1")
    result.assert_outcomes(passed=1, deselected=2)
    result = scripted.runpytest(f"--spider-targets={targets}", "experiments/", "-m", "spider")
    result.assert_outcomes(passed=3)
    result = scripted.runpytest(f"--spider-targets={targets}", "experiments/", "-m", "not spider")
    result.assert_outcomes(deselected=3)


def test_collect_only_measures_nothing(scripted: pytest.Pytester) -> None:
    # Every connection would raise if it ran.
    targets = _targets(scripted, "raise,raise", "raise,raise")
    out = scripted.path / "out.ndjson"
    result = scripted.runpytest(
        f"--spider-targets={targets}", f"--spider-output={out}", "experiments/", "--co"
    )
    assert result.ret == 0
    assert not out.exists() or read_records(out) == []


def test_last_failed_reruns_only_the_failed_targets(scripted: pytest.Pytester) -> None:
    targets = _targets(scripted, "ok,ok", "ok,fail", "ok,ok")
    first = scripted.runpytest(f"--spider-targets={targets}", "experiments/")
    first.assert_outcomes(passed=2, failed=1)
    out = scripted.path / "lf.ndjson"
    again = scripted.runpytest(
        f"--spider-targets={targets}", f"--spider-output={out}", "experiments/", "--lf"
    )
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["run-last-failure: rerun previous 1 failure*"])
    assert [r["domain"] for r in read_records(out)] == ["t1.example"]


def test_exitfirst_stops_measuring(scripted: pytest.Pytester) -> None:
    targets = _targets(scripted, "ok,fail", *["ok,ok"] * 30)
    out = scripted.path / "x.ndjson"
    result = scripted.runpytest(
        f"--spider-targets={targets}",
        f"--spider-output={out}",
        "--spider-concurrency=1",
        "--spider-lookahead=1",
        "experiments/",
        "-x",
    )
    result.assert_outcomes(failed=1)
    assert len(read_records(out)) == 1


def test_durations_and_verbose_work(scripted: pytest.Pytester) -> None:
    targets = _targets(scripted, "ok,ok")
    result = scripted.runpytest(f"--spider-targets={targets}", "experiments/", "--durations=1")
    result.stdout.fnmatch_lines(["*slowest 1 durations*"])
    result.assert_outcomes(passed=1)


def test_plain_tests_in_an_experiment_module_run_per_target(scripted: pytest.Pytester) -> None:
    module = scripted.path / "experiments" / "scripted.py"
    module.write_text(
        module.read_text()
        + """

def test_baseline_port(spider_target, conn_base, spider_record):
    assert spider_target.dip.startswith("198.18.")
    assert conn_base["sp"] == 1000
    assert conn_base["calls"] == 1  # the experiment item's measurement, not a second one
    assert spider_record["conditions"] == ["scripted.connectivity.works"]
"""
    )
    targets = _targets(scripted, "ok,ok", "ok,ok")
    result = scripted.runpytest(f"--spider-targets={targets}", "experiments/", "-v")
    result.assert_outcomes(passed=4)
    # Each target's items run together so one measurement serves both.
    result.stdout.fnmatch_lines(
        [
            "*Scripted[[]198.18.0.1:80 t0.example[]] PASSED*",
            "*test_baseline_port[[]198.18.0.1:80 t0.example[]] PASSED*",
            "*Scripted[[]198.18.0.2:80 t1.example[]] PASSED*",
            "*test_baseline_port[[]198.18.0.2:80 t1.example[]] PASSED*",
        ]
    )


def test_without_targets_experiments_are_not_collected(scripted: pytest.Pytester) -> None:
    result = scripted.runpytest("experiments/")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_installed_experiment_runs_by_name(pytester: pytest.Pytester) -> None:
    # An empty directory: the built-in h2 comes from the entry-point group, and its node ids
    # spell its file's path (absolute here, where it lies outside the rootdir).
    targets = pytester.path / "t.txt"
    targets.write_text("198.18.0.1\n")
    result = pytester.runpytest(
        f"--spider-targets={targets}", "--spider-experiment=h2", "--co", "-q"
    )
    path = Path(importlib.import_module("pytest_spider.experiments.h2").__file__ or "")
    result.stdout.fnmatch_lines([f"{path.resolve().as_posix()}::H2[[]198.18.0.1[]]", "1 test*"])


def test_unknown_experiment_name_is_a_usage_error(pytester: pytest.Pytester) -> None:
    targets = pytester.path / "t.txt"
    targets.write_text("198.18.0.1\n")
    result = pytester.runpytest(f"--spider-targets={targets}", "--spider-experiment=nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown experiment 'nope' (known: *h2*)*"])


def test_pass_counts_and_report_listings_survive_lean_reports(scripted: pytest.Pytester) -> None:
    targets = _targets(scripted, "ok,ok", "ok,ok", "ok,fail")
    plain = scripted.runpytest(f"--spider-targets={targets}", "experiments/")
    plain.assert_outcomes(passed=2, failed=1)
    listed = scripted.runpytest(f"--spider-targets={targets}", "experiments/", "-rA")
    listed.stdout.fnmatch_lines(["PASSED experiments/scripted.py::Scripted[[]198.18.0.1*"])
    timed = scripted.runpytest(f"--spider-targets={targets}", "experiments/", "--durations=0",
                               "--durations-min=0")  # fmt: skip
    timed.stdout.fnmatch_lines(["*setup*Scripted[[]198.18.0.1*", "*teardown*Scripted*"])
