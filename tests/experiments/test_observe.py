"""The per-connection observer, TCP_INFO, and the dscp and mss experiments, on loopback."""

from __future__ import annotations

import argparse
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_spider import CONN_OK, connect_observed
from pytest_spider.experiments.dscp import DSCP
from pytest_spider.experiments.mss import MSS
from pytest_spider.helpers import observe, tcpinfo
from pytest_spider.lab.servers import running
from tests.support.servers import tcp_server

needs_observer = pytest.mark.skipif(
    observe.observer_unavailable() is not None, reason=str(observe.observer_unavailable())
)


@pytest.fixture
def listener(host: str) -> Iterator[int]:
    """A TCP server on ``host`` that accepts, reads a request and answers one HTTP line."""

    def answer(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    with tcp_server(host, answer) as port:
        yield port


def _ip4(src: str, dst: str, tos: int, tcp: bytes) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(tcp), 0, 0, 64, 6, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    return header + tcp


def _tcp(sport: int, dport: int, flags: int, options: bytes = b"", payload: bytes = b"") -> bytes:
    offset = (20 + len(options)) // 4
    head = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, (offset << 4) | (flags >> 8),
                       flags & 0xFF, 65535, 0, 0)  # fmt: skip
    return head + options + payload


def test_parse_reads_flags_marks_and_options() -> None:
    options = (
        bytes([2, 4]) + struct.pack("!H", 1400) + bytes([1, 1, 8, 10]) + struct.pack("!II", 7, 9)
    )
    flags = observe.SYN | observe.ECE | observe.CWR | observe.AE
    data = _ip4("198.18.0.1", "198.18.1.1", 46 << 2 | 2, _tcp(4000, 80, flags, options, b"hi"))
    parsed = observe.parse(data, socket.AF_INET)
    assert parsed is not None
    ends, packet = parsed
    assert ends == (("198.18.0.1", 4000), ("198.18.1.1", 80))
    assert (packet.flags, packet.dscp, packet.ecn) == (flags, 46, observe.ECT_0)
    assert (packet.mss, packet.tsval, packet.tsecr, packet.payload) == (1400, 7, 9, 2)
    assert observe.parse(b"\x45garbage", socket.AF_INET) is None


def test_the_filter_program_assembles_forward_jumps() -> None:
    for local, remote in (
        (("198.18.0.1", 4000), ("198.18.1.1", 80)),
        (("2001:db8::1", 1), ("2001:db8::2", 2)),
    ):
        program = observe.filter_program(local, remote)
        assert program[-2] == (0x06, 0, 0, observe.SNAPLEN)  # accept
        assert program[-1] == (0x06, 0, 0, 0)  # reject
        assert all(0 <= jt < len(program) and 0 <= jf < len(program) for _, jt, jf, _ in program)


def packet(outgoing: bool, flags: int, tos: int = 0, **more: Any) -> observe.Packet:
    fields = {"mss": None, "tsval": None, "tsecr": None, "payload": 0} | more
    return observe.Packet(outgoing, tos, flags, **fields)


def test_flow_fields_follow_pathspiders_meanings() -> None:
    seen = [
        packet(True, observe.SYN | observe.ECE | observe.CWR, mss=1460, tsval=5),
        packet(True, observe.SYN, mss=1460, tsval=1005),
        packet(False, observe.SYN | observe.ACK, tos=8 << 2, mss=1200, tsecr=1005),
        packet(True, observe.ACK),
        packet(False, observe.ACK | observe.PSH, tos=observe.CE, payload=10),
    ]
    fields = observe.flow_fields(seen)
    assert fields["tcp_connected"] is True
    assert fields["tcp_synflags_fwd"] == observe.SYN | observe.ECE | observe.CWR
    assert fields["tcp_synflags_rev"] == observe.SYN | observe.ACK
    assert fields["tcp_syns_fwd"] == [{"flags": 0xC2, "tsval": 5}, {"flags": 2, "tsval": 1005}]
    assert (fields["tcp_synack_tsecr"], fields["tcp_synack_dscp"]) == (1005, 8)
    assert (fields["mss_value_fwd"], fields["mss_value_rev"], fields["mss_len_rev"]) == (
        1460,
        1200,
        4,
    )
    assert fields["ecn_ce_data_rev"] and not fields["ecn_ect0_data_rev"]
    assert (fields["dscp_mark_syn_rev"], fields["dscp_mark_data_rev"]) == (8, 0)
    assert observe.flow_fields(seen[:2])["tcp_connected"] is False


def test_tcp_info_of_a_loopback_connection(host: str, listener: int) -> None:
    with socket.create_connection((host, listener), timeout=2) as sock:
        info = tcpinfo.tcp_info(sock)
        fields = tcpinfo.flow_fields(sock)
    assert info.state == 1 and info.snd_mss > 0 and info.rtt > 0
    assert fields["tcp_maxseg"] == info.snd_mss and fields["tcp_ecn_kernel"] is False


@needs_observer
@pytest.mark.parametrize("mode", ["tcp", "http"])
def test_connect_observed_sees_its_own_connection_only(host: str, listener: int, mode: str) -> None:
    result = connect_observed(None, {"dip": host, "dp": listener}, 2.0, mode)
    assert result["spdr_state"] == CONN_OK and result["observed"] is True
    assert result["tcp_connected"] is True
    assert len(result["tcp_syns_fwd"]) == 1  # loopback shows each packet twice; one is kept
    assert result["tcp_synflags_rev"] == observe.SYN | observe.ACK
    assert result["mss_value_fwd"] == result["mss_value_rev"] == (65476 if ":" in host else 65495)
    assert result["tcpi_state"] in (1, 8)


@needs_observer
def test_a_refused_connection_is_observed_too(host: str, closed_port: int) -> None:
    result = connect_observed(None, {"dip": host, "dp": closed_port}, 1.0, "tcp")
    assert result["error_class"] == "refused"
    assert result["tcp_connected"] is False and result["tcp_synflags_rev"] is None


def test_connect_observed_refuses_unknown_modes(host: str) -> None:
    with pytest.raises(ValueError, match="unknown connection mode"):
        connect_observed(None, {"dip": host}, 1.0, "quic")


def experiment(cls: Any, connect: str) -> Any:
    return cls(argparse.Namespace(timeout=2.0, connect=connect))


def test_dscp_marks_the_second_datagram_and_reads_the_answer(measure: Any, host: str) -> None:
    with running("udp_echo", ["--host", host]) as facts:
        result = measure(DSCP, {"dip": host, "dp": facts["port"]}, connect="echo")
        marked = measure(DSCP, {"dip": host, "dp": facts["port"], "codepoint": 10}, connect="echo")
    assert sorted(result.conditions) == [
        "dscp.0.replymark:0",
        "dscp.0.servermark:0",
        "dscp.48.connectivity.works",
        "dscp.48.replymark:0",
        "dscp.48.servermark:48",
    ]
    assert "dscp.10.servermark:10" in marked.conditions


@needs_observer
def test_dscp_over_tcp_reads_the_synacks_mark(measure: Any, host: str, listener: int) -> None:
    result = measure(DSCP, {"dip": host, "dp": listener}, connect="tcp")
    assert sorted(result.conditions) == [
        "dscp.0.replymark:0",
        "dscp.48.connectivity.works",
        "dscp.48.replymark:0",
    ]
    assert result.flows[1]["dscp_mark_syn_fwd"] == 48


def test_dscp_without_an_observer_leaves_the_replymark_out_and_says_so() -> None:
    ok = {"spdr_state": CONN_OK, "observed": False}
    assert experiment(DSCP, "tcp").combine_flows([{**ok, "dscp": 0}, {**ok, "dscp": 48}]) == [
        "dscp.48.connectivity.works",
        "pathspider.not_observed",
    ]


@needs_observer
def test_mss_on_loopback_is_unchanged(measure: Any, host: str, listener: int) -> None:
    mss = 65476 if ":" in host else 65495
    result = measure(MSS, {"dip": host, "dp": listener}, connect="tcp")
    assert result.conditions == [
        "mss.connectivity.online",
        f"mss.option.local.value:{mss}",
        f"mss.option.remote.value:{mss}",
        "mss.option.received.unchanged",
    ]


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        (1200, ["mss.option.remote.value:1200", "mss.option.received.deflated"]),
        (1460, ["mss.option.remote.value:1460", "mss.option.received.unchanged"]),
        (9000, ["mss.option.remote.value:9000", "mss.option.received.inflated"]),
        (None, ["mss.option.received.absent"]),
    ],
)
def test_mss_compares_the_synacks_option_with_ours(remote: int | None, expected: list[str]) -> None:
    flow: dict[str, Any] = {"spdr_state": CONN_OK, "observed": True, "tcp_connected": True}
    flow |= {"mss_value_fwd": 1460, "mss_value_rev": remote}
    assert experiment(MSS, "tcp").combine_flows([flow]) == [
        "mss.connectivity.online",
        "mss.option.local.value:1460",
        *expected,
    ]


def test_mss_without_an_observer_says_connectivity_and_that_it_was_not_observed() -> None:
    flow = {"spdr_state": CONN_OK, "observed": False, "tcpi_advmss": 1448}
    assert experiment(MSS, "tcp").combine_flows([flow]) == [
        "mss.connectivity.online",
        "pathspider.not_observed",
    ]
    flow = {"spdr_state": 2, "observed": True, "tcp_connected": False}
    assert experiment(MSS, "tcp").combine_flows([flow]) == ["mss.connectivity.offline"]
