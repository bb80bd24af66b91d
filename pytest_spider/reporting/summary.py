"""The terminal summary: per experiment (and vantage), outcomes and how many targets ended in
each condition, counted with the same :class:`~pytest_spider.tally.Tally` the HTML report uses;
then the targets whose trials disagreed (``--spider-trials``), the first few by name.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

from pytest_spider import schema
from pytest_spider.schema import Record
from pytest_spider.tally import Group, Tally
from pytest_spider.trials import describe

#: Inconsistent targets named in the summary; the rest are counted.
INCONSISTENT_SHOWN = 10


def heading(group: Group) -> str:
    """The experiment, and the vantage point where it is not the default one."""
    experiment, vantage = group
    return experiment if vantage == schema.DEFAULT_VANTAGE else f"{experiment} @ {vantage}"


class Summary:
    """Counts records as they are emitted; renders the end-of-run table."""

    def __init__(self) -> None:
        self.tally = Tally()
        #: Targets whose record the experiment dropped (CONN_DISCARD), per group.
        self.discarded: collections.Counter[Group] = collections.Counter()
        #: Targets whose trials disagreed: how many, and the first few as summary lines.
        self.inconsistent = 0
        self.inconsistent_shown: list[str] = []

    def add(self, record: Record, emitted: bool = False) -> None:
        """Count one record (``emitted``: handed out by an experiment besides its own)."""
        self.tally.add(record, emitted)
        if not emitted and schema.is_inconsistent(record):
            self.inconsistent += 1
            if len(self.inconsistent_shown) < INCONSISTENT_SHOWN:
                key = schema.key_of(record)
                where = heading((key.experiment, key.vantage))
                self.inconsistent_shown.append(
                    f"  {where} {key.target_label()}: {describe(record)} "
                    f"({schema.outcome_of(record)})"
                )

    def add_discarded(self, experiment: str, vantage: str) -> None:
        """Count a target whose record the experiment dropped."""
        self.discarded[experiment, vantage] += 1

    def groups(self) -> list[Group]:
        return sorted(set(self.tally.groups()) | set(self.discarded))

    def outcomes(self, group: Group) -> collections.Counter[str]:
        """Outcome -> targets of one group, discarded ones included."""
        outcomes = self.tally.outcomes_of(group)
        if self.discarded[group]:
            outcomes["discarded"] = self.discarded[group]
        return outcomes

    def lines(self) -> Iterator[str]:
        """The table, one group after another, conditions sorted by name."""
        for group in self.groups():
            outcomes = self.outcomes(group)
            parts = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
            emitted = self.tally.emitted[group]
            more = f", {emitted} records emitted" if emitted else ""
            yield f"{heading(group)}: {outcomes.total()} targets ({parts}){more}"
            conditions = self.tally.conditions_of(group)
            width = max((len(c) for c in conditions), default=0)
            for condition in sorted(conditions):
                yield f"  {condition:<{width}}  {conditions[condition]:>8}"
        if self.inconsistent:
            yield f"inconsistent across trials: {self.inconsistent} target(s)"
            yield from self.inconsistent_shown
            left = self.inconsistent - len(self.inconsistent_shown)
            if left:
                yield f"  ... and {left} more"

    def counts(self) -> dict[str, Any]:
        """Outcomes and conditions per group, for the campaign's metadata."""
        groups = self.groups()
        return {
            "excluded": self.tally.unmeasured[schema.EXCLUDED],
            "unaddressed": self.tally.unmeasured[schema.NO_ADDRESS],
            "discarded": self.discarded.total(),
            "inconsistent": self.inconsistent,
            "outcomes": {heading(g): dict(self.outcomes(g)) for g in groups},
            "conditions": {heading(g): dict(self.tally.conditions_of(g)) for g in groups},
        }
