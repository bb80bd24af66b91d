"""Every fixture pytest-spider provides, and the one place that knows about them.

For tests written beside an experiment: ``spider_target`` (the target), ``spider_flows``
(every connection's result, taken from the measurer: measured ahead, so asking costs no
waiting in a busy spider), one ``conn_*`` fixture per connection (registered per experiment
by :func:`provide_conn_fixtures`), ``spider_record`` (the record with ``conditions``).
Experiment items use ``spider_verdict`` alone. Both kinds are parametrized with their
:class:`~pytest_spider.cases.Case` (indirectly: ``spider_case`` and ``spider_verdict``).
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from pytest_spider import outcome, schema
from pytest_spider.cases import CASEBOOK_KEY, TEST_PARAM, Case, case_of
from pytest_spider.inputs import INPUTS_KEY, Inputs
from pytest_spider.locate import describe as describe_locate
from pytest_spider.measurer import MEASURER_KEY
from pytest_spider.record import Record
from pytest_spider.spider import FlowResult, Spider
from pytest_spider.targets import Target
from pytest_spider.trials import describe
from pytest_spider.verdict import judge_against

#: Fixtures whose request makes a test function of an experiment module run once per target.
SPIDER_FIXTURES = frozenset({TEST_PARAM, "spider_target", "spider_flows", "spider_record"})
#: conn_* names that have a fixture already (per run).
_CONN_FIXTURES_KEY = pytest.StashKey[set[str]]()


@dataclasses.dataclass(frozen=True, slots=True)
class ItemCase:
    """The running item and its target x experiment, with what measures and records it.

    The one fixture that asks for ``request`` hands these on, so the rest need not: each
    ``request`` costs pytest a fixture definition, per item, in a million-item campaign.
    """

    item: pytest.Item
    case: Case
    inputs: Inputs

    @classmethod
    def of(cls, request: pytest.FixtureRequest) -> ItemCase:
        case = getattr(request, "param", None)
        if not isinstance(case, Case):
            pytest.fail(
                "spider fixtures need a spider item (run with --spider-targets)", pytrace=False
            )
        return cls(request.node, case, request.config.stash[INPUTS_KEY])

    @classmethod
    def of_item(cls, item: pytest.Item) -> ItemCase:
        """The same for an experiment item run without fixtures (the lean protocol)."""
        case = case_of(item)
        assert case is not None
        return cls(item, case, item.config.stash[INPUTS_KEY])

    def flows(self) -> list[FlowResult]:
        """The finished sequence's flows (measured ahead by the measurer)."""
        measurer = self.item.config.stash[MEASURER_KEY]
        return measurer.measure(self.item, self.case).flows

    def record(self, flows: list[FlowResult]) -> Record:
        """combine_flows over ``flows``: the item's record (over every trial's flows, if the
        target was measured in several)."""
        instance = self.item.config.stash[CASEBOOK_KEY].instance(self.case.experiment)
        measured = outcome.item_run(self.item).outcome
        trials = measured.value.trials if measured is not None and measured.value else []
        return outcome.record_of(
            self.item,
            self.case,
            instance,
            flows,
            self.inputs.vantage,
            [trial.flows for trial in trials],
        )

    def verdict(self) -> Callable[[], None]:
        """Measure and build the record (an experiment item's setup); returns what applies the
        verdict (its call)."""
        return functools.partial(self.judge, self.record(self.flows()))

    def judge(self, record: Record) -> None:
        """Fail or skip the item as its record's conditions (and the baseline) say."""
        settings = self.inputs.settings
        judgement = judge_against(
            self.case.record_key(self.inputs.vantage),
            record[schema.CONDITIONS],
            settings.fail_on,
            settings.skip_on,
            self.inputs.baseline,
        )
        if judgement.verdict == "pass":
            outcome.item_run(self.item).note = judgement.note
            return
        errors = "; ".join(
            f"{flow.get('conn')}: {flow['error_class']}: {flow.get('error')}"
            for flow in record[schema.FLOW_RESULTS]
            if flow.get("error_class")
        )
        trials = describe(record)
        if trials is not None and errors:
            errors = f"trial 1: {errors}"
        message = f"{judgement.message()}{'; ' if errors else ''}{errors}"
        if trials is not None:
            message += f"; trials: {trials}"
        if schema.LOCATE in record:
            message += f"; {describe_locate(record[schema.LOCATE])}"
        if judgement.verdict == "fail":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture
def spider_case(request: pytest.FixtureRequest) -> ItemCase:
    """Internal: the item's target x experiment (parametrized, one per target)."""
    return ItemCase.of(request)


@pytest.fixture
def spider_target(spider_case: ItemCase) -> Target:
    """The target being measured (``dip``, ``dp``, ``domain``, input ``fields``)."""
    return spider_case.case.target


@pytest.fixture
def spider_flows(spider_case: ItemCase) -> dict[str, FlowResult]:
    """Every connection's result by ``conn_*`` name, in ``connections`` order."""
    return {flow["conn"]: flow for flow in spider_case.flows()}


@pytest.fixture
def spider_record(spider_case: ItemCase, spider_flows: dict[str, FlowResult]) -> Record:
    """The record so far: input fields, ``conditions`` from combine_flows, ``flow_results``."""
    return spider_case.record(list(spider_flows.values()))


@pytest.fixture
def spider_verdict(request: pytest.FixtureRequest) -> Callable[[], None]:
    """Internal, for experiment items: their record, made as ``spider_record`` makes it, and
    what passes, fails or skips them on it.

    One fixture where ``spider_case``, ``spider_flows`` and ``spider_record`` are three: an
    experiment item runs 10^5 times over, and pytest's work per fixture per item was a fifth
    of the item's cost. Measuring happens here, in setup, so a ``conn_`` that raises makes
    the item an error, while the verdict is the test's call.
    """
    return ItemCase.of(request).verdict()


def provide_conn_fixtures(config: pytest.Config, experiments: Iterable[type[Spider]]) -> None:
    """Register a fixture per ``conn_*`` name that returns that connection's result."""
    provided = config.stash.setdefault(_CONN_FIXTURES_KEY, set())
    for experiment in experiments:
        for name in experiment.connection_names():
            if name not in provided:
                provided.add(name)
                # A module object: pytest reads its fixtures as plain (unbound) functions.
                holder = types.ModuleType(f"pytest_spider_conn_{name}")
                setattr(holder, name, _conn_fixture(name))
                config.pluginmanager.register(holder, name=f"pytest-spider:{name}")


def _conn_fixture(name: str) -> Any:
    def conn(spider_flows: dict[str, FlowResult]) -> FlowResult:
        if name not in spider_flows:
            raise LookupError(f"{name} is not a connection of this item's experiment")
        return spider_flows[name]

    conn.__doc__ = f"The result of the ``{name}`` connection for this target."
    return pytest.fixture(name=name)(conn)
