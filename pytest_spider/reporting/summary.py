"""The terminal summary: per experiment, how many targets ended in each condition."""

from __future__ import annotations

import collections
from collections.abc import Iterator

from pytest_spider.record import DISCARDED, EXCLUDED, UNADDRESSED, Record


class Summary:
    """Counts records as they are emitted; renders the end-of-run table."""

    def __init__(self) -> None:
        self.conditions: dict[str, collections.Counter[str]] = {}
        self.outcomes: dict[str, collections.Counter[str]] = {}
        self.excluded = 0
        self.unaddressed = 0
        self.discarded = 0

    def add(self, record: Record) -> None:
        """Count one record."""
        experiment = str(record.get("experiment"))
        self.conditions.setdefault(experiment, collections.Counter()).update(record["conditions"])
        self.outcomes.setdefault(experiment, collections.Counter())[record["outcome"]] += 1
        reason = record.get("reason") or ""
        self.excluded += reason.startswith(EXCLUDED)
        self.unaddressed += reason.startswith(UNADDRESSED)
        self.discarded += reason == DISCARDED

    def lines(self) -> Iterator[str]:
        """The table, one experiment after another, conditions sorted by name."""
        for experiment in sorted(self.outcomes):
            outcomes = self.outcomes[experiment]
            parts = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
            yield f"{experiment}: {sum(outcomes.values())} targets ({parts})"
            conditions = self.conditions[experiment]
            width = max((len(c) for c in conditions), default=0)
            for condition in sorted(conditions):
                yield f"  {condition:<{width}}  {conditions[condition]:>8}"
