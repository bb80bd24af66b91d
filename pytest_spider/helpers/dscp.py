"""DSCP per socket, and the mark an answer came back with.

A codepoint goes on a socket with ``IP_TOS`` / ``IPV6_TCLASS`` (no privilege needed; for TCP
the kernel keeps the ECN bits its own). Over UDP the answer's TOS byte / traffic class is
read with ``IP_RECVTOS`` / ``IPV6_RECVTCLASS`` (:func:`connect_udp_marked`, unprivileged);
over TCP the kernel hands no such thing to the client, so the packet observer reads it
(``dscp_mark_syn_rev`` of :func:`pytest_spider.helpers.observe.flow_fields`).
"""

from __future__ import annotations

from typing import Final

from pytest_spider.helpers.udp import ParseReply, connect_udp, parse_echo, tos_sockopt
from pytest_spider.spider import FlowResult, Job

#: The probe the lab's echo server sends back.
ECHO_PROBE: Final = b"pytest-spider dscp probe"


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
    marking = [dscp_sockopt(str(job["dip"]), codepoint)]
    return connect_udp(source, job, conn_timeout, payload, marking, parse, read_tos=True)
