"""The fixtures an experiment item (or a test written beside an experiment) can ask for.

``spider_target`` is the target; ``spider_flows`` the finished sequence, taken from the
engine (measured ahead, so asking costs no waiting in a busy spider); one ``conn_*``
fixture per connection (registered per experiment by the session); ``spider_record`` the
combined record with ``conditions``.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_spider.collect import CASE_KEY, Case
from pytest_spider.record import Record, build_record
from pytest_spider.session import SESSION_KEY
from pytest_spider.targets import Target


@pytest.fixture
def spider_case(request: pytest.FixtureRequest) -> Case:
    """The target x experiment of this item (from collection or from parametrization)."""
    case = getattr(request, "param", None) or request.node.stash.get(CASE_KEY, None)
    if not isinstance(case, Case):
        pytest.fail("spider fixtures need a spider item (run with --spider-targets)", pytrace=False)
    request.node.stash[CASE_KEY] = case
    return case


@pytest.fixture
def spider_target(spider_case: Case) -> Target:
    """The target being measured (``dip``, ``dp``, ``domain``, input ``fields``)."""
    return spider_case.target


@pytest.fixture
def spider_flows(request: pytest.FixtureRequest, spider_case: Case) -> dict[str, Any]:
    """Every connection's result by ``conn_*`` name, in ``connections`` order."""
    return request.config.stash[SESSION_KEY].measure(request.node).by_name()


@pytest.fixture
def spider_record(
    request: pytest.FixtureRequest, spider_case: Case, spider_flows: dict[str, Any]
) -> Record:
    """The record so far: input fields, ``conditions`` from combine_flows, ``flow_results``."""
    flows = list(spider_flows.values())
    spider = request.config.stash[SESSION_KEY]
    conditions = spider.conditions(request.node, flows)
    return build_record(
        spider_case.target.fields,
        flows,
        conditions,
        experiment=spider_case.experiment.name,
        nodeid=request.node.nodeid,
        outcome="running",
        reason=None,
        vantage=spider.vantage,
    )
