"""Vantage points in the lab: extra client namespaces, each behind a path profile of its own.

One pytest run with ``--dist each`` and a worker in each vantage measures every target from
both; the records and the summary must tell the vantages apart by what their paths do.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

import pytest

from pytest_spider.campaign.load import RecordStream
from pytest_spider.demo.lab import DOMAIN, Campaign, run_campaigns
from pytest_spider.lab import Lab, addressing, lab_available

needs_lab = pytest.mark.skipif(lab_available() is not None, reason=str(lab_available()))

#: East sees the servers as they are; west's path drops everything.
VANTAGES = {"east": "clean", "west": "blackhole"}
EXPECTED = {
    "east": ["h2.connectivity.works", "h2.upgrade.success"],
    "west": ["h2.connectivity.offline"],
}


def test_vantage_links_are_distinct_and_kept_apart_from_blocks() -> None:
    plans = [addressing.Plan(lab_id, (), True) for lab_id in (0, addressing.MAX_LABS - 1)]
    links = [
        link
        for plan in plans
        for index in range(addressing.MAX_VANTAGES)
        for link in plan.vantage_links(index)
    ]
    ends = [end for link in links for end in (link.near, link.far)]
    assert len(set(ends)) == len(ends) == 2 * 2 * 2 * addressing.MAX_VANTAGES
    v4 = [IPv4Network(f"{k.near}/{k.prefix}", strict=False) for k in links if k.version == 4]
    assert all(net.subnet_of(addressing.V4_VANTAGE_LINKS) for net in v4)
    v6 = [IPv6Network(f"{k.near}/{k.prefix}", strict=False) for k in links if k.version == 6]
    assert all(net.subnet_of(addressing.V6_SPACE) for net in v6)
    client_links = [link for plan in plans for link in plan.links(0)]
    assert not {k.near for k in client_links} & set(ends)
    # Server blocks never land on the vantage links, whatever their size.
    for prefix, count in ((22, 100), (24, 100), (30, 300)):
        blocks = addressing.allocate_v4(prefix, count, [])
        assert not any(b.overlaps(addressing.V4_VANTAGE_LINKS) for b in blocks)
    assert addressing.Plan(0, (), False).vantage_links(0) == [
        addressing.Link("198.18.4.1", "198.18.4.2", 30)
    ]
    with pytest.raises(ValueError, match="at most"):
        plans[0].vantage_links(addressing.MAX_VANTAGES)


def test_bad_vantages_are_refused_before_anything_is_built() -> None:
    with pytest.raises(ValueError, match="unknown path profile"):
        Lab(vantages={"east": "teleport"})
    with pytest.raises(ValueError, match="lower-case identifier of 12"):
        Lab(vantages={"far_far_away_east": "clean"})
    with pytest.raises(ValueError, match="at most"):
        Lab(vantages={f"v{i}": "clean" for i in range(addressing.MAX_VANTAGES + 1)})
    with pytest.raises(RuntimeError, match="not running"):
        Lab(vantages=VANTAGES).tx_spec("east")


@pytest.mark.lab
@needs_lab
def test_each_vantage_measures_every_target_through_its_own_path(tmp_path: Path) -> None:
    with Lab({"alive": "clean"}, vantages=VANTAGES) as lab:
        assert lab.vantages == VANTAGES
        with pytest.raises(KeyError, match="no vantage 'north'"):
            lab.vantage_ns("north")
        targets = [
            {"dip": address, "dp": lab.ports["https"], "domain": DOMAIN}
            for family in (4, 6)
            for address in lab.addresses("alive", 2, family)
        ]
        tx = [arg for name in VANTAGES for arg in ("--tx", lab.tx_spec(name))]
        campaign = Campaign(
            name="vantages",
            experiment="h2",
            connect="https",
            timeout=1.0,
            targets=targets,
            options=["--dist", "each", *tx],
        )
        # The controller runs in the lab's client namespace: it measures nothing itself.
        [(_, run)] = run_campaigns(lab, [campaign], tmp_path)
    output = run.stdout[-5000:] + run.stderr[-3000:]
    assert run.returncode in (0, 1), output
    records = list(RecordStream([campaign.output_path(tmp_path)]))
    seen = sorted((r["vantage"], r["dip"], sorted(r["conditions"])) for r in records)
    expected = [(v, t["dip"], EXPECTED[v]) for v in VANTAGES for t in targets]
    assert seen == sorted(expected), output
    assert all(r["outcome"] != "error" for r in records), output
    summary = sorted(line for line in run.stdout.splitlines() if line.startswith("h2 @ "))
    assert len(summary) == len(VANTAGES), output
    for line, vantage in zip(summary, sorted(VANTAGES), strict=True):
        assert line.startswith(f"h2 @ {vantage}: {len(targets)} targets "), output
