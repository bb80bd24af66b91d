"""Counting records: outcomes and conditions per experiment and vantage, why targets went
unmeasured, and whether the vantages agree per target. The live terminal summary and the
offline HTML report both count with a :class:`Tally`, so a run's summary and its report cannot
tell different stories.
"""

from __future__ import annotations

from collections import Counter

from pytest_spider import schema
from pytest_spider.schema import Record
from pytest_spider.vantages import VantageAgreement

#: (experiment, vantage): the finest split of a campaign that every record has.
Group = tuple[str, str]


class Tally:
    """Counts records as they come; keeps nothing per record.

    ``agreement``: where to note what each vantage saw per target x experiment (a few bytes
    per target), or None where only one vantage can occur (a live run without ``--dist
    each``).
    """

    def __init__(self, agreement: VantageAgreement | None = None) -> None:
        self.records = 0
        #: Records per (experiment, vantage) and outcome.
        self.outcomes: Counter[tuple[str, str, str]] = Counter()
        #: Conditions of measured records per (experiment, vantage).
        self.conditions: Counter[tuple[str, str, str]] = Counter()
        #: Measured records per (experiment, vantage): the denominator of condition shares.
        self.measured: Counter[Group] = Counter()
        #: Records of targets never contacted, by why (excluded, no_address, dead).
        self.unmeasured: Counter[str] = Counter()
        #: Records an experiment emitted besides its own (dnsresolv's addresses).
        self.emitted: Counter[Group] = Counter()
        self.agreement = agreement

    def add(self, record: Record, emitted: bool = False, key: schema.Key | None = None) -> None:
        """Count one record (``emitted``: handed out by an experiment, it has no outcome of its
        own; ``key``: the record's, where the caller has it already)."""
        group = (schema.experiment_of(record), schema.vantage_of(record))
        self.records += 1
        if emitted:
            self.emitted[group] += 1
        else:
            self.outcomes[(*group, schema.outcome_of(record))] += 1
            if self.agreement is not None:
                self.agreement.add(record, key)
        kind = schema.unmeasured_kind(record)
        if kind is not None:
            self.unmeasured[kind] += 1
            return
        self.measured[group] += 1
        self.conditions.update((*group, c) for c in schema.conditions_of(record))

    def groups(self) -> list[Group]:
        """Every (experiment, vantage) seen, sorted."""
        seen = {(e, v) for e, v, _ in self.outcomes} | set(self.emitted) | set(self.measured)
        return sorted(seen)

    def outcomes_of(self, group: Group) -> Counter[str]:
        """Outcome -> records of one group."""
        return Counter({o: n for (e, v, o), n in self.outcomes.items() if (e, v) == group})

    def conditions_of(self, group: Group) -> Counter[str]:
        """Condition -> measured records of one group."""
        return Counter({c: n for (e, v, c), n in self.conditions.items() if (e, v) == group})

    def per_experiment(self) -> tuple[Counter[str], Counter[tuple[str, str]], Counter[str]]:
        """Summed over vantages: records, (experiment, outcome) and measured records per
        experiment."""
        records: Counter[str] = Counter()
        outcomes: Counter[tuple[str, str]] = Counter()
        for (experiment, _, outcome), count in self.outcomes.items():
            records[experiment] += count
            outcomes[experiment, outcome] += count
        for (experiment, _), count in self.emitted.items():
            records[experiment] += count
        measured: Counter[str] = Counter()
        for (experiment, _), count in self.measured.items():
            measured[experiment] += count
        return records, outcomes, measured

    def conditions_per_experiment(self) -> Counter[tuple[str, str]]:
        """(experiment, condition) -> measured records, summed over vantages."""
        summed: Counter[tuple[str, str]] = Counter()
        for (experiment, _, condition), count in self.conditions.items():
            summed[experiment, condition] += count
        return summed

    def per_vantage(self) -> Counter[str]:
        """Records per vantage point."""
        counts: Counter[str] = Counter()
        for (_, vantage, _), count in self.outcomes.items():
            counts[vantage] += count
        for (_, vantage), count in self.emitted.items():
            counts[vantage] += count
        return counts
