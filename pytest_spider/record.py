"""The record: one PATHspider-compatible result per target x experiment.

A record is the target's input fields, written back out as read, plus PATHspider's
``conditions``, ``flow_results`` and ``time`` {``from``, ``to``}, plus ours:
``experiment``, ``nodeid``, ``outcome`` (passed|failed|skipped|error), ``reason`` and
``vantage`` (where it was measured from).
Records are plain builtin types all the way down, because under pytest-xdist they travel
from workers to the controller, which alone writes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_spider.spider import FlowResult

Record = dict[str, Any]

#: How the ``reason`` of a target skipped without measuring begins.
EXCLUDED = "excluded by"
UNADDRESSED = "no address for"
DISCARDED = "discarded by the experiment (CONN_DISCARD)"


def to_builtin(value: Any) -> Any:
    """``value`` as JSON-able builtins: what a conn_ function returns may hold anything."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {k if isinstance(k, str | int) else str(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_builtin(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "backslashreplace")
    return str(value)


def build_record(
    fields: Mapping[str, Any],
    flows: Sequence[FlowResult],
    conditions: Sequence[str] | None,
    *,
    experiment: str,
    nodeid: str,
    outcome: str,
    reason: str | None,
    vantage: str,
) -> Record:
    """Assemble a record; ``time`` spans the first start to the last stop of the flows."""
    record: Record = to_builtin(fields)
    record["conditions"] = list(conditions) if conditions is not None else []
    record["flow_results"] = to_builtin(list(flows))
    if flows:
        record["time"] = {
            "from": min(str(f["spdr_start"]) for f in flows),
            "to": max(str(f["spdr_stop"]) for f in flows),
        }
    record.update(
        experiment=experiment, nodeid=nodeid, outcome=outcome, reason=reason, vantage=vantage
    )
    return record


def state_name(state: object) -> str:
    """PATHspider's ``spdr_state`` number as a word, for people and JUnit properties."""
    names = {0: "ok", 1: "failed", 2: "timeout", 3: "skipped", 4: "discard"}
    return names.get(state, str(state)) if isinstance(state, int) else str(state)


def properties(record: Record) -> list[tuple[str, str]]:
    """Flat name/value pairs for JUnit: the conditions, then each connection's state and error."""
    props = [("spider.conditions", " ".join(record["conditions"]))]
    for flow in record["flow_results"]:
        prefix = f"spider.{flow.get('conn', flow.get('config'))}"
        props.append((f"{prefix}.state", state_name(flow.get("spdr_state"))))
        if flow.get("error_class"):
            props.append((f"{prefix}.error", f"{flow['error_class']}: {flow.get('error')}"))
    return props
