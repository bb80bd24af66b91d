"""The measurer: the engine, the plan it runs ahead on, and the order items run in.

It exists only in a process that runs items (one process alone, or an xdist worker; never the
controller, never under ``--collect-only``), from the start of the run loop to its end. Items
take their finished measurement from it; it turns an engine outcome into what the item sees
(a value, a skip, the exception a ``conn_`` raised, or a hang).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import pytest

from pytest_spider.cases import Case, CaseBook, case_of, consumes
from pytest_spider.engine import Engine, Outcome, Task
from pytest_spider.locate import Bounds
from pytest_spider.measure import SequenceResult, run_sequence
from pytest_spider.options import SpiderSettings
from pytest_spider.outcome import DISCARDED, item_run
from pytest_spider.runorder import run_order
from pytest_spider.spider import Spider
from pytest_spider.trials import Trials

if TYPE_CHECKING:
    from pytest_spider.locate.scan import Locator

MEASURER_KEY = pytest.StashKey["Measurer"]()

#: Seconds past its connections' timeouts after which a sequence counts as hung.
HANG_GRACE = 2.0
#: Times a connection on the hub may be made: once more when its timeout was the hub's own
#: (:mod:`pytest_spider.helpers.http`), so its sequence may take that many timeouts each.
ATTEMPTS_ON_HUB = 2


class SequenceHung(Exception):
    """A sequence ran far past its connections' timeouts (a conn_ function hangs)."""


class Measurer:
    """Runs the sequences of the items that will run, ahead of them.

    ``workers`` is how many processes share ``--spider-rate`` (the xdist worker count).
    """

    def __init__(self, book: CaseBook, settings: SpiderSettings, workers: int = 1) -> None:
        self.book = book
        self.settings = settings
        self._workers = max(workers, 1)
        self.engine: Engine[SequenceResult] | None = None
        #: The engine knows up front what runs here (else: on demand, one item ahead).
        self.planned = False
        #: The run order follows the planned measurements as they finish.
        self.follows = False
        #: Keys of the planned measurements, with how many items take each.
        self._measured: dict[Hashable, int] = {}
        #: With --spider-locate: what runs a sequence and locates a failing target's break.
        self._locator: Locator | None = None

    def _task(self, case: Case, consumers: int = 1) -> Task[SequenceResult]:
        instance = self.book.instance(case.experiment)
        job = case.target.job
        locator = self._locator

        def sequence() -> SequenceResult:
            if locator is not None:
                return locator.run(instance, job())
            return run_sequence(instance, job())

        settings = self.settings
        cooperative = self._on_hub(case.experiment)
        trials = settings.trials
        if trials == 1:
            return Task(case.key, sequence, consumers, cooperative)
        # Each trial is one run of the task; between two it holds no engine thread.
        return Task(case.key, Trials(sequence, trials, settings.trial_gap), consumers, cooperative)

    def _on_hub(self, experiment: type[Spider]) -> bool:
        """The sequences of ``experiment`` run on the hub: it is cooperative, and nothing but
        its connections runs (locating a break sends raw probes and waits for them)."""
        settings = self.settings
        return experiment.cooperative and settings.driver == "auto" and not settings.locate

    def start(self, items: Sequence[pytest.Item], ahead: bool, follow: bool) -> None:
        """Start the engine. ``ahead``: ``items`` is what runs here, so measure ahead of it;
        ``follow``: the run order follows the measurements as they finish."""
        cases = [case for item in items if (case := case_of(item)) is not None]
        longest = max((len(case.experiment.connections) for case in cases), default=1)
        attempts = ATTEMPTS_ON_HUB if any(self._on_hub(case.experiment) for case in cases) else 1
        settings = self.settings
        rate = None if settings.rate is None else settings.rate / self._workers
        locating = settings.locate_budget + settings.locate_wait if settings.locate else 0.0
        self.engine = Engine(
            settings.concurrency,
            settings.lookahead,
            hang_after=longest * attempts * settings.timeout
            + max(HANG_GRACE, settings.timeout)
            + locating,
            rate=rate,
        )
        if settings.locate:
            # Only now: the probing brings the raw-socket helpers, which nothing else needs.
            from pytest_spider.locate.scan import Locator

            bounds = Bounds(
                settings.locate_max_ttl,
                settings.locate_probes,
                settings.locate_wait,
                settings.locate_budget,
            )
            self._locator = Locator(settings.fail_on, bounds, self.engine.pace)
        if ahead:
            self.plan(items, follow)

    def plan(self, items: Sequence[pytest.Item], follow: bool = True) -> None:
        """Measure ``items`` ahead (at the start, or once a crashed worker's replacement
        learns what is left of its share); ``follow``: the run order follows them."""
        assert self.engine is not None
        self.planned = True
        self.follows = follow
        self.engine.plan(self._plan(items), announce=follow)

    def _plan(self, items: Sequence[pytest.Item]) -> Iterable[Task[SequenceResult]]:
        consumers: dict[Hashable, int] = {}
        order: list[Case] = []
        for item in items:
            case = case_of(item)
            if case is None or not consumes(item, case):
                continue
            if case.key not in consumers:
                order.append(case)
                consumers[case.key] = 0
            consumers[case.key] += 1
        self._measured = consumers
        return (self._task(case, consumers[case.key]) for case in order)

    def run_order(
        self, items: Sequence[pytest.Item]
    ) -> Iterator[tuple[pytest.Item, pytest.Item | None]]:
        """``items`` in the order to run them, finished measurements first (see ``runorder``).
        Only for a planned engine that follows: it announces the planned keys as they finish."""
        if self.engine is None or not self.follows:
            raise RuntimeError("the run order follows a planned engine; none is running")
        return run_order(
            items,
            key_of=_case_key,
            parent_of=lambda item: item.parent,
            measured=self._measured.__contains__,
            engine=self.engine,
            patience=self._patience(),
        )

    def _patience(self) -> float:
        """How long the run order waits with nothing finished before it waits on the next
        item in plan order: as long as a target's measurement may take, all its trials and
        the gaps between them."""
        assert self.engine is not None
        trials, gap = self.settings.trials, self.settings.trial_gap
        return trials * self.engine.hang_after + (trials - 1) * gap

    def prefetch(self, item: pytest.Item | None) -> None:
        """Without a plan (xdist's own scheduling), start the next item's sequence early."""
        if self.planned or self.engine is None or item is None:
            return
        case = case_of(item)
        if case is not None and case.unmeasured is None:
            self.engine.prefetch(self._task(case))

    def measure(self, item: pytest.Item, case: Case) -> SequenceResult:
        """The finished sequence of ``item``'s case; raises what the sequence raised, skips a
        target that is not to be contacted or that the experiment discarded."""
        if case.unmeasured is not None:
            pytest.skip(case.unmeasured.reason)
        if self.engine is None:
            raise RuntimeError("the measurement engine is not running")
        outcome: Outcome[SequenceResult] = self.engine.take(case.key, self._task(case))
        item_run(item).outcome = outcome
        if outcome.hung_after is not None:
            raise SequenceHung(
                f"{case.experiment.__name__} still running after {outcome.hung_after:g} s "
                f"(timeout {self.settings.timeout:g} s per connection)"
            )
        if outcome.error is not None:
            raise outcome.error
        assert outcome.value is not None
        if outcome.value.discarded:
            pytest.skip(DISCARDED)
        return outcome.value

    def done_with(self, item: pytest.Item, took: bool) -> None:
        """A finished item lets its measurement go. One that never took it (its setup failed
        first) still counted as a consumer, so it releases it here, or the engine would hold
        it to the end."""
        case = case_of(item)
        if self.engine is not None and case is not None and not took and consumes(item, case):
            self.engine.release(case.key)

    @property
    def in_flight(self) -> int:
        """Sequences running right now."""
        return self.engine.in_flight if self.engine is not None else 0

    def stop(self) -> None:
        """Measure nothing more (``-x``, ``--maxfail``, interrupted)."""
        if self.engine is not None:
            self.engine.stop()

    def close(self) -> None:
        """The run loop is over: let the engine's threads go."""
        if self.engine is not None:
            self.engine.close()


def _case_key(item: pytest.Item) -> Hashable | None:
    case = case_of(item)
    return None if case is None else case.key
