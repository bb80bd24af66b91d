"""Each path profile does to real traffic what it says, seen from the client namespace."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pycurl
import pytest

from pytest_spider import CONN_FAILED, CONN_OK, CONN_TIMEOUT, connect_observed
from pytest_spider.helpers import ecn
from pytest_spider.helpers.udp import tos_sockopt
from pytest_spider.lab import PROFILES, Lab
from tests.lab import probes

#: Needs a path lab (root, network namespaces, nginx, nftables): deselect with -m 'not lab'.
pytestmark = pytest.mark.lab

FAMILIES = pytest.mark.parametrize("family", [4, 6])
#: Traffic classes: ECN field values and DSCP code points (shifted into place).
NOT_ECT, ECT0, CE = 0, 2, 3
DSCP_EF, DSCP_CS1 = 46 << 2, 8 << 2


def addr(lab: Lab, block: str, family: int) -> str:
    return lab.addresses(block, 1, family)[0]


@FAMILIES
def test_alive_block_serves_http1_http2_and_tls(spider_lab: Lab, family: int) -> None:
    target = spider_lab.addresses("alive", 5, family)[-1]  # any address of the block serves
    plain = probes.http(spider_lab, target, spider_lab.ports["http"])
    h2 = probes.http(spider_lab, target, spider_lab.ports["https"], tls=True, h2=True)
    h1_only = probes.http(spider_lab, target, spider_lab.ports["https_h1"], tls=True, h2=True)

    assert plain["http_response_code"] == 200
    assert plain["http_response_body"] == f"pytest-spider lab HTTP/1.1 {target} 80\n"
    assert h2["http_info"][pycurl.INFO_HTTP_VERSION] == pycurl.CURL_HTTP_VERSION_2_0
    assert h2["http_response_body"] == f"pytest-spider lab HTTP/2.0 {target} 443\n"
    assert h1_only["spdr_state"] == CONN_OK
    assert h1_only["http_info"][pycurl.INFO_HTTP_VERSION] == pycurl.CURL_HTTP_VERSION_1_1


@FAMILIES
def test_blackhole_times_out(spider_lab: Lab, family: int) -> None:
    result = probes.http(spider_lab, addr(spider_lab, "dead", family), 80, timeout=0.5)
    assert (result["spdr_state"], result["error_class"]) == (CONN_TIMEOUT, "timeout")


@FAMILIES
def test_reject_refuses_tcp_and_udp(spider_lab: Lab, family: int) -> None:
    target = addr(spider_lab, "reject", family)
    result = probes.http(spider_lab, target, 80)
    assert (result["spdr_state"], result["error_class"]) == (CONN_FAILED, "refused")
    assert probes.udp(spider_lab, target, NOT_ECT) == []
    assert probes.udp_refused(spider_lab, target)
    assert not probes.udp_refused(spider_lab, addr(spider_lab, "dead", family))


@FAMILIES
def test_udp_drop_blocks_udp_but_not_tcp(spider_lab: Lab, family: int) -> None:
    target = addr(spider_lab, "udp_drop", family)
    assert probes.udp(spider_lab, target, NOT_ECT) == []
    assert probes.http(spider_lab, target, 80)["spdr_state"] == CONN_OK
    assert probes.udp(spider_lab, addr(spider_lab, "alive", family), NOT_ECT) == [NOT_ECT]


@FAMILIES
def test_ecn_and_dscp_profiles(spider_lab: Lab, family: int) -> None:
    def through(block: str, tos: int) -> list[int]:
        return probes.udp(spider_lab, addr(spider_lab, block, family), tos)

    assert through("alive", DSCP_EF | ECT0) == [DSCP_EF | ECT0]
    assert through("ecn_strip", DSCP_EF | ECT0) == [DSCP_EF | NOT_ECT]
    assert through("ecn_drop", ECT0) == []
    assert through("ecn_drop", CE) == []
    assert through("ecn_drop", DSCP_EF) == [DSCP_EF]
    assert through("dscp_rewrite", DSCP_EF | ECT0) == [DSCP_CS1 | ECT0]


def test_tfo_syn_drop_drops_syns_with_data_or_fastopen_option(spider_lab: Lab) -> None:
    alive, tfo = addr(spider_lab, "alive", 4), addr(spider_lab, "tfo_syn_drop", 4)
    assert probes.syn_answered(spider_lab, alive, 80, b"GET / HTTP/1.0\r\n\r\n")
    assert probes.syn_answered(spider_lab, tfo, 80, b"")
    assert not probes.syn_answered(spider_lab, tfo, 80, b"GET / HTTP/1.0\r\n\r\n")
    assert probes.tfo_fetch(spider_lab, alive) == (True, True)  # second try: data in the SYN
    assert probes.tfo_fetch(spider_lab, tfo) == (False, True)  # works, without Fast Open


def test_slow_limits_rate(spider_lab: Lab) -> None:
    def arrived(block: str) -> int:
        # 300 kB sent at once, against 100 kbytes/second
        return len(probes.udp(spider_lab, addr(spider_lab, block, 4), 0, count=300, size=1000))

    assert arrived("alive") == 300
    assert arrived("slow") < 200


@FAMILIES
def test_lossy_drops_a_random_share_of_packets(spider_lab: Lab, family: int) -> None:
    arrived = len(probes.udp(spider_lab, addr(spider_lab, "lossy", family), 0, count=200))
    # A third of 200 lost: about 134 arrive (binomial, standard deviation 6.7); each bound is
    # more than 7 deviations away, and a path that drops all or nothing is far outside.
    assert 85 <= arrived <= 180


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_set_profile_changes_the_path_live(spider_lab: Lab, profile: str) -> None:
    """Every profile loads into nftables; switching ``alive`` to ``blackhole`` and back acts."""
    target = addr(spider_lab, "alive", 4)
    try:
        spider_lab.set_profile("alive", profile)
        assert spider_lab.profiles["alive"] == profile
        if profile == "blackhole":
            assert probes.http(spider_lab, target, 80, timeout=0.5)["error_class"] == "timeout"
    finally:
        spider_lab.set_profile("alive", "clean")
    assert probes.http(spider_lab, target, 80)["spdr_state"] == CONN_OK


def test_unknown_profile_or_block_is_refused(spider_lab: Lab) -> None:
    with pytest.raises(ValueError, match="unknown path profile"):
        spider_lab.set_profile("alive", "no_such_profile")
    with pytest.raises(KeyError, match="no block"):
        spider_lab.set_profile("nowhere", "clean")
    assert spider_lab.profiles["alive"] == "clean"


def observed(lab: Lab, block: str, family: int, ask_ecn: bool = True, tos: int = 0) -> Any:
    """One HTTP fetch from the client namespace to nginx in ``block``, watched by the packet
    observer; the SYN asks for ECN (per socket) unless told not to."""
    target = addr(lab, block, family)
    sockopts: list[tuple[int, int, int]] = []
    with lab.inside("client"):
        if ask_ecn:
            request = ecn.request_ecn(target)
            assert isinstance(request, ecn.EcnRequest), request
            sockopts.append(request.sockopt())
        if tos:
            sockopts.append(tos_sockopt(target, tos))
        return connect_observed(None, {"dip": target}, 2.0, "http", sockopts)


@pytest.fixture
def ecn_requests() -> Iterator[None]:
    """The ECN requests' rule and routes go when the test ends."""
    try:
        yield
    finally:
        ecn.cleanup()


@FAMILIES
@pytest.mark.usefixtures("ecn_requests")
def test_tcp_ecn_profiles(spider_lab: Lab, family: int) -> None:
    syn_ecn, synack_ecn = 0xC2, 0x52  # SYN+ECE+CWR; SYN+ACK+ECE
    clean = observed(spider_lab, "alive", family)
    assert (clean["tcp_synflags_fwd"], clean["tcp_synflags_rev"]) == (syn_ecn, synack_ecn)
    assert clean["ecn_ect0_data_rev"] and not clean["ecn_ce_data_rev"]
    # ecn_syn_drop: only the SYN sent again without ECE and CWR (Linux's fallback) is answered.
    dropped = observed(spider_lab, "ecn_syn_drop", family)
    assert [s["flags"] for s in dropped["tcp_syns_fwd"]] == [syn_ecn, 0x02]
    assert dropped["tcp_synack_tsecr"] == dropped["tcp_syns_fwd"][1]["tsval"]
    assert observed(spider_lab, "ecn_syn_drop", family, ask_ecn=False)["tcpi_total_retrans"] == 0
    assert observed(spider_lab, "ecn_reflect", family)["tcp_synflags_rev"] == 0xD2
    # ecn_syn_clear: the SYN arrives without ECE and CWR, so the server does not negotiate.
    cleared = observed(spider_lab, "ecn_syn_clear", family)
    assert (cleared["tcp_synflags_fwd"], cleared["tcp_synflags_rev"]) == (syn_ecn, 0x12)
    bleached = observed(spider_lab, "ecn_bleach", family)
    assert bleached["tcp_synflags_rev"] == synack_ecn and not bleached["ecn_ect0_data_rev"]
    marked = observed(spider_lab, "ecn_ce", family)
    assert marked["ecn_ce_data_rev"] and not marked["ecn_ect0_data_rev"]


@FAMILIES
def test_dscp_drop_drops_marked_packets_only(spider_lab: Lab, family: int) -> None:
    assert probes.udp(spider_lab, addr(spider_lab, "dscp_drop", family), DSCP_EF) == []
    assert probes.udp(spider_lab, addr(spider_lab, "dscp_drop", family), ECT0) == [ECT0]
    plain = observed(spider_lab, "dscp_drop", family, ask_ecn=False)
    marked = observed(spider_lab, "dscp_drop", family, ask_ecn=False, tos=DSCP_EF)
    assert plain["spdr_state"] == CONN_OK and plain["dscp_mark_syn_rev"] == 0
    assert marked["error_class"] == "timeout" and marked["tcp_synflags_rev"] is None


@FAMILIES
def test_mss_profiles_rewrite_the_synacks_option(spider_lab: Lab, family: int) -> None:
    ours = 1460 if family == 4 else 1440

    def mss(block: str) -> tuple[int | None, int | None]:
        seen = observed(spider_lab, block, family, ask_ecn=False)
        return seen["mss_value_fwd"], seen["mss_value_rev"]

    assert mss("alive") == (ours, ours)
    assert mss("mss_clamp") == (ours, 1200)
    assert mss("mss_inflate") == (ours, 9000)
    assert mss("mss_strip") == (ours, None)
