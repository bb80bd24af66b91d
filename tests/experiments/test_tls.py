"""tls against the lab HTTPS server on loopback, one server variant per condition."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_spider.experiments.tls import TLS
from pytest_spider.lab.servers import running

pytest.importorskip("hypercorn", reason="the lab HTTPS server needs hypercorn (pip)")

VARIANTS = {
    "default": (
        [],
        [
            "tls.connectivity.works",
            "tls.version.tls12.supported",
            "tls.version.tls13.supported",
            "tls.alpn.connectivity.works",
            "tls.alpn.h2.negotiated",
        ],
    ),
    "tls12_only": (
        ["--tls-max", "1.2"],
        [
            "tls.connectivity.broken",
            "tls.version.tls12.supported",
            "tls.version.tls13.unsupported",
            "tls.alpn.connectivity.works",
            "tls.alpn.h2.negotiated",
        ],
    ),
    "tls13_only": (
        ["--tls-min", "1.3"],
        [
            "tls.connectivity.transient",
            "tls.version.tls12.unsupported",
            "tls.version.tls13.supported",
            "tls.alpn.connectivity.offline",
        ],
    ),
    "no_h2": (
        ["--alpn", "http/1.1"],
        [
            "tls.connectivity.works",
            "tls.version.tls12.supported",
            "tls.version.tls13.supported",
            "tls.alpn.connectivity.works",
            "tls.alpn.h2.not_negotiated",
        ],
    ),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_server_variants(measure: Any, host: str, variant: str) -> None:
    server_args, expected = VARIANTS[variant]
    with running("h3", ["--host", host, "--no-quic", *server_args]) as facts:
        result = measure(TLS, {"dip": host, "dp": facts["port"]})
    assert result.conditions == expected


def test_a_silent_peer_times_out_in_bounded_time(measure: Any, host: str, silent_port: int) -> None:
    result = measure(TLS, {"dip": host, "dp": silent_port}, timeout=0.5)
    assert result.conditions == ["tls.connectivity.offline", "tls.alpn.connectivity.offline"]
    assert [flow["error_class"] for flow in result.flows] == ["timeout"] * 3
    assert result.elapsed < 3 * (0.5 + 1)


def test_a_closed_port_is_refused(measure: Any, host: str, closed_port: int) -> None:
    result = measure(TLS, {"dip": host, "dp": closed_port}, timeout=5)
    assert [flow["error_class"] for flow in result.flows] == ["refused"] * 3
    assert result.conditions == ["tls.connectivity.offline", "tls.alpn.connectivity.offline"]
