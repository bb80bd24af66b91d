"""The run-ahead measurement engine: many sequences in flight, results taken in plan order.

pytest runs one item at a time, but a campaign needs a hundred connections in flight: with
dead targets and a 2 s timeout, one at a time would take hours. The engine is handed the
plan (the sequences of the items that will run, in run order) and works ahead of pytest's
loop with ``concurrency`` worker threads; each item then only takes its finished result.

What is held stays bounded: at most ``lookahead`` sequences are planned-but-not-taken at
once (queued, in flight, or finished and waiting), and a result is dropped as soon as its
last consumer has taken it. Planned tasks announce when they finish (:meth:`Engine.finished`),
if the plan has a follower, so that the run loop can take finished results first rather than
wait in plan order behind a dead target. No pytest imports here: the plugin (or an xdist
worker) drives it.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Task(Generic[T]):
    """One sequence to run: ``run()`` does the work; ``consumers`` items will take it."""

    key: Hashable
    run: Callable[[], T]
    consumers: int = 1


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

    __slots__ = ("announce", "consumers", "done", "outcome", "started", "task")

    def __init__(self, task: Task[T], announce: bool) -> None:
        self.task = task
        self.consumers = task.consumers
        self.done = threading.Event()
        self.started: float | None = None
        self.outcome: Outcome[T] | None = None
        #: Put the key on the finished queue when done (planned tasks: the run loop
        #: follows their order).
        self.announce = announce


class Engine(Generic[T]):
    """Runs tasks ahead of their consumers with bounded concurrency and bounded memory.

    ``hang_after`` is how long a started task may take before its consumer gives up on it;
    the stuck thread is then replaced so that concurrency does not shrink.
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
        self._threads: list[threading.Thread] = []
        self.in_flight = 0
        self.completed = 0

    # -- feeding ---------------------------------------------------------------------------

    def plan(self, tasks: Iterable[Task[T]], announce: bool = True) -> None:
        """Set the run order and start working ahead on it. ``announce``: someone follows
        :meth:`finished`; without a follower nothing is announced, so nothing piles up."""
        self._plan = iter(tasks)
        self._announce = announce
        self._refill()

    def _refill(self) -> None:
        while not self._stopped and len(self._slots) < self.lookahead:
            task = next(self._plan, None)
            if task is None:
                return
            self._submit(task, announce=self._announce)

    def _submit(self, task: Task[T], announce: bool = False) -> _Slot[T]:
        slot = _Slot(task, announce)
        self._slots[task.key] = slot
        if len(self._threads) < self.concurrency:
            # Threads start with the work: a three-target run needs three, not hundreds.
            self._start_threads(1)
        self._queue.put(slot)
        return slot

    # -- workers ---------------------------------------------------------------------------

    def _start_threads(self, count: int) -> None:
        for _ in range(count):
            thread = threading.Thread(target=self._work, name="spider-engine", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while True:
            slot = self._queue.get()
            if slot is None:
                return
            if self._stopped:
                slot.outcome = Outcome(error=RuntimeError("measurement stopped before start"))
                slot.done.set()
                continue
            self._pace()
            with self._lock:
                self.in_flight += 1
            slot.started = started = time.monotonic()
            try:
                value = slot.task.run()
                slot.outcome = Outcome(value=value, seconds=time.monotonic() - started)
            except BaseException as exc:
                slot.outcome = Outcome(error=exc, seconds=time.monotonic() - started)
            finally:
                with self._lock:
                    self.in_flight -= 1
                    self.completed += 1
                slot.done.set()
                if slot.announce:
                    self._finished.put(slot.task.key)

    def _pace(self) -> None:
        """Wait for this thread's turn under the rate limit (no wait without one)."""
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self._interval
        if start > now:
            time.sleep(start - now)

    # -- consuming -------------------------------------------------------------------------

    def take(self, key: Hashable, task: Task[T] | None = None) -> Outcome[T]:
        """Wait for the outcome of ``key``; the last consumer releases it.

        A key not planned (or not reached) is run at once from ``task`` if given.
        """
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
            self._refill()

    def _wait(self, slot: _Slot[T]) -> Outcome[T]:
        while not slot.done.wait(0.25):
            if slot.started is not None and time.monotonic() - slot.started > self.hang_after:
                # Leave the stuck thread behind and keep the number of live workers.
                self._start_threads(1)
                return Outcome(hung_after=self.hang_after)
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
        for _ in self._threads:
            self._queue.put(None)
        self._threads.clear()
        self._slots.clear()

    @property
    def threads(self) -> int:
        """Worker threads started so far (replacements for stuck ones included)."""
        return len(self._threads)

    @property
    def held(self) -> int:
        """Planned sequences not yet released: queued, in flight or waiting to be taken."""
        return len(self._slots)
