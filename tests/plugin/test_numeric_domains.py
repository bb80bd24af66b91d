"""A domain that is a number never redirects traffic: every helper connects to the dip.

Two loopback addresses listen on one port, 127.0.0.1 (and ::1) and 127.0.0.2; each target's
dip is the first, its domain the second written as a number (decimal, hex, octal, dotted,
short). curl reads such a host as an address, so a helper that put the domain in the URL and
pre-resolved it connected to 127.0.0.2. The listeners record which address was contacted.
Nothing leaves loopback.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_spider import connect_dns, connect_http, connect_https, connect_tcp, connect_tfo
from pytest_spider.helpers.tfo import http_request
from pytest_spider.helpers.udp import connect_udp
from tests.plugin.conftest import read_records

#: 127.0.0.2 in the spellings URL parsers read as an IPv4 address.
NUMERIC_127_0_0_2 = ["2130706434", "0x7f000002", "017700000002", "127.0.0.2", "127.2"]
DIPS = ["127.0.0.1", "::1"]
REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class Listeners:
    """TCP and UDP listeners on one port of several loopback addresses; what reached each."""

    def __init__(self, hosts: list[str]) -> None:
        self.hosts = hosts
        self.port = 0
        self.seen: list[tuple[str, str, bytes]] = []  # (address, protocol, first bytes)
        self._sockets: list[tuple[str, socket.socket]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> None:
        for _ in range(20):  # a port free on every address, TCP and UDP
            with contextlib.ExitStack() as undo:
                try:
                    self._bind_all(undo)
                except OSError:
                    continue
                undo.pop_all()
                break
        else:
            pytest.skip("no port free on every loopback address")
        self._thread.start()

    def _bind_all(self, undo: contextlib.ExitStack) -> None:
        self._sockets = []
        port = 0
        for host in self.hosts:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                sock = undo.enter_context(socket.socket(family, kind))
                sock.bind((host, port))
                port = sock.getsockname()[1]
                if kind == socket.SOCK_STREAM:
                    sock.listen(16)
                self._sockets.append((host, sock))
        self.port = port

    def _serve(self) -> None:
        by_fd = {sock.fileno(): (host, sock) for host, sock in self._sockets}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(by_fd), [], [], 0.05)
            for fd in ready:
                host, sock = by_fd[fd]
                if sock.type == socket.SOCK_DGRAM:
                    data, peer = sock.recvfrom(4096)
                    self.seen.append((host, "udp", data[:64]))
                    sock.sendto(data, peer)
                    continue
                conn, _ = sock.accept()
                with conn:
                    conn.settimeout(0.5)
                    try:
                        data = conn.recv(4096)
                        conn.sendall(REPLY)
                    except OSError:
                        data = b""
                    self.seen.append((host, "tcp", data))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for _, sock in self._sockets:
            sock.close()

    def contacted(self) -> set[str]:
        """The addresses contacted, once the listener has seen what was sent (a helper can
        return before the listening thread has read it)."""
        deadline = time.monotonic() + 2
        while not self.seen and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        return {host for host, _, _ in self.seen}


@pytest.fixture
def listeners() -> Iterator[Listeners]:
    servers = Listeners(["127.0.0.1", "127.0.0.2", "::1"])
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


def _tfo(fastopen: bool) -> Callable[[Any, dict[str, Any], float], dict[str, Any]]:
    def connect(source: Any, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        return connect_tfo(source, job, timeout, fastopen, http_request(job))

    return connect


HELPERS: dict[str, Callable[[Any, dict[str, Any], float], dict[str, Any]]] = {
    "http": connect_http,
    "https": connect_https,
    "tcp": connect_tcp,
    "tfo": _tfo(False),
    "tfo-fastopen": _tfo(True),
    "udp": lambda source, job, timeout: connect_udp(source, job, timeout, b"probe"),
    "dns": connect_dns,
}


@pytest.mark.parametrize("helper", sorted(HELPERS))
@pytest.mark.parametrize("dip", DIPS)
@pytest.mark.parametrize("domain", NUMERIC_127_0_0_2)
def test_every_helper_connects_to_the_dip_whatever_the_domain_says(
    listeners: Listeners, helper: str, dip: str, domain: str
) -> None:
    job = {"dip": dip, "dp": listeners.port, "domain": domain}
    result = HELPERS[helper](None, job, 2.0)
    assert listeners.contacted() == {dip}, (result, listeners.seen)
    # The source address the connection left from, for the record's sip and path.
    assert result["sip"] == dip, result
    if helper in ("http", "tfo", "tfo-fastopen"):
        [(_, _, request)] = listeners.seen
        # A number is no name: the Host header names the dip, not 127.0.0.2.
        host = f"[{dip}]" if ":" in dip else dip
        if helper == "http":
            host += f":{listeners.port}"  # curl names the port; tfo's request does not
        assert f"\r\nHost: {host}\r\n".encode() in request, request


@pytest.mark.parametrize("dip", DIPS)
def test_a_name_stays_the_host_header_and_the_connection_goes_to_the_dip(
    listeners: Listeners, dip: str
) -> None:
    result = connect_http(None, {"dip": dip, "dp": listeners.port, "domain": "www.example"}, 2)
    assert result["spdr_state"] == 0, result
    assert listeners.contacted() == {dip}
    [(_, _, request)] = listeners.seen
    assert f"\r\nHost: www.example:{listeners.port}\r\n".encode() in request


def test_no_curl_option_can_send_the_transfer_elsewhere(listeners: Listeners) -> None:
    import pycurl

    for url in ["http://2130706434:{p}/", "http://127.0.0.2:{p}/", "http://[::1]:{p}/x"]:
        job = {"dip": "127.0.0.1", "dp": listeners.port}
        connect_http(None, job, 2, {pycurl.URL: url.format(p=listeners.port)})
    assert listeners.contacted() == {"127.0.0.1"}


def test_failed_connections_say_where_they_left_from_where_known(listeners: Listeners) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: refused
    for helper in ("http", "tcp", "udp"):
        result = HELPERS[helper](None, {"dip": "127.0.0.1", "dp": port}, 2.0)
        assert result["spdr_state"] == 1, result
        assert "sip" in result and result["sip"] in (None, "127.0.0.1"), result
    udp = HELPERS["udp"](None, {"dip": "127.0.0.1", "dp": port}, 2.0)
    assert udp["sip"] == "127.0.0.1"  # a connected UDP socket knows its address at once


# -- through the plugin ------------------------------------------------------------------------

INJECTING = """
from pytest_spider import CONN_OK, DesynchronizedSpider, PluggableSpider, connect_http
from pytest_spider.helpers.tcp import connect_tcp


class Injecting(DesynchronizedSpider, PluggableSpider):
    '''Rewrites the job's domain to a number before connecting, as a plugin may.'''

    name = "injecting"

    def conn_http(self, job, config):
        job["domain"] = job["numeric"]
        return connect_http(self.source, job, 2)

    def conn_tcp(self, job, config):
        job["domain"] = job["numeric"]
        return connect_tcp(self.source, job, 2)

    connections = [conn_http, conn_tcp]

    def combine_flows(self, flows):
        return [self.combine_connectivity(flows[0]["spdr_state"] == CONN_OK,
                                          flows[1]["spdr_state"] == CONN_OK)]
"""


@pytest.mark.parametrize("exclude", [False, True], ids=["no-exclusions", "other-excluded"])
def test_through_the_plugin_only_the_dip_is_contacted(
    pytester: pytest.Pytester, listeners: Listeners, exclude: bool
) -> None:
    pytester.mkdir("experiments")
    (pytester.path / "experiments" / "injecting.py").write_text(INJECTING)
    port = listeners.port
    lines = [
        f'{{"dip": "{dip}", "dp": {port}, "domain": "t{i}.example", "numeric": "{numeric}"}}'
        for i, (dip, numeric) in enumerate(
            (dip, numeric) for dip in DIPS for numeric in NUMERIC_127_0_0_2
        )
    ]
    (pytester.path / "targets.ndjson").write_text("\n".join(lines) + "\n")
    args = ["--spider-targets=targets.ndjson", "--spider-output=out.ndjson", "experiments/"]
    if exclude:
        (pytester.path / "exclude.txt").write_text("127.0.0.2/32\n")
        args.append("--spider-exclude=exclude.txt")
    result = pytester.runpytest(*args, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(lines))
    assert listeners.contacted() == set(DIPS)
    records = read_records(pytester.path / "out.ndjson")
    assert {r["conditions"][0] for r in records} == {"injecting.connectivity.works"}
    assert {flow["sip"] for r in records for flow in r["flow_results"]} == set(DIPS)


@pytest.mark.parametrize("domain", NUMERIC_127_0_0_2)
@pytest.mark.parametrize("exclude", [False, True], ids=["no-exclusions", "other-excluded"])
def test_a_target_list_with_numeric_domains_is_refused_before_any_connection(
    pytester: pytest.Pytester, listeners: Listeners, domain: str, exclude: bool
) -> None:
    port = listeners.port
    (pytester.path / "targets.csv").write_text(
        f"127.0.0.1,{port},{domain}\n::1,{port},{domain}\n127.0.0.1,{port},127.0.0.1\n"
    )
    args = ["--spider-targets=targets.csv", "--spider-experiment=h2", "-p", "no:cacheprovider"]
    if exclude:
        (pytester.path / "exclude.txt").write_text("127.0.0.2/32\n")
        args.append("--spider-exclude=exclude.txt")
    refused = pytester.runpytest(*args)
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(
        [
            "ERROR: 2 bad target line(s); nothing was measured*",
            f"*targets.csv:1: bad domain '{domain}' (ends in a number*",
            f"*targets.csv:2: bad domain '{domain}' (ends in a number*",
        ]
    )
    assert listeners.seen == []
    # Measuring the rest: the one line whose domain is its own dip, at the dip only.
    kept = pytester.runpytest(*args, "--spider-keep-bad-targets", "--spider-timeout=2")
    kept.assert_outcomes(passed=1)
    assert listeners.contacted() == {"127.0.0.1"}
