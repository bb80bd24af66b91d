"""Locating the break, the probing (:mod:`pytest_spider.locate`): the probe pairs, the TTL scan
and what it proves, and the :class:`Locator` the engine runs; its probes are
:mod:`pytest_spider.helpers.hops`.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal

from pytest_spider import schema
from pytest_spider.helpers import ecn, hops, tfo
from pytest_spider.helpers.dns import dns_probe
from pytest_spider.helpers.dscp import echo_probe, tos_of
from pytest_spider.helpers.hops import SILENT, Answer, Probe, ProbeSpec
from pytest_spider.helpers.udp import tos_sockopt
from pytest_spider.locate import Bounds
from pytest_spider.measure import SequenceResult, run_sequence
from pytest_spider.spider import Job, Spider

#: How the ICMP answers are read (the record's ``method``): the probe socket's error queue.
METHOD: Final = "recverr"
#: TTLs in a row that answer neither probe, after which the scan ends.
GAP_LIMIT: Final = 5
#: TTLs in a row past the experimental probe's last answer that answer only the baseline
#: probe, after which the scan ends: the experimental packet does not come back beyond.
CONFIRM: Final = 3
#: Seconds between re-checks of a decisive TTL: once a router's burst is spent, Linux lets it
#: send one destination one ICMP error a second (``icmp_ratelimit``), and every target being
#: located from this vantage draws on that same allowance.
RECHECK_GAP: Final = 1.0
#: Re-checks of the first TTL past the experimental probe's last answer.
RECHECKS: Final = 2
#: The probes of a pair in the order they are sent: the experimental one first, so that a
#: router that rate-limits its ICMP silences the baseline probe after it rather than this one,
#: which would look like a loss.
ROLES: Final = ("experimental", "baseline")
#: TCP flags of an ECN-setup SYN.
_ECE_CWR: Final = 0x40 | 0x80
#: ECN codepoint ECT(0) in the TOS byte / traffic class.
_ECT_0: Final = 2

Effect = Literal["lost", "altered", "refused"]
#: Waits for a turn under the campaign's rate limit, none later than the given monotonic
#: deadline; False if there is none in time.
Pace = Callable[[float], bool]


def no_pace(deadline: float) -> bool:
    """No rate limit: every turn is now."""
    return True


@dataclasses.dataclass(frozen=True)
class Pair:
    """The two packets a break is located with, to the target's port ``dp``."""

    name: str
    baseline: ProbeSpec
    experimental: ProbeSpec
    dp: int


@dataclasses.dataclass(frozen=True)
class Round:
    """The answers to the two probes at one TTL."""

    ttl: int
    baseline: Answer
    experimental: Answer


@dataclasses.dataclass(frozen=True)
class Trace:
    """A finished scan: its rounds, why it ended, probes sent, time taken, the source."""

    rounds: tuple[Round, ...]
    stopped: str
    sent: int
    seconds: float
    source: str | None = None


@dataclasses.dataclass(frozen=True)
class Finding:
    """The located hop (None: unknown, with the reason) and its address."""

    hop: int | None
    address: str | None = None
    effect: Effect | None = None
    reason: str | None = None


# -- the pairs ------------------------------------------------------------------------------


def _tcp(name: str, **kwargs: Any) -> ProbeSpec:
    return ProbeSpec(name, "tcp", **kwargs)


def _udp(name: str, payload: bytes, tos: int, dip: str) -> ProbeSpec:
    return ProbeSpec(name, "udp", (tos_sockopt(dip, tos),), payload=payload)


def _port(job: Job, default: int) -> int:
    return int(job.get("dp") or default)


def _udp_payload(mode: str, job: Job) -> bytes:
    return dns_probe(job)[0] if mode == "dns" else echo_probe()[0]


_UDP_PORTS: Final = {"dns": 53, "echo": 7}
_TCP_PORTS: Final = {"http": 80, "https": 443, "tcp": 80}


def ecn_pair(experiment: Spider, job: Job) -> Pair | str:
    """``ecn``: the SYN without and with ECE+CWR; UDP modes: not-ECT against ECT(0)."""
    dip, mode = str(job["dip"]), str(experiment.args.connect)
    if mode in _UDP_PORTS:
        payload = _udp_payload(mode, job)
        return Pair(
            "ecn",
            _udp("udp-not-ect", payload, 0, dip),
            _udp("udp-ect0", payload, _ECT_0, dip),
            _port(job, _UDP_PORTS[mode]),
        )
    if reason := ecn.asks_always():
        return reason + ": no SYN without ECN can be made"
    request = ecn.request_ecn(dip)
    if isinstance(request, str):
        return request
    experimental = _tcp(
        "tcp-syn-ecn",
        sockopts=(request.sockopt(),),
        check_quote=hops.tcp_flags_intact(_ECE_CWR),
    )
    return Pair("ecn", _tcp("tcp-syn"), experimental, _port(job, _TCP_PORTS.get(mode, 80)))


def dscp_pair(experiment: Spider, job: Job) -> Pair | str:
    """``dscp``: the SYN (UDP modes: the datagram) with DSCP 0 and with the codepoint."""
    dip, mode = str(job["dip"]), str(experiment.args.connect)
    codepoint = int(job.get("codepoint", getattr(experiment, "codepoint", 48)))
    tos = tos_of(codepoint)
    if mode in _UDP_PORTS:
        payload = _udp_payload(mode, job)
        return Pair(
            "dscp",
            _udp("udp-dscp0", payload, 0, dip),
            _udp(f"udp-dscp{codepoint}", payload, tos, dip),
            _port(job, _UDP_PORTS[mode]),
        )
    marked = _tcp(f"tcp-syn-dscp{codepoint}", sockopts=(tos_sockopt(dip, tos),))
    return Pair("dscp", _tcp("tcp-syn"), marked, _port(job, _TCP_PORTS.get(mode, 80)))


def tfo_pair(experiment: Spider, job: Job) -> Pair | str:
    """``tfo``: a plain SYN and a SYN carrying the request as data."""
    if reason := tfo.client_disabled():
        return reason
    data = _tcp("tcp-syn-data", syn_data=tfo.http_request(job))
    return Pair("tfo", _tcp("tcp-syn"), data, _port(job, 80))


def quic_pair(experiment: Spider, job: Job) -> Pair | str:
    """``quic``: a TCP SYN and a QUIC (UDP) datagram to the same port."""
    quic = ProbeSpec("udp-quic", "udp", payload=hops.quic_probe())
    return Pair("quic", _tcp("tcp-syn"), quic, _port(job, 443))


#: The probe pairs by the name an experiment gives in ``locate_with``.
PAIRS: Final[Mapping[str, Callable[[Spider, Job], Pair | str]]] = {
    "ecn": ecn_pair,
    "dscp": dscp_pair,
    "tfo": tfo_pair,
    "quic": quic_pair,
}


# -- probing --------------------------------------------------------------------------------


def scan(pair: Pair, dip: str, bounds: Bounds, pace: Pace = no_pace) -> Trace:
    """Probe TTL 1, 2, ... with both packets of ``pair`` to ``dip`` (see the module)."""
    started = time.monotonic()
    deadline = started + bounds.budget
    rounds: list[Round] = []
    sent = gap = confirm = 0
    source: str | None = None
    stopped = f"max TTL {bounds.max_ttl} reached"
    for ttl in range(1, bounds.max_ttl + 1):
        answers: dict[str, Answer | None] = {"baseline": None, "experimental": None}
        ran = False
        for _ in range(bounds.probes):
            if not _turn(bounds, deadline, pace):
                stopped = f"time budget of {bounds.budget:g} s spent"
                break
            ran = True
            missing = [role for role in ROLES if answers[role] is None]
            got, sent_from = _send(pair, dip, ttl, missing, bounds.wait)
            sent += len(missing)
            source = source or sent_from
            answers.update(got)
            if all(answer is not None for answer in answers.values()):
                break
        if not ran:
            break
        if answers["experimental"] is None and answers["baseline"] is not None and confirm == 0:
            # The first TTL answering only the baseline probe decides where the loss is. A
            # router out of ICMP tokens can silence the experimental probe alone when tokens
            # come back between the two sends (other targets draw on them too): ask again.
            answers, rechecked = _recheck(pair, dip, ttl, bounds, deadline, pace)
            sent += rechecked
        current = Round(ttl, answers["baseline"] or SILENT, answers["experimental"] or SILENT)
        rounds.append(current)
        if stopped.startswith("time budget"):
            break
        ended = _scan_end(current)
        if ended:
            stopped = ended
            break
        both_silent = not current.baseline.answered and not current.experimental.answered
        gap = gap + 1 if both_silent else 0
        if gap >= GAP_LIMIT:
            stopped = f"{GAP_LIMIT} hops in a row answered neither probe"
            break
        if current.experimental.answered:
            confirm = 0
        elif current.baseline.answered:
            confirm += 1
        if confirm >= CONFIRM:
            stopped = "confirmed"
            break
    return Trace(tuple(rounds), stopped, sent, time.monotonic() - started, source)


def _recheck(
    pair: Pair, dip: str, ttl: int, bounds: Bounds, deadline: float, pace: Pace
) -> tuple[dict[str, Answer | None], int]:
    """Send both probes at ``ttl`` again (the experimental one first), :data:`RECHECK_GAP`
    apart, until one send tells: the experimental probe answered (the silence was the
    router's rate limit), or it is silent again while the baseline probe is answered (a
    loss). Neither, within :data:`RECHECKS` sends and the budget: the baseline answer is not
    kept, and the hop stays unknown rather than be named on one observation. Returns the
    answers to keep and the probes sent."""
    sent = 0
    for _ in range(RECHECKS):
        time.sleep(max(0.0, min(RECHECK_GAP - bounds.wait, deadline - time.monotonic())))
        if not _turn(bounds, deadline, pace):
            break
        got, _ = _send(pair, dip, ttl, ROLES, bounds.wait)
        sent += len(ROLES)
        if "experimental" in got or "baseline" in got:
            return {"experimental": got.get("experimental"), "baseline": got.get("baseline")}, sent
    return {"experimental": None, "baseline": None}, sent


def _turn(bounds: Bounds, deadline: float, pace: Pace) -> bool:
    """Another send fits: its wait within the budget, and a turn under the campaign's rate."""
    return time.monotonic() + bounds.wait <= deadline and pace(deadline - bounds.wait)


def _send(
    pair: Pair, dip: str, ttl: int, roles: Sequence[str], wait: float
) -> tuple[dict[str, Answer], str | None]:
    """Send the probes of ``roles`` at ``ttl``, in that order, and wait for their answers:
    those that came back (silence left out), and the address they were sent from."""
    specs = {"experimental": pair.experimental, "baseline": pair.baseline}
    probes = {role: Probe(specs[role], dip, pair.dp, ttl) for role in roles}
    hops.collect(list(probes.values()), wait)
    answers = {
        role: probe.answer
        for role, probe in probes.items()
        if probe.answer is not None and probe.answer.kind != "silent"
    }
    return answers, next((probe.source for probe in probes.values() if probe.source), None)


def _scan_end(current: Round) -> str | None:
    """Why the scan ends after this round, if it does."""
    for role in ("baseline", "experimental"):
        answer: Answer = getattr(current, role)
        if answer.kind == "error":
            return f"the {role} probe failed: {answer.detail}"
    if current.baseline.kind in ("reached", "unreachable"):
        return "end"
    if current.experimental.kind in ("reached", "unreachable"):
        return "end"
    return None


def conclude(trace: Trace) -> Finding:
    """What ``trace`` proves about where the experimental packet breaks (see the module)."""
    rounds = trace.rounds
    if not rounds:
        return Finding(None, reason=f"no probe was sent ({trace.stopped})")
    if trace.stopped.startswith(("the baseline probe failed", "the experimental probe failed")):
        return Finding(None, reason=trace.stopped)
    base = {r.ttl: r.baseline for r in rounds}
    exp = {r.ttl: r.experimental for r in rounds}
    expired = {ttl: a for ttl, a in exp.items() if a.kind == "time_exceeded"}
    if any(a.intact is False for a in expired.values()):
        return _altered(expired, base, trace.source)
    refused = [ttl for ttl, answer in exp.items() if answer.kind == "unreachable"]
    if refused:
        return _refused(refused[0], base, exp)
    reached = [ttl for ttl, answer in exp.items() if answer.kind == "reached"]
    if reached:
        return Finding(
            None,
            reason=f"the experimental probe reached the target (TTL {reached[0]}) as sent, "
            "as far as the routers' quotes show: it passes this path now",
        )
    return _lost(trace, expired, base)


def _address_at(hop: int, source: str | None, expired: Mapping[int, Answer]) -> str | None:
    return source if hop == 0 else expired[hop].address


def _refused(ttl: int, base: Mapping[int, Answer], exp: Mapping[int, Answer]) -> Finding:
    answer = exp[ttl]
    if base[ttl].kind == "unreachable":
        return Finding(None, reason=f"both probes were refused at TTL {ttl} ({answer.text()})")
    for hop in sorted(base):
        expired = {a.address for a in (base[hop], exp[hop]) if a.kind == "time_exceeded"}
        if answer.address in expired:
            return Finding(hop, answer.address, "refused")
    return Finding(
        None,
        reason=f"the experimental probe was {answer.text()}, a router that answered no "
        "probe's TTL: its hop is unknown",
    )


def _altered(
    expired: Mapping[int, Answer], base: Mapping[int, Answer], source: str | None
) -> Finding:
    first = min(ttl for ttl, a in expired.items() if a.intact is False)
    if any(a.intact is True for ttl, a in expired.items() if ttl > first):
        return Finding(
            None,
            reason=f"hop {first} quotes the experimental packet altered and a later hop "
            "intact: the probes took different paths",
        )
    before = first - 1
    if before and (before not in expired or expired[before].intact is not True):
        return Finding(
            None,
            reason=f"hop {first} ({expired[first].address}) quotes the experimental packet "
            f"altered, and hop {before} did not quote it intact",
        )
    return _same_path(before, _address_at(before, source, expired), base, "altered")


def _lost(trace: Trace, expired: Mapping[int, Answer], base: Mapping[int, Answer]) -> Finding:
    last = max(expired, default=0)
    beyond = [ttl for ttl, answer in base.items() if ttl > last and answer.answered]
    if not beyond:
        if not any(a.kind == "time_exceeded" for a in base.values()) and not expired:
            return Finding(
                None,
                reason="no hop sent time-exceeded to either probe (ICMP filtered?); "
                f"scan: {trace.stopped}",
            )
        return Finding(
            None,
            reason=f"the baseline probe got no answer beyond hop {last} either; "
            f"scan: {trace.stopped}",
        )
    after = last + 1
    where = f"hop {last} ({_address_at(last, trace.source, expired)})"
    if base[after].kind == "silent":
        following = f"TTL {beyond[0]} ({base[beyond[0]].text()})"
        if not expired and not any(a.kind == "time_exceeded" for a in base.values()):
            return Finding(
                None,
                reason="no hop sent time-exceeded to either probe (ICMP filtered?): the "
                f"experimental packet is lost somewhere before {following}, which answered "
                "the baseline probe",
            )
        return Finding(
            None,
            reason=f"hop {after} answered neither probe: the experimental packet is lost "
            f"between {where} and {following}",
        )
    if base[after].kind != "time_exceeded":
        return Finding(
            None,
            reason=f"the experimental probe passed {where} and the target, which answered "
            "the baseline probe there, did not answer it: lost on the last link or ignored "
            "by the target",
        )
    if trace.stopped not in ("end", "confirmed"):
        return Finding(
            None,
            reason=f"the experimental probe got no answer beyond {where}, but the scan "
            f"stopped before that was sure: {trace.stopped}",
        )
    return _same_path(last, _address_at(last, trace.source, expired), base, "lost")


def _same_path(
    hop: int, address: str | None, base: Mapping[int, Answer], effect: Effect
) -> Finding:
    """The finding at ``hop``, unless the baseline probe met another router there."""
    other = base.get(hop)
    if hop and other is not None and other.kind == "time_exceeded" and other.address != address:
        return Finding(
            None,
            reason=f"hop {hop} answered the probes from different addresses ({address}, "
            f"{other.address}): they took different paths",
        )
    return Finding(hop, address, effect)


# -- in a campaign --------------------------------------------------------------------------


def locate_record(pair: Pair | None, trace: Trace | None, finding: Finding) -> dict[str, Any]:
    """The record's ``locate`` field."""
    rounds = trace.rounds if trace is not None else ()
    return {
        schema.LOCATE_HOP: finding.hop,
        schema.LOCATE_ADDRESS: finding.address,
        schema.LOCATE_METHOD: METHOD,
        schema.LOCATE_PAIR: pair.name if pair is not None else None,
        schema.LOCATE_PROBES: (
            [pair.baseline.name, pair.experimental.name] if pair is not None else []
        ),
        schema.LOCATE_EFFECT: finding.effect,
        schema.LOCATE_REASON: finding.reason,
        schema.LOCATE_TRACE: [
            {"ttl": r.ttl, "baseline": r.baseline.text(), "experimental": r.experimental.text()}
            for r in rounds
        ],
        schema.LOCATE_SENT: trace.sent if trace is not None else 0,
        schema.LOCATE_SECONDS: round(trace.seconds, 3) if trace is not None else 0.0,
    }


class Locator:
    """Runs a target's sequence and, when its conditions match a fail glob, locates the break.

    One per process, shared by the engine's threads; ``pace`` is the campaign's rate limit.
    """

    def __init__(self, fail_on: Sequence[str], bounds: Bounds, pace: Pace = no_pace) -> None:
        self.fail_on = tuple(fail_on)
        self.bounds = bounds
        self.pace = pace

    def run(self, experiment: Spider, job: Job) -> SequenceResult:
        """The engine task: the sequence, then (for a failing target) the locating."""
        result = run_sequence(experiment, job)
        if not result.discarded and self.failing(experiment, result):
            result.locate = self.locate(experiment, job)
        return result

    def failing(self, experiment: Spider, result: SequenceResult) -> bool:
        """The conditions match a fail glob. ``combine_flows`` sees a copy (the item runs it
        again on the flows themselves); one that raises locates nothing, the item says why."""
        try:
            conditions = experiment.combine_flows(copy.deepcopy(result.flows))
        except Exception:
            return False
        if not isinstance(conditions, list | tuple):
            return False
        return schema.matches_any([c for c in conditions if isinstance(c, str)], self.fail_on)

    def locate(self, experiment: Spider, job: Job) -> dict[str, Any]:
        """Probe the target of ``job`` with the experiment's pair; the record's ``locate``."""
        name = getattr(type(experiment), "locate_with", None)
        builder = PAIRS.get(name) if isinstance(name, str) else None
        if builder is None:
            why = f"{experiment.name} names no probe pair (locate_with = {name!r})"
            return locate_record(None, None, Finding(None, reason=why))
        try:
            pair = builder(experiment, job)
        except (OSError, ValueError, KeyError) as exc:
            pair = f"{type(exc).__name__}: {exc}"
        if isinstance(pair, str):
            return locate_record(None, None, Finding(None, reason=f"cannot probe: {pair}"))
        trace = scan(pair, str(job["dip"]), self.bounds, self.pace)
        return locate_record(pair, trace, conclude(trace))
