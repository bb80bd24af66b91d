"""A loopback TCP server for tests that need a real peer: the one accept loop they share."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator


def close_at_once(conn: socket.socket) -> None:
    """Accept and close: a port that is open and says nothing."""


@contextlib.contextmanager
def tcp_server(
    host: str = "127.0.0.1", answer: Callable[[socket.socket], None] = close_at_once
) -> Iterator[int]:
    """Listen on ``host`` (a port the kernel picks, yielded), hand each accepted connection to
    ``answer`` and close it; stop and close when the block ends. Connections are served one
    after another, each bounded by a 1 s socket timeout."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    server.bind((host, 0))
    server.listen(16)
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.settimeout(1.0)
                answer(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()
