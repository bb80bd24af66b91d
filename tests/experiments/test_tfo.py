"""tfo against the lab TFO server: on loopback (host sysctls only read) and in a private netns.

The server side of Fast Open needs bit 2 of net.ipv4.tcp_fastopen, which is per network
namespace: the tests that need it set it in a namespace they create, never on the host.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_spider import CONN_SKIPPED
from pytest_spider.experiments.tfo import TFO
from pytest_spider.helpers import tfo as tfo_helper
from pytest_spider.lab.servers import running


@pytest.fixture(scope="module")
def tfo_server() -> Iterator[int]:
    """The TFO server, Fast Open on, on both loopback addresses; its port."""
    with running("tfo", ["--host", "127.0.0.1", "--host", "::1", "--tfo"]) as facts:
        yield int(facts["port"])


def host_sysctl() -> int:
    with open(tfo_helper.SYSCTL, encoding="ascii") as f:
        return int(f.read())


def test_loopback_follows_the_host_sysctl(measure: Any, tfo_server: int, host: str) -> None:
    result = measure(TFO, {"dip": host, "dp": tfo_server})
    assert [flow["tcp_reply"] for flow in result.flows[:1]] == ["HTTP/1.1 200 OK"]
    sysctl = host_sysctl()
    if not sysctl & 1:
        assert result.conditions == ["tfo.connectivity.online"]
    elif sysctl & 2:  # this host serves Fast Open on loopback too
        assert result.conditions[:2] == ["tfo.connectivity.works", "tfo.cookie.received"]
    else:
        assert result.conditions == ["tfo.connectivity.works", "tfo.cookie.not_received"]
        assert result.flows[2]["tfo_client_fail"] == "cookie_unavailable"


def test_a_silent_peer_times_out_in_bounded_time(measure: Any, host: str, silent_port: int) -> None:
    result = measure(TFO, {"dip": host, "dp": silent_port}, timeout=0.5)
    assert result.conditions[0] in ("tfo.connectivity.offline", "tfo.connectivity.online")
    assert {flow["error_class"] for flow in result.flows if flow["spdr_state"] != CONN_SKIPPED} == {
        "timeout"
    }
    assert result.elapsed < 3 * (0.5 + 1)


def test_a_closed_port_is_refused(measure: Any, host: str, closed_port: int) -> None:
    result = measure(TFO, {"dip": host, "dp": closed_port}, timeout=5)
    assert result.flows[0]["error_class"] == "refused"
    assert result.elapsed < 1


# In a namespace of the test's own, server and client both inside, Fast Open fully on (3).
CASES = {
    "acked": (["--tfo"], "", ["tfo.cookie.received", "tfo.syndata.acked"]),
    "no_server_tfo": ([], "", ["tfo.cookie.not_received"]),
    "cookie_rotated": (
        ["--tfo", "--rotate-key"],
        "",
        ["tfo.cookie.received", "tfo.syndata.not_acked"],
    ),
    # A path that drops SYNs carrying data (an IPv4 SYN over 100 bytes, IPv6 payload over 80):
    # the kernel sends the SYN again without data after its 1 s retransmission timeout.
    "syn_data_dropped": (
        ["--tfo"],
        "tcp flags & (syn | ack) == syn ip length > 100 drop\n"
        "tcp flags & (syn | ack) == syn ip6 length > 80 drop",
        ["tfo.cookie.received", "tfo.syndata.failed"],
    ),
}


@pytest.mark.lab  # a network namespace of its own, with nftables
@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_open_outcomes_in_a_namespace(netns: Any, case: str, ns_host: str) -> None:
    server_args, rules, expected = CASES[case]
    netns.run("sysctl", "-qw", "net.ipv4.tcp_fastopen=3")
    if rules:
        netns.nft(
            "table inet path {\n chain input {\n  type filter hook input priority 0;\n"
            f"  {rules}\n }}\n}}\n"
        )
    result = netns.measure("tfo:TFO", ns_host, ["tfo", *server_args], timeout=3.0)
    assert result["conditions"] == ["tfo.connectivity.works", *expected]


@pytest.mark.lab  # a network namespace of its own
def test_client_fast_open_off_is_reported_not_changed(netns: Any, ns_host: str) -> None:
    netns.run("sysctl", "-qw", "net.ipv4.tcp_fastopen=0")
    result = netns.measure("tfo:TFO", ns_host, ["tfo", "--tfo"])
    assert result["conditions"] == ["tfo.connectivity.online"]
    assert [flow["spdr_state"] for flow in result["flows"][1:]] == [CONN_SKIPPED] * 2
    assert "lacks the client bit" in result["flows"][2]["error"]
    assert netns.run("sysctl", "-n", "net.ipv4.tcp_fastopen").strip() == "0"
