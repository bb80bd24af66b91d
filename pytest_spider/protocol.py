"""The lean run protocol of experiment items: the same reports, a fifth of pytest's work.

pytest runs every item through its setup, call and teardown hooks, with fixture setup, output
capturing and log capturing around each phase: about a millisecond per item, as much as the
measurement itself costs. An experiment item of a campaign needs none of it: its one fixture
is pytest-spider's own, and its body runs no user code (the connections ran ahead, in the
engine). For such an item this protocol makes the three phases itself (setup: take the
measurement and build the record; call: the verdict; teardown: nothing) and hands each to
``pytest_runtest_makereport`` and ``pytest_runtest_logreport`` exactly as pytest's runner
does, so everything that consumes reports (the terminal at any verbosity, JUnit, the
``--lf`` cache, ``-x``/``--maxfail``, xdist, other plugins' makereport wrappers) sees what it
sees under the full protocol.

An item keeps pytest's full protocol when its fixture closure holds anything but
pytest-spider's fixture (an autouse fixture, ``usefixtures``), when it carries any mark but
``spider`` (``skipif``, ``xfail`` and the like act in setup hooks), when tests are written
beside its experiment, under ``--setup-show``/``--setup-only``/``--setup-plan``/``--trace``,
and with ``--spider-protocol=full``.
"""

from __future__ import annotations

import bdb
from collections.abc import Callable
from typing import Any, Literal

import pytest

from pytest_spider.cases import EXPERIMENT_PARAM, is_experiment_item
from pytest_spider.inputs import INPUTS_KEY

#: The fixtures an experiment item may need for the lean protocol to stand in for pytest's.
LEAN_FIXTURES = frozenset({EXPERIMENT_PARAM, "request"})
LEAN_KEY = pytest.StashKey["LeanProtocol"]()
#: Set on an experiment module whose experiments have tests written beside them.
TESTS_BESIDE = pytest.StashKey[bool]()

Phase = Literal["setup", "call", "teardown"]


class LeanProtocol:
    """Decides which items run lean (once per experiment) and runs them."""

    def __init__(
        self, config: pytest.Config, verdict_of: Callable[[pytest.Item], Callable[[], None]]
    ) -> None:
        self.config = config
        #: Measures an item's case and returns its verdict, as the ``spider_verdict`` fixture.
        self.verdict_of = verdict_of
        option = config.option
        self.enabled = config.stash[INPUTS_KEY].settings.protocol == "lean" and not (
            getattr(option, "setupshow", False)
            or getattr(option, "setuponly", False)
            or getattr(option, "setupplan", False)
            or getattr(option, "trace", False)
        )
        self.reraise: tuple[type[BaseException], ...] = (pytest.exit.Exception,)
        if not config.getoption("usepdb", False):
            self.reraise += (KeyboardInterrupt,)
        self._lean: dict[tuple[int, str], bool] = {}

    def runs_lean(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        """Whether ``item`` runs under the lean protocol: it can, and so can the next item.

        The last item of a lean run takes pytest's full protocol, so that pytest's own setup
        and teardown (session, modules and their fixtures, other plugins' per-phase state)
        stand as after any item of its own, whatever runs next.
        """
        return self._can(item) and nextitem is not None and self._can(nextitem)

    def _can(self, item: pytest.Item) -> bool:
        """The answer is the same for every item of an experiment: worked out once for each."""
        if not self.enabled or not isinstance(item, pytest.Function):
            return False
        key = (id(item.parent), item.originalname)
        lean = self._lean.get(key)
        if lean is None:
            lean = self._lean[key] = (
                is_experiment_item(item)
                and set(item.fixturenames) <= LEAN_FIXTURES
                and all(mark.name == "spider" for mark in item.iter_markers())
                and not (item.parent is not None and item.parent.stash.get(TESTS_BESIDE, False))
            )
        return lean

    def run(self, item: pytest.Item) -> None:
        """The three phases of ``item``, reported as pytest's runner reports them."""
        ihook = item.ihook  # (looked up once: each look-up searches the conftests anew)
        location = item.location
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=location)
        verdict: list[Callable[[], None]] = []
        setup = self._phase(item, ihook, "setup", lambda: verdict.append(self.verdict_of(item)))
        if setup.passed:
            self._phase(item, ihook, "call", lambda: verdict[0]())
        self._phase(item, ihook, "teardown", lambda: None)
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=location)

    def _phase(
        self, item: pytest.Item, ihook: Any, when: Phase, run: Callable[[], None]
    ) -> pytest.TestReport:
        call = pytest.CallInfo.from_call(run, when=when, reraise=self.reraise)
        report: pytest.TestReport = ihook.pytest_runtest_makereport(item=item, call=call)
        ihook.pytest_runtest_logreport(report=report)
        if _interactive(call):
            ihook.pytest_exception_interact(node=item, call=call, report=report)
        return report


def _interactive(call: pytest.CallInfo[None]) -> bool:
    """The phase raised something ``--pdb`` stops at, as pytest's runner decides it (an
    experiment item has no xfail, so only skips and a debugger's quit are left out)."""
    if call.excinfo is None:
        return False
    return not isinstance(call.excinfo.value, pytest.skip.Exception | bdb.BdbQuit)
