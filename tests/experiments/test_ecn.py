"""ecn over UDP (``--spider-connect=dns|echo``) against the lab DNS and echo servers: on
loopback, and through nftables in a netns. Over TCP: test_tcp_ecn.py."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_spider import CONN_OK
from pytest_spider.experiments.ecn import ECN
from pytest_spider.lab.servers import running

SERVERS = {"dns": "dns", "echo": "udp_echo"}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """Each kind of lab server on both loopback addresses: (connect mode, port)."""
    mode = str(request.param)
    with running(SERVERS[mode], ["--host", "127.0.0.1", "--host", "::1"]) as facts:
        yield mode, int(facts["port"])


def test_loopback_keeps_the_mark(measure: Any, server: tuple[str, int], host: str) -> None:
    mode, port = server
    result = measure(ECN, {"dip": host, "dp": port, "domain": "www.lab.test"}, connect=mode)
    assert result.conditions == ["ecn.connectivity.works", "ecn.mark.preserved"]
    assert [flow["server_tos"] for flow in result.flows] == [0, 2]


def test_a_silent_peer_times_out_in_bounded_time(measure: Any, host: str, silent_port: int) -> None:
    result = measure(ECN, {"dip": host, "dp": silent_port}, timeout=0.5, connect="dns")
    assert result.conditions == ["ecn.connectivity.offline"]
    assert [flow["error_class"] for flow in result.flows] == ["timeout", "timeout"]
    assert result.elapsed < 2 * (0.5 + 1)


def test_a_closed_port_is_refused(measure: Any, host: str, closed_port: int) -> None:
    result = measure(ECN, {"dip": host, "dp": closed_port}, timeout=5, connect="echo")
    assert result.conditions == ["ecn.connectivity.offline"]
    assert [flow["error_class"] for flow in result.flows] == ["refused", "refused"]
    assert result.elapsed < 1


def test_a_server_that_cannot_tell_gives_no_mark_condition() -> None:
    answered = {"spdr_state": CONN_OK, "sp": 1, "error_class": None, "error": None}
    udp = ECN(argparse.Namespace(timeout=1.0, connect="echo"))
    assert udp.combine_flows([answered, answered]) == ["ecn.connectivity.works"]


# Path rules, applied as datagrams arrive (input hook), as a router on the path would.
PATHS = {
    "strip": ("ip ecn set not-ect", "ip6 ecn set not-ect"),
    "mark_ce": ("ip ecn set ce", "ip6 ecn set ce"),
    "drop_ect": ("ip ecn != not-ect drop", "ip6 ecn != not-ect drop"),
}
EXPECTED = {
    "strip": ["ecn.connectivity.works", "ecn.mark.stripped"],
    "mark_ce": ["ecn.connectivity.works", "ecn.mark.ce"],
    "drop_ect": ["ecn.connectivity.broken"],
}


@pytest.mark.lab  # a network namespace of its own, with nftables
@pytest.mark.parametrize("path", sorted(PATHS))
def test_path_behaviour_in_a_namespace(netns: Any, path: str, ns_host: str) -> None:
    v4_rule, v6_rule = PATHS[path]
    netns.nft(
        "table inet path {\n chain input {\n  type filter hook input priority 0;\n"
        f"  meta l4proto udp {v4_rule}\n  meta l4proto udp {v6_rule}\n }}\n}}\n"
    )
    result = netns.measure("ecn:ECN:echo", ns_host, ["udp_echo"], timeout=1.0)
    assert result["conditions"] == EXPECTED[path]
