"""TTL-limited probes and the ICMP answers routers give them, on the probe's own socket.

A probe is one packet: a TCP SYN (with socket options of the experiment's own: an ECN-setup
firewall mark, a DSCP mark, or data in the SYN) or a UDP datagram, sent to the target's own
address and port with a TTL (IPv6: hop limit) of ``h``, so that router ``h`` on the path drops
it and answers ICMP time-exceeded. The socket has ``IP_RECVERR`` / ``IPV6_RECVERR`` set, so the
kernel queues that answer on the socket's error queue (``MSG_ERRQUEUE``) as an extended error
(``SO_EE_ORIGIN_ICMP`` / ``SO_EE_ORIGIN_ICMP6``) that names the router (the offender address)
and carries the part of our packet the router quoted back, from the transport header on. Linux
does this for TCP sockets in ``SYN-SENT`` and for UDP sockets alike, for IPv4 and IPv6, so no
raw socket and no privilege is needed to read the answers (the experiments' own socket
options may need some: an ECN-setup SYN needs ``CAP_NET_ADMIN``).

What a probe can come back with (:class:`Answer`): time-exceeded from a router; the target's
answer (a SYN-ACK or a reset, a datagram, or ICMP port unreachable, which only the
destination host sends); another ICMP unreachable (a router or firewall refused the packet);
nothing within the wait (``silent``). Each probe has a fresh socket and source port, as in
classic traceroute; the socket is closed (TCP: with a reset, ``SO_LINGER`` 0) once it has its
answer, so a TCP probe is exactly one SYN when the wait is below the kernel's initial SYN
retransmission timeout of 1 s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import select
import socket
import struct
import time
from collections.abc import Callable, Sequence
from typing import Final, Literal

#: Socket options and flags (linux/in.h, linux/in6.h, linux/tcp.h, linux/socket.h); Python
#: 3.11's socket module lacks some.
IP_RECVERR: Final = 11
IPV6_RECVERR: Final = 25
MSG_ERRQUEUE: Final = getattr(socket, "MSG_ERRQUEUE", 0x2000)
MSG_FASTOPEN: Final = getattr(socket, "MSG_FASTOPEN", 0x20000000)
#: Data in the SYN without a cookie (the ``tcp`` experiment's data SYN needs one from an earlier
#: connection; a probe is the first packet of its flow).
TCP_FASTOPEN_NO_COOKIE: Final = 34
#: ``sock_extended_err.ee_origin`` values.
SO_EE_ORIGIN_ICMP: Final = 2
SO_EE_ORIGIN_ICMP6: Final = 3
#: ICMP types and codes: (IPv4, IPv6).
_TIME_EXCEEDED: Final = (11, 3)
_UNREACHABLE: Final = (3, 1)
_PORT_UNREACHABLE: Final = (3, 4)
_PACKET_TOO_BIG_V6: Final = 2
_EXTENDED_ERR: Final = struct.Struct("=IBBBBII")
#: Room for the extended error and the offender's address.
_ANCILLARY: Final = 512
#: Bytes of the quoted packet kept from an answer.
MAX_QUOTE: Final = 512

Kind = Literal["time_exceeded", "reached", "unreachable", "silent", "error"]
#: Reads a router's quote of our packet: True (it arrived as sent), False (it arrived
#: altered), None (the quote cannot tell).
QuoteCheck = Callable[[bytes], "bool | None"]


@dataclasses.dataclass(frozen=True)
class ProbeSpec:
    """One kind of probe packet.

    ``transport`` ``tcp`` sends a SYN (with ``syn_data`` in it, through ``MSG_FASTOPEN`` and
    ``TCP_FASTOPEN_NO_COOKIE``, when given); ``udp`` sends ``payload``. ``sockopts`` are
    ``setsockopt`` argument tuples applied first (marks, TOS); ``check_quote`` reads whether
    the packet a router quoted is still the one sent.
    """

    name: str
    transport: Literal["tcp", "udp"]
    sockopts: tuple[tuple[int, int, int], ...] = ()
    payload: bytes = b""
    syn_data: bytes = b""
    check_quote: QuoteCheck | None = dataclasses.field(default=None, compare=False)


@dataclasses.dataclass(frozen=True)
class Answer:
    """What one probe came back with: ``address`` is the ICMP offender (time-exceeded,
    unreachable) or None; ``intact`` what the quote says (None: it cannot tell, or no quote);
    ``detail`` the ICMP type and code or the error."""

    kind: Kind
    address: str | None = None
    intact: bool | None = None
    detail: str | None = None

    @property
    def answered(self) -> bool:
        """Something came back (a router's or the target's answer)."""
        return self.kind in ("time_exceeded", "reached", "unreachable")

    def text(self) -> str:
        """As traceroute shows a hop: the router's address, ``target``, ``*`` for silence."""
        if self.kind == "time_exceeded":
            return f"{self.address}{' (altered)' if self.intact is False else ''}"
        if self.kind == "reached":
            return "target"
        if self.kind == "unreachable":
            return f"unreachable from {self.address} ({self.detail})"
        if self.kind == "error":
            return f"error: {self.detail}"
        return "*"


SILENT: Final = Answer("silent")


def _family(dip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in dip else socket.AF_INET


class Probe:
    """One probe in flight: its socket, made in the calling thread's network namespace, and
    its answer once :func:`collect` has it."""

    def __init__(self, spec: ProbeSpec, dip: str, dp: int, ttl: int) -> None:
        self.spec = spec
        self.family = _family(dip)
        self.answer: Answer | None = None
        #: The local address the probe left from (None until known).
        self.source: str | None = None
        kind = socket.SOCK_STREAM if spec.transport == "tcp" else socket.SOCK_DGRAM
        self.sock = socket.socket(self.family, kind)
        try:
            self._send(dip, dp, ttl)
        except OSError as exc:
            self.answer = Answer("error", detail=str(exc) or type(exc).__name__)
            self.close()

    def _send(self, dip: str, dp: int, ttl: int) -> None:
        sock = self.sock
        for option in self.spec.sockopts:
            sock.setsockopt(*option)
        if self.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        sock.setblocking(False)
        if self.spec.transport == "udp":
            sock.connect((dip, dp))
            self._note_source()
            sock.send(self.spec.payload)
            return
        # Closed with a reset: no FIN exchange, no TIME-WAIT, for a SYN that reached the target.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if self.spec.syn_data:
            sock.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, 1)
            # EINPROGRESS: the SYN (with the data) is on its way.
            with contextlib.suppress(BlockingIOError):
                sock.sendto(self.spec.syn_data, MSG_FASTOPEN, (dip, dp))
        else:
            code = sock.connect_ex((dip, dp))
            if code not in (0, errno.EINPROGRESS):
                raise OSError(code, errno.errorcode.get(code, str(code)))
        self._note_source()

    def _note_source(self) -> None:
        try:
            address = self.sock.getsockname()[0]
        except OSError:
            return
        if isinstance(address, str) and address not in ("0.0.0.0", "::"):
            self.source = address

    @property
    def events(self) -> int:
        """What :func:`collect` polls for."""
        wanted = select.POLLERR
        return wanted | (select.POLLOUT if self.spec.transport == "tcp" else select.POLLIN)

    def settle(self, events: int) -> None:
        """Read the answer ``events`` announce (the error queue first)."""
        if events & select.POLLERR:
            answer = self._error_queue()
            if answer is not None:
                self._done(answer)
                return
        if self.spec.transport == "udp":
            if events & select.POLLIN:
                try:
                    self.sock.recv(1)
                except OSError as exc:
                    self._done(Answer("error", detail=str(exc)))
                    return
                self._done(Answer("reached", detail="datagram"))
            return
        code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code in (errno.ECONNREFUSED, errno.ECONNRESET):
            self._done(Answer("reached", detail="reset"))
        elif code:
            self._done(Answer("error", detail=errno.errorcode.get(code, str(code))))
        elif events & select.POLLOUT:
            self._done(Answer("reached", detail="syn-ack"))
        if self.answer is None and events & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
            self._done(Answer("error", detail=f"poll events {events:#x} without an answer"))

    def _error_queue(self) -> Answer | None:
        """The first ICMP answer on the socket's error queue, or None."""
        while True:
            try:
                quote, ancillary, _, _ = self.sock.recvmsg(MAX_QUOTE, _ANCILLARY, MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as exc:
                return Answer("error", detail=str(exc))
            for level, kind, data in ancillary:
                if (level, kind) in (
                    (socket.IPPROTO_IP, IP_RECVERR),
                    (socket.IPPROTO_IPV6, IPV6_RECVERR),
                ):
                    answer = parse_extended_error(data, quote, self.spec.check_quote)
                    if answer is not None:
                        return answer

    def _done(self, answer: Answer) -> None:
        self.answer = answer
        self.close()

    def close(self) -> None:
        """Let the socket go (idempotent)."""
        self.sock.close()


def parse_extended_error(
    data: bytes, quote: bytes, check: QuoteCheck | None = None
) -> Answer | None:
    """An :class:`Answer` from a ``sock_extended_err`` and the offender address after it
    (``SO_EE_OFFENDER``); None for an error that is not an ICMP message (a local one)."""
    if len(data) < _EXTENDED_ERR.size:
        return None
    _, origin, icmp_type, code, _, _, _ = _EXTENDED_ERR.unpack_from(data)
    if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
        return None
    v6 = origin == SO_EE_ORIGIN_ICMP6
    address = _offender(data[_EXTENDED_ERR.size :])
    detail = f"{'icmp6' if v6 else 'icmp'} {icmp_type}/{code}"
    if icmp_type == _TIME_EXCEEDED[v6]:
        intact = check(quote) if check is not None and quote else None
        return Answer("time_exceeded", address, intact, detail)
    if icmp_type == _UNREACHABLE[v6] and code == _PORT_UNREACHABLE[v6]:
        # Only the destination host sends port unreachable; over IPv6 it may answer from
        # another of its addresses.
        return Answer("reached", address, detail=detail)
    if icmp_type == _UNREACHABLE[v6] or (v6 and icmp_type == _PACKET_TOO_BIG_V6):
        return Answer("unreachable", address, detail=detail)
    return Answer("error", address, detail=f"unexpected {detail}")


def _offender(sockaddr: bytes) -> str | None:
    if len(sockaddr) < 2:
        return None
    family = struct.unpack_from("=H", sockaddr)[0]
    if family == socket.AF_INET and len(sockaddr) >= 8:
        return socket.inet_ntop(socket.AF_INET, sockaddr[4:8])
    if family == socket.AF_INET6 and len(sockaddr) >= 24:
        return socket.inet_ntop(socket.AF_INET6, sockaddr[8:24])
    return None


def collect(probes: Sequence[Probe], wait: float) -> None:
    """Wait up to ``wait`` seconds for every probe's answer; those without one are
    :data:`SILENT`. Every socket is closed afterwards."""
    deadline = time.monotonic() + wait
    try:
        while True:
            pending = {p.sock.fileno(): p for p in probes if p.answer is None}
            left = deadline - time.monotonic()
            if not pending or left <= 0:
                break
            poller = select.poll()
            for fd, probe in pending.items():
                poller.register(fd, probe.events)
            for fd, events in poller.poll(left * 1000):
                pending[fd].settle(events)
    finally:
        for probe in probes:
            if probe.answer is None:
                probe.answer = SILENT
            probe.close()


#: A QUIC version reserved to exercise version negotiation (RFC 9000 15: 0x?a?a?a?a).
QUIC_RESERVED_VERSION: Final = 0x1A2A3A4A
#: The smallest datagram a QUIC server must answer (RFC 9000 14.1).
QUIC_MIN_INITIAL: Final = 1200


def quic_probe() -> bytes:
    """A QUIC Initial packet of a reserved version, padded to 1200 bytes: a QUIC server
    answers it with Version Negotiation (RFC 9000 6.1), so a probe that reaches the target
    gets an answer, and nothing is decrypted or established."""
    cid = bytes(range(1, 9))
    header = bytes([0xC0]) + QUIC_RESERVED_VERSION.to_bytes(4, "big")
    header += bytes([len(cid)]) + cid + bytes([len(cid)]) + cid[::-1] + b"\x00"  # no token
    rest = QUIC_MIN_INITIAL - len(header) - 2
    return header + (0x4000 | rest).to_bytes(2, "big") + bytes(rest)


def tcp_flags_intact(flags: int) -> QuoteCheck:
    """A quote check: the quoted TCP header still has all of ``flags`` set (a quote shorter
    than the flags byte cannot tell)."""

    def check(quote: bytes) -> bool | None:
        if len(quote) < 14:
            return None
        return quote[13] & flags == flags

    return check
