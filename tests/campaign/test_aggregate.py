"""The numbers of a report, counted by hand on small record files."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from pytest_spider.campaign.aggregate import (
    AS,
    BASELINE,
    COUNTRY,
    EXPERIMENTAL,
    VANTAGE,
    Summary,
    headline,
    summarize,
)
from pytest_spider.campaign.histogram import LOW, LogHistogram
from pytest_spider.campaign.load import RecordStream
from pytest_spider.schema import DEAD, EXCLUDED, NO_ADDRESS

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def small() -> Summary:
    return summarize(RecordStream([DATA / "small.ndjson"]))


def test_records_targets_experiments_and_vantages(small: Summary) -> None:
    assert small.records == 8
    # a, b, c, d on 443, name.example (no address) and 198.18.0.5:80; a and b in two experiments.
    assert small.targets == 6
    assert small.per_experiment == Counter(h2=5, tfo=3)
    assert small.measured == Counter(h2=3, tfo=2)
    # The tfo record of b.example has no vantage field: it counts as "local".
    assert small.per_vantage == Counter(local=7, remote=1)


def test_unmeasured_targets_and_outcomes(small: Summary) -> None:
    assert small.unmeasured == Counter({EXCLUDED: 1, NO_ADDRESS: 1, DEAD: 1})
    assert small.outcomes == Counter(
        {("h2", "passed"): 2, ("h2", "failed"): 1, ("h2", "skipped"): 2}
        | {("tfo", "passed"): 2, ("tfo", "skipped"): 1}
    )


def test_condition_counts_per_experiment(small: Summary) -> None:
    assert small.conditions == Counter(
        {
            ("h2", "h2.connectivity.works"): 2,
            ("h2", "h2.connectivity.broken"): 1,
            ("h2", "h2.upgrade.success"): 1,
            ("h2", "h2.upgrade.failed"): 1,
            ("tfo", "tfo.connectivity.offline"): 1,
            ("tfo", "tfo.connectivity.works"): 1,
        }
    )


def test_splits_count_measured_records_by_headline_condition(small: Summary) -> None:
    # The excluded d.example (AS3320, DE) is not counted in any split.
    assert small.groups[AS] == Counter(
        {
            ("AS7018", "h2", "h2.connectivity.works"): 1,
            ("AS7018", "h2", "h2.connectivity.broken"): 1,
            ("AS3320", "h2", "h2.connectivity.works"): 1,
            ("AS7018", "tfo", "tfo.connectivity.offline"): 1,
            ("AS7018", "tfo", "tfo.connectivity.works"): 1,
        }
    )
    # US-VA and US-CA are both the US.
    assert {group for group, _, _ in small.groups[COUNTRY]} == {"US", "DE"}
    assert small.groups[COUNTRY]["US", "h2", "h2.connectivity.works"] == 1
    assert small.groups[VANTAGE]["remote", "h2", "h2.connectivity.works"] == 1
    assert small.groups[VANTAGE].total() == 5


def test_top_groups_then_other() -> None:
    summary = Summary()
    for asn, count in ((1, 5), (2, 3), (3, 2), (4, 1)):
        for _ in range(count):
            summary.add(
                {"conditions": ["h2.connectivity.works"], "info": {"ASN": asn}, "flow_results": []}
            )
    bars = summary.shares(AS, "h2", top=2)
    assert [(b.group, b.total) for b in bars] == [("AS1", 5), ("AS2", 3), ("other", 3)]
    assert bars[-1].counts == Counter({"h2.connectivity.works": 3})


def test_connection_times_per_side_of_successful_connections(small: Summary) -> None:
    h2_base = small.times["h2", BASELINE]
    assert h2_base.total == 3  # 10 ms, 10 ms, 100 ms; the 5 s timeout is not a success
    assert h2_base.quantile(0.5) == pytest.approx(0.010, rel=0.13)
    assert h2_base.quantile(1.0) == pytest.approx(0.100, rel=0.13)
    assert small.times["h2", EXPERIMENTAL].total == 2
    assert small.times["tfo", BASELINE].quantile(0.5) == pytest.approx(0.001, rel=0.13)
    assert small.times["tfo", EXPERIMENTAL].quantile(0.5) == pytest.approx(0.002, rel=0.13)


def test_failed_connections_by_error_class(small: Summary) -> None:
    assert small.errors == Counter(
        {
            ("h2", EXPERIMENTAL, "timeout"): 1,
            ("tfo", BASELINE, "refused"): 1,
            ("tfo", EXPERIMENTAL, "refused"): 1,
        }
    )


def test_campaign_spans_first_start_to_last_stop(small: Summary) -> None:
    assert small.first == datetime(2026, 11, 25, 13, 58, 1)
    assert small.last == datetime(2026, 11, 25, 13, 58, 7, 10000)


def test_pathspider_failures_are_named_after_their_state() -> None:
    summary = summarize(RecordStream([DATA / "pathspider.ndjson"]))
    assert summary.errors == Counter({("ecn", EXPERIMENTAL, "timeout"): 1})
    assert summary.per_experiment == Counter(ecn=2, unknown=1)
    assert summary.outcomes["ecn", "unknown"] == 2


def test_headline_prefers_the_connectivity_condition() -> None:
    assert headline(["h2.upgrade.success", "h2.connectivity.works"]) == "h2.connectivity.works"
    assert headline(["dnsresolv.aaaa.ok"]) == "dnsresolv.aaaa.ok"
    assert headline([]) == "(none)"


def test_histogram_has_fixed_size_and_quantiles_within_a_bin() -> None:
    histogram = LogHistogram()
    size = len(histogram.counts)
    for i in range(1, 1001):
        histogram.add(i / 1000)  # 1 ms .. 1 s, uniform
    histogram.add(LOW / 10)  # underflow
    histogram.add(10**6)  # overflow
    histogram.add(-1.0)  # a clock step: dropped
    assert len(histogram.counts) == size
    assert histogram.total == 1002
    assert histogram.counts[0] == 1 and histogram.counts[-1] == 1
    assert histogram.quantile(0.5) == pytest.approx(0.5, rel=0.12)
    assert histogram.quantile(0.9) == pytest.approx(0.9, rel=0.12)
    assert LogHistogram().quantile(0.5) is None
