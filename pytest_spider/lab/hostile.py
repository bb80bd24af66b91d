"""Hostile servers: endpoints that misbehave on purpose, so experiments meet them in the lab
before they meet them on the Internet.

One asyncio process serves every behaviour, each on its own port, on all IPv4 and IPv6
addresses. It runs only the standard library, so the lab can start it as a plain script, and it
ends by itself when the process that started it is gone or after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

#: Port of each behaviour.
PORTS: Final = {
    "silent": 9001,
    "garbage_tls": 9002,
    "slowloris": 9003,
    "reset_body": 9004,
    "big_header": 9005,
}
#: Printed on stdout once every port listens.
READY: Final = "ready"
#: Longest any one connection is served.
CONNECTION_LIMIT: Final = 60.0
#: Size of the header ``big_header`` sends.
BIG_HEADER_SIZE: Final = 1 << 20
#: How often the process looks whether its parent is still there.
_WATCH_INTERVAL: Final = 0.25
_REQUEST_HEAD_MAX: Final = 1 << 16
_SLOW_RESPONSE: Final = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
_RESET_DECLARED: Final = 1_000_000
_RESET_SENT: Final = 1000


async def _request_head(reader: asyncio.StreamReader) -> None:
    """Read the client's request head (or whatever it sends first), bounded in size."""
    with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        await reader.readuntil(b"\r\n\r\n")


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept and never say a word: the client's read times out."""
    while await reader.read(_REQUEST_HEAD_MAX):
        pass


async def garbage_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer a TLS ClientHello with text that is no TLS record."""
    await reader.read(_REQUEST_HEAD_MAX)
    writer.write(b"this is not TLS\r\n" * 64)
    await writer.drain()


async def slowloris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send a valid HTTP response one byte a second."""
    await _request_head(reader)
    for byte in _SLOW_RESPONSE:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1.0)


async def reset_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Promise a long body, send part of it, then reset the connection."""
    await _request_head(reader)
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {_RESET_DECLARED}\r\n\r\n".encode()
    writer.write(head + b"x" * _RESET_SENT)
    await writer.drain()
    await asyncio.sleep(0.1)  # let the partial body reach the client before the RST
    sock: socket.socket = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def big_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send a response whose header section is 1 MiB long."""
    await _request_head(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * BIG_HEADER_SIZE)
    writer.write(b"\r\nContent-Length: 2\r\n\r\nok")
    await writer.drain()


BEHAVIOURS: Final[dict[str, Behaviour]] = {
    "silent": silent,
    "garbage_tls": garbage_tls,
    "slowloris": slowloris,
    "reset_body": reset_body,
    "big_header": big_header,
}


def _bounded(behaviour: Behaviour) -> Behaviour:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(behaviour(reader, writer), CONNECTION_LIMIT)
        except (TimeoutError, OSError):
            pass
        finally:
            writer.close()

    return handle


async def serve(lifetime: float, parent: int | None = None) -> None:
    """Serve every behaviour until the parent process is gone or ``lifetime`` has passed.

    ``parent`` is the process that started the server, as that process knew it: a server
    that reads its parent only once Python is up would, started by a parent that died in
    between, take its new parent for its own and serve for its whole lifetime.
    """
    parent = os.getppid() if parent is None else parent
    servers = [
        await asyncio.start_server(
            _bounded(behaviour), host=["0.0.0.0", "::"], port=PORTS[name], reuse_address=True
        )
        for name, behaviour in BEHAVIOURS.items()
    ]
    print(READY, flush=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + lifetime
    while loop.time() < deadline and os.getppid() == parent:
        await asyncio.sleep(_WATCH_INTERVAL)
    for server in servers:
        server.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m pytest_spider.lab.hostile [--lifetime S] [--parent PID]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lifetime", type=float, default=3600.0, help="seconds to run at most")
    parser.add_argument(
        "--parent",
        type=int,
        help="stop when this process is no longer the parent (default: the parent at start)",
    )
    args = parser.parse_args(argv)
    asyncio.run(serve(args.lifetime, args.parent))


if __name__ == "__main__":
    main()
