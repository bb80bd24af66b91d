"""Share scheduling's moving parts (pytest_spider.distributed): the worker's queue of item
indices, handed out in run order, and the controller's scheduler, crashes included."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest

from pytest_spider.distributed import REPLACES_KEY, SHARE_KEY, plans_everything, tx_count
from pytest_spider.distributed.controller import ControllerPlugin
from pytest_spider.distributed.scheduling import ShareScheduling
from pytest_spider.distributed.worker import InOrderQueue

SHUTDOWN = object()


class FakeQueue:
    def __init__(self, *values: Any) -> None:
        self.values = deque(values)

    def put(self, value: Any) -> None:
        self.values.append(value)

    def get(self) -> Any:
        return self.values.popleft()

    def lock(self) -> str:
        return "locked"


def _queue(queue: FakeQueue, plan: list[int]) -> InOrderQueue:
    items: dict[int, Any] = {index: f"item{index}" for index in plan}
    # The "run order": reversed.
    return InOrderQueue(queue, items, lambda share: iter(reversed(share)))


def _drain(queue: InOrderQueue) -> list[Any]:
    out = []
    while (value := queue.get()) is not SHUTDOWN:
        out.append(value)
    return out


def test_the_planned_share_goes_out_in_run_order_then_what_follows() -> None:
    queue = _queue(FakeQueue(4, 6, 8, SHUTDOWN), [4, 6, 8])
    assert _drain(queue) == [8, 6, 4]


def test_indices_other_than_the_plan_go_out_as_they_came() -> None:
    assert _drain(_queue(FakeQueue(4, 5, 8, SHUTDOWN), [4, 6, 8])) == [4, 5, 8]
    assert _drain(_queue(FakeQueue(4, SHUTDOWN), [4, 6, 8])) == [4]


def test_puts_and_other_queue_methods_reach_the_real_queue() -> None:
    real = FakeQueue()
    queue = _queue(real, [1])
    queue.put(1)
    queue.put(SHUTDOWN)
    assert queue.lock() == "locked"
    assert _drain(queue) == [1]


class FakeNode:
    def __init__(self, share: int, count: int = 2) -> None:
        self.workerinput: dict[str, object] = {SHARE_KEY: (share, count)}
        self.sent: list[int] = []
        self.down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.down = True


def test_share_scheduling_blames_the_running_item_and_replaces_the_share(
    pytester: pytest.Pytester,
) -> None:
    scheduler = ShareScheduling(pytester.parseconfig("--tx", "2*popen"))
    first, second = FakeNode(0), FakeNode(1)
    for node, ids in ((first, ["a", "b", "c", "d"]), (second, ["e", "f"])):
        scheduler.add_node(node)
        scheduler.add_node_collection(node, ids)
    scheduler.schedule()
    assert (first.sent, second.sent, first.down) == ([0, 1, 2, 3], [0, 1], True)
    # The worker runs its share finished-first: "c" first, then "d" starts and it dies.
    scheduler.note_running(first, "c")
    scheduler.mark_test_complete(first, 2)
    scheduler.note_running(first, "d")
    assert scheduler.remove_node(first) == "d"
    assert scheduler.shares_to_replace == [0]
    assert not scheduler.tests_finished
    replacement = FakeNode(scheduler.shares_to_replace.pop(0))
    scheduler.add_node(replacement)
    scheduler.add_node_collection(replacement, ["a", "b", "c", "d"])
    scheduler.schedule()
    assert replacement.sent == [0, 1]  # what was neither done nor blamed
    for index in (0, 1):
        scheduler.mark_test_complete(replacement, index)
    for index in (0, 1):
        scheduler.mark_test_complete(second, index)
    assert scheduler.tests_finished
    assert scheduler.remove_node(second) is None and scheduler.shares_to_replace == []


def test_a_worker_dying_while_collecting_hands_its_whole_share_on(
    pytester: pytest.Pytester,
) -> None:
    scheduler = ShareScheduling(pytester.parseconfig("--tx", "2*popen"))
    node = FakeNode(1)
    scheduler.add_node(node)
    assert scheduler.remove_node(node) is None
    assert scheduler.shares_to_replace == [1]
    other = FakeNode(0)
    scheduler.add_node(other)
    scheduler.add_node_collection(other, ["a"])
    scheduler.schedule()
    scheduler.mark_test_complete(other, 0)
    assert not scheduler.tests_finished  # share 1 is still to run
    replacement = FakeNode(scheduler.shares_to_replace.pop(0))
    scheduler.add_node(replacement)
    assert not scheduler.tests_finished
    scheduler.add_node_collection(replacement, ["e", "f"])
    scheduler.schedule()
    assert replacement.sent == [0, 1]
    for index in (0, 1):
        scheduler.mark_test_complete(replacement, index)
    assert scheduler.tests_finished


def test_a_replacement_worker_takes_the_crashed_share_and_measures_on_demand(
    pytester: pytest.Pytester,
) -> None:
    config = pytester.parseconfig("--tx", "2*popen", "--dist", "load")
    controller = ControllerPlugin(
        config, share=True, stdin_text=None, on_collected=lambda items, adds: None
    )
    scheduler = controller.pytest_xdist_make_scheduler(config, log=None)
    assert isinstance(scheduler, ShareScheduling)
    first, second, replacement = (FakeNode(0) for _ in range(3))
    for node in (first, second):
        node.workerinput = {}
        controller.pytest_configure_node(node)
    assert [n.workerinput[SHARE_KEY] for n in (first, second)] == [(0, 2), (1, 2)]
    assert not any(n.workerinput[REPLACES_KEY] for n in (first, second))
    scheduler.shares_to_replace.append(1)  # what remove_node records when gw1 dies
    replacement.workerinput = {}
    controller.pytest_configure_node(replacement)
    assert replacement.workerinput[SHARE_KEY] == (1, 2)
    assert replacement.workerinput.get(REPLACES_KEY) is True

    class WorkerConfig:
        workerinput = replacement.workerinput

    # It learns what is left of its share item by item: nothing is measured ahead (again).
    assert not plans_everything(WorkerConfig())  # type: ignore[arg-type]
    WorkerConfig.workerinput = first.workerinput
    assert plans_everything(WorkerConfig())  # type: ignore[arg-type]


def test_the_worker_count_comes_from_the_tx_specs(pytester: pytest.Pytester) -> None:
    assert tx_count(pytester.parseconfig("--tx", "3*popen", "--dist", "load")) == 3
    assert tx_count(pytester.parseconfig("--tx", "popen//id=a", "--tx", "popen//id=b")) == 2


def test_a_worker_dying_before_its_share_is_handed_out_is_replaced_not_finished(
    pytester: pytest.Pytester,
) -> None:
    """It had collected, but the other worker had not yet: nothing was sent to it. Its share
    is not finished, and the run is not over until a replacement has been handed it."""
    scheduler = ShareScheduling(pytester.parseconfig("--tx", "2*popen"))
    early, other = FakeNode(1), FakeNode(0)
    scheduler.add_node(early)
    scheduler.add_node_collection(early, ["e", "f"])
    scheduler.add_node(other)
    assert scheduler.remove_node(early) is None
    assert scheduler.shares_to_replace == [1]
    scheduler.add_node_collection(other, ["a"])
    scheduler.schedule()
    scheduler.mark_test_complete(other, 0)
    scheduler.shares_to_replace.pop(0)  # the controller configures a replacement
    assert not scheduler.tests_finished  # ... which has not collected yet
    assert scheduler.never_run() == {1: None}
    replacement = FakeNode(1)
    scheduler.add_node(replacement)
    scheduler.add_node_collection(replacement, ["e", "f"])
    scheduler.schedule()
    assert replacement.sent == [0, 1]
    for index in (0, 1):
        scheduler.mark_test_complete(replacement, index)
    assert scheduler.tests_finished and scheduler.never_run() == {}
