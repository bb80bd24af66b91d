"""Curl transfers leave from the network namespace of the thread that asks for them.

A socket belongs to the namespace of the thread that opens it: whatever thread libcurl opens
a transfer's socket in, a transfer that a thread inside a lab namespace asks for must never
leave from the host namespace (one thread driving every transfer, started in the host
namespace, once did that). The probe is loopback inside the lab's client namespace, which the
host cannot reach, so a wrong namespace shows as a refusal and nothing leaves the machine.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from pytest_spider import CONN_OK, connect_http
from pytest_spider.lab import Lab

pytestmark = pytest.mark.lab


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ns")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server_in_client_namespace(spider_lab: Lab) -> Iterator[int]:
    """An HTTP server on 127.0.0.1 of the lab's client namespace; its port."""
    with spider_lab.inside("client"):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_transfer_asked_for_inside_a_lab_namespace_leaves_from_there(
    spider_lab: Lab, server_in_client_namespace: int
) -> None:
    port = server_in_client_namespace
    # A transfer from the host namespace first (the port there is closed: refused).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    host = connect_http(None, {"dip": "127.0.0.1", "dp": closed}, 2)
    assert host["spdr_state"] != CONN_OK
    results: list[dict[str, object]] = []

    def inside() -> None:
        with spider_lab.inside("client"):
            results.append(connect_http(None, {"dip": "127.0.0.1", "dp": port}, 2))

    worker = threading.Thread(target=inside)
    worker.start()
    worker.join(10)
    (result,) = results
    assert result["spdr_state"] == CONN_OK, result
    assert result["http_response_body"] == "ns"
