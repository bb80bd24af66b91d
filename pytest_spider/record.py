"""Building the record of a finished item (its fields are defined in :mod:`schema`).

A record is the target's input fields, written back out as read, plus PATHspider's
``conditions``, ``flow_results`` and ``time`` {``from``, ``to``}, plus ours:
``experiment``, ``nodeid``, ``outcome`` (passed|failed|skipped|error), ``reason``,
``vantage`` (where it was measured from) and, for a target never contacted, ``unmeasured``.
Records are plain builtin types all the way down, because under pytest-xdist they travel
from workers to the controller, which alone writes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pytest_spider import schema
from pytest_spider.spider import FlowResult

Record = dict[str, Any]


#: Types that pass through :func:`to_builtin` as they are (exactly these, not subclasses).
_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


def to_builtin(value: Any) -> Any:
    """``value`` as JSON-able builtins: what a conn_ function returns may hold anything.

    Exact builtin types, the usual case, are checked first: this runs over every flow of
    every record.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {
            k if type(k) is str else _key(k): v if type(v) in _PLAIN else to_builtin(v)
            for k, v in value.items()
        }
    if kind is list:
        return [v if type(v) in _PLAIN else to_builtin(v) for v in value]
    # Subclasses of the plain types (IntEnum ...): execnet ships only the plain ones.
    for plain in (bool, int, float, str):
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, Mapping):
        return {_key(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_builtin(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "backslashreplace")
    return str(value)


def _key(key: Any) -> str | int:
    if isinstance(key, bool):
        return str(key)
    if isinstance(key, int):
        return int(key)
    return key if type(key) is str else str(key)


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
    unmeasured: str | None = None,
) -> Record:
    """Assemble a record; ``time`` spans the first start to the last stop of the flows."""
    record: Record = to_builtin(fields)
    record[schema.CONDITIONS] = list(conditions) if conditions is not None else []
    record[schema.FLOW_RESULTS] = to_builtin(list(flows))
    if flows:
        record[schema.TIME] = {
            "from": min(str(f["spdr_start"]) for f in flows),
            "to": max(str(f["spdr_stop"]) for f in flows),
        }
    record[schema.EXPERIMENT] = experiment
    record[schema.NODEID] = nodeid
    record[schema.OUTCOME] = outcome
    record[schema.REASON] = reason
    record[schema.VANTAGE] = vantage
    if unmeasured is not None:
        record[schema.UNMEASURED] = unmeasured
    return record
