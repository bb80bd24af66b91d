"""ecn, dscp and mss hold no global state: while they run (through pytest, in the lab's client
namespace, the namespace their user runs in), no sysctl of that namespace nor of the test's own
changes, and the policy-routing rule and routes the ECN requests add are gone when they end. And
they run side by side with h2 under ``-n 2``, every record arriving.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_spider.campaign.load import RecordStream
from pytest_spider.demo.lab import DOMAIN, Campaign, run_campaigns
from pytest_spider.lab import Lab, lab_available, netns

#: Needs a path lab (root, network namespaces, nginx, nftables): deselect with -m 'not lab'.
pytestmark = pytest.mark.lab

SYSCTLS = Path("/proc/sys/net")
#: Counters the kernel itself moves with traffic: not settings.
MOVING = {"netfilter/nf_conntrack_count"}
BLOCKS = {"clean": "clean", "ecn_syn_drop": "ecn_syn_drop", "blackhole": "blackhole"}


def sysctls() -> dict[str, str]:
    """Every readable ``net.*`` sysctl of the calling thread's network namespace."""
    values: dict[str, str] = {}
    for path in SYSCTLS.rglob("*"):
        name = str(path.relative_to(SYSCTLS))
        if name in MOVING or not path.is_file():
            continue
        with contextlib.suppress(OSError):
            values[name] = path.read_text()
    return values


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if reason := lab_available():
        pytest.skip(f"path lab unavailable: {reason}")
    with Lab(BLOCKS, servers=("nginx",), v4_prefix=24) as running_lab:
        yield running_lab


def targets(lab: Lab) -> list[dict[str, Any]]:
    return [
        {"dip": lab.addresses(block, 1, family)[0], "dp": 80, "domain": DOMAIN, "block": block}
        for block in BLOCKS
        for family in (4, 6)
    ]


def routing(lab: Lab) -> str:
    """The client namespace's rules and routes, every table."""
    ns = lab.client_ns
    return "".join(
        subprocess.run(
            ["ip", "-n", ns, *family, *what], capture_output=True, text=True, check=True
        ).stdout
        for family in ([], ["-6"])
        for what in (["rule"], ["route", "show", "table", "all"])
    )


class Sampler:
    """Reads the client namespace's sysctls over and over while a run goes on."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.samples: list[dict[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with netns.inside(self.lab.client_ns):
            while not self._stop.is_set():
                self.samples.append(sysctls())
                self._stop.wait(0.05)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def records(campaign: Campaign, folder: Path) -> list[dict[str, Any]]:
    path = campaign.output_path(folder)
    return list(RecordStream([path])) if path.exists() else []


def test_no_sysctl_changes_and_no_rule_is_left(lab: Lab, tmp_path: Path) -> None:
    assert os.geteuid() == 0
    runs = [
        Campaign("ecn-http", "ecn", targets(lab), 2.0, "http"),
        Campaign("ecn-tcp", "ecn", targets(lab), 2.0, "tcp"),
        Campaign("dscp", "dscp", targets(lab), 1.0, "http"),
        Campaign("mss", "mss", targets(lab), 1.0, "http"),
    ]
    with netns.inside(lab.client_ns):
        client_before = sysctls()
    own_before, routes_before = sysctls(), routing(lab)
    with Sampler(lab) as sampler:
        done = list(run_campaigns(lab, runs, tmp_path))
    for campaign, run in done:
        assert run.returncode in (0, 1), run.stdout + run.stderr
        assert len(records(campaign, tmp_path)) == len(campaign.targets)
    # The runs did what they are for: ECN was asked for and negotiated through the clean path.
    clean = [r for r in records(runs[0], tmp_path) if r["block"] == "clean"]
    assert all("ecn.negotiation.succeeded" in r["conditions"] for r in clean)
    assert len(sampler.samples) > 5
    changed = {
        name
        for sample in sampler.samples
        for name, value in sample.items()
        if client_before.get(name) != value
    }
    assert changed == set()
    assert sysctls() == own_before
    assert routing(lab) == routes_before


def test_ecn_dscp_and_h2_run_together_under_xdist(lab: Lab, tmp_path: Path) -> None:
    extra = ["--spider-experiment=dscp", "--spider-experiment=h2", "-n", "2"]
    campaign = Campaign("together", "ecn", targets(lab), 2.0, options=extra)
    routes_before = routing(lab)
    start = time.monotonic()
    ((_, run),) = run_campaigns(lab, [campaign], tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode in (0, 1), output
    assert "2 workers" in output
    got = records(campaign, tmp_path)
    keys = sorted((r["experiment"], r["dip"]) for r in got)
    expected = sorted(
        (experiment, target["dip"])
        for experiment in ("ecn", "dscp", "h2")
        for target in campaign.targets
    )
    assert keys == expected, output
    works = {
        "ecn": "ecn.connectivity.works",
        "dscp": "dscp.48.connectivity.works",
        "h2": "h2.connectivity.works",
    }
    for record in got:
        if record["block"] == "clean":
            assert works[record["experiment"]] in record["conditions"], record
        if record["block"] == "blackhole":
            assert record["outcome"] == "skipped", record
    assert time.monotonic() - start < 60
    assert routing(lab) == routes_before  # the workers removed their rules and routes
