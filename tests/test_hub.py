"""The hub: cooperative sequences as greenlets on one thread, their transfers driven together.

Against real loopback servers: the transfers overlap on one thread, each outcome reads as it
does on a thread of its own, and the engine's bounds (concurrency, rate, hangs, trials, stop)
hold for hub tasks as for threads.
"""

from __future__ import annotations

import contextlib
import http.server
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import greenlet
import pytest

from pytest_spider import CONN_FAILED, CONN_OK, CONN_TIMEOUT, DesynchronizedSpider, connect_http
from pytest_spider import hub as hub_module
from pytest_spider.engine import Engine, Later, Task
from pytest_spider.helpers import settings
from pytest_spider.hub import Hub
from pytest_spider.measure import Outqueue, SequenceResult, run_sequence

#: Seconds the slow server takes over each answer.
SLOW = 0.3


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/slow") or self.server.slow:  # type: ignore[attr-defined]
            time.sleep(SLOW)
        body = b"x" * 100
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 would drop the SYNs of a burst


@contextlib.contextmanager
def _http_server(slow: bool) -> Iterator[int]:
    """A loopback HTTP server answering every request at once, each after ``SLOW`` s if
    ``slow``, many at a time; yields its port."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.slow = slow  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def slow_port() -> Iterator[int]:
    with _http_server(slow=True) as port:
        yield port


@pytest.fixture
def fast_port() -> Iterator[int]:
    with _http_server(slow=False) as port:
        yield port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts (the kernel completes the handshake) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _fetch_task(key: int, port: int, timeout: float = 2.0) -> Task[dict[str, Any]]:
    def run() -> dict[str, Any]:
        result = connect_http(None, {"dip": "127.0.0.1", "dp": port}, timeout)
        result["thread"] = threading.current_thread().name
        return result

    return Task(key, run, cooperative=True)


def _on_hub(fetch: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``fetch`` run as the one cooperative task of an engine: its result."""
    engine: Engine[dict[str, Any]] = Engine(concurrency=1, lookahead=1, hang_after=10)
    engine.plan([Task(0, fetch, cooperative=True)])
    outcome = engine.take(0)
    engine.close()
    assert outcome.error is None and outcome.value is not None
    return outcome.value


def test_transfers_of_cooperative_sequences_overlap_on_one_thread(slow_port: int) -> None:
    engine: Engine[dict[str, Any]] = Engine(concurrency=40, lookahead=40, hang_after=10)
    start = time.monotonic()
    engine.plan(_fetch_task(k, slow_port) for k in range(40))
    results = [engine.take(k).value for k in range(40)]
    elapsed = time.monotonic() - start
    engine.close()
    assert all(r is not None and r["spdr_state"] == CONN_OK for r in results)
    assert {r["http_response_code"] for r in results if r} == {200}
    # Every transfer ran in the thread that takes the results; no other was started.
    assert {r["thread"] for r in results if r} == {threading.current_thread().name}
    assert engine.threads == 0
    # Forty answers of 0.3 s each, all in flight together: about one wave, not forty.
    assert elapsed < 40 * SLOW / 4


def test_no_more_than_the_concurrency_is_in_flight_on_the_hub(slow_port: int) -> None:
    engine: Engine[dict[str, Any]] = Engine(concurrency=5, lookahead=20, hang_after=10)
    peak = 0

    def watch() -> None:
        nonlocal peak
        while engine.completed < 20:
            peak = max(peak, engine.in_flight)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    engine.plan(_fetch_task(k, slow_port) for k in range(20))
    for k in range(20):
        engine.take(k)
    watcher.join()
    engine.close()
    assert 1 <= peak <= 5


def test_a_round_of_the_hub_starts_slots_only_within_its_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A burst (a refill under a high concurrency) starts over as many rounds as its cost
    needs, in order, so that no one round leaves the transfers in flight unattended for long."""
    monkeypatch.setattr(hub_module, "ROUND_BUDGET", 0.02)
    started: list[int] = []

    def start_slowly(slot: int) -> None:
        started.append(slot)
        time.sleep(0.01)  # a costly start: at most two fit in one round's 0.02 s

    hub: Hub[int] = Hub(limit=1000, run=start_slowly, start_at=lambda: 0.0)
    try:
        for slot in range(12):
            hub.submit(slot)
        counts: list[int] = []
        while len(started) < 12 and len(counts) < 12:
            hub.pump()
            counts.append(len(started))
    finally:
        hub.close()
    rounds = [after - before for before, after in zip([0, *counts], counts, strict=False)]
    assert all(1 <= started_in_round <= 2 for started_in_round in rounds), rounds
    assert started == list(range(12))


def test_a_busy_round_starts_nothing_while_slots_are_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rounds that have worked their budget start nothing new while slots are in flight:
    what is in flight shrinks to what the process serves in good time. With nothing in
    flight, one slot still starts."""
    monkeypatch.setattr(hub_module, "ROUND_BUDGET", 0.0)  # every round is over its budget
    parked: dict[int, greenlet.greenlet] = {}
    hub: Hub[int] = Hub(limit=10, run=lambda slot: park(slot), start_at=lambda: 0.0)

    def park(slot: int) -> None:  # stays in flight until resumed, as a slow transfer
        parked[slot] = greenlet.getcurrent()
        hub.loop_greenlet.switch()

    try:
        for slot in range(3):
            hub.submit(slot)
        for _ in range(3):
            hub.pump()
        assert list(parked) == [0] and hub.live == 1
        parked[0].switch()  # its transfer ends
        hub.pump()
        assert list(parked) == [0, 1] and hub.live == 1
    finally:
        hub.close()


def test_cheap_slots_start_together() -> None:
    """Where starting is cheap, a refill is not held back by a count per round."""
    started: list[int] = []
    hub: Hub[int] = Hub(limit=1000, run=started.append, start_at=lambda: 0.0)
    try:
        for slot in range(300):
            hub.submit(slot)
        rounds = 0
        while len(started) < 300 and rounds < 300:
            hub.pump()
            rounds += 1
    finally:
        hub.close()
    assert started == list(range(300))
    assert rounds < 300 / 100  # a count of 100 per round would have taken three


@pytest.mark.parametrize("where", ["thread", "hub"])
def test_outcomes_read_the_same_on_the_hub_as_on_a_thread(
    where: str, fast_port: int, silent_port: int, closed_port: int
) -> None:
    def fetch(port: int, timeout: float = 2.0) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            return connect_http(None, {"dip": "127.0.0.1", "dp": port}, timeout)

        return run() if where == "thread" else _on_hub(run)

    ok = fetch(fast_port)
    assert ok["spdr_state"] == CONN_OK and ok["http_response_code"] == 200
    assert ok["http_response_header"].startswith("HTTP/1.0 200")
    assert ok["http_response_body"] == "x" * 100 and ok["http_body_truncated"] is False
    assert ok["sip"] == "127.0.0.1" and ok["sp"] > 0

    refused = fetch(closed_port)
    assert refused["spdr_state"] == CONN_FAILED and refused["error_class"] == "refused"

    silent = fetch(silent_port, timeout=0.3)
    assert silent["spdr_state"] == CONN_TIMEOUT and silent["error_class"] == "timeout"

    kept = settings.current
    settings.configure(settings.HelperSettings(max_body=10))
    try:
        cut = fetch(fast_port)
    finally:
        settings.configure(kept)
    assert cut["spdr_state"] == CONN_OK
    assert cut["http_response_body"] == "x" * 10 and cut["http_body_truncated"] is True


def test_a_hub_task_past_its_time_is_given_up_without_a_thread(silent_port: int) -> None:
    engine: Engine[dict[str, Any]] = Engine(concurrency=4, lookahead=4, hang_after=0.3)
    engine.plan([_fetch_task(0, silent_port, timeout=5.0)])
    outcome = engine.take(0)
    assert outcome.hung_after == 0.3
    # Nothing replaced it: a greenlet waiting in a transfer holds no thread.
    assert engine.threads == 0 and engine.stuck == 0
    engine.close()


def test_a_hub_task_that_asks_to_run_later_runs_again_on_the_hub(fast_port: int) -> None:
    runs: list[tuple[float, str]] = []

    def run() -> int | Later:
        connect_http(None, {"dip": "127.0.0.1", "dp": fast_port}, 2.0)
        runs.append((time.monotonic(), threading.current_thread().name))
        return len(runs) if len(runs) == 2 else Later(time.monotonic() + 0.2)

    engine: Engine[int] = Engine(concurrency=2, lookahead=2, hang_after=5)
    engine.plan([Task(0, run, cooperative=True)])
    assert engine.take(0).value == 2
    engine.close()
    assert [name for _, name in runs] == [threading.current_thread().name] * 2
    assert runs[1][0] - runs[0][0] >= 0.2


def test_the_rate_spaces_hub_starts_without_holding_the_hub(fast_port: int) -> None:
    starts: list[float] = []

    def task(key: int) -> Task[int]:
        def run() -> int:
            starts.append(time.monotonic())
            connect_http(None, {"dip": "127.0.0.1", "dp": fast_port}, 2.0)
            return key

        return Task(key, run, cooperative=True)

    engine: Engine[int] = Engine(concurrency=10, lookahead=10, hang_after=5, rate=20)
    planned = time.monotonic()
    engine.plan(task(k) for k in range(6))
    assert [engine.take(k).value for k in range(6)] == list(range(6))
    engine.close()
    # 20 starts/s: the k-th start no earlier than k x 0.05 s after the plan. (Gaps between two
    # starts may be shorter: a start that came late is not made up for by the next one.)
    assert all(start - planned >= k * 0.05 for k, start in enumerate(starts))
    # And the hub did not wait longer than the rate asks (with slack for a loaded machine).
    assert starts[-1] - planned < 5 * 0.05 + 1.0


def test_a_stopped_engine_starts_no_hub_task() -> None:
    started: list[int] = []

    def task(key: int) -> Task[int]:
        def run() -> int:
            started.append(key)
            return key

        return Task(key, run, cooperative=True)

    engine: Engine[int] = Engine(concurrency=2, lookahead=10, hang_after=5, rate=5)
    engine.plan(task(k) for k in range(10))
    engine.take(0)
    engine.stop()
    time.sleep(0.5)
    assert len(started) < 5
    assert engine.take(9).error is not None
    engine.close()


class _Emits(DesynchronizedSpider):
    """Puts one record in the outqueue, waits on a transfer, puts another."""

    name = "emits"
    cooperative = True

    def __init__(self, port: int) -> None:
        super().__init__()
        self.outqueue = Outqueue()
        self.port = port

    def conn_emit(self, job: dict[str, Any], config: int) -> dict[str, Any]:
        self.outqueue.put({"dip": job["dip"], "n": 1})
        result = connect_http(None, {"dip": "127.0.0.1", "dp": self.port}, 2.0)
        self.outqueue.put({"dip": job["dip"], "n": 2})
        return result

    connections: ClassVar[list[Any]] = [conn_emit]


def test_records_emitted_by_interleaved_hub_sequences_reach_their_own_target(
    slow_port: int,
) -> None:
    experiment = _Emits(slow_port)
    engine: Engine[SequenceResult] = Engine(concurrency=10, lookahead=10, hang_after=5)
    jobs = [{"dip": f"198.18.0.{k}"} for k in range(10)]

    def task(key: int, job: dict[str, Any]) -> Task[SequenceResult]:
        return Task(key, lambda: run_sequence(experiment, dict(job)), cooperative=True)

    engine.plan(task(k, job) for k, job in enumerate(jobs))
    for k, job in enumerate(jobs):
        result = engine.take(k).value
        assert result is not None
        assert [(r["dip"], r["n"]) for r in result.emitted] == [(job["dip"], 1), (job["dip"], 2)]
    engine.close()


def test_a_timeout_while_the_hub_was_left_unattended_is_made_again(slow_port: int) -> None:
    def run() -> dict[str, Any]:
        return connect_http(None, {"dip": "127.0.0.1", "dp": slow_port}, SLOW + 0.5)

    engine: Engine[dict[str, Any]] = Engine(concurrency=1, lookahead=1, hang_after=10)
    engine.plan([Task(0, run, cooperative=True)])
    engine.finished(0)  # a round of the hub: the transfer is handed to libcurl ...
    time.sleep(0.01)
    engine.finished(0)  # ... and one more: it connects
    time.sleep(SLOW + 1.0)  # the item thread is away: nothing sends the request meanwhile
    outcome = engine.take(0)
    engine.close()
    assert outcome.value is not None
    # The request went out only once the transfer's time had run out: that says nothing of
    # the path, so the transfer was made again (and, attended, it succeeded).
    assert outcome.value["spdr_state"] == CONN_OK
    assert outcome.value["retried"] is True


def test_a_timeout_of_an_attended_transfer_is_not_made_again(silent_port: int) -> None:
    result = _on_hub(lambda: connect_http(None, {"dip": "127.0.0.1", "dp": silent_port}, 0.3))
    assert result["spdr_state"] == CONN_TIMEOUT
    assert "retried" not in result


class _Tidying:
    """A SIGINT handler another part of the program installed (the lab tears down on it)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, signum: int, frame: Any) -> None:
        self.calls += 1
        raise KeyboardInterrupt


@pytest.mark.parametrize("before", ["python's", "another"])
def test_ctrl_c_landing_in_a_hub_greenlet_stops_the_taker_not_the_task(
    fast_port: int, before: str
) -> None:
    """Python delivers Ctrl-C to the item thread, maybe while a greenlet runs: it must stop the
    run, as the handler installed before would have, not become that sequence's own error."""
    previous = signal.default_int_handler if before == "python's" else _Tidying()
    kept = signal.signal(signal.SIGINT, previous)

    def run() -> dict[str, Any]:
        signal.raise_signal(signal.SIGINT)  # as if Ctrl-C came just now
        return connect_http(None, {"dip": "127.0.0.1", "dp": fast_port}, 2.0)

    try:
        engine: Engine[dict[str, Any]] = Engine(concurrency=1, lookahead=1, hang_after=10)
        engine.plan([Task(0, run, cooperative=True)])
        with pytest.raises(KeyboardInterrupt):
            engine.take(0)
        engine.close()
        assert signal.getsignal(signal.SIGINT) is previous
        if isinstance(previous, _Tidying):
            assert previous.calls == 1
    finally:
        signal.signal(signal.SIGINT, kept)
