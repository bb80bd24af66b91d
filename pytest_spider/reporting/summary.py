"""The terminal summary: per experiment (and vantage), outcomes and how many targets ended in
each condition, counted with the same :class:`~pytest_spider.tally.Tally` the HTML report uses;
then the targets whose trials disagreed (``--spider-trials``), the first few by name, and
with several vantage points (``--dist each``), whether they agree per target.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator, Sequence
from typing import Any, Final

from pytest_spider import schema
from pytest_spider.schema import Record
from pytest_spider.tally import Group, Tally
from pytest_spider.trials import describe
from pytest_spider.vantages import COUNTS, VantageAgreement

#: Inconsistent targets named in the summary; the rest are counted.
INCONSISTENT_SHOWN = 10
#: Path-dependent targets the terminal summary lists per experiment.
SHOWN_TARGETS: Final = 20


def heading(group: Group) -> str:
    """The experiment, and the vantage point where it is not the default one."""
    experiment, vantage = group
    return experiment if vantage == schema.DEFAULT_VANTAGE else f"{experiment} @ {vantage}"


class Summary:
    """Counts records as they are emitted; renders the end-of-run table."""

    def __init__(
        self, fail_globs: Sequence[str] = schema.DEFAULT_FAIL_ON, vantages: bool = False
    ) -> None:
        """``vantages``: records may come from several vantage points (``--dist each``), so
        note per target what each saw; ``fail_globs`` judge where their verdicts differ."""
        self.fail_globs = tuple(fail_globs)
        agreement = VantageAgreement(rows=SHOWN_TARGETS) if vantages else None
        self.tally = Tally(agreement)
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

    def vantage_lines(self, more: str = "") -> Iterator[str]:
        """Whether the vantages agree per target (nothing with fewer than two vantages);
        ``more`` says where the path-dependent targets not shown are."""
        agreement = self.tally.agreement
        if agreement is None:
            return
        result = agreement.result(self.fail_globs)
        if result.compared:
            yield from result.lines(SHOWN_TARGETS, more)

    def counts(self) -> dict[str, Any]:
        """Outcomes and conditions per group (and whether the vantages agree), for the
        campaign's metadata."""
        groups = self.groups()
        counts: dict[str, Any] = {
            "excluded": self.tally.unmeasured[schema.EXCLUDED],
            "unaddressed": self.tally.unmeasured[schema.NO_ADDRESS],
            "discarded": self.discarded.total(),
            "inconsistent": self.inconsistent,
            "outcomes": {heading(g): dict(self.outcomes(g)) for g in groups},
            "conditions": {heading(g): dict(self.tally.conditions_of(g)) for g in groups},
        }
        agreement = self.tally.agreement
        if agreement is not None and len(agreement.seen) > 1:
            result = agreement.result(self.fail_globs, limit=0)
            counts["path_dependence"] = {
                experiment: {kind: per[kind] for kind in COUNTS}
                for experiment, per in result.counts.items()
            }
        return counts
