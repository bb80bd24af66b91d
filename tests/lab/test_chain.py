"""Chain labs: several routers in a row, the path profiles on one of them, some of them silent.

A probe whose TTL runs out at router ``h`` is answered by that router from
``Lab.hop_address(h)``; a silent router answers nothing; the profile acts at its own router
only, so what it drops still reaches the routers before it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
from collections.abc import Iterator
from ipaddress import IPv4Network, IPv6Network
from typing import Any

import pytest

from pytest_spider.experiments.dscp import DSCP
from pytest_spider.helpers import hops
from pytest_spider.lab import Lab, addressing, lab_available, netns
from pytest_spider.locate import Bounds
from pytest_spider.locate.scan import Locator

needs_lab = pytest.mark.skipif(lab_available() is not None, reason=str(lab_available()))
#: A port nothing listens on: a probe that gets there is answered with port unreachable.
CLOSED_PORT = 9


def test_chain_links_are_distinct_and_kept_apart_from_everything_else() -> None:
    plans = [addressing.Plan(lab_id, (), True) for lab_id in (0, addressing.MAX_LABS - 1)]
    links = [
        link
        for plan in plans
        for index in range(addressing.MAX_CHAIN - 1)
        for link in plan.chain_links(index)
    ]
    ends = [end for link in links for end in (link.near, link.far)]
    assert len(set(ends)) == len(ends) == 2 * 2 * 2 * (addressing.MAX_CHAIN - 1)
    v4 = [IPv4Network(f"{k.near}/{k.prefix}", strict=False) for k in links if k.version == 4]
    assert all(net.subnet_of(addressing.V4_CHAIN_LINKS) for net in v4)
    v6 = [IPv6Network(f"{k.near}/{k.prefix}", strict=False) for k in links if k.version == 6]
    assert all(net.subnet_of(addressing.V6_SPACE) for net in v6)
    others = [
        end
        for plan in plans
        for link in [
            *plan.links(0),
            *plan.links(1),
            *(k for i in range(addressing.MAX_VANTAGES) for k in plan.vantage_links(i)),
        ]
        for end in (link.near, link.far)
    ]
    assert not set(others) & set(ends)
    for prefix, count in ((22, 100), (24, 100), (30, 300)):
        blocks = addressing.allocate_v4(prefix, count, [])
        assert not any(b.overlaps(addressing.V4_CHAIN_LINKS) for b in blocks)
    with pytest.raises(ValueError, match="at most"):
        plans[0].chain_links(addressing.MAX_CHAIN - 1)


def test_bad_chains_are_refused_before_anything_is_built() -> None:
    with pytest.raises(ValueError, match="chain must be between 1 and"):
        Lab(chain=0)
    with pytest.raises(ValueError, match="chain must be between 1 and"):
        Lab(chain=addressing.MAX_CHAIN + 1)
    with pytest.raises(ValueError, match="no extra vantages"):
        Lab(chain=2, vantages={"east": "clean"})
    with pytest.raises(ValueError, match="routers 1 to 3"):
        Lab(chain=3, profile_hop=4)
    with pytest.raises(ValueError, match="routers 1 to 3"):
        Lab(chain=3, silent_hops=[0])


def answers(lab: Lab, block: str, family: int, ttls: int) -> list[str]:
    """What a UDP probe to ``block`` gets at TTL 1 .. ``ttls``, sent from the client."""
    target = lab.addresses(block, 1, family)[0]
    spec = hops.ProbeSpec("udp", "udp", payload=b"pytest-spider chain probe")
    found = []
    with lab.inside("client"):
        for ttl in range(1, ttls + 1):
            probe = hops.Probe(spec, target, CLOSED_PORT, ttl)
            hops.collect([probe], 0.3)
            assert probe.answer is not None
            found.append(probe.answer.text())
    return found


@pytest.fixture(scope="module", params=[(), (1,)], ids=["answering", "hop1-silent"])
def chain_lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    if lab_available() is not None:
        pytest.skip(f"path lab unavailable: {lab_available()}")
    blocks = {"clean": "clean", "udp_drop": "udp_drop"}
    with Lab(blocks, servers=(), v4_prefix=28, chain=3, silent_hops=request.param) as lab:
        yield lab


@pytest.mark.lab
@needs_lab
@pytest.mark.parametrize("family", [4, 6])
def test_every_router_of_the_chain_answers_from_its_own_address(
    chain_lab: Lab, family: int
) -> None:
    routers = [chain_lab.hop_address(hop, family) for hop in (1, 2, 3)]
    assert len(set(routers)) == 3
    expected = ["*" if hop in chain_lab.silent_hops else routers[hop - 1] for hop in (1, 2, 3)]
    assert answers(chain_lab, "clean", family, 5) == [*expected, "target", "target"]
    # The profile's router (2, the middle one) drops what passed router 1 and itself.
    assert chain_lab.profile_hop == 2 and chain_lab.hop_ns(2) == chain_lab.router_ns
    assert answers(chain_lab, "udp_drop", family, 4) == [*expected[:2], "*", "*"]


@pytest.mark.lab
@needs_lab
def test_a_chain_lab_has_its_namespaces_and_removes_them() -> None:
    with Lab({"clean": "clean"}, servers=(), v4_prefix=28, chain=4, profile_hop=3) as lab:
        names = [lab.hop_ns(hop) for hop in (1, 2, 3, 4)]
        assert names[2] == lab.router_ns == lab.namespace("hop3")
        assert len(set(names)) == 4
        with pytest.raises(ValueError, match="routers 1 to 4"):
            lab.hop_ns(5)
        assert set(names) <= set(netns.existing())
    assert not set(names) & set(netns.existing())


@pytest.mark.lab
@needs_lab
def test_routers_that_rate_limit_time_exceeded_make_locating_unsure_never_wrong() -> None:
    """Real routers send few time-exceeded: 30 targets located at once through routers that
    allow a burst of 10 and 20 a second get hop 2 or no hop (with the reason), never another."""
    with Lab({"dscp_drop": "dscp_drop"}, servers=(), v4_prefix=26, chain=3) as lab:
        limited = {
            "net.ipv4.icmp_ratemask": "6168",  # Linux's defaults: errors are limited
            "net.ipv6.icmp.ratemask": "0-1,3-127",
            "net.ipv4.icmp_msgs_burst": "10",  # both families, 50 by default
            "net.ipv4.icmp_msgs_per_sec": "20",  # 1000 by default
        }
        for hop in (1, 2, 3):
            netns.write_sysctls(lab.hop_ns(hop), limited)
        experiment = DSCP(argparse.Namespace(timeout=1.0, connect="http"))
        locator = Locator(["*"], Bounds(wait=0.3, budget=10.0))
        targets = [
            (dip, family) for family in (4, 6) for dip in lab.addresses("dscp_drop", 15, family)
        ]

        def locate(dip: str) -> dict[str, Any]:
            with lab.inside("client"):
                return locator.locate(experiment, {"dip": dip, "dp": 80})

        with concurrent.futures.ThreadPoolExecutor(len(targets)) as pool:
            found = list(pool.map(locate, [dip for dip, _ in targets]))
        routers = {family: lab.hop_address(2, family) for family in (4, 6)}
    for (_, family), located in zip(targets, found, strict=True):
        assert located["hop"] in (2, None), located
        if located["hop"] == 2:
            assert located["address"] == routers[family]
        else:
            assert located["address"] is None and located["reason"], located
