"""h3 against the lab HTTPS + HTTP/3 server on loopback, one server variant per condition."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_spider import CONN_OK, CONN_SKIPPED
from pytest_spider.experiments.h3 import H3, http3_unavailable
from pytest_spider.lab.servers import running

pytest.importorskip("aioquic", reason="the lab HTTP/3 server needs aioquic (pip)")
pytest.importorskip("hypercorn", reason="the lab HTTPS server needs hypercorn (pip)")

VARIANTS = {
    "both": ([], ["h3.connectivity.works", "h3.altsvc.advertised", "h3.upgrade.success"]),
    "tcp_only": (["--no-quic"], ["h3.connectivity.broken", "h3.altsvc.not_advertised"]),
    "promise_broken": (
        ["--no-quic", "--alt-svc"],
        ["h3.connectivity.broken", "h3.altsvc.advertised", "h3.upgrade.failed"],
    ),
    "quic_only": (["--no-tcp"], ["h3.connectivity.transient", "h3.upgrade.success"]),
}


@pytest.fixture(autouse=True)
def _needs_http3() -> None:
    if reason := http3_unavailable():
        pytest.skip(reason)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_server_variants(measure: Any, host: str, variant: str) -> None:
    server_args, expected = VARIANTS[variant]
    with running("h3", ["--host", host, *server_args]) as facts:
        result = measure(H3, {"dip": host, "dp": facts["port"]})
    assert result.conditions == expected


def test_a_silent_peer_times_out_in_bounded_time(measure: Any, host: str, silent_port: int) -> None:
    result = measure(H3, {"dip": host, "dp": silent_port}, timeout=0.5)
    assert result.conditions == ["h3.connectivity.offline"]
    assert [flow["error_class"] for flow in result.flows] == ["timeout"] * 2
    assert result.elapsed < 2 * (0.5 + 1)


def test_without_http3_only_the_baseline_counts() -> None:
    baseline = {"spdr_state": CONN_OK, "http_response_header": "HTTP/1.1 200 OK\r\n\r\n"}
    skipped = {"spdr_state": CONN_SKIPPED, "error": "libcurl was built without HTTP/3"}
    assert H3().combine_flows([baseline, skipped]) == ["h3.connectivity.online"]
