"""A small HTTP server over TCP with TCP Fast Open switched on or off per listening socket.

``--tfo`` sets ``TCP_FASTOPEN`` on the listeners; the kernel then hands out cookies and
accepts data in SYNs, but only where bit 2 of ``net.ipv4.tcp_fastopen`` is set in the
server's network namespace (the lab's, never the host's). ``--rotate-key`` gives the listeners
a fresh ``TCP_FASTOPEN_KEY`` after every connection, so a cookie is never valid twice: a client
that sends data with its cookie gets the SYN acknowledged without the data. Every answer is a
``200`` whose body says whether that connection's SYN data was accepted (``syn_data=1``).

    python -m pytest_spider.lab.servers.tfo --host 198.18.0.1 --port 0 --tfo [--rotate-key]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket

from pytest_spider.helpers.tfo import TCPI_OPT_SYN_DATA
from pytest_spider.lab.servers import common

#: Pending Fast Open connections a listener may hold.
_TFO_QUEUE = 64
#: ``setsockopt`` option of a listener's own cookie key (16 bytes).
TCP_FASTOPEN_KEY = 33
#: Bounds on one client: bytes of request head and seconds to send it.
_MAX_HEAD = 8192
_READ_TIMEOUT = 10.0


def syn_data_accepted(sock: socket.socket) -> bool:
    """Whether the SYN that opened this accepted connection carried data the kernel took."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    return bool(info[5] & TCPI_OPT_SYN_DATA)


async def serve(args: argparse.Namespace) -> None:
    """Answer HTTP requests on every host until stopped."""
    hosts = common.hosts(args)
    listeners = common.bind(hosts, args.port, [socket.SOCK_STREAM])
    if args.tfo:
        for sock in listeners:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, _TFO_QUEUE)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            conn = writer.get_extra_info("socket")
            body = f"syn_data={int(syn_data_accepted(conn))}\n".encode()
            if args.rotate_key:
                for sock in listeners:
                    sock.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_KEY, os.urandom(16))
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(handle, sock=sock, limit=_MAX_HEAD) for sock in listeners]
    try:
        common.ready(server="tfo", hosts=hosts, port=listeners[0].getsockname()[1], tfo=args.tfo)
        await common.stopped()
    finally:
        for server in servers:
            server.close()
        common.close(listeners)


def main() -> None:
    """Command-line entry point."""
    parser = common.parser(__doc__ or "")
    parser.add_argument("--tfo", action="store_true", help="accept TCP Fast Open")
    parser.add_argument(
        "--rotate-key", action="store_true", help="new cookie key after every connection"
    )
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
