"""Vantage points in the lab: extra client namespaces, each behind a path profile of its own.

One pytest run with ``--dist each`` and a worker in each vantage measures every target from
both; the records and the summary must tell the vantages apart by what their paths do, and
the summary, JUnit, the report and ``diff --across-vantages`` say per target whether they
agree.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any

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


#: East sees block "alive" as it is, west's path refuses everything; "gone" refuses from
#: everywhere. Unreachable fails here (a gate: our services answer from every vantage).
AGREEMENT_BLOCKS = {"alive": "clean", "gone": "reject"}
AGREEMENT_VANTAGES = {"east": "clean", "west": "reject"}
WORKS, OFFLINE = ["h2.connectivity.works", "h2.upgrade.success"], ["h2.connectivity.offline"]


@pytest.mark.lab
@needs_lab
def test_one_run_tells_path_dependent_targets_from_those_the_same_everywhere(
    tmp_path: Path,
) -> None:
    """The terminal summary, JUnit, the report and diff --across-vantages of one --dist each
    run through two vantages whose paths differ: every alive target is path-dependent (and
    its verdict differs), every gone one the same everywhere."""
    junit, report = tmp_path / "junit.xml", tmp_path / "report.html"
    with Lab(AGREEMENT_BLOCKS, vantages=AGREEMENT_VANTAGES) as lab:
        targets: dict[str, list[dict[str, Any]]] = {
            block: [
                {"dip": address, "dp": lab.ports["https"], "domain": DOMAIN}
                for family in (4, 6)
                for address in lab.addresses(block, 2, family)
            ]
            for block in AGREEMENT_BLOCKS
        }
        tx = [arg for name in AGREEMENT_VANTAGES for arg in ("--tx", lab.tx_spec(name))]
        campaign = Campaign(
            name="agreement",
            experiment="h2",
            connect="https",
            timeout=1.0,
            targets=[*targets["alive"], *targets["gone"]],
            options=[
                "--dist", "each", *tx, "--spider-fail-on=*.connectivity.offline",
                f"--junitxml={junit}", f"--spider-report={report}",
            ],
        )  # fmt: skip
        [(_, run)] = run_campaigns(lab, [campaign], tmp_path)
    # The lab is gone: what follows reads files only.
    output = run.stdout[-6000:] + run.stderr[-3000:]
    assert run.returncode == 1, output
    out = campaign.output_path(tmp_path)
    records = list(RecordStream([out]))
    alive = {t["dip"] for t in targets["alive"]}
    seen = sorted((r["vantage"], r["dip"], sorted(r["conditions"])) for r in records)
    expected = [
        (vantage, t["dip"], WORKS if vantage == "east" and t["dip"] in alive else OFFLINE)
        for vantage in AGREEMENT_VANTAGES
        for t in targets["alive"] + targets["gone"]
    ]
    assert seen == sorted(expected), output
    # The summary: counts per experiment, then the path-dependent targets only.
    lines = run.stdout.splitlines()
    start = lines.index(
        "vantages east, west compared per target with fail globs *.connectivity.offline: "
        "4 same everywhere, 4 path-dependent (4 verdict differs)"
    )
    assert lines[start + 2].split() == ["h2", "8", "4", "4", "4", "0"], output
    listed = lines[start + 5 : start + 9]
    assert all(line.startswith("verdict differs  h2") for line in listed), output
    assert sorted(line.split()[3].rsplit(":", 1)[0].strip("[]") for line in listed) == sorted(alive)
    assert lines[start + 9].startswith("input: "), output
    # JUnit: one testcase per target and vantage, each named after its vantage; west fails
    # every target, east only the gone ones.
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert len({c.attrib["name"] for c in cases}) == len(cases) == 16
    failed = sorted(
        (c.attrib["name"].rsplit(" @ ", 1)[1], c.find("failure") is not None) for c in cases
    )
    assert failed == [("east", False)] * 4 + [("east", True)] * 4 + [("west", True)] * 8
    assert all(
        (c.findtext("system-out") or "").startswith(f"vantage: {c.attrib['name'][-4:]}\n")
        for c in cases
    )
    # The report and the diff say the same.
    page = report.read_text()
    assert "<h2>Path dependence across vantage points</h2>" in page
    assert "4 path-dependent, 4 of them with a verdict that differs; 4 the same" in page
    diff = subprocess.run(
        [sys.executable, "-m", "pytest_spider", "diff", "--across-vantages", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert diff.returncode == 1, diff.stdout + diff.stderr
    assert diff.stdout.splitlines()[0] == (
        "vantages east, west compared per target with fail globs *.connectivity.offline "
        f"({out}'s own, from its metadata): 4 same everywhere, 4 path-dependent "
        "(4 verdict differs)"
    )
    assert "gate fails: 4 target(s) whose verdict differs between vantages" in diff.stdout
