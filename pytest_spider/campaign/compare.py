"""Comparing a campaign with a baseline: which targets regressed, improved or changed.

A record regresses when one of its conditions matches a fail glob (``*.connectivity.broken``)
and the baseline's record for the same target x experiment had none that did. The baseline is
held as packed key -> frozenset of interned conditions, with equal sets shared, so 10^6
records cost a string and a dict slot each.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final

from pytest_spider.campaign.load import RecordStream
from pytest_spider.schema import (
    DEFAULT_FAIL_ON,
    Key,
    Record,
    conditions_of,
    is_measured,
    key_of,
    matches_any,
)

#: The fail globs of a comparison when none are given (the plugin's default).
DEFAULT_FAIL_GLOBS: Final = DEFAULT_FAIL_ON

REGRESSION: Final = "regression"
IMPROVEMENT: Final = "improvement"
CHANGED: Final = "changed"
STILL_FAILING: Final = "still_failing"
NEW: Final = "new"
VANISHED: Final = "vanished"
UNCHANGED: Final = "unchanged"
OK: Final = "ok"
#: Every kind of row, in the order tables show them: what needs a look first.
KINDS: Final = (REGRESSION, IMPROVEMENT, CHANGED, STILL_FAILING, NEW, VANISHED, UNCHANGED)

Conditions = frozenset[str]
_SEP: Final = "\x1f"


def _pack(key: Key) -> str:
    """One string per key: a third of the memory of a tuple of five fields."""
    dp = "" if key.dp is None else str(key.dp)
    return _SEP.join((key.experiment, key.dip or "", dp, key.domain or "", key.vantage))


def _unpack(packed: str) -> Key:
    experiment, dip, dp, domain, vantage = packed.split(_SEP)
    return Key(experiment, dip or None, int(dp) if dp else None, domain or None, vantage)


class _FailMatcher:
    """:func:`matches_any` remembered per condition set: a campaign has few distinct sets."""

    def __init__(self, fail_globs: Sequence[str]) -> None:
        self.fail_globs = tuple(fail_globs)
        self._seen: dict[Conditions, bool] = {}

    def __call__(self, conditions: Conditions) -> bool:
        hit = self._seen.get(conditions)
        if hit is None:
            hit = self._seen[conditions] = matches_any(conditions, self.fail_globs)
        return hit


class Baseline:
    """The conditions of each measured target x experiment of a campaign; last record wins.

    Excluded and dead targets (skipped, no connections) are left out: they say nothing about
    the path, so a target measured later counts as new rather than as a change.
    """

    def __init__(self) -> None:
        self._conditions: dict[str, Conditions] = {}
        self._shared: dict[Conditions, Conditions] = {}

    @classmethod
    def from_records(cls, records: Iterable[Record]) -> Baseline:
        baseline = cls()
        for record in records:
            baseline.add(record)
        return baseline

    def add(self, record: Record) -> None:
        """Remember one record's conditions (if it was measured)."""
        if not is_measured(record):
            return
        conditions = frozenset(sys.intern(c) for c in conditions_of(record))
        shared = self._shared.setdefault(conditions, conditions)
        self._conditions[_pack(key_of(record))] = shared

    def lookup(self, key: Key) -> Conditions | None:
        """The baseline's conditions for a key, or None if the baseline never measured it."""
        return self._conditions.get(_pack(key))

    def verdict(self, key: Key, conditions: Iterable[str], fail_globs: Sequence[str]) -> str:
        """``regression``, ``still_failing``, ``ok`` or ``new`` for one fresh record."""
        old = self.lookup(key)
        if old is None:
            return NEW
        if not matches_any(conditions, fail_globs):
            return OK
        return STILL_FAILING if matches_any(old, fail_globs) else REGRESSION

    def __len__(self) -> int:
        return len(self._conditions)


def load_baseline(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> Baseline:
    """A baseline from one or more record files (raises RecordFileError on bad input)."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    return Baseline.from_records(RecordStream(paths))


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """One target x experiment that differs between the campaigns (or is new or gone)."""

    kind: str
    packed: str
    old: Conditions | None
    new: Conditions | None

    @property
    def key(self) -> Key:
        return _unpack(self.packed)


class Comparison:
    """The outcome of comparing a campaign with its baseline.

    ``counts`` has every kind; ``rows`` keeps every kind but ``unchanged``, which at 10^6
    records would be most of the memory and none of the interest.
    """

    def __init__(self, baseline: Baseline, fail_globs: Sequence[str]) -> None:
        self.baseline = baseline
        self.fail_globs = tuple(fail_globs)
        self.counts: Counter[str] = Counter({kind: 0 for kind in KINDS})
        self.rows: dict[str, list[Row]] = {kind: [] for kind in KINDS if kind != UNCHANGED}

    @property
    def regressions(self) -> int:
        return self.counts[REGRESSION]

    def _add(self, kind: str, packed: str, old: Conditions | None, new: Conditions | None) -> None:
        self.counts[kind] += 1
        if kind != UNCHANGED:
            self.rows[kind].append(Row(kind, packed, old, new))

    def summary_line(self) -> str:
        """``N regression, N improvement, ...`` over the kinds that occurred."""
        parts = [f"{self.counts[kind]} {kind}" for kind in KINDS if self.counts[kind]]
        return ", ".join(parts) or "nothing to compare"

    def format_table(self, limit: int | None = 50) -> str:
        """A text table, regressions first, with both condition sets; ``limit`` rows per kind."""
        header = ("KIND", "EXPERIMENT", "TARGET", "VANTAGE", "OLD CONDITIONS", "NEW CONDITIONS")
        lines: list[tuple[str, ...]] = []
        notes: list[str] = []
        for kind, rows in self.rows.items():
            shown = sorted(rows, key=lambda row: row.packed)[:limit]
            for row in shown:
                key = row.key
                old, new = format_conditions(row.old), format_conditions(row.new)
                lines.append((kind, key.experiment, key.target_label(), key.vantage, old, new))
            if len(shown) < len(rows):
                notes.append(f"... {len(rows) - len(shown)} more {kind} rows not shown")
        out = [f"compared with fail globs {', '.join(self.fail_globs)}: {self.summary_line()}"]
        if lines:
            widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
            for line in [header, *lines]:
                out.append(
                    "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                )
        return "\n".join(out + notes)


def format_conditions(conditions: Conditions | None) -> str:
    """Sorted and comma-joined; ``-`` where a side has no record."""
    if conditions is None:
        return "-"
    return ",".join(sorted(conditions)) or "(none)"


def diff_baselines(old: Baseline, new: Baseline, fail_globs: Sequence[str]) -> Comparison:
    """Classify every key of either campaign."""
    comparison = Comparison(old, fail_globs)
    fails = _FailMatcher(fail_globs)
    for packed, new_conditions in new._conditions.items():
        old_conditions = old._conditions.get(packed)
        if old_conditions is None:
            comparison._add(NEW, packed, None, new_conditions)
            continue
        old_fail, new_fail = fails(old_conditions), fails(new_conditions)
        if new_fail:
            kind = STILL_FAILING if old_fail else REGRESSION
        elif old_fail:
            kind = IMPROVEMENT
        else:
            kind = UNCHANGED if old_conditions == new_conditions else CHANGED
        comparison._add(kind, packed, old_conditions, new_conditions)
    for packed, old_conditions in old._conditions.items():
        if packed not in new._conditions:
            comparison._add(VANISHED, packed, old_conditions, None)
    return comparison


def compare(old: Iterable[Record], new: Iterable[Record], fail_globs: Sequence[str]) -> Comparison:
    """Compare two campaigns' records (each side: the last record of a key wins)."""
    return diff_baselines(Baseline.from_records(old), Baseline.from_records(new), fail_globs)
