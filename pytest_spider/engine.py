"""The run-ahead measurement engine: many sequences in flight, results taken in plan order.

pytest runs one item at a time, but a campaign needs a hundred connections in flight: with
dead targets and a 2 s timeout, one at a time would take hours. The engine is handed the
plan (the sequences of the items that will run, in run order) and works ahead of pytest's
loop with ``concurrency`` worker threads; each item then only takes its finished result.

What is held stays bounded: at most ``lookahead`` sequences are planned-but-not-taken at
once (queued, in flight, or finished and waiting), and a result is dropped as soon as its
last consumer has taken it. The plan is topped up in batches: once half of ``lookahead`` has
been taken, not one sequence per item taken. One at a time, a long campaign settled into a
trickle, each item thread turn running one item and then libcurl for one target, and every
call got dearer (20,000 targets: 1.28-1.34 ms of CPU per target, 0.99-1.09 with batches, the
same memory). Planned tasks announce when they finish (:meth:`Engine.finished`),
if the plan has a follower, so that the run loop can take finished results first rather than
wait in plan order behind a dead target. A task whose ``run`` returns :class:`Later` is run
again, not before the time it names, without holding a thread meanwhile (repeated trials of a
target, spaced apart). A cooperative task runs as a greenlet on the :mod:`~pytest_spider.hub`
instead of a thread. No pytest imports here: the plugin (or an xdist worker) drives it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Generic, TypeVar

from pytest_spider.hub import Hub

T = TypeVar("T")

#: Longest the item thread waits in one round of the hub before it looks again at what it
#: waits for (a result made on a thread wakes it at once, through the hub).
PUMP_WAIT = 0.05


@dataclasses.dataclass(frozen=True)
class Later:
    """What a task's ``run`` returns to be run again, on any engine thread, not before ``at``
    (a :func:`time.monotonic` time). Until then it holds no thread and is not in flight; it
    stays planned (held), and its consumers wait for the value a later run returns."""

    at: float


@dataclasses.dataclass(frozen=True)
class Task(Generic[T]):
    """One sequence to run: ``run()`` does the work (or one step of it, returning
    :class:`Later` for the next); ``consumers`` items will take it. A ``cooperative`` one waits
    only in the hub's HTTP transfers, so it runs as a greenlet on the hub, not on a thread."""

    key: Hashable
    run: Callable[[], T | Later]
    consumers: int = 1
    cooperative: bool = False


@dataclasses.dataclass(frozen=True)
class Outcome(Generic[T]):
    """What became of a task: a value, the exception it raised, or a hang."""

    value: T | None = None
    error: BaseException | None = None
    hung_after: float | None = None
    #: How long the task ran (None if it never ran to an end).
    seconds: float | None = None


class _Slot(Generic[T]):
    """A planned task and, once done, its outcome."""

    __slots__ = ("announce", "consumers", "done", "hung", "outcome", "ran", "started", "task")

    def __init__(self, task: Task[T], announce: bool) -> None:
        self.task = task
        self.consumers = task.consumers
        self.done = threading.Event()
        self.started: float | None = None
        #: Seconds its earlier runs took (a task that returned :class:`Later`).
        self.ran = 0.0
        self.outcome: Outcome[T] | None = None
        #: The watchdog gave up on it: whatever its thread returns later is dropped.
        self.hung = False
        #: Put the key on the finished queue when done (planned tasks: the run loop
        #: follows their order).
        self.announce = announce


class Engine(Generic[T]):
    """Runs tasks ahead of their consumers with bounded concurrency and bounded memory.

    Threads run the tasks, ``concurrency`` at most; the hub runs the cooperative ones, as many
    at most, in the thread that takes the results (made there with the first one), a round
    at a time: whenever that thread takes a result, and while it waits for one.

    ``hang_after`` is how long a started task may take: a watchdog then reports it as hung
    (to its consumer, whenever that comes) and starts a thread in place of the stuck one, so
    concurrency does not shrink. At most ``concurrency`` threads may be stuck at once; past
    that nothing is replaced, and once no thread is left to run the queue, what waits in it
    fails rather than waiting for ever.
    """

    def __init__(
        self, concurrency: int, lookahead: int, hang_after: float, rate: float | None = None
    ) -> None:
        if concurrency < 1 or lookahead < 1:
            raise ValueError("concurrency and lookahead must be at least 1")
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        #: Seconds between two sequence starts (``--spider-rate``), and the next free start.
        self._interval = 0.0 if rate is None else 1.0 / rate
        self._next_start = 0.0
        self.concurrency = concurrency
        self.lookahead = max(lookahead, concurrency)
        self.hang_after = hang_after
        self._queue: queue.SimpleQueue[_Slot[T] | None] = queue.SimpleQueue()
        self._finished: queue.SimpleQueue[Hashable] = queue.SimpleQueue()
        self._slots: dict[Hashable, _Slot[T]] = {}
        self._plan: Iterator[Task[T]] = iter(())
        self._announce = False
        self._lock = threading.Lock()
        self._stopped = False
        self._closed = False
        self._threads: list[threading.Thread] = []
        #: Slots whose task runs right now.
        self._running: set[_Slot[T]] = set()
        #: Threads stuck in a hung task, and the most there may be.
        self.stuck = 0
        self.max_stuck = concurrency
        self._watchdog: threading.Thread | None = None
        self._hub: Hub[_Slot[T]] | None = None
        self.in_flight = 0
        self.completed = 0
        #: Tasks waiting for the time their :class:`Later` named: (time, order, slot), and the
        #: thread that queues them then (started with the first).
        self._later: list[tuple[float, int, _Slot[T]]] = []
        self._later_order = itertools.count()
        self._later_ready = threading.Condition()
        self._later_thread: threading.Thread | None = None

    # -- feeding ---------------------------------------------------------------------------

    def plan(self, tasks: Iterable[Task[T]], announce: bool = True) -> None:
        """Set the run order and start working ahead on it. ``announce``: someone follows
        :meth:`finished`; without a follower nothing is announced, so nothing piles up."""
        self._plan = iter(tasks)
        self._announce = announce
        self._refill()

    def _refill(self) -> None:
        """Plan up to ``lookahead`` sequences."""
        while not self._stopped and len(self._slots) < self.lookahead:
            task = next(self._plan, None)
            if task is None:
                return
            self._submit(task, announce=self._announce)

    def _submit(self, task: Task[T], announce: bool = False) -> _Slot[T]:
        slot = _Slot(task, announce)
        self._slots[task.key] = slot
        if not task.cooperative and len(self._threads) - self.stuck < self.concurrency:
            # Threads start with the work: a three-target run needs three, not hundreds.
            self._start_threads(1)
        self._enqueue(slot)
        return slot

    def _enqueue(self, slot: _Slot[T]) -> None:
        """Hand ``slot`` to what runs it: the hub if cooperative, else the worker threads."""
        if not slot.task.cooperative:
            self._queue.put(slot)
            return
        if self._hub is None:
            self._hub = Hub(self.concurrency, self._run_cooperative, self._turn)
            self._start_watchdog()
        self._hub.submit(slot)

    def _wake_taker(self, slot: _Slot[T]) -> None:
        """``slot`` ended off the hub: the thread that takes results may wait in the hub."""
        if self._hub is not None and not slot.task.cooperative:
            self._hub.wake()

    # -- workers ---------------------------------------------------------------------------

    def _start_threads(self, count: int) -> None:
        threads = [
            threading.Thread(target=self._work, name="spider-engine", daemon=True)
            for _ in range(count)
        ]
        with self._lock:
            self._threads.extend(threads)
        for thread in threads:  # started outside the lock, which they take at once
            thread.start()
        self._start_watchdog()

    def _start_watchdog(self) -> None:
        with self._lock:
            if self._watchdog is not None:
                return
            self._watchdog = threading.Thread(
                target=self._watch, name="spider-watchdog", daemon=True
            )
        self._watchdog.start()

    def _work(self) -> None:
        while True:
            slot = self._queue.get()
            if slot is None:
                return
            if self._refused(slot):
                continue
            self.pace()
            if not self._run(slot, self._begin(slot)):
                return

    def _run_cooperative(self, slot: _Slot[T]) -> None:
        """What the hub runs, in a greenlet of its own, for each of its slots."""
        if not self._refused(slot):
            self._run(slot, self._begin(slot))

    def _refused(self, slot: _Slot[T]) -> bool:
        """Measuring stopped before ``slot`` started: it fails unrun."""
        if not self._stopped:
            return False
        self._finish(slot, Outcome(error=RuntimeError("measurement stopped before start")))
        return True

    def _begin(self, slot: _Slot[T]) -> float:
        """``slot`` starts now (on a thread or the hub): its start time."""
        with self._lock:
            self.in_flight += 1
            slot.started = started = time.monotonic()
            self._running.add(slot)
        return started

    def _run(self, slot: _Slot[T], started: float) -> bool:
        """Run ``slot``'s task once and settle what became of it. False: it had been given up
        as hung, and, on a thread, replaced: that thread is one too many now and must end."""
        later: Later | None = None
        try:
            value = slot.task.run()
            if isinstance(value, Later):
                later, outcome = value, Outcome[T]()
            else:
                outcome = Outcome(value=value)
        except BaseException as exc:
            outcome = Outcome(error=exc)
        with self._lock:
            self.in_flight -= 1
            self.completed += 1
            self._running.discard(slot)
            if slot.hung:
                if not slot.task.cooperative:
                    self.stuck -= 1
                    with contextlib.suppress(ValueError):  # closed: the list was let go
                        self._threads.remove(threading.current_thread())
                return False
            ran = slot.ran + time.monotonic() - started
            if later is None:
                slot.outcome = dataclasses.replace(outcome, seconds=ran)
                slot.done.set()
            else:
                slot.ran = ran
        if later is not None:
            self._defer(slot, later.at)
            return True
        if slot.announce:
            self._finished.put(slot.task.key)
        self._wake_taker(slot)
        return True

    def _defer(self, slot: _Slot[T], at: float) -> None:
        """Queue ``slot`` again once ``at`` has come; no worker thread waits for it."""
        with self._later_ready:
            heapq.heappush(self._later, (at, next(self._later_order), slot))
            self._later_ready.notify()
            if self._later_thread is None:
                self._later_thread = threading.Thread(
                    target=self._queue_when_due, name="spider-later", daemon=True
                )
                self._later_thread.start()

    def _queue_when_due(self) -> None:
        """Hand each deferred slot back to the workers when its time comes (until closed)."""
        with self._later_ready:
            while not self._closed:
                now = time.monotonic()
                while self._later and self._later[0][0] <= now:
                    self._enqueue(heapq.heappop(self._later)[2])
                wait = self._later[0][0] - now if self._later else None
                # Bounded waits: a far-off time must not overflow the wait.
                self._later_ready.wait(60.0 if wait is None else min(wait, 60.0))

    def _finish(self, slot: _Slot[T], outcome: Outcome[T]) -> None:
        slot.outcome = outcome
        slot.done.set()
        if slot.announce:
            self._finished.put(slot.task.key)
        self._wake_taker(slot)

    def _watch(self) -> None:
        """Give up on tasks running past ``hang_after``, all of them as they pass it."""
        period = min(0.25, self.hang_after / 4)
        while not self._closed:
            time.sleep(period)
            now = time.monotonic()
            with self._lock:
                hung = [
                    slot
                    for slot in self._running
                    if not slot.hung
                    and slot.started is not None
                    and now - slot.started > self.hang_after
                ]
                for slot in hung:
                    slot.hung = True
                    slot.outcome = Outcome(hung_after=self.hang_after)
                    slot.done.set()
                # A hung greenlet holds no thread: only stuck threads are replaced.
                on_threads = sum(not slot.task.cooperative for slot in hung)
                replace = max(0, min(on_threads, self.max_stuck - self.stuck))
                self.stuck += on_threads
            for slot in hung:
                if slot.announce:
                    self._finished.put(slot.task.key)
            if hung and self._hub is not None:
                self._hub.wake()
            if replace:
                self._start_threads(replace)
            if len(self._threads) <= self.stuck:
                self._fail_waiting()

    def _fail_waiting(self) -> None:
        """Every thread is stuck and no more may be: fail what waits to start."""
        error = RuntimeError(
            f"{self.stuck} measurements hung, the most that may: none is left to measure"
        )
        while True:
            try:
                slot = self._queue.get_nowait()
            except queue.Empty:
                return
            if slot is None:  # closing: leave the marker for a thread that comes back
                self._queue.put(None)
                return
            self._finish(slot, Outcome(error=error))

    def _reserve(self, deadline: float | None = None) -> float | None:
        """Take the next turn under the rate limit: the time it comes (0, at once, without a
        rate), or None, taking nothing, if that is past ``deadline``."""
        if not self._interval:
            return 0.0
        with self._lock:
            start = max(time.monotonic(), self._next_start)
            if deadline is not None and start > deadline:
                return None
            self._next_start = start + self._interval
        return start

    def _turn(self) -> float:
        """The hub's turn: it waits for the time without a thread."""
        return self._reserve() or 0.0

    def pace(self, deadline: float | None = None) -> bool:
        """Wait for this thread's turn under the rate limit (no wait without one). Sequence
        starts take turns, and so does what a task sends besides (``--spider-locate``'s
        probes). With a ``deadline`` (``time.monotonic()``), a turn that would come later is
        not taken: False, at once."""
        start = self._reserve(deadline)
        if start is None:
            return False
        wait = start - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        return True

    # -- consuming -------------------------------------------------------------------------

    def take(self, key: Hashable, task: Task[T] | None = None) -> Outcome[T]:
        """Wait for the outcome of ``key``; the last consumer releases it.

        A key not planned (or not reached) is run at once from ``task`` if given.
        """
        if self._hub is not None:
            self._hub.pump()
        slot = self._slots.get(key)
        if slot is None:
            if task is None:
                raise KeyError(f"{key!r} is not planned")
            slot = self._submit(task)
        outcome = self._wait(slot)
        self.release(key)
        return outcome

    def prefetch(self, task: Task[T]) -> None:
        """Start ``task`` now if it is not planned already (for callers without a plan)."""
        if task.key not in self._slots and not self._stopped:
            self._submit(task)

    def finished(self, timeout: float) -> list[Hashable]:
        """Keys of planned tasks finished since the last call, waiting up to ``timeout`` s
        for the first one (none: an empty list)."""
        keys: list[Hashable] = []
        if self._hub is not None:
            deadline = time.monotonic() + timeout
            self._hub.pump()
            while self._finished.empty() and (left := deadline - time.monotonic()) > 0:
                self._hub.pump(min(left, PUMP_WAIT))
            timeout = 0
        try:
            keys.append(
                self._finished.get(timeout=timeout) if timeout > 0 else self._finished.get_nowait()
            )
            while True:
                keys.append(self._finished.get_nowait())
        except queue.Empty:
            pass
        return keys

    def release(self, key: Hashable) -> None:
        """One consumer of ``key`` is done with it (taken or never needed)."""
        slot = self._slots.get(key)
        if slot is None:
            return
        slot.consumers -= 1
        if slot.consumers <= 0:
            del self._slots[key]
            if len(self._slots) <= self.lookahead // 2:
                self._refill()

    def _wait(self, slot: _Slot[T]) -> Outcome[T]:
        while self._hub is not None and not slot.done.is_set():
            self._hub.pump(PUMP_WAIT)
        slot.done.wait()  # the watchdog ends a hung one
        assert slot.outcome is not None
        return slot.outcome

    # -- stopping --------------------------------------------------------------------------

    def stop(self) -> None:
        """Start nothing new (``-x``, ``--maxfail``, Ctrl-C); in-flight work runs out."""
        self._stopped = True
        self._plan = iter(())

    def close(self) -> None:
        """Stop and let the worker threads exit once their current sequence ends."""
        self.stop()
        self._closed = True
        with self._later_ready:
            self._later.clear()
            self._later_ready.notify()
        for _ in self._threads:
            self._queue.put(None)
        self._threads.clear()
        if self._hub is not None:
            self._hub.close()
            self._hub = None
        self._slots.clear()

    @property
    def threads(self) -> int:
        """Worker threads started so far (replacements for stuck ones included)."""
        return len(self._threads)

    @property
    def held(self) -> int:
        """Planned sequences not yet released: queued, in flight or waiting to be taken."""
        return len(self._slots)
