"""Everything that depends on pytest-xdist, in one place.

Uses xdist's documented surface (``config.workerinput`` on workers, the ``dsession`` plugin on
the controller, the ``pytest_configure_node`` and ``pytest_xdist_make_scheduler`` hooks, the
scheduler protocol of ``xdist.scheduler``) plus ``xdist.workermanage.parse_tx_spec_config``
for the number of workers. ``tests/test_private_interfaces.py`` pins them.

Share scheduling: xdist's load scheduling shows each worker only a few items ahead, too few
for a worker's engine to keep its connections in flight. Under :class:`ShareScheduling` each
worker keeps only its share of the collection (:func:`keep_share`: targets dealt round-robin,
so every worker computes the same split) and is handed all of it at the start, so it can plan
its engine over all of it; it never builds the other workers' items, which halves a worker's
memory under ``-n 2``. xdist's status line therefore counts one worker's share.

Run order on a worker: xdist's worker loop runs items in the order its queue of indices
hands them out. :func:`hand_out_in_order` wraps that queue (``WorkerInteractor.torun``, the
one private interface used here) so that a worker, like a single process, runs first the
items whose measurements have finished.
"""

from __future__ import annotations

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
#: workerinput key: this worker replaces a crashed one, so it runs only the part of its share
#: left unfinished, which it learns item by item.
REPLACES_KEY = "spider_replaces"


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


def worker_share(config: pytest.Config) -> tuple[int, int] | None:
    """On a worker under share scheduling: its share's number and the number of shares.

    Targets are dealt round-robin: the worker with share ``i`` of ``n`` measures the targets
    at positions ``i, i + n, i + 2n ...`` of the target list, with every experiment, and no
    item for any other target is ever built there. A number past the last share (a
    replacement no crashed share was left for) has nothing to do.
    """
    share = getattr(config, "workerinput", {}).get(SHARE_KEY)
    return None if share is None else (int(share[0]), int(share[1]))


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


def plans_everything(config: pytest.Config) -> bool:
    """On a worker: it will run all it collected, so its engine can plan all of it (its
    share, or everything under ``--dist each``); xdist's own scheduling says nothing ahead,
    nor does a crashed worker's replacement (what is left of the share is not known yet)."""
    workerinput = getattr(config, "workerinput", {})
    if workerinput.get(REPLACES_KEY):
        return False
    return VANTAGE_KEY in workerinput or SHARE_KEY in workerinput


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
    interactor = next(
        (
            plugin
            for plugin in config.pluginmanager.get_plugins()
            if type(plugin).__name__ == "WorkerInteractor" and hasattr(plugin, "torun")
        ),
        None,
    )
    if not plans_everything(config) or interactor is None:
        return False
    interactor.torun = _InOrderQueue(interactor.torun, dict(enumerate(session.items)), order)
    return True


class ShareScheduling:
    """xdist scheduler: each worker collected its share of targets and runs all of it.

    A crashed worker's share goes to its replacement (which collects the same share): the
    items it had not finished run there, and the one it was running is reported as the crash.
    """

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        from xdist.workermanage import parse_tx_spec_config

        self.numnodes = len(parse_tx_spec_config(config))
        self.node2collection: dict[Any, list[str]] = {}
        self.node2pending: dict[Any, list[int]] = {}
        #: Shares of crashed workers, for their replacements to take (in crash order).
        self.shares_to_replace: list[int] = []
        self._started: list[Any] = []
        self._orphans: dict[int, list[int]] = {}
        self._running: dict[Any, str] = {}
        self.log = log

    @property
    def nodes(self) -> list[Any]:
        return list(self.node2pending)

    @property
    def collection_is_completed(self) -> bool:
        return len(self.node2collection) >= self.numnodes

    @property
    def tests_finished(self) -> bool:
        # Every share handed out (crashed ones included); a worker keeps its last item until
        # it is told to shut down.
        return (
            self.collection_is_completed
            and not self._orphans
            and not self.shares_to_replace
            and all(node in self._started for node in self.node2pending)
            and all(len(pending) < 2 for pending in self.node2pending.values())
        )

    @property
    def has_pending(self) -> bool:
        return any(self.node2pending.values())

    def add_node(self, node: Any) -> None:
        self.node2pending[node] = []

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        self.node2collection[node] = list(collection)

    def note_running(self, node: Any, nodeid: str) -> None:
        """A worker started ``nodeid`` (its setup was reported): the item a crash interrupts."""
        self._running[node] = nodeid

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self.node2pending[node].remove(item_index)
        self._running.pop(node, None)

    def mark_test_pending(self, item: str) -> None:
        raise NotImplementedError("share scheduling does not move items between workers")

    def remove_node(self, node: Any) -> str | None:
        pending = self.node2pending.pop(node)
        running = self._running.pop(node, None)
        collection = self.node2collection.get(node)
        share = _share(node)
        if collection is not None and not pending:
            return None  # finished its share
        if share is not None:
            self.shares_to_replace.append(share)
        if collection is None:
            return None  # died collecting: the replacement collects and runs the whole share
        crashed = None
        index = collection.index(running) if running is not None else None
        if index in pending:
            pending.remove(index)
            crashed = running
        if share is not None:
            self._orphans.setdefault(share, []).extend(pending)
        return crashed

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        raise NotImplementedError("share scheduling does not move items between workers")

    def schedule(self) -> None:
        for node, pending in self.node2pending.items():
            if node in self._started or node not in self.node2collection:
                continue
            share = _share(node)
            everything = range(len(self.node2collection[node])) if share is not None else ()
            pending[:] = self._orphans.pop(share, everything) if share is not None else ()
            if pending:
                node.send_runtest_some(list(pending))
            node.shutdown()
            self._started.append(node)


def _share(node: Any) -> int | None:
    index, count = node.workerinput[SHARE_KEY]
    return int(index) if index < count else None


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
        self.scheduler: ShareScheduling | None = None
        self._counted: set[int] = set()
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
            # A crashed worker's replacement takes over its share.
            replacing = self.scheduler.shares_to_replace if self.scheduler is not None else []
            replaces = bool(replacing)
            share = replacing.pop(0) if replaces else self.configured
            node.workerinput[SHARE_KEY] = (share, len(_tx_specs(self.config)))
            node.workerinput[REPLACES_KEY] = replaces
        self.configured += 1
        if self.stdin_copy is not None:
            node.workerinput[STDIN_KEY] = self.stdin_copy

    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        """xdist hook: a worker's collection is in, for the progress line's total: each
        vantage and each share adds to it; under load scheduling every worker has it all."""
        share = node.workerinput.get(SHARE_KEY)
        if share is not None:
            adds = share[0] not in self._counted
            self._counted.add(share[0])
        else:
            adds = self.config.getoption("dist") == "each"
        self.on_collected(len(ids), adds)

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """xdist hook: share scheduling in place of load scheduling, unless told otherwise."""
        if self._shares():
            self.scheduler = ShareScheduling(config, log)
            return self.scheduler
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A worker's setup report: the scheduler learns what that worker is running."""
        node = getattr(report, "node", None)
        if self.scheduler is not None and node is not None and report.when == "setup":
            self.scheduler.note_running(node, report.nodeid)

    def pytest_unconfigure(self) -> None:
        """The workers are gone by now; so goes stdin's copy."""
        if self.stdin_copy is not None:
            Path(self.stdin_copy).unlink(missing_ok=True)


def _tx_specs(config: pytest.Config) -> list[str]:
    from xdist.workermanage import parse_tx_spec_config

    specs: list[str] = parse_tx_spec_config(config)
    return specs
