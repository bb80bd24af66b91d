"""The fixtures an experiment item (or a test written beside an experiment) can ask for.

``spider_target`` is the target; ``spider_flows`` the finished sequence, taken from the
engine (measured ahead, so asking costs no waiting in a busy spider); one ``conn_*``
fixture per connection (registered per experiment by the session); ``spider_record`` the
combined record with ``conditions``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import pytest

from pytest_spider.collect import CASE_KEY, Case
from pytest_spider.record import Record
from pytest_spider.session import SESSION_KEY, SpiderSession
from pytest_spider.targets import Target


@dataclasses.dataclass(frozen=True, slots=True)
class ItemCase:
    """The running item, its target x experiment and the run's spider session.

    The one fixture that asks for ``request`` hands these on, so the rest need not: each
    ``request`` costs pytest a fixture definition, per item, in a million-item campaign.
    """

    item: pytest.Item
    case: Case
    spider: SpiderSession


def _item_case(request: pytest.FixtureRequest) -> ItemCase:
    case = getattr(request, "param", None) or request.node.stash.get(CASE_KEY, None)
    if not isinstance(case, Case):
        pytest.fail("spider fixtures need a spider item (run with --spider-targets)", pytrace=False)
    request.node.stash[CASE_KEY] = case
    return ItemCase(request.node, case, request.config.stash[SESSION_KEY])


@pytest.fixture
def spider_case(request: pytest.FixtureRequest) -> ItemCase:
    """Internal: the item's target x experiment (from collection or parametrization)."""
    return _item_case(request)


@pytest.fixture
def spider_target(spider_case: ItemCase) -> Target:
    """The target being measured (``dip``, ``dp``, ``domain``, input ``fields``)."""
    return spider_case.case.target


@pytest.fixture
def spider_flows(spider_case: ItemCase) -> dict[str, Any]:
    """Every connection's result by ``conn_*`` name, in ``connections`` order."""
    return spider_case.spider.measure(spider_case.item).by_name()


@pytest.fixture
def spider_record(spider_case: ItemCase, spider_flows: dict[str, Any]) -> Record:
    """The record so far: input fields, ``conditions`` from combine_flows, ``flow_results``."""
    return spider_case.spider.record_of(spider_case.item, list(spider_flows.values()))


@pytest.fixture
def spider_verdict(request: pytest.FixtureRequest) -> Callable[[], None]:
    """Internal, for experiment items: their record, made as ``spider_record`` makes it, and
    what passes, fails or skips them on it.

    One fixture where ``spider_case``, ``spider_flows`` and ``spider_record`` are three: an
    experiment item runs 10^5 times over, and pytest's work per fixture per item was a fifth
    of the item's cost.
    """
    current = _item_case(request)
    flows = current.spider.measure(current.item).by_name()
    record = current.spider.record_of(current.item, list(flows.values()))
    return functools.partial(current.spider.apply_verdict, current.item, record)
