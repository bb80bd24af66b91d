"""DSCP per socket, and the mark an answer came back with.

A codepoint goes on a socket with ``IP_TOS`` / ``IPV6_TCLASS`` (no privilege needed; for TCP
the kernel keeps the ECN bits its own). Over UDP the answer's TOS byte / traffic class is
read with ``IP_RECVTOS`` / ``IPV6_RECVTCLASS`` (:func:`connect_udp_marked`, unprivileged);
over TCP the kernel hands no such thing to the client, so the packet observer reads it
(``dscp_mark_syn_rev`` of :func:`pytest_spider.helpers.observe.flow_fields`).
"""

from __future__ import annotations

import socket
from typing import Any, Final

from pytest_spider.helpers import errors
from pytest_spider.helpers.udp import MAX_DATAGRAM, ParseReply, parse_echo, tos_sockopt
from pytest_spider.spider import FlowResult, Job

#: The probe the lab's echo server sends back.
ECHO_PROBE: Final = b"pytest-spider dscp probe"
#: Room for one TOS / traffic class control message.
_ANCILLARY: Final = socket.CMSG_SPACE(4)


def tos_of(codepoint: int) -> int:
    """The TOS byte / traffic class carrying DSCP ``codepoint`` (ECN bits clear)."""
    if not 0 <= codepoint <= 63:
        raise ValueError(f"DSCP codepoint {codepoint} is not in 0-63")
    return codepoint << 2


def dscp_sockopt(dip: str, codepoint: int) -> tuple[int, int, int]:
    """``setsockopt`` arguments marking packets to ``dip`` with ``codepoint``."""
    return tos_sockopt(dip, tos_of(codepoint))


def echo_probe() -> tuple[bytes, ParseReply]:
    """The lab echo server's probe and parser (yields ``server_tos``)."""
    return ECHO_PROBE, parse_echo(ECHO_PROBE)


def _reply_tos(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, value in ancdata:
        if (level, kind) == (socket.IPPROTO_IP, socket.IP_TOS) and value:
            return value[0]
        if (level, kind) == (socket.IPPROTO_IPV6, socket.IPV6_TCLASS) and len(value) >= 4:
            return int.from_bytes(value[:4], "little") & 0xFF
    return None


def connect_udp_marked(
    source: tuple[str | None, str | None] | None,
    job: Job,
    conn_timeout: float,
    payload: bytes,
    codepoint: int,
    parse: ParseReply | None = None,
) -> FlowResult:
    """Send ``payload`` marked with DSCP ``codepoint`` to ``job['dip']:job['dp']``; wait for
    one answer. The result has ``reply_tos`` (the answer's TOS byte / traffic class) and
    ``sip`` (the source address)."""
    dip, dp = str(job["dip"]), int(job["dp"])
    family = socket.AF_INET6 if ":" in dip else socket.AF_INET
    bind = None if source is None else source[1 if family == socket.AF_INET6 else 0]
    sp, sip = 0, None
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.setsockopt(*dscp_sockopt(dip, codepoint))
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
            if bind:
                sock.bind((bind, 0))
            sock.connect((dip, dp))
            sip, sp = sock.getsockname()[:2]
            sock.settimeout(conn_timeout)
            sock.send(payload)
            reply, ancdata, _, _ = sock.recvmsg(MAX_DATAGRAM, _ANCILLARY)
        except OSError as exc:
            message = str(exc) or "timed out"
            return errors.failure(errors.classify_oserror(exc), message, sp=sp, sip=sip)
    fields: dict[str, Any] = {}
    if parse is not None:
        try:
            fields = parse(reply)
        except ValueError as exc:
            return errors.failure(errors.OTHER, f"unexpected answer: {exc}", sp=sp, sip=sip)
    reply_tos = _reply_tos(ancdata)
    return errors.success(sp=sp, sip=sip, udp_reply_len=len(reply), reply_tos=reply_tos, **fields)
