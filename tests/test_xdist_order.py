"""The worker's queue of item indices, handed out in run order (pytest_spider.xdist)."""

from __future__ import annotations

from collections import deque
from typing import Any

from pytest_spider.xdist import _InOrderQueue

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


def _queue(queue: FakeQueue, plan: list[int]) -> _InOrderQueue:
    items: dict[int, Any] = {index: f"item{index}" for index in plan}
    # The "run order": reversed.
    return _InOrderQueue(queue, items, lambda share: iter(reversed(share)))  # type: ignore[arg-type]


def _drain(queue: _InOrderQueue) -> list[Any]:
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
