"""UDP exchanges: one datagram out, one answer back, within the timeout.

The socket is connected (to ``job['dip']``, never to anything the domain says), so an ICMP
port unreachable ends the wait as a refusal instead of a timeout; results carry ``sip``, the
local address the connected socket was given. The lab's echo server
(``pytest_spider.lab.servers.udp_echo``) answers with the TOS byte / traffic class it received
followed by the datagram; :func:`echo_reply` and :func:`parse_echo` are that format's two
halves.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any, Final

from pytest_spider.helpers import errors
from pytest_spider.helpers.source import bound_address
from pytest_spider.spider import FlowResult, Job

#: Largest answer read.
MAX_DATAGRAM = 65535

#: Turns an answer into result fields; raises ValueError for an answer that is not one.
ParseReply = Callable[[bytes], dict[str, Any]]


def tos_sockopt(dip: str, tos: int) -> tuple[int, int, int]:
    """``setsockopt`` arguments marking datagrams to ``dip`` with ``tos`` (TOS or traffic class)."""
    if ":" in dip:
        return (socket.IPPROTO_IPV6, socket.IPV6_TCLASS, tos)
    return (socket.IPPROTO_IP, socket.IP_TOS, tos)


def connect_udp(
    source: tuple[str | None, str | None] | None,
    job: Job,
    conn_timeout: float,
    payload: bytes,
    sockopts: Iterable[tuple[Any, ...]] | None = None,
    parse: ParseReply | None = None,
    read_tos: bool = False,
) -> FlowResult:
    """Send ``payload`` to ``job['dip']:job['dp']`` and wait for one answer.

    ``sockopts`` are ``setsockopt`` argument tuples applied first; ``parse`` turns the answer
    into result fields (an answer it rejects makes the flow fail). With ``read_tos`` the
    result has ``reply_tos``, the TOS byte / traffic class the answer arrived with
    (``IP_RECVTOS`` / ``IPV6_RECVTCLASS``; unprivileged), or None if the kernel gave none.
    """
    dip, dp = str(job["dip"]), int(job["dp"])
    family = socket.AF_INET6 if ":" in dip else socket.AF_INET
    bind = None if source is None else source[1 if family == socket.AF_INET6 else 0]
    sp = 0
    sip = None
    ancdata: list[tuple[int, int, bytes]] = []
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            for opt in sockopts or ():
                sock.setsockopt(*opt)
            if read_tos:
                sock.setsockopt(*_RECV_TOS[family])
            if bind:
                sock.bind((bind, 0))
            sock.connect((dip, dp))
            sp = sock.getsockname()[1]
            sip = bound_address(sock)
            sock.settimeout(conn_timeout)
            sock.send(payload)
            if read_tos:
                reply, ancdata, _, _ = sock.recvmsg(MAX_DATAGRAM, _ANCILLARY)
            else:
                reply = sock.recv(MAX_DATAGRAM)
        except OSError as exc:
            message = str(exc) or "timed out"
            return errors.failure(errors.classify_oserror(exc), message, sp=sp, sip=sip)
    fields: dict[str, Any] = {}
    if parse is not None:
        try:
            fields = parse(reply)
        except ValueError as exc:
            return errors.failure(errors.OTHER, f"unexpected answer: {exc}", sp=sp, sip=sip)
    if read_tos:
        fields["reply_tos"] = _reply_tos(ancdata)
    return errors.success(sp=sp, sip=sip, udp_reply_len=len(reply), **fields)


#: The socket option that makes the kernel hand over an answer's TOS byte / traffic class.
_RECV_TOS: Final = {
    socket.AF_INET: (socket.IPPROTO_IP, socket.IP_RECVTOS, 1),
    socket.AF_INET6: (socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1),
}
#: Room for one TOS / traffic class control message.
_ANCILLARY: Final = socket.CMSG_SPACE(4)


def _reply_tos(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, value in ancdata:
        if (level, kind) == (socket.IPPROTO_IP, socket.IP_TOS) and value:
            return value[0]
        if (level, kind) == (socket.IPPROTO_IPV6, socket.IPV6_TCLASS) and len(value) >= 4:
            return int.from_bytes(value[:4], "little") & 0xFF
    return None


def echo_reply(datagram: bytes, tos: int | None) -> bytes:
    """The echo server's answer: the TOS byte it saw (0 if unknown), then the datagram."""
    return bytes([tos or 0]) + datagram


def parse_echo(payload: bytes) -> ParseReply:
    """A parser for the echo server's answer to ``payload``: yields ``server_tos``."""

    def parse(reply: bytes) -> dict[str, Any]:
        if reply[1:] != payload:
            raise ValueError("not an echo of the datagram sent")
        return {"server_tos": reply[0]}

    return parse
