"""TTL-limited probes: reading a router's ICMP answer from the probe socket's error queue,
checking its quote of our packet, and the QUIC probe a QUIC server answers."""

from __future__ import annotations

import socket
import struct

import pytest

from pytest_spider.helpers import hops

R2 = "198.18.8.2"


def _extended_error(origin: int, icmp_type: int, code: int, offender: str) -> bytes:
    header = struct.pack("=IBBBBII", 113, origin, icmp_type, code, 0, 0, 0)
    if ":" in offender:
        address = struct.pack("=HHI", socket.AF_INET6, 0, 0) + socket.inet_pton(
            socket.AF_INET6, offender
        )
        return header + address + b"\0" * 4
    return header + struct.pack("=HH", socket.AF_INET, 0) + socket.inet_aton(offender) + bytes(8)


@pytest.mark.parametrize(
    ("origin", "icmp", "offender", "kind"),
    [
        (hops.SO_EE_ORIGIN_ICMP, (11, 0), R2, "time_exceeded"),
        (hops.SO_EE_ORIGIN_ICMP6, (3, 0), "2001:db8::2", "time_exceeded"),
        (hops.SO_EE_ORIGIN_ICMP, (3, 3), R2, "reached"),
        (hops.SO_EE_ORIGIN_ICMP6, (1, 4), "2001:db8::2", "reached"),
        (hops.SO_EE_ORIGIN_ICMP, (3, 13), R2, "unreachable"),
        (hops.SO_EE_ORIGIN_ICMP6, (1, 1), "2001:db8::2", "unreachable"),
        (hops.SO_EE_ORIGIN_ICMP6, (2, 0), "2001:db8::2", "unreachable"),
        (hops.SO_EE_ORIGIN_ICMP, (12, 0), R2, "error"),
    ],
)
def test_icmp_answers_are_read_from_the_extended_error(
    origin: int, icmp: tuple[int, int], offender: str, kind: str
) -> None:
    found = hops.parse_extended_error(_extended_error(origin, *icmp, offender), b"")
    assert found is not None and (found.kind, found.address) == (kind, offender)


def test_a_local_error_is_no_answer_and_quotes_are_checked() -> None:
    local = _extended_error(1, 0, 0, R2)  # SO_EE_ORIGIN_LOCAL
    assert hops.parse_extended_error(local, b"") is None
    assert hops.parse_extended_error(b"short", b"") is None
    syn = bytes(13) + bytes([0xC2]) + bytes(6)  # SYN with ECE and CWR
    bare = bytes(13) + bytes([0x02]) + bytes(6)
    check = hops.tcp_flags_intact(0xC0)
    assert (check(syn), check(bare), check(bytes(8))) == (True, False, None)
    quoted = hops.parse_extended_error(_extended_error(2, 11, 0, R2), bare, check)
    assert quoted is not None and quoted.intact is False and quoted.text() == f"{R2} (altered)"


def test_the_quic_probe_asks_for_version_negotiation() -> None:
    packet = hops.quic_probe()
    assert len(packet) == 1200 and packet[0] & 0xC0 == 0xC0  # long header, fixed bit
    assert packet[1:5] == bytes.fromhex("1a2a3a4a")  # a reserved version
    dcid_len = packet[5]
    scid_len = packet[6 + dcid_len]
    length_at = 7 + dcid_len + scid_len + 1  # after the empty token
    assert int.from_bytes(packet[length_at : length_at + 2], "big") & 0x3FFF == 1200 - length_at - 2
