"""Everything that depends on pytest-xdist, in one place.

Uses xdist's documented surface (``config.workerinput`` on workers, the ``dsession`` plugin on
the controller, the ``pytest_configure_node`` and ``pytest_xdist_make_scheduler`` hooks, the
scheduler protocol of ``xdist.scheduler``) plus ``xdist.workermanage.parse_tx_spec_config``
for the number of workers. ``tests/test_private_interfaces.py`` pins them.

Share scheduling: xdist's load scheduling shows each worker only a few items ahead, too few
for a worker's engine to keep its connections in flight. :class:`ShareScheduling` hands every
worker its whole share at the start instead, and the worker computes the same share from the
same collection (:func:`shares`), so it can plan its engine over all of it.

Run order on a worker: xdist's worker loop runs items in the order its queue of indices
hands them out. :func:`hand_out_in_order` wraps that queue (``WorkerInteractor.torun``, the
one private interface used here) so that a worker, like a single process, runs first the
items whose measurements have finished.
"""

from __future__ import annotations

import re
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

#: workerinput keys: the controller's copy of stdin; the worker's share number and count
#: under share scheduling; its vantage name under ``--dist each``.
STDIN_KEY = "spider_stdin_copy"
SHARE_KEY = "spider_share"
VANTAGE_KEY = "spider_vantage"

_ADDRESS_START = re.compile(r"^(\[|[0-9a-fA-F]*[.:])")


def is_worker(config: pytest.Config) -> bool:
    """This process is an xdist worker (it runs items; the controller reports them)."""
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """This process distributes items to xdist workers and runs none itself."""
    return config.pluginmanager.getplugin("dsession") is not None


def will_distribute(config: pytest.Config) -> bool:
    """Known at configure time: this process is (or is about to be) an xdist controller."""
    return (
        not is_worker(config)
        and config.getoption("dist", "no") != "no"
        and not config.getoption("collectonly", False)
    )


def worker_stdin_copy(config: pytest.Config) -> str | None:
    """On a worker: the file holding what the controller read from stdin, if anything."""
    value = getattr(config, "workerinput", {}).get(STDIN_KEY)
    return str(value) if value else None


def worker_vantage(config: pytest.Config) -> str | None:
    """On a worker under ``--dist each``: its gateway id (``gw0``, or a ``--tx`` spec's id=)."""
    value = getattr(config, "workerinput", {}).get(VANTAGE_KEY)
    return str(value) if value else None


def report_worker(report: pytest.TestReport) -> str:
    """On the controller: the id of the worker a report came from ("" if none)."""
    gateway = getattr(getattr(report, "node", None), "gateway", None)
    return str(getattr(gateway, "id", ""))


def target_group(nodeid: str) -> str:
    """Items measuring the same target in one module share this key (and so a worker).

    ``mod.py::H2[198.19.0.5:443 a.example]`` and ``mod.py::test_x[198.19.0.5:443 a.example]``
    (or ``test_x[H2 198.19.0.5:443 a.example]`` where a module has several experiments) group
    together; any other item is a group of its own.
    """
    path, _, rest = nodeid.partition("::")
    if not rest.endswith("]") or "[" not in rest:
        return nodeid
    param = rest[rest.index("[") + 1 : -1]
    first, _, others = param.partition(" ")
    if others and not _ADDRESS_START.match(first):
        param = others
    return f"{path}[{param}]"


def shares(nodeids: Sequence[str], count: int) -> list[list[int]]:
    """Item indices for ``count`` workers: targets dealt round-robin, a target's items together."""
    groups: dict[str, int] = {}
    result: list[list[int]] = [[] for _ in range(count)]
    for index, nodeid in enumerate(nodeids):
        group = groups.setdefault(target_group(nodeid), len(groups))
        result[group % count].append(index)
    return result


def planned_items(config: pytest.Config, items: Sequence[pytest.Item]) -> list[pytest.Item] | None:
    """On a worker, the items it will run, in order, where the scheduling says so up front."""
    workerinput = getattr(config, "workerinput", {})
    if VANTAGE_KEY in workerinput:  # --dist each: every item runs on every worker
        return list(items)
    share = workerinput.get(SHARE_KEY)
    if share is None:
        return None
    index, count = share
    if index >= count:  # a replacement for a crashed worker: its work is not known up front
        return None
    return [items[i] for i in shares([item.nodeid for item in items], count)[index]]


class _InOrderQueue:
    """Stands in for a worker's queue of item indices, handing out its share in run order.

    The controller sends a worker's whole share at once (then, for share and each
    scheduling, the shutdown marker). Once every planned index has arrived they are handed out
    in ``order``; anything else (more indices, the shutdown marker) passes through as sent.
    If what arrives is not the plan, the indices go out as they came.
    """

    def __init__(
        self,
        queue: Any,
        plan: dict[int, pytest.Item],
        order: Callable[[list[pytest.Item]], Iterator[pytest.Item]],
    ) -> None:
        self._queue = queue
        self._plan = plan
        self._order = order
        self._ordered: Iterator[int] | None = None

    def put(self, index: Any) -> None:
        self._queue.put(index)

    def get(self) -> Any:
        if self._ordered is None:
            self._ordered = self._receive()
        index = next(self._ordered, None)
        return self._queue.get() if index is None else index

    def _receive(self) -> Iterator[int]:
        arrived: deque[Any] = deque()
        while len(arrived) < len(self._plan):
            index = self._queue.get()
            arrived.append(index)
            if not isinstance(index, int) or index not in self._plan:
                return iter(arrived)
        if sorted(arrived) != sorted(self._plan):
            return iter(arrived)
        position = {id(item): index for index, item in self._plan.items()}
        items = [self._plan[index] for index in arrived]
        return (position[id(item)] for item in self._order(items))

    def __getattr__(self, name: str) -> Any:  # lock(), replace(): xdist's other uses
        return getattr(self._queue, name)


def hand_out_in_order(
    config: pytest.Config,
    session: pytest.Session,
    order: Callable[[list[pytest.Item]], Iterator[pytest.Item]],
) -> bool:
    """On a worker whose share is known up front, make xdist's loop run it in ``order``.

    Returns False (and changes nothing) where the share is not known or the worker loop is
    not the one this was written against.
    """
    plan = planned_items(config, session.items)
    interactor = next(
        (
            plugin
            for plugin in config.pluginmanager.get_plugins()
            if type(plugin).__name__ == "WorkerInteractor" and hasattr(plugin, "torun")
        ),
        None,
    )
    if plan is None or interactor is None:
        return False
    index_of = {id(item): index for index, item in enumerate(session.items)}
    interactor.torun = _InOrderQueue(
        interactor.torun, {index_of[id(item)]: item for item in plan}, order
    )
    return True


class ShareScheduling:
    """xdist scheduler: each worker gets its whole share of targets at the start.

    A crashed worker's unfinished items go to its replacement, as with ``--dist each``.
    """

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        from xdist.workermanage import parse_tx_spec_config

        self.numnodes = len(parse_tx_spec_config(config))
        self.node2collection: dict[Any, list[str]] = {}
        self.node2pending: dict[Any, list[int]] = {}
        self._started: list[Any] = []
        self._orphans: list[int] = []
        self.log = log

    @property
    def nodes(self) -> list[Any]:
        return list(self.node2pending)

    @property
    def collection_is_completed(self) -> bool:
        return len(self.node2collection) >= self.numnodes

    @property
    def tests_finished(self) -> bool:
        # A worker keeps its last item until it is told to shut down.
        return (
            self.collection_is_completed
            and not self._orphans
            and all(len(pending) < 2 for pending in self.node2pending.values())
        )

    @property
    def has_pending(self) -> bool:
        return any(self.node2pending.values())

    def add_node(self, node: Any) -> None:
        self.node2pending[node] = []

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        first = next(iter(self.node2collection.values()), None)
        if first is not None and list(collection) != first:
            raise pytest.UsageError(
                f"{node.gateway.id} collected other items than the first worker: every worker "
                "must see the same target lists and experiments"
            )
        # Identical for every worker: one copy of 10^5 node ids serves them all.
        self.node2collection[node] = first if first is not None else list(collection)

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self.node2pending[node].remove(item_index)

    def mark_test_pending(self, item: str) -> None:
        raise NotImplementedError("share scheduling does not move items between workers")

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        raise NotImplementedError("share scheduling does not move items between workers")

    def remove_node(self, node: Any) -> str | None:
        pending = self.node2pending.pop(node)
        if not pending:
            return None
        crashed = self.node2collection[node][pending.pop(0)]
        self._orphans.extend(pending)
        return crashed

    def schedule(self) -> None:
        for node, pending in self.node2pending.items():
            if node in self._started:
                continue
            index, count = node.workerinput[SHARE_KEY]
            if index < count:
                pending[:] = shares(self.node2collection[node], count)[index]
            else:
                pending[:], self._orphans = self._orphans, []
            if pending:
                node.send_runtest_some(list(pending))
            node.shutdown()
            self._started.append(node)


class ControllerPlugin:
    """Controller side: numbers the workers' shares, forwards stdin, picks the scheduler."""

    def __init__(
        self,
        config: pytest.Config,
        share: bool,
        stdin_text: str | None,
        on_collected: Callable[[int, bool], None],
    ) -> None:
        self.config = config
        self.share = share
        self.on_collected = on_collected
        self.configured = 0
        self.stdin_copy: str | None = None
        if stdin_text is not None:
            with tempfile.NamedTemporaryFile(
                "w", prefix="spider-stdin-", suffix=".txt", delete=False, encoding="utf-8"
            ) as spool:
                spool.write(stdin_text)
            self.stdin_copy = spool.name

    def _shares(self) -> bool:
        return self.share and self.config.getoption("dist") == "load"

    def pytest_configure_node(self, node: Any) -> None:
        """xdist hook: tell each worker what it will run (and where stdin's copy is).

        Workers see ``--dist`` as ``no``, so what they need of it travels in workerinput.
        """
        dist = self.config.getoption("dist")
        if dist == "each":
            node.workerinput[VANTAGE_KEY] = node.gateway.id
        elif self._shares():
            node.workerinput[SHARE_KEY] = (self.configured, len(_tx_specs(self.config)))
        self.configured += 1
        if self.stdin_copy is not None:
            node.workerinput[STDIN_KEY] = self.stdin_copy

    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        """xdist hook: a worker's collection is in (for the progress line's total)."""
        self.on_collected(len(ids), self.config.getoption("dist") == "each")

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """xdist hook: share scheduling in place of load scheduling, unless told otherwise."""
        if self._shares():
            return ShareScheduling(config, log)
        return None

    def pytest_unconfigure(self) -> None:
        """The workers are gone by now; so goes stdin's copy."""
        if self.stdin_copy is not None:
            Path(self.stdin_copy).unlink(missing_ok=True)


def _tx_specs(config: pytest.Config) -> list[str]:
    from xdist.workermanage import parse_tx_spec_config

    specs: list[str] = parse_tx_spec_config(config)
    return specs
