"""The experiments through the path lab: client, router with nftables profiles, server namespace.

The protocol servers run in the lab's server namespace (``lab.spawn_in``), the experiments in
its client namespace, and each lab block's path profile decides the conditions.
"""

from __future__ import annotations

import functools
import queue
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_spider.experiments.dnsresolv import DNSResolv
from pytest_spider.experiments.ecn import ECN
from pytest_spider.experiments.h3 import H3
from pytest_spider.experiments.tfo import TFO
from pytest_spider.lab.servers import running
from pytest_spider.spider import experiment_args

#: Needs a path lab (root, network namespaces, nginx, nftables): deselect with -m 'not lab'.
pytestmark = pytest.mark.lab

WILDCARDS = ["--host", "0.0.0.0", "--host", "::"]
#: Long enough for a SYN sent again after the kernel's 1 s retransmission timeout.
TIMEOUT = 2.0


@pytest.fixture(scope="module")
def ports(lab: Any) -> Iterator[dict[str, int]]:
    """The protocol servers in the lab's server namespace: their ports by server name."""
    spawn = functools.partial(lab.spawn_in, "server")
    # QUIC answers from the address it is bound to, so HTTP/3 binds the block addresses.
    h3_hosts = [
        a for fam in (4, 6) for b in ("clean", "udp_drop") for a in lab.addresses(b, 1, fam)
    ]
    with (
        running("tfo", [*WILDCARDS, "--tfo"], spawn) as tfo,
        running("udp_echo", WILDCARDS, spawn) as echo,
        running("h3", [f"--host={h}" for h in h3_hosts], spawn) as h3,
        running("dns", [*WILDCARDS, "--record=www=198.18.0.5"], spawn) as dns,
    ):
        yield {"tfo": tfo["port"], "echo": echo["port"], "h3": h3["port"], "dns": dns["port"]}


@pytest.fixture(params=[4, 6], ids=["v4", "v6"])
def family(request: pytest.FixtureRequest) -> int:
    return int(request.param)


TFO_OK = ["tfo.connectivity.works", "tfo.cookie.received", "tfo.syndata.acked"]
H3_OK = ["h3.connectivity.works", "h3.altsvc.advertised", "h3.upgrade.success"]
H3_BLOCKED = ["h3.connectivity.broken", "h3.altsvc.advertised", "h3.upgrade.failed"]
CASES = [
    (TFO, "tfo", None, "clean", TFO_OK),
    (TFO, "tfo", None, "tfo_syn_drop", ["tfo.connectivity.works", "tfo.cookie.not_received"]),
    (TFO, "tfo", None, "blackhole", ["tfo.connectivity.offline"]),
    (ECN, "echo", "echo", "clean", ["ecn.connectivity.works", "ecn.mark.preserved"]),
    (ECN, "echo", "echo", "ecn_strip", ["ecn.connectivity.works", "ecn.mark.stripped"]),
    (ECN, "echo", "echo", "ecn_drop", ["ecn.connectivity.broken"]),
    (H3, "h3", None, "clean", H3_OK),
    (H3, "h3", None, "udp_drop", H3_BLOCKED),
]


@pytest.mark.parametrize(
    ("experiment", "server", "connect", "block", "expected"),
    CASES,
    ids=[f"{case[0].name}-{case[3]}" for case in CASES],
)
def test_conditions_follow_the_path_profile(
    lab: Any,
    ports: dict[str, int],
    family: int,
    measure: Any,
    experiment: Any,
    server: str,
    connect: str | None,
    block: str,
    expected: list[str],
) -> None:
    job = {"dip": lab.addresses(block, 1, family)[0], "dp": ports[server]}
    with lab.inside("client"):
        result = measure(experiment, job, timeout=TIMEOUT, connect=connect)
    assert result.conditions == expected
    assert result.elapsed < len(experiment.connections) * (TIMEOUT + 1)


def test_names_resolve_at_a_lab_dns_server(lab: Any, ports: dict[str, int], family: int) -> None:
    server = lab.addresses("clean", 1, family)[0]
    server = f"[{server}]" if family == 6 else server
    exp = DNSResolv(
        experiment_args(DNSResolv, 1.0, None, {"dns_server": f"{server}:{ports['dns']}"})
    )
    exp.outqueue = out = queue.Queue[dict[str, Any]]()
    with lab.inside("client"):
        DNSResolv.connections[0](exp, {"domain": "www.lab.test"}, 0)
    assert out.get_nowait()["dip"] == "198.18.0.5"
