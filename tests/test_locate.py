"""Locating the break: what a trace of TTL-limited probes proves (and what it does not), how
ICMP answers are read, and the probing bounds. Probes here go to loopback only; the lab tests
(tests/lab/test_chain.py, the truth table) send them through a chain of routers."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_spider import CONN_OK, CONN_TIMEOUT
from pytest_spider.helpers import hops
from pytest_spider.helpers.hops import Answer, ProbeSpec
from pytest_spider.locate import Bounds, describe
from pytest_spider.locate import scan as locate_module
from pytest_spider.locate.scan import (
    Finding,
    Locator,
    Pair,
    Round,
    Trace,
    conclude,
    locate_record,
    scan,
)
from pytest_spider.spider import FlowResult, Job, Spider
from tests.support.servers import tcp_server

SOURCE = "198.18.0.1"
R1, R2, R3, R4 = "198.18.0.2", "198.18.8.2", "198.18.8.6", "198.18.8.10"


def answer(text: str) -> Answer:
    """``*`` silence, ``T`` the target, ``!addr`` unreachable from addr, ``addr~`` time
    exceeded with a quote that shows the packet altered, ``addr=`` intact, ``E`` an error."""
    if text == "*":
        return hops.SILENT
    if text == "T":
        return Answer("reached")
    if text == "E":
        return Answer("error", detail="Operation not permitted")
    if text.startswith("!"):
        return Answer("unreachable", text[1:], detail="icmp 3/13")
    if text.endswith("~"):
        return Answer("time_exceeded", text[:-1], False)
    if text.endswith("="):
        return Answer("time_exceeded", text[:-1], True)
    return Answer("time_exceeded", text)


def trace(*rounds: tuple[str, str], stopped: str = "end") -> Trace:
    return Trace(
        tuple(Round(ttl, answer(b), answer(e)) for ttl, (b, e) in enumerate(rounds, 1)),
        stopped,
        sent=2 * len(rounds),
        seconds=1.0,
        source=SOURCE,
    )


def test_the_farthest_hop_that_answered_the_experimental_probe_is_named() -> None:
    lost = trace((R1, R1), (R2, R2), (R3, "*"), ("T", "*"))
    assert conclude(lost) == Finding(2, R2, "lost")
    # Confirmed by three hops that answer the baseline probe only, before the target.
    long = trace((R1, R1), (R2, "*"), (R3, "*"), (R4, "*"), stopped="confirmed")
    assert conclude(long) == Finding(1, R1, "lost")
    # An experimental answer missing at one hop (rate-limited) moves nothing: the farthest counts.
    gap = trace((R1, R1), (R2, "*"), (R3, R3), (R4, "*"), ("T", "*"))
    assert conclude(gap) == Finding(3, R3, "lost")


def test_hop_zero_is_the_vantage_itself() -> None:
    assert conclude(trace((R1, "*"), (R2, "*"), ("T", "*"))) == Finding(0, SOURCE, "lost")


@pytest.mark.parametrize(
    ("rounds", "stopped", "reason"),
    [
        # Routers that send no time-exceeded: the break is somewhere before the target.
        ((("*", "*"), ("*", "*"), ("*", "*"), ("T", "*")), "end", "no hop sent time-exceeded"),
        # The hop after the last experimental answer is silent: it or the one before may drop.
        (((R1, R1), (R2, R2), ("*", "*"), ("T", "*")), "end", "hop 3 answered neither probe"),
        # Past the last router only the target answers the baseline: last link, or the target.
        (((R1, R1), (R2, R2), ("T", "*")), "end", "lost on the last link or ignored by the"),
        # The baseline probe gets no farther either.
        (((R1, R1), (R2, R2), ("*", "*")), "5 hops", "baseline probe got no answer beyond hop 2"),
        # The budget ran out before the loss was sure.
        (((R1, R1), (R2, "*")), "time budget of 1 s spent", "stopped before that was sure"),
        # The two probes met different routers at the last common hop.
        (((R1, R1), (R2, R4), (R3, "*"), ("T", "*")), "end", "took different paths"),
        # The experimental probe gets through: nothing to locate.
        (((R1, R1), ("T", "T")), "end", "reached the target (TTL 2)"),
        # A probe that cannot be sent.
        (((R1, "E"),), "the experimental probe failed: Operation not permitted", "failed"),
        ((), "time budget of 0 s spent", "no probe was sent"),
    ],
)
def test_what_a_trace_does_not_prove_is_unknown(
    rounds: tuple[tuple[str, str], ...], stopped: str, reason: str
) -> None:
    finding = conclude(trace(*rounds, stopped=stopped))
    assert finding.hop is None and finding.address is None
    assert finding.reason is not None and reason in finding.reason


def test_an_altered_packet_is_located_by_the_routers_quotes() -> None:
    altered = trace((R1, R1 + "="), (R2, R2 + "="), (R3, R3 + "~"), ("T", "T"))
    assert conclude(altered) == Finding(2, R2, "altered")
    # Altered before the first router.
    assert conclude(trace((R1, R1 + "~"), ("T", "T"))) == Finding(0, SOURCE, "altered")
    # The hop before the first altered quote quoted nothing useful: unknown.
    unsure = conclude(trace((R1, R1 + "="), (R2, R2), (R3, R3 + "~"), ("T", "T")))
    assert unsure.hop is None and "did not quote it intact" in str(unsure.reason)
    # Altered, then intact again: different paths.
    flip = conclude(trace((R1, R1 + "~"), (R2, R2 + "="), ("T", "T")))
    assert flip.hop is None and "different paths" in str(flip.reason)


def test_a_router_that_refuses_the_experimental_packet_is_named() -> None:
    refused = trace((R1, R1), (R2, R2), (R3, "!" + R2))
    assert conclude(refused) == Finding(2, R2, "refused")
    nowhere = conclude(trace((R1, R1), (R2, "!198.18.9.9")))
    assert nowhere.hop is None and "its hop is unknown" in str(nowhere.reason)
    both = conclude(trace((R1, R1), ("!" + R2, "!" + R2)))
    assert both.hop is None and "both probes were refused" in str(both.reason)


def test_the_record_and_the_message() -> None:
    pair = Pair("ecn", ProbeSpec("tcp-syn", "tcp"), ProbeSpec("tcp-syn-ecn", "tcp"), 80)
    lost = trace((R1, R1), (R2, R2), (R3, "*"), ("T", "*"))
    record = locate_record(pair, lost, conclude(lost))
    assert record == {
        "hop": 2,
        "address": R2,
        "method": "recverr",
        "pair": "ecn",
        "probes": ["tcp-syn", "tcp-syn-ecn"],
        "effect": "lost",
        "reason": None,
        "trace": [
            {"ttl": 1, "baseline": R1, "experimental": R1},
            {"ttl": 2, "baseline": R2, "experimental": R2},
            {"ttl": 3, "baseline": R3, "experimental": "*"},
            {"ttl": 4, "baseline": "target", "experimental": "*"},
        ],
        "sent": 8,
        "seconds": 1.0,
    }
    assert describe(record) == (
        f"break located at hop 2 ({R2}): the experimental packet is lost there or on its way out"
    )
    unknown = locate_record(None, None, Finding(None, reason="no hop sent time-exceeded"))
    assert describe(unknown) == "break not located: no hop sent time-exceeded"


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts and closes."""
    with tcp_server() as port:
        yield port


def test_probes_on_loopback_reach_the_target_at_once(listener: int) -> None:
    udp = ProbeSpec("udp", "udp", payload=b"x")
    pair = Pair("dscp", ProbeSpec("tcp-syn", "tcp"), udp, listener)
    found = scan(pair, "127.0.0.1", Bounds(max_ttl=5, probes=1, wait=0.2, budget=2.0))
    # The SYN gets the listener's SYN-ACK, the datagram the port unreachable of a closed port.
    assert [(r.baseline.kind, r.experimental.kind) for r in found.rounds] == [
        ("reached", "reached")
    ]
    assert (found.stopped, found.sent, found.source) == ("end", 2, "127.0.0.1")


def test_the_rate_limit_and_the_budget_bound_the_probes(listener: int) -> None:
    pair = Pair("dscp", ProbeSpec("tcp-syn", "tcp"), ProbeSpec("tcp-syn2", "tcp"), listener)
    turns: list[float] = []

    def refuse(deadline: float) -> bool:
        turns.append(deadline)
        return False

    refused = scan(pair, "127.0.0.1", Bounds(budget=5.0), refuse)
    assert (refused.rounds, refused.sent, len(turns)) == ((), 0, 1)
    assert conclude(refused).reason == "no probe was sent (time budget of 5 s spent)"
    spent = scan(pair, "127.0.0.1", Bounds(wait=0.5, budget=0.4))
    assert spent.sent == 0 and spent.stopped.startswith("time budget")


class _Scripted(Spider):
    name = "scripted"

    def conn_a(self, job: Job, config: int) -> FlowResult:
        return {"spdr_state": CONN_OK}

    def conn_b(self, job: Job, config: int) -> FlowResult:
        return {"spdr_state": job["b"]}

    connections = (conn_a, conn_b)

    def combine_flows(self, flows: list[FlowResult]) -> list[str]:
        flows[0]["spdr_state"] = "mangled"  # the item's own call must not see this
        return [self.combine_connectivity(True, flows[1]["spdr_state"] == CONN_OK)]


def test_only_failing_targets_are_located_and_experiments_say_with_what(listener: int) -> None:
    locator = Locator(["*.connectivity.broken"], Bounds(max_ttl=3, probes=1, wait=0.2))
    experiment = _Scripted(argparse.Namespace(timeout=1, connect="http"))
    passing = locator.run(experiment, {"dip": "127.0.0.1", "dp": listener, "b": CONN_OK})
    assert passing.locate is None
    failing = locator.run(experiment, {"dip": "127.0.0.1", "dp": listener, "b": CONN_TIMEOUT})
    assert failing.flows[0]["spdr_state"] == CONN_OK
    located: Any = failing.locate
    assert located["hop"] is None and located["sent"] == 0
    assert located["reason"] == "scripted names no probe pair (locate_with = None)"

    class WithPair(_Scripted):
        locate_with = "dscp"

    found: Any = locator.run(
        WithPair(argparse.Namespace(timeout=1, connect="tcp")),
        {"dip": "127.0.0.1", "dp": listener, "b": CONN_TIMEOUT},
    ).locate
    assert (found["pair"], found["probes"]) == ("dscp", ["tcp-syn", "tcp-syn-dscp48"])
    assert found["trace"] == [{"ttl": 1, "baseline": "target", "experimental": "target"}]
    assert "reached the target (TTL 1)" in found["reason"]


class ScriptedPath:
    """Stands in for the network in :func:`scan`: each send of a probe at a TTL takes the next
    answer scripted for (role, TTL), or silence; the baseline answers every TTL unless told."""

    def __init__(self, script: dict[tuple[str, int], list[str]], target_ttl: int) -> None:
        self.script = script
        self.target_ttl = target_ttl
        self.sends: list[tuple[str, int]] = []

    def collect(self, probes: list[Any], wait: float) -> None:
        for probe in probes:
            role = "experimental" if probe.spec.name == "exp" else "baseline"
            self.sends.append((role, probe.ttl))
            queue = self.script.get((role, probe.ttl))
            if queue:
                text = queue.pop(0)
            elif role == "baseline":
                text = "T" if probe.ttl >= self.target_ttl else f"198.18.8.{probe.ttl}"
            else:
                text = "*"
            probe.answer = answer(text)


class FakeProbe:
    def __init__(self, spec: ProbeSpec, dip: str, dp: int, ttl: int) -> None:
        self.spec, self.ttl, self.answer, self.source = spec, ttl, None, SOURCE


@pytest.fixture
def scripted_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def make(script: dict[tuple[str, int], list[str]], target_ttl: int = 4) -> ScriptedPath:
        path = ScriptedPath(script, target_ttl)
        monkeypatch.setattr(locate_module, "Probe", FakeProbe)
        monkeypatch.setattr(hops, "collect", path.collect)
        monkeypatch.setattr(locate_module, "RECHECK_GAP", 0.0)
        return path

    yield make


PAIR = Pair("dscp", ProbeSpec("base", "tcp"), ProbeSpec("exp", "tcp"), 80)
QUICK = Bounds(max_ttl=6, probes=2, wait=0.01, budget=5.0)


def test_a_rate_limited_silence_of_the_experimental_probe_is_asked_again(
    scripted_path: Any,
) -> None:
    """Tokens came back between the two sends at TTL 1 (other targets drew on them): asked
    again, the experimental probe is answered, and the loss is found where it is, at hop 2."""
    path = scripted_path(
        {("experimental", 1): ["*", "*", "198.18.8.1"], ("experimental", 2): ["198.18.8.2"]}
    )
    found = conclude(scan(PAIR, "198.18.9.1", QUICK))
    assert found == Finding(2, "198.18.8.2", "lost")
    assert path.sends[:6] == [
        ("experimental", 1), ("baseline", 1),  # the round: only the baseline is answered
        ("experimental", 1),  # its second try, alone
        ("experimental", 1), ("baseline", 1),  # the re-check: the experimental one answers
        ("experimental", 2),
    ]  # fmt: skip


def test_a_loss_seen_again_on_re_check_is_named_and_one_seen_once_is_not(
    scripted_path: Any,
) -> None:
    scripted_path({("experimental", 1): ["198.18.8.1"], ("experimental", 2): ["198.18.8.2"]})
    assert conclude(scan(PAIR, "198.18.9.1", QUICK)) == Finding(2, "198.18.8.2", "lost")
    # Both probes silent on every re-check: one observation names no hop.
    scripted_path(
        {
            ("experimental", 1): ["198.18.8.1"],
            ("experimental", 2): ["198.18.8.2"],
            ("baseline", 3): ["198.18.8.3", "*", "*"],
        }
    )
    unsure = conclude(scan(PAIR, "198.18.9.1", QUICK))
    assert unsure.hop is None and "hop 3 answered neither probe" in str(unsure.reason)
