"""The terminal summary: per experiment, how many targets ended in each condition."""

from __future__ import annotations

import collections
from collections.abc import Iterator

from pytest_spider.record import EXCLUDED, UNADDRESSED, Record


class Summary:
    """Counts records as they are emitted; renders the end-of-run table."""

    def __init__(self) -> None:
        self.conditions: dict[str, collections.Counter[str]] = {}
        self.outcomes: dict[str, collections.Counter[str]] = {}
        self.excluded = 0
        self.unaddressed = 0
        self.discarded = 0
        self.emitted: collections.Counter[str] = collections.Counter()

    @staticmethod
    def _heading(record: Record) -> str:
        """The experiment, and the vantage point where it is not the local one."""
        vantage = record.get("vantage") or "local"
        experiment = str(record.get("experiment"))
        return experiment if vantage == "local" else f"{experiment} @ {vantage}"

    def add(self, record: Record) -> None:
        """Count one record."""
        experiment = self._heading(record)
        self.conditions.setdefault(experiment, collections.Counter()).update(record["conditions"])
        self.outcomes.setdefault(experiment, collections.Counter())[record["outcome"]] += 1
        reason = record.get("reason") or ""
        self.excluded += reason.startswith(EXCLUDED)
        self.unaddressed += reason.startswith(UNADDRESSED)

    def add_discarded(self, experiment: str) -> None:
        """Count a target whose record the experiment dropped (CONN_DISCARD)."""
        self.outcomes.setdefault(experiment, collections.Counter())["discarded"] += 1
        self.discarded += 1

    def add_emitted(self, record: Record) -> None:
        """Count a record an experiment emitted besides its own (dnsresolv's addresses)."""
        experiment = self._heading(record)
        self.conditions.setdefault(experiment, collections.Counter()).update(
            record.get("conditions", ())
        )
        self.emitted[experiment] += 1

    def lines(self) -> Iterator[str]:
        """The table, one experiment after another, conditions sorted by name."""
        for experiment in sorted(self.outcomes.keys() | self.emitted.keys()):
            outcomes = self.outcomes.get(experiment, collections.Counter())
            parts = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
            emitted = self.emitted[experiment]
            more = f", {emitted} records emitted" if emitted else ""
            yield f"{experiment}: {sum(outcomes.values())} targets ({parts}){more}"
            conditions = self.conditions.get(experiment, collections.Counter())
            width = max((len(c) for c in conditions), default=0)
            for condition in sorted(conditions):
                yield f"  {condition:<{width}}  {conditions[condition]:>8}"
