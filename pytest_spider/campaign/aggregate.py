"""One streaming pass over a campaign's records into counters and fixed-size histograms.

Nothing per record is kept except a 64-bit hash per target (to count distinct targets),
the first :data:`INCONSISTENT_ROWS` targets whose trials disagreed, and, per target x
experiment, which condition set each vantage saw (an interned profile: whether the
vantages agree), so a report of 10^6 records fits in memory; groups (AS, country) grow
with the number of distinct groups, not of records.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from pytest_spider.campaign.histogram import LogHistogram
from pytest_spider.schema import (
    ConnState,
    Key,
    Record,
    conditions_of,
    is_inconsistent,
    is_measured,
    key_of,
    outcome_of,
    parse_time,
    state_word,
    trials_of,
)
from pytest_spider.tally import Tally
from pytest_spider.trials import describe
from pytest_spider.vantages import VantageAgreement

#: The two sides of an A/B measurement: config 0, and every other config.
BASELINE: Final = "baseline"
EXPERIMENTAL: Final = "experimental"

#: How a campaign is split besides per experiment, and the record field each split reads.
VANTAGE: Final = "vantage"
AS: Final = "AS"
COUNTRY: Final = "country"
DIMENSIONS: Final = (VANTAGE, AS, COUNTRY)

#: Path-dependent targets the report can list per experiment (and kind of disagreement).
VANTAGE_ROWS: Final = 200

#: The group that collects everything past the top N.
OTHER: Final = "other"
NO_CONDITION: Final = "(none)"

#: How a record measured in several trials came out, and what a record of one trial is.
CONSISTENT: Final = "consistent"
INCONSISTENT: Final = "inconsistent"
ONE_TRIAL: Final = "one trial"
#: Inconsistent targets kept by name for the report; the rest are counted.
INCONSISTENT_ROWS: Final = 500


def _error_class(flow: Mapping[str, Any]) -> str:
    """Our error class, or for PATHspider flows the name of the failed state."""
    error = flow.get("error_class")
    if isinstance(error, str) and error:
        return error
    word = state_word(flow.get("spdr_state"))
    return word if word in _FAILED_STATES else "other"


_FAILED_STATES: Final = frozenset(
    state.word for state in (ConnState.FAILED, ConnState.TIMEOUT, ConnState.SKIPPED)
)


def headline(conditions: list[str]) -> str:
    """The condition that sums a record up: its connectivity one, else its first."""
    for condition in conditions:
        if ".connectivity." in condition:
            return condition
    return conditions[0] if conditions else NO_CONDITION


def _as_label(info: Mapping[str, Any]) -> str | None:
    asn = info.get("ASN")
    if asn is None or asn == "":
        return None
    text = str(asn)
    return text if text.upper().startswith("AS") else f"AS{text}"


def _country_label(info: Mapping[str, Any]) -> str | None:
    """The country of a code like ``US-VA`` (PATHspider's inputs give a subdivision)."""
    code = info.get("CountryCode")
    if not isinstance(code, str) or not code:
        return None
    return code.split("-", 1)[0].upper()


@dataclasses.dataclass
class GroupShares:
    """One bar of a split: a group's records of one experiment, by headline condition."""

    group: str
    total: int
    counts: Counter[str]


@dataclasses.dataclass(frozen=True, slots=True)
class InconsistentRow:
    """A target whose trials disagreed: who, what its trials saw, and its verdict."""

    key: Key
    trials: str
    outcome: str


@dataclasses.dataclass
class Summary:
    """Everything the report shows, counted over all records.

    Records, outcomes and conditions, and what each vantage saw per target, are counted by a
    :class:`~pytest_spider.tally.Tally`, as the plugin's terminal summary counts them; the
    report adds its splits and histograms.
    """

    tally: Tally = dataclasses.field(
        default_factory=lambda: Tally(VantageAgreement(rows=VANTAGE_ROWS))
    )
    #: dimension -> (group, experiment, headline condition) -> measured records.
    groups: dict[str, Counter[tuple[str, str, str]]] = dataclasses.field(
        default_factory=lambda: {dimension: Counter() for dimension in DIMENSIONS}
    )
    #: (experiment, side) -> durations of successful connections.
    times: dict[tuple[str, str], LogHistogram] = dataclasses.field(default_factory=dict)
    #: (experiment, side, error class) -> failed connections.
    errors: Counter[tuple[str, str, str]] = dataclasses.field(default_factory=Counter)
    #: (experiment, consistent|inconsistent|one trial) -> measured records.
    consistency: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    #: (experiment, condition) -> inconsistent records in which the condition held in some
    #: trials but not in every one: what flapped.
    flapping: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    #: Trials measured per experiment (a record of one trial counts one).
    trial_runs: Counter[str] = dataclasses.field(default_factory=Counter)
    #: The first :data:`INCONSISTENT_ROWS` inconsistent records.
    inconsistent: list[InconsistentRow] = dataclasses.field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None
    campaigns: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    _targets: set[int] = dataclasses.field(default_factory=set, repr=False)

    @property
    def records(self) -> int:
        return self.tally.records

    @property
    def targets(self) -> int:
        """Distinct (dip, dp, domain) over all experiments and vantages."""
        return len(self._targets)

    @property
    def per_experiment(self) -> Counter[str]:
        """Records per experiment."""
        return self.tally.per_experiment()[0]

    @property
    def outcomes(self) -> Counter[tuple[str, str]]:
        """(experiment, outcome) -> records."""
        return self.tally.per_experiment()[1]

    @property
    def measured(self) -> Counter[str]:
        """Measured records per experiment: the denominator of condition shares."""
        return self.tally.per_experiment()[2]

    @property
    def conditions(self) -> Counter[tuple[str, str]]:
        """(experiment, condition) -> measured records."""
        return self.tally.conditions_per_experiment()

    @property
    def per_vantage(self) -> Counter[str]:
        return self.tally.per_vantage()

    @property
    def unmeasured(self) -> Counter[str]:
        """Records of targets that ran no connection, by why (excluded, no_address, dead)."""
        return self.tally.unmeasured

    def add(self, record: Record) -> None:
        """Count one record."""
        key = key_of(record)
        self.tally.add(record, key=key)
        experiment = key.experiment
        self._targets.add(hash((key.dip, key.dp, key.domain)))
        if not is_measured(record):
            return
        conditions = conditions_of(record)
        top = headline(conditions)
        info = record.get("info")
        info = info if isinstance(info, Mapping) else {}
        for dimension, group in (
            (VANTAGE, key.vantage),
            (AS, _as_label(info)),
            (COUNTRY, _country_label(info)),
        ):
            if group is not None:
                self.groups[dimension][group, experiment, top] += 1
        for index, flow in enumerate(record.get("flow_results") or ()):
            self._add_flow(experiment, flow, index)
        self._add_trials(experiment, key, record)

    def _add_trials(self, experiment: str, key: Key, record: Record) -> None:
        trials = trials_of(record)
        self.trial_runs[experiment] += max(len(trials), 1)
        if not trials:
            self.consistency[experiment, ONE_TRIAL] += 1
            return
        if not is_inconsistent(record):
            self.consistency[experiment, CONSISTENT] += 1
            return
        self.consistency[experiment, INCONSISTENT] += 1
        sets = [frozenset(conditions_of(trial)) for trial in trials]
        for condition in frozenset.union(*sets) - frozenset.intersection(*sets):
            self.flapping[experiment, condition] += 1
        if len(self.inconsistent) < INCONSISTENT_ROWS:
            row = InconsistentRow(key, describe(record) or "", outcome_of(record))
            self.inconsistent.append(row)

    @property
    def has_trials(self) -> bool:
        """Some record was measured in several trials."""
        return any(kind != ONE_TRIAL for _, kind in self.consistency)

    def _add_flow(self, experiment: str, flow: Mapping[str, Any], index: int) -> None:
        config = flow.get("config", index)
        side = BASELINE if config == 0 else EXPERIMENTAL
        start, stop = parse_time(flow.get("spdr_start")), parse_time(flow.get("spdr_stop"))
        if start is not None and (self.first is None or start < self.first):
            self.first = start
        if stop is not None and (self.last is None or stop > self.last):
            self.last = stop
        if flow.get("spdr_state") != 0:
            self.errors[experiment, side, _error_class(flow)] += 1
        elif start is not None and stop is not None:
            histogram = self.times.setdefault((experiment, side), LogHistogram())
            histogram.add((stop - start).total_seconds())

    def shares(self, dimension: str, experiment: str, top: int) -> list[GroupShares]:
        """The biggest ``top`` groups of a dimension for one experiment, then one ``other``."""
        per_group: dict[str, Counter[str]] = {}
        for (group, exp, condition), count in self.groups[dimension].items():
            if exp == experiment:
                per_group.setdefault(group, Counter())[condition] += count
        ranked = sorted(per_group.items(), key=lambda item: (-item[1].total(), item[0]))
        bars = [GroupShares(group, counts.total(), counts) for group, counts in ranked[:top]]
        rest: Counter[str] = Counter()
        for _, counts in ranked[top:]:
            rest.update(counts)
        if rest:
            bars.append(GroupShares(OTHER, rest.total(), rest))
        return bars


def summarize(records: Iterable[Record]) -> Summary:
    """Count every record of a stream."""
    summary = Summary()
    for record in records:
        summary.add(record)
    return summary
