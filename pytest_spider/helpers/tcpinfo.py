"""The kernel's own view of a TCP connection: ``TCP_INFO`` and ``TCP_MAXSEG``.

No privilege is needed: a socket's owner may always read them. What they cannot tell (which
ECN codepoint arrived, the flags of the SYN-ACK, the MSS option on the wire) needs the packet
observer of :mod:`pytest_spider.helpers.observe`.
"""

from __future__ import annotations

import dataclasses
import socket
import struct
from typing import Any, Final

#: ``tcpi_options`` bits (linux/tcp.h).
TCPI_OPT_TIMESTAMPS: Final = 1
TCPI_OPT_SACK: Final = 2
TCPI_OPT_WSCALE: Final = 4
#: ECN is in use on the connection (the kernel's verdict on the handshake).
TCPI_OPT_ECN: Final = 8
#: A packet carrying ECT(0), ECT(1) or CE arrived (which of them, the kernel does not say).
TCPI_OPT_ECN_SEEN: Final = 16
TCPI_OPT_SYN_DATA: Final = 32

#: The leading part of ``struct tcp_info`` that every kernel since 2.6 fills: eight bytes,
#: then 24 unsigned 32-bit fields, up to and including ``tcpi_total_retrans``.
_LAYOUT: Final = struct.Struct("=8B24I")
#: ``TCP_MAXSEG``, which Python's socket module names on Linux; kept for type checkers.
TCP_MAXSEG: Final = getattr(socket, "TCP_MAXSEG", 2)


@dataclasses.dataclass(frozen=True)
class TcpInfo:
    """The fields of ``struct tcp_info`` the experiments read."""

    #: ``TCP_ESTABLISHED`` (1), ``TCP_SYN_SENT`` (2), ``TCP_CLOSE`` (7) ...
    state: int
    #: :data:`TCPI_OPT_ECN`, :data:`TCPI_OPT_ECN_SEEN` ... bits.
    options: int
    #: Segment size the connection sends with (the peer's MSS, less the options in use).
    snd_mss: int
    rcv_mss: int
    #: The MSS this end advertised in its SYN (the kernel keeps what it sent).
    advmss: int
    pmtu: int
    #: Segments sent again, the SYN included.
    total_retrans: int
    #: Smoothed round-trip time in microseconds; 0 until an answer to the SYN arrived.
    rtt: int

    @property
    def ecn(self) -> bool:
        """The kernel holds ECN negotiated (see :data:`TCPI_OPT_ECN`)."""
        return bool(self.options & TCPI_OPT_ECN)

    @property
    def ecn_seen(self) -> bool:
        """An ECT or CE mark arrived (see :data:`TCPI_OPT_ECN_SEEN`)."""
        return bool(self.options & TCPI_OPT_ECN_SEEN)


def tcp_info(sock: socket.socket) -> TcpInfo:
    """``TCP_INFO`` of ``sock``; raises ``OSError`` for a socket that is not TCP."""
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _LAYOUT.size)
    raw = raw.ljust(_LAYOUT.size, b"\0")
    fields = _LAYOUT.unpack(raw)
    head, words = fields[:8], fields[8:]
    # words: rto ato snd_mss rcv_mss | unacked sacked lost retrans fackets | last_data_sent
    # last_ack_sent last_data_recv last_ack_recv | pmtu rcv_ssthresh rtt rttvar snd_ssthresh
    # snd_cwnd advmss reordering | rcv_rtt rcv_space | total_retrans
    return TcpInfo(
        state=head[0],
        options=head[5],
        snd_mss=words[2],
        rcv_mss=words[3],
        advmss=words[19],
        pmtu=words[13],
        total_retrans=words[23],
        rtt=words[15],
    )


def maxseg(sock: socket.socket) -> int:
    """``TCP_MAXSEG``: the segment size in use (before connecting: the one asked for, or 536)."""
    return int(sock.getsockopt(socket.IPPROTO_TCP, TCP_MAXSEG))


def flow_fields(sock: socket.socket) -> dict[str, Any]:
    """A flow result's kernel fields: ``tcpi_*``, ``tcp_maxseg`` and the decoded ECN bits.

    Empty when the socket cannot tell (it is gone, or not TCP).
    """
    try:
        info = tcp_info(sock)
        segment = maxseg(sock)
    except OSError:
        return {}
    return {
        "tcpi_state": info.state,
        "tcpi_options": info.options,
        "tcpi_snd_mss": info.snd_mss,
        "tcpi_advmss": info.advmss,
        "tcpi_total_retrans": info.total_retrans,
        "tcpi_rtt": info.rtt,
        "tcp_maxseg": segment,
        "tcp_ecn_kernel": info.ecn,
        "tcp_ecn_seen_kernel": info.ecn_seen,
    }
