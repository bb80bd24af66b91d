"""Run order: items whose measurements have finished run first.

pytest runs items in collection order, one at a time. In a campaign that order makes one
dead target (a full timeout per connection) hold up every finished item behind it, and the
backlog is then reported at the end, after the last dead target: the run takes the dead
targets' time *plus* the time to report everything else. Reporting items as their
measurements finish overlaps the two.

Only items that could trade places without anyone noticing are reordered: a run of
consecutive items that measure something and share a parent (an experiment module's items
and its per-target tests). A target's items stay together and in their order. Every other
item keeps its place. The ``nextitem`` handed to pytest is the item that runs next or, within
a run, one with the same parents, which is all pytest's setup and teardown look at.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Protocol, TypeVar

import pytest

Item = TypeVar("Item")


class Measurements(Protocol):
    """What the run order needs of the engine: which keys it will finish, and when."""

    def finished(self, timeout: float) -> list[Hashable]:
        """Keys finished since the last call, waiting up to ``timeout`` for the first."""
        ...


def run_order(
    items: Sequence[Item],
    key_of: Callable[[Item], Hashable | None],
    parent_of: Callable[[Item], object],
    measured: Callable[[Hashable], bool],
    engine: Measurements,
    patience: float,
) -> Iterator[tuple[Item, Item | None]]:
    """Yield ``(item, nextitem)`` pairs in the order to run them.

    ``key_of`` names an item's measurement (``None``: it has none), ``measured(key)`` says
    whether the engine will announce that key when it finishes (otherwise the item is ready
    at once). With nothing finished for ``patience`` seconds the first item in plan order is
    run anyway: its own wait then tells a hang from a slow path.
    """
    segments = _segments(items, key_of, parent_of)
    finished: dict[Hashable, None] = {}  # announced before their run's turn, in that order
    for number, segment in enumerate(segments):
        after = segments[number + 1][0] if number + 1 < len(segments) else None
        # A group's first item, and its others where it has more (most have none).
        groups: dict[Hashable, Item] = {}
        others: dict[Hashable, list[Item]] = {}
        for item in segment:
            key = key_of(item)
            if key is None:
                key = object()
            if key in groups:
                others.setdefault(key, []).append(item)
            else:
                groups[key] = item
        ready = deque(key for key in groups if not measured(key))
        ready.extend(key for key in finished if key in groups)
        while groups:
            key = _next_group(groups, ready, finished, engine, patience)
            members = [groups.pop(key), *others.pop(key, ())]
            finished.pop(key, None)
            for index, item in enumerate(members):
                if index + 1 < len(members):
                    yield item, members[index + 1]
                else:
                    # Any item left of the run has the same parents; the last is found at
                    # once (the first, after the run's early items are gone, is not).
                    yield item, next(reversed(groups.values())) if groups else after


def _next_group(
    groups: dict[Hashable, Item],
    ready: deque[Hashable],
    finished: dict[Hashable, None],
    engine: Measurements,
    patience: float,
) -> Hashable:
    """The group to run next: a ready one (the earliest finished), else wait for one."""
    deadline = time.monotonic() + patience
    timeout = 0.0
    while True:
        for key in engine.finished(timeout):
            if key in groups:
                ready.append(key)
            else:  # finished before its segment's turn: ready once the segment starts
                finished[key] = None
        while ready:
            key = ready.popleft()
            if key in groups:
                return key
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            return next(iter(groups))


def _segments(
    items: Sequence[Item],
    key_of: Callable[[Item], Hashable | None],
    parent_of: Callable[[Item], object],
) -> list[list[Item]]:
    """Split ``items`` into runs that may be reordered (and single items that may not)."""
    segments: list[list[Item]] = []
    previous: object = None
    for item in items:
        key = key_of(item)
        parent = parent_of(item) if key is not None else None
        if segments and parent is not None and parent is previous:
            segments[-1].append(item)
        else:
            segments.append([item])
        previous = parent
    return segments


def run_items(
    session: pytest.Session, order: Iterator[tuple[pytest.Item, pytest.Item | None]]
) -> None:
    """pytest's run loop over ``order`` instead of ``session.items``."""
    hook = session.config.hook
    for item, nextitem in order:
        hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
        if session.shouldfail:
            raise session.Failed(session.shouldfail)
        if session.shouldstop:
            raise session.Interrupted(session.shouldstop)
