"""Share scheduling: each worker collected its share of the targets and runs all of it.

xdist's load scheduling shows each worker only a few items ahead, too few for a worker's
engine to keep its connections in flight. Here every worker keeps only its share of the
collection (targets dealt round-robin, so every worker computes the same split) and is
handed all of it at the start, so it can plan its engine over all of it; it never builds
the other workers' items. xdist's status line ("N workers [M items]") therefore counts one
worker's share; the session's count of collected items, which pytest's ``[NN%]`` progress is
measured against, is set to all the shares together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from pytest_spider.distributed import SHARE_KEY, tx_count


class ShareScheduling:
    """xdist scheduler (the protocol of ``xdist.scheduler``) for share scheduling.

    A crashed worker's share goes to its replacement (which collects the same share): the
    items it had not finished run there, and the one it was running is reported as the crash.
    """

    def __init__(
        self,
        config: pytest.Config,
        log: Any = None,
        on_total: Callable[[int], None] | None = None,
    ) -> None:
        self.numnodes = tx_count(config)
        #: Told the number of items of all shares together, as each share's collection comes.
        self.on_total = on_total
        self.node2collection: dict[Any, list[str]] = {}
        #: Each worker's indices not yet run, as an ordered set: a worker runs its share
        #: finished-first, so completions come in any order (list.remove cost 5 s of the
        #: controller's CPU per 50,000 items).
        self.node2pending: dict[Any, dict[int, None]] = {}
        #: Shares of crashed workers, for their replacements to take (in crash order).
        self.shares_to_replace: list[int] = []
        #: Shares a crash left unfinished, until a replacement has been handed them.
        self._awaiting: set[int] = set()
        self._started: list[Any] = []
        self._orphans: dict[int, list[int]] = {}
        self._running: dict[Any, str] = {}
        self.log = log

    @property
    def nodes(self) -> list[Any]:
        return list(self.node2pending)

    @property
    def collection_is_completed(self) -> bool:
        # Every share has been collected once, and every worker now up has collected (a
        # crashed worker's replacement collects its share again).
        shares = {_share(node) for node in self.node2collection} - {None}
        return len(shares) >= self.numnodes and all(
            node in self.node2collection for node in self.node2pending
        )

    @property
    def tests_finished(self) -> bool:
        # Every share handed out (crashed ones included); a worker keeps its last item until
        # it is told to shut down.
        return (
            self.collection_is_completed
            and not self._orphans
            and not self.shares_to_replace
            and not self._awaiting
            and all(node in self._started for node in self.node2pending)
            and all(len(pending) < 2 for pending in self.node2pending.values())
        )

    @property
    def has_pending(self) -> bool:
        return any(self.node2pending.values())

    def add_node(self, node: Any) -> None:
        self.node2pending[node] = {}

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        self.node2collection[node] = list(collection)
        if self.on_total is not None:
            shares = {_share(n): len(ids) for n, ids in self.node2collection.items()}
            self.on_total(sum(count for share, count in shares.items() if share is not None))

    def note_running(self, node: Any, nodeid: str) -> None:
        """A worker started ``nodeid`` (its setup was reported): the item a crash interrupts."""
        self._running[node] = nodeid

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        del self.node2pending[node][item_index]
        self._running.pop(node, None)

    def mark_test_pending(self, item: str) -> None:
        raise NotImplementedError("share scheduling does not move items between workers")

    def remove_node(self, node: Any) -> str | None:
        pending = self.node2pending.pop(node)
        running = self._running.pop(node, None)
        collection = self.node2collection.get(node)
        share = _share(node)
        started = node in self._started
        if collection is not None and started and not pending:
            return None  # finished its share
        if share is not None:
            self.shares_to_replace.append(share)
            self._awaiting.add(share)
        if collection is None or not started:
            # Died collecting, or before its share was handed out: the replacement collects
            # the same share and runs all of it.
            return None
        crashed = None
        index = collection.index(running) if running is not None else None
        if index in pending:
            del pending[index]
            crashed = running
        if share is not None:
            self._orphans.setdefault(share, []).extend(pending)
        return crashed

    def never_run(self) -> dict[int, int | None]:
        """Shares that lost items for good (no replacement came): share -> items never run
        (None: the whole share, whose size is unknown because its worker died collecting)."""
        lost: dict[int, int | None] = {
            share: len(indices) for share, indices in self._orphans.items()
        }
        for share in self._awaiting:
            lost.setdefault(share, None)
        return lost

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        raise NotImplementedError("share scheduling does not move items between workers")

    def schedule(self) -> None:
        for node in list(self.node2pending):
            if node in self._started or node not in self.node2collection:
                continue
            share = _share(node)
            everything = range(len(self.node2collection[node])) if share is not None else ()
            indices = self._orphans.pop(share, everything) if share is not None else ()
            if share is not None:
                self._awaiting.discard(share)
            self.node2pending[node] = pending = dict.fromkeys(indices)
            if pending:
                node.send_runtest_some(list(pending))
            node.shutdown()
            self._started.append(node)


def _share(node: Any) -> int | None:
    index, count = node.workerinput[SHARE_KEY]
    return int(index) if index < count else None
