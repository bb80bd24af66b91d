"""TCP connections with and without TCP Fast Open, observed through the kernel.

No packet capture: after the handshake, ``TCP_INFO`` tells whether the data sent in the SYN was
acknowledged (``tcpi_options`` bit ``TCPI_OPT_SYN_DATA``) and, if Fast Open was tried and fell
short, why (``tcpi_fastopen_client_fail``: no cookie yet, data not acknowledged, SYN
retransmitted). Whether the kernel held a cookie for the server shows in ``connect()`` on a
``TCP_FASTOPEN_CONNECT`` socket: with one it defers the SYN to the first ``send``, which then
carries data; without, it sends at once a SYN asking for a cookie. Linux only; the client side
needs bit 1 of ``net.ipv4.tcp_fastopen``.

The connection goes to ``job['dip']``; the domain is only the Host header, and only when it is
a name (:func:`~pytest_spider.helpers.http.host_label`). Results carry ``sip``, the local
address the socket was bound to.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import time
from typing import Any, Final

from pytest_spider.helpers import errors
from pytest_spider.helpers.http import host_label
from pytest_spider.helpers.source import bound_address
from pytest_spider.spider import FlowResult, Job

#: ``setsockopt`` option making connect() wait for the first send, which then goes in the SYN.
TCP_FASTOPEN_CONNECT: Final = getattr(socket, "TCP_FASTOPEN_CONNECT", 30)
#: ``tcpi_options`` bit: the data in our SYN was acknowledged by the SYN-ACK.
TCPI_OPT_SYN_DATA: Final = 32
#: ``tcpi_fastopen_client_fail`` values (linux/tcp.h ``enum tfo_client_fail``) by name.
CLIENT_FAIL: Final = {1: "cookie_unavailable", 2: "data_not_acked", 3: "syn_retransmitted"}
#: Where the kernel keeps the switch; per network namespace.
SYSCTL: Final = "/proc/sys/net/ipv4/tcp_fastopen"
#: Bytes of answer kept.
MAX_REPLY: Final = 4096


def client_disabled() -> str | None:
    """Why this host's kernel will not do Fast Open as a client, or None if it will."""
    try:
        with open(SYSCTL, encoding="ascii") as f:
            value = int(f.read().strip(), 0)
    except (OSError, ValueError) as exc:
        return f"cannot read {SYSCTL}: {exc}"
    if not value & 1:
        return f"net.ipv4.tcp_fastopen={value} lacks the client bit (1): TFO not attempted"
    return None


def http_request(job: Job) -> bytes:
    """A small HTTP/1.1 request for ``/`` that asks the server to close after answering."""
    host = host_label(job)
    return f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("ascii")


def connect_tfo(
    source: tuple[str | None, str | None] | None,
    job: Job,
    conn_timeout: float,
    fastopen: bool,
    request: bytes,
) -> FlowResult:
    """Connect to ``job['dip']:job['dp']`` (default port 80), send ``request``, read the answer.

    With ``fastopen`` the request goes in the SYN when the kernel holds a cookie for the server,
    else the SYN asks for one and the request follows the handshake. Succeeds once any answer
    arrives; ``tcp_reply`` is its first line. Fast Open results add ``tfo_syn_bytes`` (request
    bytes the SYN carried: 0 when there was no cookie), ``tfo_syn_data_acked`` and
    ``tfo_client_fail`` (a :data:`CLIENT_FAIL` name or None).
    """
    job.setdefault("dp", 80)
    dip, dp = str(job["dip"]), int(job["dp"])
    family = socket.AF_INET6 if ":" in dip else socket.AF_INET
    bind = None if source is None else source[1 if family == socket.AF_INET6 else 0]
    deadline = time.monotonic() + conn_timeout
    fields: dict[str, Any] = {"sp": 0, "sip": None}
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            if fastopen:
                sock.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)
            if bind:
                sock.bind((bind, 0))
            sock.setblocking(False)
            code = sock.connect_ex((dip, dp))
            if code not in (0, errno.EINPROGRESS):
                raise OSError(code, os.strerror(code))
            sent = 0
            if fastopen:
                if code == 0:  # connect deferred: the kernel holds a cookie, data rides the SYN
                    sent = sock.send(request)
                fields["tfo_syn_bytes"] = sent
            fields["sp"] = sock.getsockname()[1]
            fields["sip"] = bound_address(sock)
            _wait(sock, select.POLLOUT, deadline)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))
            if fastopen:
                fields.update(_fastopen_info(sock))
            while sent < len(request):
                _wait(sock, select.POLLOUT, deadline)
                sent += sock.send(request[sent:])
            reply = _read_reply(sock, deadline)
        except OSError as exc:
            if fastopen and "tfo_syn_bytes" in fields:
                fields.update(_fastopen_info(sock))
            return errors.failure(errors.classify_oserror(exc), str(exc) or "timed out", **fields)
    if not reply:
        return errors.failure(errors.HTTP, "connection closed without an answer", **fields)
    first_line = reply.split(b"\r\n", 1)[0].decode("utf-8", "backslashreplace")
    return errors.success(tcp_reply=first_line, **fields)


def _wait(sock: socket.socket, event: int, deadline: float) -> None:
    """Block until ``sock`` is ready for ``event``; TimeoutError once ``deadline`` passes."""
    poller = select.poll()
    poller.register(sock, event)
    left = deadline - time.monotonic()
    if left <= 0 or not poller.poll(left * 1000):
        raise TimeoutError("timed out")


def _read_reply(sock: socket.socket, deadline: float) -> bytes:
    """What the server says until it closes, :data:`MAX_REPLY` bytes or the deadline."""
    reply = b""
    while len(reply) < MAX_REPLY:
        try:
            _wait(sock, select.POLLIN, deadline)
        except TimeoutError:
            if reply:
                break  # an answer came; a server that keeps the line open is no failure
            raise
        chunk = sock.recv(MAX_REPLY - len(reply))
        if not chunk:
            break
        reply += chunk
    return reply


def _fastopen_info(sock: socket.socket) -> dict[str, Any]:
    """What ``TCP_INFO`` says about this connection's Fast Open attempt."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    options, flags = info[5], info[7]  # tcpi_options; the byte holding fastopen_client_fail
    return {
        "tfo_syn_data_acked": bool(options & TCPI_OPT_SYN_DATA),
        "tfo_client_fail": CLIENT_FAIL.get((flags >> 1) & 0x3),
    }
