"""Building the record of a finished item (its fields are defined in :mod:`schema`).

A record is the target's input fields, written back out as read (less what an earlier
measurement wrote, :data:`schema.MEASURED_FIELDS`), plus PATHspider's ``conditions``,
``flow_results``, ``time`` {``from``, ``to``}, ``sip``, ``sip_public``, ``path`` and
``missed_flows``, plus ours: ``experiment``, ``nodeid``, ``outcome``
(passed|failed|skipped|error), ``reason``, ``vantage`` (where it was measured from), for a
target never contacted ``unmeasured`` and, for one measured in several trials, ``trials``
(each trial's ``conditions``, ``time`` and ``flow_results``).
Records are plain JSON values all the way down, keys included (libcurl's ``http_info`` is
keyed by number in a flow, by the number's text in its record): a record is what its line
in the output says, in the process that measured it and in the xdist controller that
writes it, and it travels from worker to controller as one JSON text.
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
    """``value`` as JSON values (a key as text): what a conn_ function returns may hold
    anything.

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


def _key(key: Any) -> str:
    """A key as text: an int (a number enum too) as its digits, as JSON writes it, any other
    key as ``str`` gives it (``True``, where JSON would write ``true``)."""
    if isinstance(key, int) and not isinstance(key, bool):
        return str(int(key))
    return str(key)


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
    connections: int | None = None,
    trials: Sequence[Record] = (),
) -> Record:
    """Assemble a record; ``time`` spans the first start to the last stop of the flows.

    ``connections``: how many the experiment has (``missed_flows`` counts those without a
    result; None: as many as there are flows). ``trials``: the entries of a target measured
    in several trials (:func:`trial_entry`); ``flows`` are then the first trial's, and
    ``time`` spans every trial.
    """
    record: Record = {
        name: to_builtin(value)
        for name, value in fields.items()
        if name not in schema.MEASURED_FIELDS
    }
    record[schema.CONDITIONS] = list(conditions) if conditions is not None else []
    record[schema.FLOW_RESULTS] = [_pathspider_flow(flow) for flow in flows]
    times = [time for trial in trials if isinstance(time := trial.get(schema.TIME), Mapping)]
    span = _flow_span(flows)
    if times:  # PATHspider's UTC text sorts as the times do
        span = {"from": min(t["from"] for t in times), "to": max(t["to"] for t in times)}
    if span is not None:
        record[schema.TIME] = span
    if trials:
        record[schema.TRIALS] = list(trials)
    sip = source_address(flows)
    record[schema.SIP] = sip
    # PATHspider asks a web service for it; pytest-spider contacts nothing but the targets.
    record[schema.SIP_PUBLIC] = None
    record[schema.PATH] = path_of(sip, fields)
    expected = len(flows) if connections is None or unmeasured is not None else connections
    record[schema.MISSED_FLOWS] = max(expected - len(flows), 0)
    record[schema.EXPERIMENT] = experiment
    record[schema.NODEID] = nodeid
    record[schema.OUTCOME] = outcome
    record[schema.REASON] = reason
    record[schema.VANTAGE] = vantage
    if unmeasured is not None:
        record[schema.UNMEASURED] = unmeasured
    return record


def trial_entry(conditions: Sequence[str], flows: Sequence[FlowResult]) -> Record:
    """One trial of a record's ``trials``: its own ``conditions``, ``time`` and
    ``flow_results``, written as a record's are."""
    entry: Record = {schema.CONDITIONS: list(conditions)}
    span = _flow_span(flows)
    if span is not None:
        entry[schema.TIME] = span
    entry[schema.FLOW_RESULTS] = [_pathspider_flow(flow) for flow in flows]
    return entry


def _flow_span(flows: Sequence[FlowResult]) -> dict[str, str] | None:
    """``{from, to}``: the first start to the last stop of the flows (None without flows)."""
    if not flows:
        return None
    return {
        "from": min(str(f["spdr_start"]) for f in flows),
        "to": max(str(f["spdr_stop"]) for f in flows),
    }


def _pathspider_flow(flow: FlowResult) -> dict[str, Any]:
    """A flow as written: builtins, and as in PATHspider a failed connection without a source
    port of its own has ``sp`` 0."""
    out: dict[str, Any] = to_builtin(flow)
    sp = out.get("sp")
    if out.get("spdr_state") != schema.ConnState.OK and (
        not isinstance(sp, int) or isinstance(sp, bool)
    ):
        out["sp"] = 0
    return out


def source_address(flows: Sequence[FlowResult]) -> str | None:
    """The source address the connections used (the helpers' ``sip``): a successful
    connection's first, else any connection's; None if no flow says."""
    found = [f.get(schema.SIP) for f in flows]
    ok = [s for s, f in zip(found, flows, strict=True) if f.get("spdr_state") == 0]
    for sip in (*ok, *found):
        if isinstance(sip, str) and sip:
            return sip
    return None


def path_of(sip: str | None, fields: Mapping[str, Any]) -> list[str | None] | None:
    """PATHspider's ``path``: the source, the target's AS where the input names it
    (``dip_asn``, or Hellfire's ``info.ASN``), the destination; None without a destination."""
    dip = fields.get("dip")
    if not isinstance(dip, str) or not dip:
        return None
    path: list[str | None] = [sip]
    asn = fields.get("dip_asn")
    if asn in (None, ""):
        info = fields.get("info")
        asn = info.get("ASN") if isinstance(info, Mapping) else None
    if asn not in (None, ""):
        text = str(asn)
        path.append(text if text.upper().startswith("AS") else f"AS{text}")
    path.append(dip)
    return path
