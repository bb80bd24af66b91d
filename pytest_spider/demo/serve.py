"""The demo server process: every demo server on one address, in one asyncio loop.

:class:`~pytest_spider.demo.servers.DemoServers` runs it as
``python -m pytest_spider.demo.serve --host ADDRESS --cert PEM``. Once every server listens it
prints one JSON line (a list of ``{"name", "port", "tls"}``) on standard output. It stops on
SIGTERM or SIGINT or when its standard input ends, so it cannot outlive the process that holds
the other end of that pipe.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import signal
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pytest_spider.demo.handlers import HTTP_SERVERS, Behaviour, hold_silently, serve_http

_HANDSHAKE_TIMEOUT = 10.0
_Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(host: str, cert: Path) -> None:
    """Run every demo server on ``host`` (an address literal) until told to stop."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stdin = sys.stdin.fileno()

    def on_input() -> None:
        if not os.read(stdin, 4096):
            loop.remove_reader(stdin)
            stop.set()

    loop.add_reader(stdin, on_input)
    servers: list[asyncio.Server] = []
    found: list[dict[str, Any]] = []

    async def listen(name: str, handler: _Handler, tls: ssl.SSLContext | None) -> None:
        if tls is None:
            server = await asyncio.start_server(handler, host, 0)
        else:
            server = await asyncio.start_server(
                handler, host, 0, ssl=tls, ssl_handshake_timeout=_HANDSHAKE_TIMEOUT
            )
        servers.append(server)
        found.append({"name": name, "port": _port(server.sockets[0]), "tls": tls is not None})

    # Bound but never listening: connections to its port are refused (RST) while we run, and
    # no other program can take the port meanwhile.
    refuse = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        refuse.bind((host, 0))
        found.append({"name": "refuse", "port": _port(refuse), "tls": False})
        for name, behaviour in HTTP_SERVERS.items():
            tls = _tls_context(cert, behaviour) if behaviour.tls else None
            await listen(name, functools.partial(serve_http, name, behaviour), tls)
        await listen("silent", hold_silently, None)
        print(json.dumps(found), flush=True)
        await stop.wait()
    finally:
        # Open connections are cancelled by asyncio.run and closed with the process.
        for server in servers:
            server.close()
        refuse.close()


def _tls_context(cert: Path, behaviour: Behaviour) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert)
    context.set_alpn_protocols(behaviour.alpn)
    return context


def _port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", required=True, help="address literal to listen on")
    parser.add_argument("--cert", required=True, type=Path, help="PEM with key and chain")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.cert))


if __name__ == "__main__":
    main()
