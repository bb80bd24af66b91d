"""Probes for the lab tests: sent from the client namespace, some watched in the server one.

All run in the test process: a socket made while the thread is inside a namespace stays there.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from typing import Any

import pycurl

from pytest_spider.helpers import connect_http, connect_https
from pytest_spider.lab import Lab

#: SO_RCVBUFFORCE (Linux): a receive buffer above rmem_max, so bursts are not lost at the socket.
_SO_RCVBUFFORCE = 33
#: tcp_info.tcpi_options bit: the data sent in our SYN was acknowledged (Fast Open worked).
_TCPI_OPT_SYN_DATA = 0x20
_TCP_FLAGS_SYN, _TCP_FLAGS_SYNACK = 0x02, 0x12


def http(
    lab: Lab, dip: str, port: int, *, tls: bool = False, h2: bool = False, timeout: float = 2.0
) -> dict[str, Any]:
    """Fetch ``/`` from the client namespace with the project's helper; TLS is verified
    against the lab CA under the name ``www.lab.test``."""
    version = pycurl.CURL_HTTP_VERSION_2_0 if h2 else pycurl.CURL_HTTP_VERSION_1_1
    opts: dict[int, Any] = {pycurl.HTTP_VERSION: version}
    job: dict[str, Any] = {"dip": dip, "dp": port}
    if tls:
        job["domain"] = "www.lab.test"
        opts |= {pycurl.CAINFO: str(lab.ca_pem), pycurl.SSL_VERIFYPEER: 1, pycurl.SSL_VERIFYHOST: 2}
    connect = connect_https if tls else connect_http
    with lab.inside("client"):
        return connect(None, job, timeout, opts, [pycurl.INFO_HTTP_VERSION])


def _family(addr: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def _tos_options(family: socket.AddressFamily) -> tuple[int, int, int]:
    """(level, option to send with a traffic class, option to receive it)."""
    if family == socket.AF_INET:
        return socket.IPPROTO_IP, socket.IP_TOS, socket.IP_RECVTOS
    return socket.IPPROTO_IPV6, socket.IPV6_TCLASS, socket.IPV6_RECVTCLASS


def udp(lab: Lab, dst: str, tos: int, *, count: int = 1, size: int = 100) -> list[int]:
    """Send ``count`` datagrams with traffic class ``tos`` to ``dst``; return the traffic
    class of each one that reached the server namespace."""
    family = _family(dst)
    level, send_opt, recv_opt = _tos_options(family)
    with lab.inside("server"):
        rx = socket.socket(family, socket.SOCK_DGRAM)
    with lab.inside("client"):
        tx = socket.socket(family, socket.SOCK_DGRAM)
    with rx, tx:
        rx.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 1 << 22)
        rx.setsockopt(level, recv_opt, 1)
        rx.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
        tx.setsockopt(level, send_opt, tos)
        for _ in range(count):
            tx.sendto(b"x" * size, (dst, rx.getsockname()[1]))
        rx.settimeout(0.3)
        received: list[int] = []
        with contextlib.suppress(TimeoutError):
            while len(received) < count:
                _, ancillary, _, _ = rx.recvmsg(size, socket.CMSG_SPACE(4))
                received += [
                    data[0] if len(data) == 1 else int.from_bytes(data, "little")
                    for _, _, data in ancillary
                ]
    return received


def udp_refused(lab: Lab, dst: str, port: int = 9) -> bool:
    """True if a datagram to ``dst`` comes back as an ICMP unreachable (connection refused)."""
    with lab.inside("client"):
        sock = socket.socket(_family(dst), socket.SOCK_DGRAM)
    with sock:
        sock.settimeout(0.5)
        sock.connect((dst, port))
        sock.send(b"x")
        try:
            sock.recv(100)
        except ConnectionRefusedError:
            return True
        except TimeoutError:
            return False
    return False


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def syn_answered(lab: Lab, dst: str, port: int, payload: bytes) -> bool:
    """Send one bare IPv4 SYN (no TCP options) carrying ``payload`` from the client namespace
    through a raw socket; True if a SYN-ACK comes back within half a second."""
    src = lab.client_source[0]
    sport = 40000 + int(time.monotonic_ns() % 20000)
    header = struct.pack("!HHIIBBHHH", sport, port, 1, 0, 5 << 4, _TCP_FLAGS_SYN, 65535, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst)
    pseudo += struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(header) + len(payload))
    checksum = _checksum(pseudo + header + payload)
    segment = header[:16] + struct.pack("!H", checksum) + header[18:] + payload
    with lab.inside("client"):
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    with raw:
        raw.settimeout(0.1)
        raw.sendto(segment, (dst, 0))
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            try:
                packet = raw.recv(4096)
            except TimeoutError:
                continue
            tcp = packet[(packet[0] & 0xF) * 4 :]
            if (
                struct.unpack("!HH", tcp[:4]) == (port, sport)
                and tcp[13] & _TCP_FLAGS_SYNACK == _TCP_FLAGS_SYNACK
            ):
                return True
    return False


def tfo_fetch(lab: Lab, dst: str, port: int = 80) -> tuple[bool, bool]:
    """Fetch ``/`` twice with TCP Fast Open (the first fetch gets the cookie); return whether
    the second SYN's data was acknowledged and whether an HTTP response came back."""
    options, answer = 0, b""
    for _ in range(2):
        with lab.inside("client"):
            sock = socket.socket(_family(dst), socket.SOCK_STREAM)
        with sock:
            timeval = struct.pack("ll", 3, 0)  # a blocking socket, bounded by kernel timeouts
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
            sock.sendto(b"GET / HTTP/1.0\r\n\r\n", socket.MSG_FASTOPEN, (dst, port))
            answer = sock.recv(64)
            options = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[5]
    return bool(options & _TCPI_OPT_SYN_DATA), answer.startswith(b"HTTP/1.1 200")


def tcp_read(lab: Lab, dst: str, port: int, request: bytes, size: int, timeout: float) -> bytes:
    """Connect from the client namespace, send ``request``, read until ``size`` bytes, the end
    of the stream or ``timeout`` seconds, whichever comes first."""
    with lab.inside("client"):
        sock = socket.create_connection((dst, port), timeout=timeout)
    data = b""
    deadline = time.monotonic() + timeout
    with sock:
        sock.sendall(request)
        while len(data) < size and (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                chunk = sock.recv(size - len(data))
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
    return data
