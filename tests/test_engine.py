"""The run-ahead engine on its own: order, bounds, errors, hangs, stopping."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from pytest_spider.engine import Engine, Later, Task


def _task(key: int, seconds: float = 0.0, consumers: int = 1) -> Task[int]:
    def run() -> int:
        time.sleep(seconds)
        return key * 10

    return Task(key, run, consumers)


def test_results_come_back_for_every_key_in_plan_order() -> None:
    engine: Engine[int] = Engine(concurrency=8, lookahead=16, hang_after=5)
    engine.plan(_task(k) for k in range(100))
    assert [engine.take(k).value for k in range(100)] == [k * 10 for k in range(100)]
    assert engine.held == 0
    engine.close()


def test_sequences_overlap_up_to_the_concurrency() -> None:
    engine: Engine[int] = Engine(concurrency=20, lookahead=100, hang_after=5)
    start = time.monotonic()
    engine.plan(_task(k, seconds=0.2) for k in range(40))
    for k in range(40):
        engine.take(k)
    elapsed = time.monotonic() - start
    engine.close()
    # 40 sequences of 0.2 s with 20 in flight: two waves, not forty.
    assert elapsed < 40 * 0.2 / 4


def test_held_work_never_exceeds_the_lookahead() -> None:
    running = threading.Semaphore(0)

    def run() -> int:
        running.release()
        return 0

    engine: Engine[int] = Engine(concurrency=4, lookahead=10, hang_after=5)
    engine.plan(Task(k, run) for k in range(1000))
    time.sleep(0.2)
    assert engine.held == 10
    assert engine.completed == 10
    for key in range(4):
        engine.take(key)
    time.sleep(0.1)
    # Topped up in batches: nothing new until half the lookahead has been taken ...
    assert (engine.held, engine.completed) == (6, 10)
    engine.take(4)
    time.sleep(0.1)
    # ... then up to the lookahead again, never past it.
    assert (engine.held, engine.completed) == (10, 15)
    engine.close()


def test_a_slow_head_does_not_stall_the_rest() -> None:
    engine: Engine[int] = Engine(concurrency=4, lookahead=50, hang_after=5)
    engine.plan([_task(0, seconds=0.5), *(_task(k) for k in range(1, 40))])
    time.sleep(0.3)
    # While the head is still running, the other slots have finished everything after it.
    assert engine.completed == 39
    assert engine.take(0).value == 0
    engine.close()


def test_an_exception_belongs_to_its_own_key_only() -> None:
    def boom() -> int:
        raise ValueError("bad conn")

    engine: Engine[int] = Engine(concurrency=2, lookahead=10, hang_after=5)
    engine.plan([_task(0), Task(1, boom), _task(2)])
    assert engine.take(0).value == 0
    failed = engine.take(1)
    assert isinstance(failed.error, ValueError) and failed.value is None
    assert engine.take(2).value == 20
    engine.close()


def test_a_hang_is_reported_and_its_thread_replaced() -> None:
    release = threading.Event()

    def hang() -> int:
        release.wait(10)
        return -1

    engine: Engine[int] = Engine(concurrency=1, lookahead=10, hang_after=0.5)
    engine.plan([Task(0, hang), _task(1)])
    outcome = engine.take(0)
    assert outcome.hung_after == 0.5
    # The one worker is stuck, yet the next sequence still runs on its replacement.
    assert engine.take(1).value == 10
    release.set()
    engine.close()


def test_shared_results_are_kept_until_the_last_consumer() -> None:
    engine: Engine[int] = Engine(concurrency=2, lookahead=10, hang_after=5)
    engine.plan([_task(0, consumers=2), _task(1)])
    assert engine.take(0).value == 0
    assert engine.held == 2
    assert engine.take(0).value == 0
    assert engine.take(1).value == 10
    assert engine.held == 0
    engine.close()


def test_stop_starts_nothing_new() -> None:
    engine: Engine[int] = Engine(concurrency=1, lookahead=100, hang_after=5)
    engine.plan(_task(k, seconds=0.05) for k in range(100))
    engine.take(0)
    engine.stop()
    time.sleep(0.3)
    assert engine.completed < 10
    engine.close()


def test_unplanned_keys_run_on_demand_or_are_refused() -> None:
    engine: Engine[int] = Engine(concurrency=2, lookahead=10, hang_after=5)
    assert engine.take(7, _task(7)).value == 70
    engine.prefetch(_task(8))
    assert engine.take(8).value == 80
    with pytest.raises(KeyError):
        engine.take(9)
    engine.close()


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        Engine(concurrency=0, lookahead=1, hang_after=1)


def test_threads_start_with_the_work_up_to_the_concurrency() -> None:
    small: Engine[int] = Engine(concurrency=500, lookahead=1000, hang_after=5)
    small.plan(_task(k) for k in range(3))
    assert [small.take(k).value for k in range(3)] == [0, 10, 20]
    assert small.threads == 3
    small.close()
    big: Engine[int] = Engine(concurrency=4, lookahead=1000, hang_after=5)
    big.plan(_task(k, seconds=0.01) for k in range(40))
    assert [big.take(k).value for k in range(40)] == [k * 10 for k in range(40)]
    assert big.threads == 4
    big.close()


def test_finished_keys_are_announced_only_to_a_plan_that_is_followed() -> None:
    followed: Engine[int] = Engine(concurrency=4, lookahead=50, hang_after=5)
    followed.plan(_task(k) for k in range(20))
    for k in range(20):
        followed.take(k)
    assert sorted(int(str(key)) for key in followed.finished(timeout=1)) == list(range(20))
    # Nobody follows this plan (xdist's own scheduling): nothing piles up to be announced.
    unfollowed: Engine[int] = Engine(concurrency=4, lookahead=50, hang_after=5)
    unfollowed.plan((_task(k) for k in range(20)), announce=False)
    for k in range(20):
        unfollowed.take(k)
    assert unfollowed.finished(timeout=0) == []
    followed.close()
    unfollowed.close()


def test_hangs_are_given_up_on_together_not_one_after_another() -> None:
    """30 hung sequences with 5 in flight: each wave of hangs is noticed at once, by the
    watchdog, whether or not an item is waiting for it yet."""
    release = threading.Event()

    def hang() -> int:
        release.wait(30)
        return -1

    engine: Engine[int] = Engine(concurrency=5, lookahead=50, hang_after=0.3)
    engine.max_stuck = 100
    start = time.monotonic()
    engine.plan([Task(k, hang) for k in range(30)] + [_task(30)])
    outcomes = [engine.take(k) for k in range(30)]
    elapsed = time.monotonic() - start
    assert all(o.hung_after == 0.3 for o in outcomes)
    assert engine.take(30).value == 300
    # Six waves of five, about 0.3 s each: not 30 hangs one after another (9 s).
    assert elapsed < 30 * 0.3 / 2
    release.set()
    engine.close()


def test_stuck_threads_are_bounded_and_what_cannot_run_fails() -> None:
    release = threading.Event()

    def hang() -> int:
        release.wait(30)
        return -1

    engine: Engine[int] = Engine(concurrency=2, lookahead=50, hang_after=0.2)
    engine.max_stuck = 3
    engine.plan([Task(k, hang) for k in range(10)])
    outcomes = [engine.take(k) for k in range(10)]
    # Two threads, three replacements at most: five hung, the rest could never start.
    assert sum(o.hung_after is not None for o in outcomes) == 5
    failed = [o.error for o in outcomes if o.error is not None]
    assert len(failed) == 5 and "hung, the most that may" in str(failed[0])
    assert engine.threads <= 2 + 3
    release.set()
    engine.close()


class _Steps:
    """A task in ``steps`` runs: each but the last asks to run again ``gap`` s later."""

    def __init__(self, key: int, steps: int, gap: float, log: list[tuple[int, float]]) -> None:
        self.key, self.left, self.gap, self.log = key, steps, gap, log

    def __call__(self) -> int | Later:
        self.log.append((self.key, time.monotonic()))
        self.left -= 1
        return Later(time.monotonic() + self.gap) if self.left else self.key * 10


def test_a_task_that_asks_to_run_later_runs_again_not_before_then() -> None:
    log: list[tuple[int, float]] = []
    engine: Engine[int] = Engine(concurrency=2, lookahead=10, hang_after=5)
    engine.plan([Task(0, _Steps(0, 3, 0.2, log))])
    outcome = engine.take(0)
    assert outcome.value == 0
    starts = [at for _, at in log]
    assert len(starts) == 3
    assert all(later - earlier >= 0.2 for earlier, later in itertools.pairwise(starts))
    # Its time is what its runs took, not the waits between them.
    assert outcome.seconds is not None and outcome.seconds < 0.2
    # Announced once, when it is done, not after each run.
    assert engine.finished(timeout=0.5) == [0]
    assert engine.finished(timeout=0) == []
    engine.close()


def test_a_waiting_task_holds_no_thread_and_the_engine_runs_ahead() -> None:
    """One thread: while the first tasks wait for their next run, the others are run."""
    log: list[tuple[int, float]] = []
    engine: Engine[int] = Engine(concurrency=1, lookahead=10, hang_after=5)
    engine.plan([Task(k, _Steps(k, 2, 0.3, log)) for k in range(5)])
    assert [engine.take(k).value for k in range(5)] == [k * 10 for k in range(5)]
    assert engine.threads == 1
    # Every task's first run came before any task's second: no task ran twice in a row.
    assert [key for key, _ in log[:5]] == list(range(5))
    assert sorted(key for key, _ in log[5:]) == list(range(5))
    assert engine.held == 0 and engine.in_flight == 0
    engine.close()


def test_closing_drops_what_waits_to_run_again() -> None:
    log: list[tuple[int, float]] = []
    engine: Engine[int] = Engine(concurrency=1, lookahead=10, hang_after=5)
    engine.plan([Task(0, _Steps(0, 2, 30, log))])
    deadline = time.monotonic() + 5
    while not log and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    waiter = engine._later_thread
    assert len(log) == 1 and waiter is not None and waiter.is_alive()
    engine.close()
    waiter.join(timeout=2)
    assert not waiter.is_alive() and len(log) == 1
