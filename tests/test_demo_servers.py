"""The demo servers, checked with the project's own helpers over real loopback connections."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pycurl
import pytest

from pytest_spider import (
    CONN_FAILED,
    CONN_OK,
    CONN_TIMEOUT,
    connect_http,
    connect_https,
    connect_tcp,
)
from pytest_spider.demo import DemoServers, Endpoint, write_target_list
from pytest_spider.demo.servers import ipv6_loopback
from pytest_spider.experiments.h2 import H2
from pytest_spider.helpers import settings
from pytest_spider.spider import experiment_args

H1 = pycurl.CURL_HTTP_VERSION_1_1
H2_VERSION = pycurl.CURL_HTTP_VERSION_2_0
SERVER_NAMES = {
    *("h2_tls", "h1_tls", "h2c", "h1", "h2_broken_tls", "h2_broken"),
    *("h1_broken_tls", "h1_broken", "refuse", "silent"),
}


@pytest.fixture(scope="module", params=["127.0.0.1", "::1"])
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoServers]:
    """Every demo server, on IPv4 and IPv6 loopback."""
    if request.param == "::1" and not ipv6_loopback():
        pytest.skip("IPv6 loopback (::1) is not available here")
    with DemoServers(request.param, tmp_path_factory.mktemp("demo")) as servers:
        yield servers


@pytest.fixture
def verify_tls(demo: DemoServers) -> Iterator[None]:
    """Check certificates against the demo CA, as ``--spider-ca-file`` would."""
    previous = settings.current
    settings.configure(settings.HelperSettings(tls_verify=True, ca_file=str(demo.ca_pem)))
    try:
        yield
    finally:
        settings.configure(previous)


def fetch(endpoint: Endpoint, version: int, timeout: float = 2.0) -> dict[str, Any]:
    connect = connect_https if endpoint.tls else connect_http
    job = endpoint.target()
    return connect(None, job, timeout, {pycurl.HTTP_VERSION: version}, {pycurl.INFO_HTTP_VERSION})


def children() -> set[int]:
    """Our child processes, from /proc (every process whose parent we are)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        if int(fields[1]) == os.getpid():
            found.add(int(stat.parent.name))
    return found


@pytest.mark.usefixtures("verify_tls")
@pytest.mark.parametrize(
    ("name", "version", "spoken"),
    [
        ("h2_tls", H1, H1),
        ("h2_tls", H2_VERSION, H2_VERSION),
        ("h1_tls", H2_VERSION, H1),
        ("h2c", H1, H1),
        ("h2c", H2_VERSION, H2_VERSION),
        ("h1", H2_VERSION, H1),
        ("h2_broken_tls", H1, H1),
        ("h2_broken", H1, H1),
        ("h1_broken_tls", H2_VERSION, H2_VERSION),
        ("h1_broken", H2_VERSION, H2_VERSION),
    ],
)
def test_answers(demo: DemoServers, name: str, version: int, spoken: int) -> None:
    result = fetch(demo.endpoints[name], version)
    assert result["spdr_state"] == CONN_OK, result["error"]
    assert result["http_response_code"] == 200
    assert result["http_info"][pycurl.INFO_HTTP_VERSION] == spoken
    wording = "HTTP/2" if spoken == H2_VERSION else "HTTP/1.1"
    assert f"server {name} answered in {wording}\n" in result["http_response_body"]


@pytest.mark.usefixtures("verify_tls")
@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("h2_broken_tls", H2_VERSION),
        ("h2_broken", H2_VERSION),
        ("h1_broken_tls", H1),
        ("h1_broken", H1),
    ],
)
def test_resets(demo: DemoServers, name: str, version: int) -> None:
    result = fetch(demo.endpoints[name], version)
    assert (result["spdr_state"], result["error_class"]) == (CONN_FAILED, "reset"), result["error"]


@pytest.mark.parametrize("connect", [connect_http, connect_https])
def test_refuse(demo: DemoServers, connect: Any) -> None:
    endpoint = demo.endpoints["refuse"]
    assert connect_tcp(None, endpoint.target(), 1.0)["error_class"] == "refused"
    result = connect(None, endpoint.target(), 1.0)
    assert (result["spdr_state"], result["curl_code"]) == (CONN_FAILED, pycurl.E_COULDNT_CONNECT)


@pytest.mark.parametrize("connect", [connect_http, connect_https])
def test_silent(demo: DemoServers, connect: Any) -> None:
    endpoint = demo.endpoints["silent"]
    assert connect_tcp(None, endpoint.target(), 1.0)["spdr_state"] == CONN_OK
    result = connect(None, endpoint.target(), 1.0)
    assert (result["spdr_state"], result["error_class"]) == (CONN_TIMEOUT, "timeout")


@pytest.mark.parametrize(
    ("name", "connect", "conditions"),
    [
        ("h2_tls", "https", ["h2.connectivity.works", "h2.upgrade.success"]),
        ("h1_tls", "https", ["h2.connectivity.works", "h2.upgrade.failed"]),
        ("h2c", "http", ["h2.connectivity.works", "h2.upgrade.success"]),
        ("h1", "http", ["h2.connectivity.works", "h2.upgrade.failed"]),
        ("h2_broken_tls", "https", ["h2.connectivity.broken"]),
        ("h2_broken", "http", ["h2.connectivity.broken"]),
        ("h1_broken_tls", "https", ["h2.connectivity.transient", "h2.upgrade.success"]),
        ("h1_broken", "http", ["h2.connectivity.transient", "h2.upgrade.success"]),
        ("refuse", "http", ["h2.connectivity.offline"]),
    ],
)
def test_h2_experiment_conditions(
    demo: DemoServers, name: str, connect: str, conditions: list[str]
) -> None:
    """Each server makes the h2 experiment report the condition it was built for."""
    spider = H2(experiment_args(H2, timeout=2, connect=connect, extra={}))
    job = demo.endpoints[name].target()
    flows = [conn(spider, job, None) for conn in H2.connections]
    assert spider.combine_flows(flows) == conditions


def test_endpoints_and_target_list(demo: DemoServers, tmp_path: Path) -> None:
    assert set(demo.endpoints) == SERVER_NAMES
    assert len({endpoint.port for endpoint in demo.endpoints.values()}) == len(SERVER_NAMES)
    tls = {name for name, endpoint in demo.endpoints.items() if endpoint.tls}
    assert tls == {"h2_tls", "h1_tls", "h2_broken_tls", "h1_broken_tls"}
    path = write_target_list(demo.endpoints.values(), tmp_path / "targets.ndjson")
    jobs = [json.loads(line) for line in path.read_text().splitlines()]
    assert jobs == [
        {"dip": demo.host, "dp": e.port, "domain": "example.test", "server": e.name}
        for e in demo.endpoints.values()
    ]
    assert demo.endpoints["h1"].target(None) == {"dip": demo.host, "dp": demo.endpoints["h1"].port}


def test_stops_everything_even_on_error() -> None:
    before = children()
    with pytest.raises(KeyError), DemoServers() as servers:
        assert len(children() - before) == 1
        endpoints = list(servers.endpoints.values())
        raise KeyError("a failing test")
    assert children() == before
    assert servers.endpoints == {}
    for endpoint in endpoints:
        assert connect_tcp(None, endpoint.target(), 1.0)["error_class"] == "refused", endpoint


def test_server_process_stops_when_its_input_ends(tmp_path: Path) -> None:
    """The child outlives no parent: the end of its stdin (the parent's death) stops it."""
    with DemoServers(tmpdir=tmp_path):
        pass  # only to write the certificate
    cert = tmp_path / "server.pem"
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_spider.demo.serve", "--host", "127.0.0.1", "--cert", cert],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        assert select.select([process.stdout], [], [], 15)[0], "the servers did not start"
        assert len(json.loads(process.stdout.readline())) == len(SERVER_NAMES)
        process.stdin.close()
        assert process.wait(5) == 0
    finally:
        process.kill()
        process.wait()


def test_rejects_names() -> None:
    """A name would have to be resolved; only address literals are taken."""
    with pytest.raises(ValueError):
        DemoServers("localhost")
    with pytest.raises(ValueError):
        DemoServers("0.0.0.0")
