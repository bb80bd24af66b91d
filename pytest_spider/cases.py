"""Cases: what one item measures (a target x experiment), and the book of this process's cases.

A :class:`Case` is the parameter pytest parametrizes experiment items (and the tests written
beside an experiment) over. The :class:`CaseBook` deals them: every target with each
collected experiment, or on an xdist worker under share scheduling only that worker's share,
with the reason a target is skipped unmeasured (excluded, no address) decided once. It also
holds each experiment's one instance, built with the ``self.args`` PATHspider would give it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import Any

import pytest

from pytest_spider import schema
from pytest_spider.exclude import ExclusionList
from pytest_spider.measure import Outqueue
from pytest_spider.options import SpiderSettings
from pytest_spider.spider import Spider, experiment_args
from pytest_spider.targets import Target

CASEBOOK_KEY = pytest.StashKey["CaseBook"]()

#: The argument experiment items are parametrized over (the fixture that measures and judges).
EXPERIMENT_PARAM = "spider_verdict"
#: The argument tests written beside an experiment are parametrized over.
TEST_PARAM = "spider_case"


@dataclasses.dataclass(frozen=True, slots=True)
class Unmeasured:
    """Why a target is reported without being contacted: the record's ``unmeasured`` kind
    (:data:`schema.EXCLUDED`, :data:`schema.NO_ADDRESS`) and the skip reason people read."""

    kind: str
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class Case:
    """One target x experiment: what an item measures, or why it is skipped unmeasured."""

    experiment: type[Spider]
    target: Target
    unmeasured: Unmeasured | None = None
    #: Identity of the measurement, shared by every item of this target x experiment. Made
    #: once: the engine, the plan and the run order all hold it, 10^5 times over.
    key: Hashable = dataclasses.field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        key = (self.experiment.__module__, self.experiment.__qualname__, self.target.key)
        object.__setattr__(self, "key", key)

    def record_key(self, vantage: str) -> schema.Key:
        """The key its record has (what ``--spider-resume`` and baselines look up); a
        target's address and domain are in canonical form already."""
        target = self.target
        return schema.Key(self.experiment.name, target.dip, target.dp, target.domain, vantage)


def case_of(item: pytest.Item) -> Case | None:
    """The case an item was parametrized with, or None for an item of no experiment."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    params = callspec.params
    case = params.get(EXPERIMENT_PARAM) or params.get(TEST_PARAM)
    return case if isinstance(case, Case) else None


def is_experiment_item(item: pytest.Item) -> bool:
    """The item of an experiment itself (it writes the record), not a test beside it."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and isinstance(callspec.params.get(EXPERIMENT_PARAM), Case)


def consumes(item: pytest.Item, case: Case) -> bool:
    """The item takes its case's measurement from the engine (so the engine counts it)."""
    if case.unmeasured is not None:
        return False
    return is_experiment_item(item) or "spider_flows" in getattr(item, "fixturenames", ())


class CaseBook:
    """This process's cases per experiment, and each experiment's one instance.

    ``share`` is ``(index, count)`` on an xdist worker under share scheduling: targets are
    dealt round-robin, so it builds only positions ``index, index + count, ...``.
    """

    def __init__(
        self,
        targets: list[Target],
        exclusions: Sequence[ExclusionList],
        settings: SpiderSettings,
        share: tuple[int, int] | None = None,
    ) -> None:
        if share is not None:
            index, count = share
            targets = targets[index::count] if index < count else []
        self._targets = targets
        self._exclusions = exclusions
        self._settings = settings
        self._cases: dict[type[Spider], list[Case]] = {}
        self._instances: dict[type[Spider], Spider] = {}

    @property
    def experiments(self) -> list[type[Spider]]:
        """The experiments cases were dealt for, in collection order."""
        return list(self._cases)

    def cases(self, experiment: type[Spider]) -> list[Case]:
        """Every target (of this process's share) for ``experiment``, in input order."""
        cases = self._cases.get(experiment)
        if cases is None:
            cases = self._cases[experiment] = [
                Case(experiment, target, self._unmeasured(experiment, target))
                for target in self._targets
            ]
        return cases

    def _unmeasured(self, experiment: type[Spider], target: Target) -> Unmeasured | None:
        if target.dip is None:
            if experiment.needs_address:
                reason = f"no address for {target.label()} (names are never resolved here)"
                return Unmeasured(schema.NO_ADDRESS, reason)
            return None
        for exclusion in self._exclusions:
            entry = exclusion.match(target.dip)
            if entry is not None:
                return Unmeasured(schema.EXCLUDED, f"excluded by {entry}")
        return None

    def instance(self, experiment: type[Spider]) -> Spider:
        """The one instance of ``experiment`` in this process (experiments hold no state)."""
        instance = self._instances.get(experiment)
        if instance is None:
            settings = self._settings
            # dnsresolv's: the server to ask, and the networks neither it nor an answer may be
            # in; dscp's: the codepoint given (None: the experiment's own).
            extra: dict[str, Any] = {
                "dns_server": settings.dns_server,
                "exclusions": tuple(self._exclusions),
                "codepoint": settings.codepoint,
            }
            args = experiment_args(experiment, settings.timeout, settings.connect, extra)
            instance = experiment(args=args, source=(None, None))
            instance.outqueue = Outqueue()  # type: ignore[attr-defined]
            self._instances[experiment] = instance
        return instance

    def check_connect_mode(self) -> None:
        """Refuse a ``--spider-connect`` mode that a collected experiment declares it lacks.

        Experiments that declare no modes take the mode as given, as PATHspider plugins do.
        """
        mode = self._settings.connect
        if mode is None:
            return
        lacking = [
            e for e in self._cases if e.connect_supported and mode not in e.connect_supported
        ]
        if lacking:
            known = "; ".join(f"{e.name}: {', '.join(e.connect_supported)}" for e in lacking)
            raise pytest.UsageError(
                f"--spider-connect={mode}: not a mode of "
                f"{', '.join(e.name for e in lacking)} ({known})"
            )

    def release(self) -> None:
        """Collection is over: the items hold their cases, the lists of all of them can go."""
        self._targets = []
        for experiment in self._cases:
            self._cases[experiment] = []
