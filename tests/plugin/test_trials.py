"""Repeated trials (--spider-trials): one item and one record per target, every trial in it,
super-conditions judged, trials spaced apart while the engine runs ahead."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import pytest

from pytest_spider.campaign.cli import diff_main
from tests.plugin.conftest import read_output, read_records, scripted_targets, write_targets

WORKS = "scripted.connectivity.works"
BROKEN = "scripted.connectivity.broken"
OFFLINE = "scripted.connectivity.offline"
CONSISTENT = "scripted.trials.consistent"
INCONSISTENT = "scripted.trials.inconsistent"


def _run(pytester: pytest.Pytester, scripts: tuple[str, ...], *args: str) -> pytest.RunResult:
    targets = write_targets(pytester.path / "t.ndjson", scripted_targets(*scripts))
    out = pytester.path / "out.ndjson"
    return pytester.runpytest(
        f"--spider-targets={targets}", f"--spider-output={out}", "experiments/", "-rA", *args
    )


def _by_domain(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    return {record["domain"]: record for record in read_records(pytester.path / "out.ndjson")}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_each_target_is_one_item_and_one_record_holding_every_trial(
    scripted: pytest.Pytester,
) -> None:
    # t0 always works, t1 breaks in its second trial only, t2 is always offline.
    scripts = ("ok,ok", "ok,ok|fail", "timeout,timeout")
    result = _run(scripted, scripts, "--spider-trials=3", "--spider-trial-gap=0.05")
    # One item per target; the inconsistent target is not failed by default.
    result.assert_outcomes(passed=2, skipped=1)
    records = _by_domain(scripted)
    assert len(records) == 3
    assert records["t0.example"]["conditions"] == [WORKS, CONSISTENT]
    assert records["t1.example"]["conditions"] == [INCONSISTENT]
    assert records["t2.example"]["conditions"] == [OFFLINE, CONSISTENT]
    assert [t["conditions"] for t in records["t1.example"]["trials"]] == [
        [WORKS],
        [BROKEN],
        [WORKS],
    ]
    assert [r["outcome"] for r in records.values()] == ["passed", "passed", "skipped"]
    for record in records.values():
        trials = record["trials"]
        assert len(trials) == 3
        assert all(set(trial) == {"conditions", "time", "flow_results"} for trial in trials)
        # Each trial made its own connections: the scripted conn_ counts its calls.
        calls = [[flow["calls"] for flow in trial["flow_results"]] for trial in trials]
        assert calls == [[1, 1], [2, 2], [3, 3]]
        # The record's flows are its first trial's; its time spans every trial.
        assert record["flow_results"] == trials[0]["flow_results"]
        assert record["time"] == {"from": trials[0]["time"]["from"], "to": trials[2]["time"]["to"]}
    result.stdout.fnmatch_lines(
        [
            "*spider summary*",
            f"  {CONSISTENT}  *2",
            f"  {INCONSISTENT}  *1",
            "inconsistent across trials: 1 target(s)",
            f"  scripted 198.18.0.2:80 t1.example: 2 of 3: {WORKS}; 1 of 3: {BROKEN} (passed)",
        ]
    )


def test_one_trial_leaves_the_record_as_it_always_was(scripted: pytest.Pytester) -> None:
    _run(scripted, ("ok,ok", "ok,fail")).assert_outcomes(passed=1, failed=1)
    for record in read_records(scripted.path / "out.ndjson"):
        assert "trials" not in record
        assert not any(".trials." in c for c in record["conditions"])


def test_fail_on_inconsistent_makes_flakiness_fail(scripted: pytest.Pytester) -> None:
    scripts = ("ok,ok", "ok,ok|fail", "ok,fail")
    result = _run(
        scripted,
        scripts,
        "--spider-trials=3",
        "--spider-trial-gap=0",
        "--spider-fail-on=*.connectivity.broken",
        "--spider-fail-on=*.trials.inconsistent",
    )
    # The flaky target fails now, and so does the one broken in every trial.
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            f"{INCONSISTENT} (matches [*].trials.inconsistent); "
            f"trials: 2 of 3: {WORKS}; 1 of 3: {BROKEN}",
        ]
    )
    records = _by_domain(scripted)
    assert records["t1.example"]["outcome"] == "failed"
    assert records["t2.example"]["conditions"] == [BROKEN, CONSISTENT]
    assert records["t2.example"]["reason"].startswith(
        f"Failed: {BROKEN} (matches *.connectivity.broken); trial 1: conn_exp: refused"
    )


def test_a_verdict_needs_its_condition_in_every_trial(scripted: pytest.Pytester) -> None:
    """Broken once in three trials is no broken path: the default gate passes it."""
    result = _run(scripted, ("ok,fail|ok|ok",), "--spider-trials=3", "--spider-trial-gap=0")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK


def test_trials_are_spaced_and_the_engine_runs_ahead_meanwhile(scripted: pytest.Pytester) -> None:
    """One engine thread, four targets, three trials 0.5 s apart: while a target waits for
    its next trial, the others are measured, so no target has its trials in a burst."""
    result = _run(
        scripted,
        ("ok,ok",) * 4,
        "--spider-trials=3",
        "--spider-trial-gap=0.5",
        "--spider-concurrency=1",
    )
    result.assert_outcomes(passed=4)
    records = read_records(scripted.path / "out.ndjson")
    starts: list[tuple[datetime, str]] = []
    for record in records:
        times = [trial["time"] for trial in record["trials"]]
        for before, after in itertools.pairwise(times):
            # From the end of one trial to the start of the next: at least the gap.
            assert (_time(after["from"]) - _time(before["to"])).total_seconds() >= 0.49
        starts += [(_time(t["from"]), record["domain"]) for t in times]
    order = [domain for _, domain in sorted(starts)]
    # Every target's first trial came before any target's second.
    assert sorted(order[:4]) == [f"t{i}.example" for i in range(4)]


def test_the_gap_defaults_to_the_timeout_and_both_come_from_the_ini_file(
    scripted: pytest.Pytester,
) -> None:
    scripted.makeini("[pytest]\nspider_trials = 2\nspider_timeout = 0.4\n")
    _run(scripted, ("ok,ok",)).assert_outcomes(passed=1)
    (record,), sessions = read_output(scripted.path / "out.ndjson")
    first, second = (trial["time"] for trial in record["trials"])
    assert (_time(second["from"]) - _time(first["to"])).total_seconds() >= 0.39
    assert (sessions[-1]["options"]["trials"], sessions[-1]["options"]["trial_gap"]) == (2, 0.4)
    scripted.makeini("[pytest]\nspider_trials = 2\nspider_trial_gap = 0\n")
    _run(scripted, ("ok,ok",)).assert_outcomes(passed=1)
    (record,), sessions = read_output(scripted.path / "out.ndjson")
    assert len(record["trials"]) == 2
    assert (sessions[-1]["options"]["trials"], sessions[-1]["options"]["trial_gap"]) == (2, 0)


def test_a_trial_that_discards_drops_the_target_and_one_that_raises_is_an_error(
    scripted: pytest.Pytester,
) -> None:
    result = _run(
        scripted, ("ok,ok|discard", "ok,ok|raise"), "--spider-trials=3", "--spider-trial-gap=0"
    )
    # A discarded target is skipped, as with one trial.
    result.assert_outcomes(skipped=1, errors=1)
    result.stdout.fnmatch_lines(
        ["E * in trial 2 of 3", "scripted: 2 targets (1 discarded, 1 error)"]
    )
    (record,) = read_records(scripted.path / "out.ndjson")
    assert record["domain"] == "t1.example" and record["outcome"] == "error"
    assert "ValueError: scripted failure in conn 1\nin trial 2 of 3" in record["reason"]


def test_tests_beside_an_experiment_see_the_super_conditions(scripted: pytest.Pytester) -> None:
    module = scripted.path / "experiments" / "scripted.py"
    module.write_text(
        module.read_text()
        + "\n\ndef test_beside(spider_record, conn_base):\n"
        + "    assert spider_record['conditions'][-1] == 'scripted.trials.inconsistent'\n"
        + "    assert len(spider_record['trials']) == 2\n"
        + "    assert conn_base['calls'] == 1  # the first trial's connection\n"
    )
    result = _run(scripted, ("ok,ok|fail",), "--spider-trials=2", "--spider-trial-gap=0")
    result.assert_outcomes(passed=2)


def test_workers_measure_their_trials_as_one_process_does(scripted: pytest.Pytester) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets("ok,ok", "ok,ok|fail"))
    out = scripted.path / "out.ndjson"
    result = scripted.runpytest_subprocess(
        f"--spider-targets={targets}", f"--spider-output={out}", "-n", "2",
        "--spider-trials=2", "--spider-trial-gap=0", "experiments/",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    records = sorted(read_records(out), key=lambda record: record["domain"])
    assert [r["conditions"] for r in records] == [[WORKS, CONSISTENT], [INCONSISTENT]]
    assert [len(r["trials"]) for r in records] == [2, 2]


@pytest.mark.parametrize("family", ["xunit1", "xunit2"])
def test_junit_says_whether_the_trials_agreed(scripted: pytest.Pytester, family: str) -> None:
    junit = scripted.path / "junit.xml"
    _run(
        scripted,
        ("ok,ok", "ok,ok|fail"),
        "--spider-trials=2",
        "--spider-trial-gap=0",
        f"--junitxml={junit}",
        "-o",
        f"junit_family={family}",
    ).assert_outcomes(passed=2)
    testcases = {tc.attrib["name"]: tc for tc in ET.parse(junit).getroot().iter("testcase")}
    flaky = testcases["Scripted[198.18.0.2:80 t1.example]"]
    text = "".join(out.text or "" for out in flaky.findall("system-out"))
    assert text.startswith(
        f"conditions: {INCONSISTENT}\ntrials: 2, inconsistent\n"
        f"trial 1: {WORKS}\ntrial 2: {BROKEN}\nconnections of trial 1:\n"
    )
    steady = testcases["Scripted[198.18.0.1:80 t0.example]"]
    assert "trials: 2, consistent\n" in "".join(o.text or "" for o in steady.findall("system-out"))
    properties = {p.attrib["name"]: p.attrib["value"] for p in flaky.iter("property")}
    if family == "xunit1":
        assert properties["spider.trials"] == "2, inconsistent"
        assert properties["spider.trial.2.conditions"] == BROKEN
    else:  # xunit2 has no properties in a testcase
        assert properties == {}


def _campaign(
    pytester: pytest.Pytester, name: str, scripts: tuple[str, ...], *args: str
) -> pytest.RunResult:
    targets = write_targets(pytester.path / f"{name}.targets", scripted_targets(*scripts))
    return pytester.runpytest(
        f"--spider-targets={targets}", f"--spider-output={name}.ndjson", "experiments/", *args
    )


def test_baseline_and_diff_compare_super_conditions(
    scripted: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = ("--spider-trials=3", "--spider-trial-gap=0", "--spider-fail-on=*.trials.inconsistent")
    # t0 turns flaky (a regression), t1 was flaky and stays so, t2 stays steady.
    _campaign(scripted, "old", ("ok,ok", "ok,ok|fail", "ok,ok"), *gate).assert_outcomes(
        passed=2, failed=1
    )
    result = _campaign(
        scripted,
        "new",
        ("ok,ok|fail", "ok,fail|ok", "ok,ok"),
        *gate,
        "--spider-baseline=old.ndjson",
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "baseline old.ndjson:",
            "*1 regression, 1 still_failing, 1 unchanged",
            f"  regression *198.18.0.1:80 t0.example*{WORKS},{CONSISTENT}*{INCONSISTENT}",
        ]
    )
    records = {r["domain"]: r for r in read_records(scripted.path / "new.ndjson")}
    assert records["t0.example"]["outcome"] == "failed"
    assert records["t1.example"]["reason"] == f"still failing, as in the baseline ({INCONSISTENT})"
    # diff takes the campaign's own fail globs from its metadata and compares the same way.
    old, new = str(scripted.path / "old.ndjson"), str(scripted.path / "new.ndjson")
    capsys.readouterr()  # the runs' output
    assert diff_main([old, new]) == 1
    out = capsys.readouterr().out
    assert out.startswith(
        f"compared with fail globs *.trials.inconsistent ({new}'s own, from its metadata): "
        "1 regression, 1 still_failing, 1 unchanged\n"
    )
    assert re.search(rf"\nregression +scripted +198\.18\.0\.1:80 t0\.example .*{INCONSISTENT}", out)


def test_a_steady_target_is_unchanged_against_a_campaign_of_one_trial(
    scripted: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """trials.consistent only says the rest held every time: on its own it is no change."""
    _campaign(scripted, "once", ("ok,ok", "ok,ok"))
    _campaign(scripted, "thrice", ("ok,ok", "ok,ok|fail"), "--spider-trials=3")
    once, thrice = str(scripted.path / "once.ndjson"), str(scripted.path / "thrice.ndjson")
    capsys.readouterr()  # the runs' output
    assert diff_main([once, thrice]) == 0
    out = capsys.readouterr().out
    assert "1 changed, 1 unchanged" in out
    assert re.search(rf"changed +scripted +198\.18\.0\.2:80 t1\.example .*{INCONSISTENT}", out)


def test_the_report_shows_inconsistent_targets_with_a_chart(scripted: pytest.Pytester) -> None:
    result = _campaign(
        scripted,
        "run",
        ("ok,ok", "ok,ok|fail", "timeout|ok,timeout|ok"),
        "--spider-trials=2",
        "--spider-trial-gap=0",
        "--spider-report=report.html",
    )
    result.assert_outcomes(passed=3)
    html = (scripted.path / "report.html").read_text()
    section = html[html.index("<h2>Trials</h2>") : html.index("<h2>Connectivity per vantage")]
    assert section.count("<svg") == 1
    assert "targets by whether their trials agreed" in section
    # Per experiment: 4 trials... of 3 records, 1 consistent, 2 inconsistent.
    assert re.search(r"<td>scripted</td>(<td[^>]*>[^<]*</td>){4}", section)
    assert 'data-v="6">6</td><td class="n" data-v="3">3</td><td class="n" data-v="1">1<' in section
    assert f"1 of 2: {WORKS}; 1 of 2: {BROKEN}" in section
    assert "Inconsistent targets (2)" in section
    # What flapped: works in both inconsistent targets, broken and offline in one each.
    assert f'<td>{WORKS}</td><td class="n" data-v="2">2</td>' in section
    assert f'<td>{OFFLINE}</td><td class="n" data-v="1">1</td>' in section
