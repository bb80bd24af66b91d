"""Baseline comparison: every kind of difference, the per-item verdict and the text table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_spider.campaign.compare import (
    DEFAULT_FAIL_GLOBS,
    Baseline,
    compare,
    load_baseline,
)
from pytest_spider.campaign.load import RecordStream
from pytest_spider.schema import Key

DATA = Path(__file__).parent / "data"
WORKS = ["h2.connectivity.works"]
BROKEN = ["h2.connectivity.broken"]


def record(dip: str, conditions: list[str], **fields: Any) -> dict[str, Any]:
    flows = [{"config": 0, "spdr_state": 0}, {"config": 1, "spdr_state": 0}]
    base = {"dip": dip, "dp": 443, "experiment": "h2", "vantage": "local"}
    return base | {"conditions": conditions, "flow_results": flows, "outcome": "passed"} | fields


def key(dip: str, experiment: str = "h2", vantage: str = "local") -> Key:
    return Key(experiment, dip, 443, dip.replace(".", "-") + ".example", vantage)


def test_every_kind_of_difference_between_two_campaign_files() -> None:
    old, new = RecordStream([DATA / "old.ndjson"]), RecordStream([DATA / "new.ndjson"])
    result = compare(old, new, DEFAULT_FAIL_GLOBS)
    assert dict(result.counts) == {
        "regression": 1,  # .1 works -> broken
        "improvement": 1,  # .3 broken -> works
        "changed": 1,  # .4 upgrade.success -> upgrade.failed
        "still_failing": 1,  # .2 broken in both
        "new": 2,  # .7 only in new; .9 was excluded (not measured) in old
        "vanished": 1,  # .6 only in old
        "unchanged": 2,  # .5 (h2) and .1 (tfo: another experiment, another key)
    }
    [regression] = result.rows["regression"]
    assert regression.key == key("198.18.2.1")
    assert regression.old == frozenset(WORKS) and regression.new == frozenset(BROKEN)
    assert [row.key.dip for row in result.rows["new"]] == ["198.18.2.7", "198.18.2.9"]
    assert result.rows["vanished"][0].new is None
    assert "unchanged" not in result.rows  # counted, never kept
    assert result.baseline.lookup(key("198.18.2.3")) == frozenset(BROKEN)
    assert result.baseline.lookup(key("198.18.2.7")) is None


def test_vantage_and_experiment_are_part_of_the_identity() -> None:
    old = [record("198.18.0.1", WORKS, vantage="local")]
    new = [record("198.18.0.1", BROKEN, vantage="remote")]
    result = compare(old, new, DEFAULT_FAIL_GLOBS)
    assert (result.counts["new"], result.counts["vanished"], result.regressions) == (1, 1, 0)


def test_fail_globs_decide_what_a_regression_is() -> None:
    old = [record("198.18.0.1", [*WORKS, "h2.upgrade.success"])]
    new = [record("198.18.0.1", [*WORKS, "h2.upgrade.failed"])]
    assert compare(old, new, DEFAULT_FAIL_GLOBS).counts["changed"] == 1
    assert compare(old, new, ["h2.upgrade.failed"]).regressions == 1
    assert compare(new, old, ["*.failed", "*.broken"]).counts["improvement"] == 1


def test_the_last_record_of_a_key_counts_and_is_noted_as_a_duplicate() -> None:
    # (unmeasured records are ignored)
    skipped = record("198.18.0.1", [], outcome="skipped", flow_results=[], reason="excluded by x")
    old = [record("198.18.0.1", BROKEN), record("198.18.0.1", WORKS), skipped]
    baseline = Baseline.from_records(old)
    assert len(baseline) == 1
    assert baseline.lookup(Key("h2", "198.18.0.1", 443, None, "local")) == frozenset(WORKS)
    assert list(baseline.duplicates.values()) == [2]


def test_duplicates_and_vanished_targets_fail_the_gate_by_default() -> None:
    old = [record("198.18.0.1", WORKS), record("198.18.0.2", WORKS)]
    new = [record("198.18.0.1", WORKS), record("198.18.0.1", WORKS)]
    result = compare(old, new, DEFAULT_FAIL_GLOBS)
    assert result.regressions == 0
    [duplicate] = result.duplicates
    assert (duplicate.key.dip, duplicate.old, duplicate.new) == ("198.18.0.1", 1, 2)
    assert result.gate_failures() == [
        "1 target(s) vanished from the new campaign (--vanished=ignore allows that)",
        "1 target(s) recorded more than once (--duplicates=last compares their last records)",
    ]
    assert result.gate_failures(vanished="ignore", duplicates="last") == []
    assert compare(old, old, DEFAULT_FAIL_GLOBS).gate_failures() == []


def test_verdict_for_one_fresh_record() -> None:
    baseline = Baseline.from_records(
        [record("198.18.0.1", WORKS), record("198.18.0.2", BROKEN), record("198.18.0.3", WORKS)]
    )

    def verdict(dip: str, conditions: list[str]) -> str:
        k = Key("h2", dip, 443, None, "local")
        return baseline.verdict(k, conditions, DEFAULT_FAIL_GLOBS)

    assert verdict("198.18.0.1", BROKEN) == "regression"
    assert verdict("198.18.0.2", BROKEN) == "still_failing"
    assert verdict("198.18.0.3", [*WORKS, "h2.upgrade.failed"]) == "ok"
    assert verdict("198.18.0.2", WORKS) == "ok"
    assert verdict("198.18.0.9", BROKEN) == "new"


def test_a_baseline_shares_condition_sets_and_strings() -> None:
    records = [record(f"198.18.0.{i}", list(WORKS)) for i in range(50)]
    baseline = Baseline.from_records(records)
    sets = {id(baseline.lookup(Key("h2", f"198.18.0.{i}", 443, None, "local"))) for i in range(50)}
    assert len(sets) == 1  # fifty records, one frozenset in memory


def test_load_baseline_from_one_or_more_files() -> None:
    assert len(load_baseline(DATA / "old.ndjson")) == 7  # the excluded record is left out
    assert len(load_baseline([DATA / "old.ndjson", DATA / "small.ndjson"])) == 7 + 5


def test_table_lists_regressions_first_with_both_condition_sets() -> None:
    result = compare(
        RecordStream([DATA / "old.ndjson"]), RecordStream([DATA / "new.ndjson"]), ["*.broken"]
    )
    lines = result.format_table().splitlines()
    assert lines[0] == (
        "compared with fail globs *.broken: 1 regression, 1 improvement, 1 changed, "
        "1 still_failing, 2 new, 1 vanished, 2 unchanged"
    )
    assert lines[1].split() == [
        "KIND", "EXPERIMENT", "TARGET", "VANTAGE", "OLD", "CONDITIONS", "NEW", "CONDITIONS"
    ]  # fmt: skip
    assert lines[2].split() == [
        "regression", "h2", "198.18.2.1:443", "198-18-2-1.example", "local",
        "h2.connectivity.works", "h2.connectivity.broken",
    ]  # fmt: skip
    assert lines[3].startswith("improvement")
    assert lines[-1].split()[0] == "vanished"
    assert lines[-1].split()[-1] == "-"


def test_table_limit_counts_what_it_leaves_out() -> None:
    old = [record(f"198.18.0.{i}", WORKS) for i in range(5)]
    new = [record(f"198.18.0.{i}", BROKEN) for i in range(5)]
    table = compare(old, new, DEFAULT_FAIL_GLOBS).format_table(limit=2)
    assert table.count("\nregression ") == 2
    assert table.endswith("... 3 more regression rows not shown")


def test_nothing_to_compare() -> None:
    result = compare([], [], DEFAULT_FAIL_GLOBS)
    assert result.format_table() == (
        "compared with fail globs *.connectivity.broken: nothing to compare"
    )


def test_trial_consistency_alone_is_no_change_but_inconsistency_is() -> None:
    consistent = "h2.trials.consistent"
    old = [
        record("198.18.0.1", WORKS),
        record("198.18.0.2", WORKS),
        record("198.18.0.3", WORKS),
        record("198.18.0.4", [*WORKS, consistent]),
    ]
    new = [
        record("198.18.0.1", [*WORKS, consistent]),  # the same, held in every trial
        record("198.18.0.2", ["h2.trials.inconsistent"]),  # flaky now
        record("198.18.0.3", ["h2.connectivity.transient", consistent]),  # something else
        record("198.18.0.4", WORKS),
    ]
    result = compare(old, new, DEFAULT_FAIL_GLOBS)
    assert result.counts["unchanged"] == 2
    changed = sorted(row.key.dip or "" for row in result.rows["changed"])
    assert changed == ["198.18.0.2", "198.18.0.3"]
    # Flakiness fails a gate that asks for it.
    gated = compare(old, new, ["*.trials.inconsistent"])
    assert [row.key.dip for row in gated.rows["regression"]] == ["198.18.0.2"]
