"""A worker's side of share scheduling: only its share is kept, and run finished-first.

xdist's worker loop runs items in the order its queue of indices hands them out. Once the
worker's whole planned share has arrived, :class:`InOrderQueue` hands it out in run order
(items whose measurements finished first), as a single process runs them.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from pytest_spider.distributed import _xdist, worker_share


def keep_share(
    config: pytest.Config, items: list[pytest.Item], measures: Callable[[pytest.Item], bool]
) -> None:
    """On a worker under share scheduling, deal out the items that measure nothing (plain
    tests) round-robin too; the measuring ones are this worker's share already."""
    share = worker_share(config)
    if share is None:
        return
    index, count = share
    kept: list[pytest.Item] = []
    others = 0
    for item in items:
        if measures(item):
            kept.append(item)
        else:
            if others % count == index:
                kept.append(item)
            others += 1
    items[:] = kept


class InOrderQueue:
    """Stands in for a worker's queue of item indices, handing out its share in run order.

    The controller sends a worker's whole share at once, then the shutdown marker. With
    ``whole`` the share is every item the worker collected: once all of them have arrived
    they are handed out in ``order``, and anything else passes through as sent (if what
    arrives is not the share, the indices go out as they came). Without it (a crashed
    worker's replacement, which runs only what its share left unfinished) the share is what
    arrives before the marker; ``order`` then learns it first, and the marker follows it.
    """

    def __init__(
        self,
        queue: Any,
        items: dict[int, pytest.Item],
        order: Callable[[list[pytest.Item]], Iterator[pytest.Item]],
        whole: bool = True,
    ) -> None:
        self._queue = queue
        self._items = items
        self._order = order
        self._whole = whole
        self._ordered: Iterator[Any] | None = None

    def put(self, index: Any) -> None:
        self._queue.put(index)

    def get(self) -> Any:
        if self._ordered is None:
            self._ordered = self._receive() if self._whole else self._receive_until_marker()
        index = next(self._ordered, None)
        return self._queue.get() if index is None else index

    def _receive(self) -> Iterator[int]:
        arrived: deque[Any] = deque()
        while len(arrived) < len(self._items):
            index = self._queue.get()
            arrived.append(index)
            if not isinstance(index, int) or index not in self._items:
                return iter(arrived)
        if sorted(arrived) != sorted(self._items):
            return iter(arrived)
        return self._in_order(arrived)

    def _receive_until_marker(self) -> Iterator[Any]:
        arrived: deque[int] = deque()
        while True:
            index = self._queue.get()
            if not isinstance(index, int) or index not in self._items:
                return itertools.chain(self._in_order(arrived), [index])
            arrived.append(index)

    def _in_order(self, indices: Iterable[int]) -> Iterator[int]:
        items = [self._items[index] for index in indices]
        position = {id(item): index for index, item in self._items.items()}
        return (position[id(item)] for item in self._order(items))

    def __getattr__(self, name: str) -> Any:  # lock(), replace(): xdist's other uses
        return getattr(self._queue, name)


def can_hand_out_in_order(config: pytest.Config) -> bool:
    """This worker's loop takes items from a queue we can order (checked before the engine
    is told to announce what finishes)."""
    return _xdist.worker_queue_owner(config) is not None


def hand_out_in_order(
    config: pytest.Config,
    session: pytest.Session,
    order: Callable[[list[pytest.Item]], Iterator[pytest.Item]],
    whole: bool = True,
) -> None:
    """Make xdist's loop run this worker's share in ``order`` (see :class:`InOrderQueue`);
    only where :func:`can_hand_out_in_order` said it can."""
    owner = _xdist.worker_queue_owner(config)
    if owner is None:
        raise RuntimeError("no xdist worker queue to hand the share out in order")
    owner.torun = InOrderQueue(owner.torun, dict(enumerate(session.items)), order, whole)
