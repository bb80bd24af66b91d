"""Do the vantage points agree? Per target x experiment, the conditions each vantage saw.

Under ``--dist each`` every target is measured from every vantage point. A target x experiment
whose conditions differ between the vantages that measured it is *path-dependent*; one whose
conditions are the same from every vantage is not, and one measured from a single vantage
cannot tell. A path-dependent target whose *verdict* differs too (a fail glob matches its
conditions from some vantages and not from others) is what a gate across vantages fails on.
The terminal summary, the HTML report and ``diff --across-vantages`` all count with a
:class:`VantageAgreement`, so they cannot tell different stories.

Memory stays bounded for 10^6 records: nothing per record is kept. Per target x experiment one
dict slot maps a 64-bit hash of the target (dip, dp, domain) to its *profile*: which condition
set (a small id) each vantage saw. Condition sets and profiles are few, and interned, so a
target costs its slot and its hash whatever its conditions and however many vantages measured
it (88 bytes per target x experiment: 42 MiB for 10^6 records from two vantages). Names are
kept only for the targets a table can show: per experiment and kind of disagreement (which
condition sets differ; as few as the combinations of condition sets seen together), the first
``rows`` by address. Two targets whose hashes collide (odds of 3 x 10^-8 among 10^6) would
count as one.

Records an experiment emitted besides its own (dnsresolv's addresses: several per target and
vantage, told apart by no key) and records of targets never contacted are left out.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

from pytest_spider.campaign.compare import format_conditions
from pytest_spider.schema import (
    EMITTED_BY,
    Key,
    Record,
    conditions_of,
    is_measured,
    key_of,
    matches_any,
)

#: A profile's slot for a vantage that has not measured the target.
ABSENT: Final = -1

#: What a target x experiment can be (the keys of :attr:`Agreement.counts`). ``targets`` is
#: ``same + path_dependent + one_vantage``; ``verdict_differs`` is part of ``path_dependent``,
#: ``incomplete`` (not measured from every vantage compared) includes ``one_vantage``.
TARGETS: Final = "targets"
SAME: Final = "same"
PATH_DEPENDENT: Final = "path_dependent"
VERDICT_DIFFERS: Final = "verdict_differs"
ONE_VANTAGE: Final = "one_vantage"
INCOMPLETE: Final = "incomplete"
COUNTS: Final = (TARGETS, SAME, PATH_DEPENDENT, VERDICT_DIFFERS, ONE_VANTAGE, INCOMPLETE)

#: A path-dependent target's kind, as tables say it.
VERDICT_KIND: Final = "verdict differs"
CONDITIONS_KIND: Final = "conditions differ"

Conditions = frozenset[str]
Profile = tuple[int, ...]
_Order = tuple[int, int, str, int, str]


def _order(key: Key) -> _Order:
    """Targets in address order (IPv4 before IPv6, numerically), then port and domain."""
    version, number, text = 0, 0, key.dip or ""
    try:
        address = ipaddress.ip_address(text)
        version, number, text = address.version, int(address), ""
    except ValueError:
        pass
    return (version, number, text, -1 if key.dp is None else key.dp, key.domain or "")


def family_of(condition: str) -> str:
    """``h2.upgrade.success`` -> ``upgrade``; a condition of fewer parts is its own family."""
    parts = condition.split(".")
    return ".".join(parts[1:-1]) if len(parts) > 2 else condition


@dataclasses.dataclass(frozen=True, slots=True)
class Disagreement:
    """A path-dependent target x experiment (or a pattern many share): what each vantage saw."""

    experiment: str
    #: The target (None for a pattern).
    key: Key | None
    #: Per vantage of :attr:`Agreement.vantages`: its conditions, None where it measured none.
    conditions: tuple[Conditions | None, ...]
    #: The vantages whose conditions match a fail glob.
    failing: tuple[str, ...]
    #: How many targets (1 for a target).
    targets: int = 1

    @property
    def verdict_differs(self) -> bool:
        measured = sum(c is not None for c in self.conditions)
        return 0 < len(self.failing) < measured

    @property
    def kind(self) -> str:
        return VERDICT_KIND if self.verdict_differs else CONDITIONS_KIND

    def target_label(self) -> str:
        return self.key.target_label() if self.key is not None else ""

    def cells(self) -> tuple[str, ...]:
        """Kind, experiment, target and each vantage's conditions, as tables show them."""
        conditions = (format_conditions(c) for c in self.conditions)
        return (self.kind, self.experiment, self.target_label(), *conditions)


@dataclasses.dataclass
class Agreement:
    """Whether the vantages agree, per experiment: counts, patterns and the targets shown."""

    #: The vantages compared, in the order tables show them.
    vantages: tuple[str, ...]
    fail_globs: tuple[str, ...]
    #: experiment -> :data:`COUNTS` -> targets x experiment.
    counts: dict[str, Counter[str]]
    #: experiment -> path-dependent targets shown (verdict differs first, then by address).
    targets: dict[str, list[Disagreement]]
    #: experiment -> every distinct way the vantages disagree, with how many targets.
    patterns: dict[str, list[Disagreement]]
    #: experiment -> conditions -> targets the same from every vantage that measured them.
    agreeing: dict[str, Counter[Conditions]]
    #: experiment -> condition family -> path-dependent targets whose family differs.
    families: dict[str, Counter[str]]
    #: Records that repeated a target x experiment x vantage (the last one counts).
    duplicates: int
    #: Where the fail globs came from, if not given (e.g. the campaign's metadata).
    globs_from: str | None = None

    @property
    def compared(self) -> bool:
        """At least two vantages measured something: there is something to compare."""
        return len(self.vantages) >= 2

    def total(self, kind: str) -> int:
        return sum(counts[kind] for counts in self.counts.values())

    def summary_line(self) -> str:
        parts = [
            f"{self.total(SAME)} same everywhere",
            f"{self.total(PATH_DEPENDENT)} path-dependent "
            f"({self.total(VERDICT_DIFFERS)} {VERDICT_KIND})",
        ]
        if self.total(ONE_VANTAGE):
            parts.append(f"{self.total(ONE_VANTAGE)} from one vantage only")
        return ", ".join(parts)

    def gate_failures(self, incomplete: bool = True, duplicates: bool = True) -> list[str]:
        """Why a gate across vantages fails (empty: it passes): targets whose verdict differs
        between vantages; unless allowed, targets not measured from every vantage and records
        that repeat a target x experiment x vantage."""
        reasons = []
        if self.total(VERDICT_DIFFERS):
            reasons.append(
                f"{self.total(VERDICT_DIFFERS)} target(s) whose verdict differs between vantages"
            )
        if incomplete and self.total(INCOMPLETE):
            reasons.append(
                f"{self.total(INCOMPLETE)} target(s) not measured from every vantage "
                "(--vanished=ignore allows that)"
            )
        if duplicates and self.duplicates:
            reasons.append(
                f"{self.duplicates} record(s) repeat a target x experiment x vantage "
                "(--duplicates=last compares their last records)"
            )
        return reasons

    def lines(self, limit: int | None = None, more: str = "") -> Iterator[str]:
        """The comparison as text: counts per experiment, then the path-dependent targets
        (``limit`` per experiment; ``more`` says where the rest are)."""
        source = f" ({self.globs_from})" if self.globs_from else ""
        yield (
            f"vantages {', '.join(self.vantages)} compared per target with fail globs "
            f"{', '.join(self.fail_globs)}{source}: {self.summary_line()}"
        )
        header = ["EXPERIMENT", "TARGETS", "SAME", "PATH-DEPENDENT", "VERDICT DIFFERS"]
        rows = [
            [experiment, *(str(c[k]) for k in COUNTS[:5])]
            for experiment, c in sorted(self.counts.items())
        ]
        yield from text_table([*header, "ONE VANTAGE"], rows, numeric=range(1, 6))
        if any(c[INCOMPLETE] > c[ONE_VANTAGE] for c in self.counts.values()):
            yield f"{self.total(INCOMPLETE)} target(s) not measured from every vantage"
        if self.duplicates:
            yield f"{self.duplicates} record(s) repeat a target x experiment x vantage"
        shown = [
            row for experiment in sorted(self.targets) for row in self.targets[experiment][:limit]
        ]
        if not shown:
            return
        yield "path-dependent targets (conditions differ between vantages):"
        yield from text_table(
            ("KIND", "EXPERIMENT", "TARGET", *(v.upper() for v in self.vantages)),
            [row.cells() for row in shown],
        )
        hidden = self.total(PATH_DEPENDENT) - len(shown)
        if hidden > 0:
            yield f"... {hidden} more path-dependent target(s) not shown{more}"


def text_table(
    header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = ()
) -> Iterator[str]:
    """Columns padded to their widest cell (``numeric`` ones right-aligned), two spaces apart."""
    lines = [tuple(header), *(tuple(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = set(numeric)
    for line in lines:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ]
        yield "  ".join(cells).rstrip()


class VantageAgreement:
    """Collects, record by record, which condition set each vantage saw per target x
    experiment; :meth:`result` then says where they agree.

    ``vantages``: compare only these, in this order (records from others are left out);
    default every vantage seen, by name. ``rows``: path-dependent targets kept per experiment
    (and kind of disagreement) for the tables.
    """

    def __init__(self, vantages: Sequence[str] | None = None, rows: int = 100) -> None:
        self.named = tuple(dict.fromkeys(vantages)) if vantages else None
        self.rows = rows
        #: Every vantage a measured record came from (compared or not), by slot.
        self._slots: dict[str, int] = {}
        self._sets: list[Conditions] = []
        self._set_ids: dict[Conditions, int] = {}
        self._profiles: dict[Profile, Profile] = {}
        self._shapes: dict[Profile, frozenset[int]] = {}
        #: experiment -> target hash -> profile.
        self._targets: dict[str, dict[int, Profile]] = {}
        #: (experiment, shape) -> target hash -> (address order, key): targets a table can show.
        self._shown: dict[tuple[str, frozenset[int]], dict[int, tuple[_Order, Key]]] = {}
        self.duplicates = 0

    @property
    def seen(self) -> list[str]:
        """Every vantage point measured records came from, by name."""
        return sorted(self._slots)

    def add(self, record: Record, key: Key | None = None) -> None:
        """Note one record's conditions for its target, experiment and vantage (``key``: the
        record's, where the caller has it already)."""
        if record.get(EMITTED_BY) is not None or not is_measured(record):
            return
        key = key or key_of(record)
        slot = self._slots.get(key.vantage)
        if slot is None:
            slot = self._slots[key.vantage] = len(self._slots)
        if self.named is not None and key.vantage not in self.named:
            return
        set_id = self._set_id(conditions_of(record))
        targets = self._targets.get(key.experiment)
        if targets is None:
            targets = self._targets[key.experiment] = {}
        target = hash((key.dip, key.dp, key.domain))
        old = targets.get(target, ())
        if slot < len(old):
            if old[slot] != ABSENT:
                self.duplicates += 1
            new = (*old[:slot], set_id, *old[slot + 1 :])
        else:
            new = (*old, *(ABSENT,) * (slot - len(old)), set_id)
        profile = self._profiles.setdefault(new, new)
        targets[target] = profile
        shape = self._shape(profile)
        if len(shape) > 1:
            self._keep(key, target, shape)

    def _set_id(self, conditions: Iterable[str]) -> int:
        found = frozenset(conditions)
        set_id = self._set_ids.get(found)
        if set_id is None:
            set_id = self._set_ids[found] = len(self._sets)
            self._sets.append(frozenset(sys.intern(c) for c in found))
        return set_id

    def _shape(self, profile: Profile) -> frozenset[int]:
        """The distinct condition sets of a profile: more than one, and it is path-dependent."""
        shape = self._shapes.get(profile)
        if shape is None:
            shape = self._shapes[profile] = frozenset(profile) - {ABSENT}
        return shape

    def _keep(self, key: Key, target: int, shape: frozenset[int]) -> None:
        """Keep a path-dependent target's name if it is among the first by address of its
        experiment and shape (the kind of disagreement decides the verdict, so a table can
        show verdict-changing ones first whatever the fail globs turn out to be)."""
        kept = self._shown.setdefault((key.experiment, shape), {})
        if target in kept:
            return
        kept[target] = (_order(key), key)
        if len(kept) > 2 * self.rows:
            first = sorted(kept.items(), key=lambda item: item[1][0])[: self.rows]
            kept.clear()
            kept.update(first)

    def result(
        self, fail_globs: Sequence[str], limit: int | None = None, globs_from: str | None = None
    ) -> Agreement:
        """Where the vantages agree, judged with ``fail_globs`` (which came from
        ``globs_from``); ``limit`` targets shown per experiment (at most ``rows``)."""
        globs = tuple(fail_globs)
        order = self.named or tuple(sorted(self._slots))
        vantages = tuple(v for v in order if v in self._slots)
        slots = [self._slots[v] for v in vantages]
        fails = [matches_any(conditions, globs) for conditions in self._sets]
        agreement = Agreement(vantages, globs, {}, {}, {}, {}, {}, self.duplicates, globs_from)
        for experiment, targets in sorted(self._targets.items()):
            #: This experiment's path-dependent profiles, as the vantages see them.
            views: dict[Profile, Disagreement | None] = {}
            counts = agreement.counts[experiment] = Counter(dict.fromkeys(COUNTS, 0))
            agreeing = agreement.agreeing[experiment] = Counter()
            families = agreement.families[experiment] = Counter()
            patterns: list[Disagreement] = []
            for profile, number in Counter(targets.values()).items():
                ids = [profile[s] if s < len(profile) else ABSENT for s in slots]
                present = [i for i in ids if i != ABSENT]
                counts[TARGETS] += number
                if len(present) < len(slots):
                    counts[INCOMPLETE] += number
                if len(present) < 2:
                    counts[ONE_VANTAGE] += number
                    continue
                if len(set(present)) == 1:
                    counts[SAME] += number
                    agreeing[self._sets[present[0]]] += number
                    continue
                view = self._view(experiment, None, ids, vantages, fails)
                views[profile] = view
                patterns.append(dataclasses.replace(view, targets=number))
                counts[PATH_DEPENDENT] += number
                counts[VERDICT_DIFFERS] += number if view.verdict_differs else 0
                for family in self._differing_families(present):
                    families[family] += number
            patterns.sort(key=lambda p: (not p.verdict_differs, -p.targets, _pattern_text(p)))
            agreement.patterns[experiment] = patterns
            agreement.targets[experiment] = self._shown_targets(experiment, views, limit)
        return agreement

    def _view(
        self,
        experiment: str,
        key: Key | None,
        ids: Sequence[int],
        vantages: Sequence[str],
        fails: Sequence[bool],
    ) -> Disagreement:
        conditions = tuple(None if i == ABSENT else self._sets[i] for i in ids)
        failing = tuple(v for v, i in zip(vantages, ids, strict=True) if i != ABSENT and fails[i])
        return Disagreement(experiment, key, conditions, failing)

    def _differing_families(self, present: Sequence[int]) -> list[str]:
        sets = [self._sets[i] for i in present]
        families = {family_of(c) for conditions in sets for c in conditions}
        return sorted(
            family
            for family in families
            if len({frozenset(c for c in s if family_of(c) == family) for s in sets}) > 1
        )

    def _shown_targets(
        self, experiment: str, views: dict[Profile, Disagreement | None], limit: int | None
    ) -> list[Disagreement]:
        """The kept targets still path-dependent, verdict differs first, then by address."""
        targets = self._targets.get(experiment, {})
        found: dict[int, tuple[_Order, Disagreement]] = {}
        for (exp, _), kept in self._shown.items():
            if exp != experiment:
                continue
            for target, (order, key) in kept.items():
                view = views.get(targets.get(target, ()))
                if view is not None:
                    found[target] = (order, dataclasses.replace(view, key=key))
        ranked = sorted(found.values(), key=lambda item: (not item[1].verdict_differs, item[0]))
        cut = self.rows if limit is None else min(limit, self.rows)
        return [row for _, row in ranked[:cut]]


def _pattern_text(pattern: Disagreement) -> str:
    return "|".join(format_conditions(c) for c in pattern.conditions)
