"""One sequence: a target's connections for one experiment, back to back, in order.

This is what the engine runs for every target x experiment. Each connection result gets
PATHspider's bookkeeping (``config`` index, ``spdr_start``, ``spdr_stop``) plus the name of
the ``conn_*`` function, so ``combine_flows`` sees exactly what a PATHspider plugin would.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

from pytest_spider.schema import utc_text
from pytest_spider.spider import CONN_DISCARD, FlowResult, Job, Spider


def timestamp() -> str:
    """Now, in PATHspider's time format."""
    return utc_text(time.time())


class Outqueue:
    """PATHspider's ``self.outqueue``: records an experiment emits besides its own.

    dnsresolv puts one record per resolved address here. One instance serves every sequence,
    in any thread or hub greenlet (each has its own context); each sequence collects what it
    puts, so the records reach the right item.
    """

    def __init__(self) -> None:
        self._bucket: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar(
            "spider_outqueue", default=None
        )

    def put(self, record: dict[str, Any]) -> None:
        """Emit ``record`` (a job-like dict) from the sequence running here."""
        bucket = self._bucket.get()
        if bucket is None:
            raise RuntimeError("outqueue.put() is only possible inside a connection sequence")
        bucket.append(dict(record))

    @contextlib.contextmanager
    def collecting(self) -> Iterator[list[dict[str, Any]]]:
        """Collect what this sequence puts while the block runs."""
        bucket: list[dict[str, Any]] = []
        token = self._bucket.set(bucket)
        try:
            yield bucket
        finally:
            self._bucket.reset(token)


@dataclasses.dataclass
class SequenceResult:
    """The flows of one sequence, in ``connections`` order, the records it emitted and, with
    ``--spider-locate``, where the path breaks.

    A target measured in several trials (``--spider-trials``) has the first trial's flows and
    emitted records here, and every trial's result, in order, in ``trials``."""

    flows: list[FlowResult]
    emitted: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    trials: list[SequenceResult] = dataclasses.field(default_factory=list)
    #: Where the path breaks (``--spider-locate``, a failing target): the record's ``locate``.
    locate: dict[str, Any] | None = None

    @property
    def discarded(self) -> bool:
        """A connection asked for the whole job to be dropped (PATHspider's CONN_DISCARD)."""
        return any(flow.get("spdr_state") == CONN_DISCARD for flow in self.flows)

    def by_name(self) -> dict[str, FlowResult]:
        """The flows keyed by ``conn_*`` function name (what the conn fixtures return)."""
        return {flow["conn"]: flow for flow in self.flows}


class ConnFunctionError(Exception):
    """A ``conn_*`` function raised or returned something that is not a result dict.

    Carries the flows that finished before it, so the record loses nothing.
    """

    def __init__(self, conn: str, flows: list[FlowResult], message: str) -> None:
        super().__init__(f"{conn}: {message}")
        self.conn = conn
        self.flows = flows


def run_sequence(experiment: Spider, job: Job) -> SequenceResult:
    """Run every connection of ``experiment`` against ``job``; exceptions carry partial flows."""
    outqueue = getattr(experiment, "outqueue", None)
    if not isinstance(outqueue, Outqueue):
        return _run_connections(experiment, job)
    with outqueue.collecting() as emitted:
        result = _run_connections(experiment, job)
    result.emitted = emitted
    return result


def _run_connections(experiment: Spider, job: Job) -> SequenceResult:
    flows: list[FlowResult] = []
    for config, conn in enumerate(experiment.connections):
        bound: Any = conn if hasattr(conn, "__self__") else conn.__get__(experiment)
        name = getattr(conn, "__name__", f"conn{config}")
        start = timestamp()
        try:
            result = bound(job, config)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt too: it is one item's
            raise ConnFunctionError(name, flows, f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(result, dict):
            raise ConnFunctionError(
                name, flows, f"returned {type(result).__name__}, not a result dict"
            )
        result.update(config=config, conn=name, spdr_start=start, spdr_stop=timestamp())
        flows.append(result)
    return SequenceResult(flows)
