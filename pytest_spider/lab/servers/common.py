"""What every lab protocol server shares: its command line, its sockets, its READY line.

A server binds, prints ``READY {json facts}`` once on stdout (so whoever started it knows the
port it got) and serves until SIGTERM or SIGINT. Sockets are bound here rather than by the
server libraries so that TCP and UDP share one port, also when the port was picked by the
kernel.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import struct
import sys
from collections.abc import Callable, Sequence
from typing import Any

#: First word of the line a server prints once it is listening.
READY = "READY"

#: Largest datagram a server reads, and room for the ancillary data that comes with it.
MAX_DATAGRAM = 65535
_ANCILLARY = socket.CMSG_SPACE(4) + socket.CMSG_SPACE(20)
#: Linux's IP_PKTINFO and IP_FREEBIND, which Python 3.11's socket module does not name.
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)

#: How often a server retries when the kernel's free port is taken for the other protocol.
_BIND_TRIES = 20


def parser(description: str) -> argparse.ArgumentParser:
    """The options every server has: where to listen."""
    args = argparse.ArgumentParser(description=description)
    args.add_argument(
        "--host",
        action="append",
        help="address to listen on, repeatable (default: 127.0.0.1)",
    )
    args.add_argument(
        "--port", type=int, default=0, help="port (default 0: a free one, told on the READY line)"
    )
    return args


def hosts(args: argparse.Namespace) -> list[str]:
    """The addresses from ``--host``, with the default applied."""
    chosen: list[str] | None = args.host
    return chosen or ["127.0.0.1"]


def family(host: str) -> socket.AddressFamily:
    """The address family of a literal address."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind(hosts: Sequence[str], port: int, kinds: Sequence[int]) -> list[socket.socket]:
    """One bound socket per host and kind, all on one port (a free one when ``port`` is 0)."""
    last_error: OSError | None = None
    for _ in range(_BIND_TRIES if port == 0 else 1):
        sockets: list[socket.socket] = []
        chosen = port
        try:
            for host in hosts:
                for kind in kinds:
                    sock = socket.socket(family(host), kind)
                    sockets.append(sock)
                    if kind == socket.SOCK_STREAM:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if sock.family == socket.AF_INET6:
                        # "::" and "0.0.0.0" may both be given: each family its own socket.
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    # Lab blocks are routed to the server as a whole (AnyIP), their addresses
                    # unassigned: IPv6 binds one only with freebind.
                    sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
                    sock.bind((host, chosen))
                    chosen = sock.getsockname()[1]
        except OSError as exc:
            for sock in sockets:
                sock.close()
            last_error = exc
            continue
        return sockets
    assert last_error is not None
    raise last_error


def ready(**facts: Any) -> None:
    """Tell the starter that the server listens, and what it learnt binding (port, files)."""
    print(READY, json.dumps(facts, sort_keys=True), flush=True)


async def stopped() -> None:
    """Return once SIGTERM or SIGINT arrives."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def want_ancillary(sock: socket.socket) -> None:
    """Have each datagram come with its TOS byte / traffic class and its destination address."""
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)


def received_tos(ancdata: Sequence[tuple[int, int, bytes]]) -> int | None:
    """The TOS byte / traffic class among a datagram's ancillary data, if the kernel gave it."""
    for level, kind, value in ancdata:
        if (level, kind) == (socket.IPPROTO_IP, socket.IP_TOS) and value:
            return value[0]
        if (level, kind) == (socket.IPPROTO_IPV6, socket.IPV6_TCLASS) and len(value) >= 4:
            return int.from_bytes(value[:4], sys.byteorder)
    return None


def reply_from(ancdata: Sequence[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """Ancillary data making an answer leave from the address its question was sent to.

    A server bound to a wildcard address in the lab answers for whole address blocks routed
    to it (AnyIP): without this the kernel would pick another source and the client, its
    socket connected to the address it asked, would never see the answer.
    """
    for level, kind, value in ancdata:
        if (level, kind) == (socket.IPPROTO_IP, IP_PKTINFO) and len(value) >= 12:
            # struct in_pktinfo {int ifindex; in_addr spec_dst; in_addr addr}: source = addr
            return [(level, kind, struct.pack("=i4s4s", 0, value[8:12], bytes(4)))]
        if (level, kind) == (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO) and len(value) >= 16:
            # struct in6_pktinfo {in6_addr addr; int ifindex}
            return [(level, kind, value[:16] + struct.pack("=i", 0))]
    return []


#: Answers one datagram given its payload and TOS byte; None sends nothing back.
DatagramHandler = Callable[[bytes, int | None], bytes | None]


def serve_datagrams(sock: socket.socket, handle: DatagramHandler) -> None:
    """Answer every datagram arriving on ``sock`` from the running event loop."""
    want_ancillary(sock)
    sock.setblocking(False)

    def readable() -> None:
        try:
            data, ancdata, _flags, peer = sock.recvmsg(MAX_DATAGRAM, _ANCILLARY)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # an ICMP error about an earlier answer: nothing to do
        reply = handle(data, received_tos(ancdata))
        if reply is not None:
            with contextlib.suppress(OSError):  # the client has gone; the server carries on
                sock.sendmsg([reply], reply_from(ancdata), 0, peer)

    asyncio.get_running_loop().add_reader(sock.fileno(), readable)


def close(sockets: Sequence[socket.socket]) -> None:
    """Close a server's sockets, unhooking any from the running event loop first."""
    loop = asyncio.get_running_loop()
    for sock in sockets:
        if sock.fileno() >= 0:
            loop.remove_reader(sock.fileno())
        sock.close()
