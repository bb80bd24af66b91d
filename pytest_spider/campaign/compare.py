"""Comparing a campaign with a baseline: which targets regressed, improved or changed.

A record regresses when one of its conditions matches a fail glob (``*.connectivity.broken``)
and the baseline's record for the same target x experiment had none that did. The baseline is
held as packed key -> frozenset of interned conditions, with equal sets shared, so 10^6
records cost a string and a dict slot each.

Records measured in several trials (``--spider-trials``) are compared by their conditions, the
super-conditions: a target that turned inconsistent shows as changed (and as a regression if a
fail glob matches ``*.trials.inconsistent``). ``<experiment>.trials.consistent`` alone makes no
change: it only says the other conditions held every time, so a consistent record of several
trials and a record of one trial with the same other conditions are unchanged.

Two things besides regressions can fail a gate, each by default and each with a policy to
allow it (:meth:`Comparison.gate_failures`): targets that *vanished* (measured in the old
campaign, not in the new), and *duplicates* (one target x experiment x vantage measured more
than once in a campaign: which record counts would be a guess, so by default it counts as an
error; allowed, the last record counts).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from pytest_spider.campaign.load import RecordStream
from pytest_spider.schema import (
    DEFAULT_FAIL_ON,
    TRIALS_CONSISTENT,
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
#: Keys recorded more than once in a campaign (counted besides their kind).
DUPLICATE: Final = "duplicate"

#: Gate policies: vanished targets and duplicates fail the gate, or are allowed.
FAIL: Final = "fail"
IGNORE: Final = "ignore"
LAST: Final = "last"
VANISHED_POLICIES: Final = (FAIL, IGNORE)
DUPLICATE_POLICIES: Final = (FAIL, LAST)

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
    """The conditions of each measured target x experiment of a campaign (the last record of a
    key counts; keys recorded more than once are kept in ``duplicates``).

    Excluded and dead targets (skipped, no connections) are left out: they say nothing about
    the path, so a target measured later counts as new rather than as a change.
    """

    def __init__(self) -> None:
        self._conditions: dict[str, Conditions] = {}
        self._shared: dict[Conditions, Conditions] = {}
        #: Packed keys recorded more than once -> how many records (only those keys).
        self.duplicates: dict[str, int] = {}

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
        packed = _pack(key_of(record))
        if packed in self._conditions:
            self.duplicates[packed] = self.duplicates.get(packed, 1) + 1
        self._conditions[packed] = shared

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


def campaign_fail_globs(sessions: Iterable[Mapping[str, Any]]) -> tuple[str, ...] | None:
    """The fail globs a campaign ran with (its metadata's ``options.fail_on``, the latest
    session's that says), or None."""
    for session in reversed(list(sessions)):
        options = session.get("options")
        globs = options.get("fail_on") if isinstance(options, Mapping) else None
        if isinstance(globs, list) and globs and all(isinstance(g, str) for g in globs):
            return tuple(globs)
    return None


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


@dataclasses.dataclass(frozen=True, slots=True)
class Duplicate:
    """A target x experiment x vantage recorded more than once in a campaign."""

    packed: str
    #: How many records each campaign has of it (1 or 0 where it is no duplicate).
    old: int
    new: int

    @property
    def key(self) -> Key:
        return _unpack(self.packed)


class Comparison:
    """The outcome of comparing a campaign with its baseline.

    ``counts`` has every kind; ``rows`` keeps every kind but ``unchanged``, which at 10^6
    records would be most of the memory and none of the interest.
    """

    def __init__(
        self, baseline: Baseline, fail_globs: Sequence[str], globs_from: str | None = None
    ) -> None:
        self.baseline = baseline
        self.fail_globs = tuple(fail_globs)
        #: Where the fail globs came from, if not given (e.g. a campaign's metadata).
        self.globs_from = globs_from
        self.counts: Counter[str] = Counter({kind: 0 for kind in KINDS})
        self.rows: dict[str, list[Row]] = {kind: [] for kind in KINDS if kind != UNCHANGED}
        self.duplicates: list[Duplicate] = []

    @property
    def regressions(self) -> int:
        return self.counts[REGRESSION]

    def gate_failures(self, vanished: str = FAIL, duplicates: str = FAIL) -> list[str]:
        """Why the gate fails (empty: it passes): regressions always; vanished targets and
        duplicates unless their policy (``ignore``, ``last``) allows them."""
        reasons = []
        if self.regressions:
            reasons.append(f"{self.regressions} regression(s)")
        if vanished == FAIL and self.counts[VANISHED]:
            reasons.append(
                f"{self.counts[VANISHED]} target(s) vanished from the new campaign "
                "(--vanished=ignore allows that)"
            )
        if duplicates == FAIL and self.duplicates:
            reasons.append(
                f"{len(self.duplicates)} target(s) recorded more than once "
                "(--duplicates=last compares their last records)"
            )
        return reasons

    def _add(self, kind: str, packed: str, old: Conditions | None, new: Conditions | None) -> None:
        self.counts[kind] += 1
        if kind != UNCHANGED:
            self.rows[kind].append(Row(kind, packed, old, new))

    def summary_line(self) -> str:
        """``N regression, N improvement, ...`` over the kinds that occurred (and duplicates)."""
        parts = [f"{self.counts[kind]} {kind}" for kind in KINDS if self.counts[kind]]
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} {DUPLICATE}")
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
        shown_duplicates = sorted(self.duplicates, key=lambda d: d.packed)[:limit]
        for duplicate in shown_duplicates:
            key = duplicate.key
            counts = f"{duplicate.old} records", f"{duplicate.new} records"
            lines.append((DUPLICATE, key.experiment, key.target_label(), key.vantage, *counts))
        if len(shown_duplicates) < len(self.duplicates):
            more = len(self.duplicates) - len(shown_duplicates)
            notes.append(f"... {more} more {DUPLICATE} rows not shown")
        source = f" ({self.globs_from})" if self.globs_from else ""
        globs = ", ".join(self.fail_globs)
        out = [f"compared with fail globs {globs}{source}: {self.summary_line()}"]
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


def diff_baselines(
    old: Baseline, new: Baseline, fail_globs: Sequence[str], globs_from: str | None = None
) -> Comparison:
    """Classify every key of either campaign (a duplicated key by its last record), and list
    the duplicates."""
    comparison = Comparison(old, fail_globs, globs_from)
    for packed in sorted(old.duplicates.keys() | new.duplicates.keys()):
        in_old = old.duplicates.get(packed, int(packed in old._conditions))
        in_new = new.duplicates.get(packed, int(packed in new._conditions))
        comparison.duplicates.append(Duplicate(packed, in_old, in_new))
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
            kind = UNCHANGED if _same(old_conditions, new_conditions) else CHANGED
        comparison._add(kind, packed, old_conditions, new_conditions)
    for packed, old_conditions in old._conditions.items():
        if packed not in new._conditions:
            comparison._add(VANISHED, packed, old_conditions, None)
    return comparison


def _same(old: Conditions, new: Conditions) -> bool:
    """The same conditions, whether or not a side says its trials were consistent."""
    if old == new:
        return True
    return _beyond_consistency(old) == _beyond_consistency(new)


_CONSISTENT_SUFFIX: Final = "." + TRIALS_CONSISTENT


def _beyond_consistency(conditions: Conditions) -> Conditions:
    return frozenset(c for c in conditions if not c.endswith(_CONSISTENT_SUFFIX))


def compare(old: Iterable[Record], new: Iterable[Record], fail_globs: Sequence[str]) -> Comparison:
    """Compare two campaigns' records (each side: the last record of a key counts, and keys
    recorded more than once are listed as duplicates)."""
    return diff_baselines(Baseline.from_records(old), Baseline.from_records(new), fail_globs)
