"""The lab's servers: nginx answers on every address of a block, the hostile servers misbehave
exactly as they should, and they stop by themselves."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from pytest_spider import CONN_FAILED, CONN_OK, CONN_TIMEOUT, connect_tcp
from pytest_spider.lab import Lab, hostile, netns
from tests.lab import probes

#: Needs a path lab (root, network namespaces, nginx, nftables): deselect with -m 'not lab'.
pytestmark = pytest.mark.lab

GET = b"GET / HTTP/1.1\r\nHost: www.lab.test\r\n\r\n"
#: libcurl's error for a response header section over its limit (curl 8.6+).
CURLE_TOO_LARGE = 100


@pytest.mark.parametrize("family", [4, 6])
def test_nginx_answers_on_the_first_and_last_address_of_a_block(
    spider_lab: Lab, family: int
) -> None:
    net = spider_lab.networks("alive")[0 if family == 4 else 1]
    assert net is not None
    for target in (str(net[1]), str(net[-2])):
        result = probes.http(spider_lab, target, spider_lab.ports["https"], tls=True)
        assert result["http_response_body"] == f"pytest-spider lab HTTP/1.1 {target} 443\n"


@pytest.mark.parametrize("family", [4, 6])
def test_silent_server_accepts_and_never_answers(spider_lab: Lab, family: int) -> None:
    target, port = spider_lab.addresses("alive", 1, family)[0], spider_lab.ports["silent"]
    with spider_lab.inside("client"):
        handshake = connect_tcp(None, {"dip": target, "dp": port}, 1.0)
    result = probes.http(spider_lab, target, port, timeout=0.5)
    assert handshake["spdr_state"] == CONN_OK
    assert (result["spdr_state"], result["error_class"]) == (CONN_TIMEOUT, "timeout")


def test_garbage_instead_of_tls_is_a_tls_failure(spider_lab: Lab) -> None:
    target = spider_lab.addresses("alive", 1)[0]
    result = probes.http(spider_lab, target, spider_lab.ports["garbage_tls"], tls=True)
    assert (result["spdr_state"], result["error_class"]) == (CONN_FAILED, "tls")


def test_slowloris_sends_one_byte_a_second(spider_lab: Lab) -> None:
    target, port = spider_lab.addresses("alive", 1)[0], spider_lab.ports["slowloris"]
    started = time.monotonic()
    data = probes.tcp_read(spider_lab, target, port, GET, size=3, timeout=4.0)
    elapsed = time.monotonic() - started
    assert data == b"HTT"
    assert 1.8 < elapsed < 3.5


@pytest.mark.parametrize("family", [4, 6])
def test_reset_mid_body(spider_lab: Lab, family: int) -> None:
    target = spider_lab.addresses("alive", 1, family)[0]
    result = probes.http(spider_lab, target, spider_lab.ports["reset_body"])
    assert (result["spdr_state"], result["error_class"]) == (CONN_FAILED, "reset")


def test_big_header_is_a_mebibyte_and_curl_refuses_it(spider_lab: Lab) -> None:
    target, port = spider_lab.addresses("alive", 1)[0], spider_lab.ports["big_header"]
    data = probes.tcp_read(spider_lab, target, port, GET, size=2 << 20, timeout=5.0)
    head = data.partition(b"\r\n\r\n")[0]
    assert len(head) > hostile.BIG_HEADER_SIZE
    result = probes.http(spider_lab, target, port)
    assert (result["spdr_state"], result["curl_code"]) == (CONN_FAILED, CURLE_TOO_LARGE)


def test_hostile_servers_stop_by_themselves(spider_lab: Lab) -> None:
    """After ``--lifetime`` seconds, and when the process that started them is gone."""
    script = [sys.executable, hostile.__file__]
    timed = spider_lab.spawn_in("router", [*script, "--lifetime", "0.2"])
    orphan_maker = spider_lab.spawn_in(
        "client",
        ["sh", "-c", f'"{script[0]}" "{script[1]}" --parent $$ >/dev/null & echo $!; sleep 0.3'],
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = orphan_maker.communicate(timeout=5)
    orphan = int(out)
    assert timed.wait(timeout=5) == 0
    deadline = time.monotonic() + 5
    while netns.process_start(orphan) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert netns.process_start(orphan) is None
