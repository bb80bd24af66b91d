"""ecn over TCP: the conditions from observed flows, the per-socket ECN request, and Linux's
fallback and a namespace whose every connection asks for ECN, in the lab."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_spider import CONN_OK, CONN_SKIPPED, CONN_TIMEOUT
from pytest_spider.experiments.ecn import ECN, answered_fallback
from pytest_spider.helpers import ecn
from pytest_spider.helpers.observe import ACK, CWR, ECE, SYN
from pytest_spider.lab import Lab, lab_available, netns
from tests.experiments.conftest import Netns

SYN_ECN = SYN | ECE | CWR
OK: dict[str, Any] = {"spdr_state": CONN_OK, "sp": 1, "error_class": None, "error": None}


def tcp_ecn(connect: str = "http") -> ECN:
    return ECN(argparse.Namespace(timeout=2.0, connect=connect))


def observed(
    synack: int, syns: list[tuple[int, int]], tsecr: int | None, **marks: bool
) -> dict[str, Any]:
    """An observed, connected flow: the SYN-ACK's flags, the SYNs sent (flags, tsval)."""
    flow = {
        **OK,
        "observed": True,
        "tcp_connected": True,
        "tcp_synflags_fwd": syns[0][0],
        "tcp_synflags_rev": synack,
        "tcp_syns_fwd": [{"flags": f, "tsval": t} for f, t in syns],
        "tcp_synack_tsecr": tsecr,
    }
    for mark in ("ect0", "ect1", "ce"):
        for kind in ("syn", "data"):
            flow[f"ecn_{mark}_{kind}_rev"] = marks.get(f"{mark}_{kind}", False)
    return flow


NONE_SEEN = ["ecn.ipmark.ect0.not_seen", "ecn.ipmark.ect1.not_seen", "ecn.ipmark.ce.not_seen"]


@pytest.mark.parametrize(
    ("synack", "negotiation"),
    [
        (SYN | ACK | ECE, "ecn.negotiation.succeeded"),
        (SYN | ACK | ECE | CWR, "ecn.negotiation.reflected"),
        (SYN | ACK, "ecn.negotiation.failed"),
        (SYN | ACK | CWR, "ecn.negotiation.failed"),
    ],
)
def test_negotiation_is_read_off_the_synack(synack: int, negotiation: str) -> None:
    flows = [OK, observed(synack, [(SYN_ECN, 10)], 10, ect0_data=True)]
    conditions = tcp_ecn().combine_flows(flows)
    assert conditions == [
        "ecn.connectivity.works",
        negotiation,
        "ecn.ipmark.ect0.seen",
        "ecn.ipmark.ect1.not_seen",
        "ecn.ipmark.ce.not_seen",
    ]


def test_a_synack_answering_the_fallback_syn_says_so() -> None:
    flow = observed(SYN | ACK, [(SYN_ECN, 10), (SYN, 1010)], 1010)
    assert answered_fallback(flow)
    assert tcp_ecn().combine_flows([OK, flow]) == [
        "ecn.connectivity.works",
        "ecn.negotiation.failed",
        "ecn.fallback.connected",
        *NONE_SEEN,
    ]


def test_a_late_answer_to_the_ecn_syn_is_no_fallback() -> None:
    # The fallback SYN went out, but the SYN-ACK echoes the first SYN's timestamp.
    flow = observed(SYN | ACK | ECE, [(SYN_ECN, 10), (SYN, 1010)], 10)
    assert not answered_fallback(flow)
    assert "ecn.negotiation.succeeded" in tcp_ecn().combine_flows([OK, flow])


def test_without_an_echoed_timestamp_no_fallback_is_claimed() -> None:
    flow = observed(SYN | ACK, [(SYN_ECN, 10), (SYN, 1010)], None)
    assert "ecn.fallback.connected" not in tcp_ecn().combine_flows([OK, flow])


def test_ce_and_ect1_on_any_segment_count() -> None:
    flow = observed(SYN | ACK | ECE, [(SYN_ECN, 1)], 1, ce_data=True, ect1_syn=True)
    assert tcp_ecn().combine_flows([OK, flow])[-3:] == [
        "ecn.ipmark.ect0.not_seen",
        "ecn.ipmark.ect1.seen",
        "ecn.ipmark.ce.seen",
    ]


def test_without_the_observer_only_connectivity_and_not_observed_are_told() -> None:
    kernel_says_ecn = {**OK, "observed": False, "tcp_ecn_kernel": True}
    assert tcp_ecn().combine_flows([OK, kernel_says_ecn]) == [
        "ecn.connectivity.works",
        "pathspider.not_observed",
    ]
    # B skipped (ECN cannot be asked for here), A made without the observer.
    skipped = {"spdr_state": CONN_SKIPPED, "sp": 0, "error_class": None, "error": "why"}
    unobserved = {**OK, "observed": False}
    assert tcp_ecn().combine_flows([unobserved, skipped]) == [
        "ecn.connectivity.online",
        "pathspider.not_observed",
    ]


def test_a_skipped_connection_gives_online_or_offline_from_the_other() -> None:
    skipped = {"spdr_state": CONN_SKIPPED, "sp": 0, "error_class": None, "error": "why"}
    flow = observed(SYN | ACK | ECE, [(SYN_ECN, 1)], 1)
    assert tcp_ecn().combine_flows([skipped, flow])[:2] == [
        "ecn.connectivity.online",
        "ecn.negotiation.succeeded",
    ]
    assert tcp_ecn().combine_flows([OK, skipped]) == ["ecn.connectivity.online"]


def test_an_unconnected_experiment_has_no_negotiation() -> None:
    lost = {**observed(0, [(SYN_ECN, 1)], None), "spdr_state": CONN_TIMEOUT}
    lost["tcp_connected"] = False
    assert tcp_ecn().combine_flows([OK, lost]) == ["ecn.connectivity.broken"]


def test_a_local_address_cannot_be_asked_for_ecn(measure: Any, silent_port: int, host: str) -> None:
    result = measure(ECN, {"dip": host, "dp": silent_port}, timeout=1.0, connect="tcp")
    if os.geteuid() != 0:
        assert "CAP_NET_ADMIN" in result.flows[1]["error"]
    else:
        assert "local address" in result.flows[1]["error"]
    assert result.flows[1]["spdr_state"] == CONN_SKIPPED
    assert result.flows[0]["spdr_state"] == CONN_OK
    assert result.conditions == ["ecn.connectivity.online"]


def test_without_cap_net_admin_the_request_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> Any:
        raise ecn.NetlinkError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(ecn._Netlink, "request", refuse)
    monkeypatch.setattr(ecn, "_NAMESPACES", {})
    reason = ecn.request_ecn("198.18.99.5")
    assert isinstance(reason, str) and "CAP_NET_ADMIN" in reason


# -- the request's rule and routes, in a namespace of the test's own ------------------------


@pytest.fixture
def routed(netns: Netns) -> Iterator[Netns]:
    """The test namespace with a link (a veth pair, both ends inside) on which 198.18.99.0/24
    and 2001:db8:99::/64 are."""
    netns.run("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
    netns.run("ip", "link", "set", "d1", "up")
    netns.run("ip", "link", "set", "d0", "up")
    netns.run("ip", "addr", "add", "198.18.99.1/24", "dev", "d0")
    netns.run("ip", "addr", "add", "2001:db8:99::1/64", "dev", "d0", "nodad")
    yield netns


def test_the_request_copies_the_route_with_features_ecn_and_cleans_up(routed: Netns) -> None:
    with netns.inside(routed.name):
        try:
            request = ecn.request_ecn("198.18.99.5")
            request6 = ecn.request_ecn("2001:db8:99::5")
            assert isinstance(request, ecn.EcnRequest) and request == request6
            assert request.mark == ecn.MARK_BASE | os.getpid()
            table = str(request.mark)
            rules = routed.run("ip", "rule") + routed.run("ip", "-6", "rule")
            assert rules.count(f"fwmark {request.mark:#x} lookup {table}") == 2
            v4 = routed.run("ip", "route", "show", "table", table)
            v6 = routed.run("ip", "-6", "route", "show", "table", table)
            assert "198.18.99.5 dev d0" in v4 and "features ecn" in v4 and "src 198.18.99.1" in v4
            assert "2001:db8:99::5 dev d0" in v6 and "features ecn" in v6
            # A second request for the same address changes nothing.
            assert ecn.request_ecn("198.18.99.5") == request
        finally:
            ecn.cleanup()
        assert "fwmark" not in routed.run("ip", "rule") + routed.run("ip", "-6", "rule")
        assert routed.run("ip", "route", "show", "table", "all").count("198.18.99.5") == 0


def test_rules_a_dead_process_left_behind_are_removed(routed: Netns) -> None:
    dead = next(pid for pid in range(4_000_000, 4_100_000) if not os.path.exists(f"/proc/{pid}"))
    mark = ecn.MARK_BASE | dead
    routed.run("ip", "rule", "add", "pref", "1", "fwmark", str(mark), "lookup", str(mark))
    routed.run("ip", "route", "add", "198.18.99.7", "dev", "d0", "table", str(mark))
    with netns.inside(routed.name):
        try:
            assert isinstance(ecn.request_ecn("198.18.99.5"), ecn.EcnRequest)
            assert f"{mark:#x}" not in routed.run("ip", "rule")
            assert "198.18.99.7" not in routed.run("ip", "route", "show", "table", "all")
        finally:
            ecn.cleanup()


# -- Linux's fallback, and a namespace that always asks, in the lab -------------------------


@pytest.fixture(scope="module")
def fallback_lab() -> Iterator[Lab]:
    """A lab with nginx behind ecn_syn_drop and clean, and two vantages whose sysctls differ
    (sysctls of namespaces the lab made: the test's own namespace is never touched)."""
    if reason := lab_available():
        pytest.skip(f"path lab unavailable: {reason}")
    vantages = {"nofallback": "clean", "always": "clean"}
    blocks = {"ecn_syn_drop": "ecn_syn_drop", "clean": "clean"}
    with Lab(blocks, servers=("nginx",), v4_prefix=24, vantages=vantages) as lab:
        netns.write_sysctls(lab.vantage_ns("nofallback"), {"net.ipv4.tcp_ecn_fallback": "0"})
        netns.write_sysctls(lab.vantage_ns("always"), {"net.ipv4.tcp_ecn": "1"})
        yield lab


@contextlib.contextmanager
def at_vantage(lab: Lab, name: str) -> Iterator[None]:
    with netns.inside(lab.vantage_ns(name)):
        try:
            yield
        finally:
            ecn.cleanup()


@pytest.mark.lab
@pytest.mark.parametrize("family", [4, 6])
def test_with_the_fallback_off_an_ecn_syn_drop_breaks_the_connection(
    fallback_lab: Lab, measure: Any, family: int
) -> None:
    job = {"dip": fallback_lab.addresses("ecn_syn_drop", 1, family)[0]}
    with at_vantage(fallback_lab, "nofallback"):
        result = measure(ECN, job, timeout=2.0, connect="tcp")
    assert result.conditions == ["ecn.connectivity.broken"]
    flow = result.flows[1]
    assert flow["tcp_ecn_fallback"] == 0
    assert len(flow["tcp_syns_fwd"]) >= 2  # sent again, still asking for ECN
    assert all(s["flags"] & SYN_ECN == SYN_ECN for s in flow["tcp_syns_fwd"])


@pytest.mark.lab
def test_where_every_connection_asks_for_ecn_the_baseline_is_skipped(
    fallback_lab: Lab, measure: Any
) -> None:
    job = {"dip": fallback_lab.addresses("clean", 1, 4)[0]}
    with at_vantage(fallback_lab, "always"):
        result = measure(ECN, job, timeout=2.0, connect="http")
    assert result.flows[0]["spdr_state"] == CONN_SKIPPED
    assert "net.ipv4.tcp_ecn=1" in result.flows[0]["error"]
    assert result.conditions[:2] == ["ecn.connectivity.online", "ecn.negotiation.succeeded"]
