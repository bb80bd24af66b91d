"""Repeated trials (``--spider-trials``): a target x experiment measured N times, spaced apart,
and the super-conditions over the trials.

One lost SYN must not make a verdict, so, as measurement studies do (MAMI's path transparency
observatory, for one), each target's sequence is run again and only what held every time is
believed. :class:`Trials` is the engine task of such a target: each run is one trial, and
between two it hands its thread back to the engine (:class:`~pytest_spider.engine.Later`)
until ``gap`` seconds after the trial ended, so trials of a target never come in a burst and
the engine keeps measuring other targets meanwhile. The target stays one item and one record:
:func:`super_conditions` makes its conditions. No pytest imports here.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence

from pytest_spider import schema
from pytest_spider.engine import Later
from pytest_spider.measure import SequenceResult


class Trials:
    """``count`` trials of one sequence, one per call, ``gap`` seconds apart (end to start).

    Each call runs the next trial; until the last it returns :class:`Later`, the last returns
    the first trial's result carrying every trial in ``trials`` (and, with
    ``--spider-locate``, where the first trial that failed found the path to break). A trial
    whose experiment discards the target (``CONN_DISCARD``) ends it there: that result is
    returned alone, and the target has no record. A trial that raises ends it too, with that
    exception.
    """

    def __init__(self, sequence: Callable[[], SequenceResult], count: int, gap: float) -> None:
        if count < 1 or gap < 0:
            raise ValueError("trials need a count of at least 1 and a gap of 0 or more")
        self._sequence = sequence
        self._count = count
        self._gap = gap
        self._done: list[SequenceResult] = []

    def __call__(self) -> SequenceResult | Later:
        try:
            result = self._sequence()
        except BaseException as exc:
            exc.add_note(f"in trial {len(self._done) + 1} of {self._count}")
            raise
        if result.discarded:
            return result
        self._done.append(result)
        if len(self._done) < self._count:
            return Later(time.monotonic() + self._gap)
        first = self._done[0]
        located = next((done.locate for done in self._done if done.locate is not None), None)
        return SequenceResult(first.flows, first.emitted, trials=self._done, locate=located)


def super_conditions(experiment: str, per_trial: Sequence[Sequence[str]]) -> list[str]:
    """The conditions every trial had (in the first trial's order), then
    ``<experiment>.trials.consistent`` if every trial had the same ones, else
    ``<experiment>.trials.inconsistent``."""
    if not per_trial:
        raise ValueError("super-conditions need at least one trial")
    first = list(dict.fromkeys(per_trial[0]))
    sets = [frozenset(conditions) for conditions in per_trial]
    held = frozenset.intersection(*sets)
    consistent = all(each == sets[0] for each in sets)
    return [c for c in first if c in held] + [schema.trials_condition(experiment, consistent)]


def describe(record: schema.Record) -> str | None:
    """What a record's trials saw, most frequent first: ``2 of 3: h2.connectivity.works
    h2.upgrade.failed; 1 of 3: h2.connectivity.offline`` (None for a record of one trial)."""
    trials = schema.trials_of(record)
    if not trials:
        return None
    seen: Counter[tuple[str, ...]] = Counter(tuple(schema.conditions_of(trial)) for trial in trials)
    return "; ".join(
        f"{count} of {len(trials)}: {' '.join(conditions) or '(none)'}"
        for conditions, count in seen.most_common()
    )
