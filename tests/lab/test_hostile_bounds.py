"""Hostile servers cannot stretch a measurement: through the plugin, every experiment meets
every hostile server of the lab (silent, garbage_tls, slowloris, reset_body, big_header) with a
1 s timeout, and every connection ends within that timeout plus 1 s, and every run ends.

The hostile servers speak TCP: the UDP experiments (ecn, dnsresolv) meet closed UDP ports
there, which bounds them just the same.
"""

from __future__ import annotations

import datetime
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from pytest_spider.campaign.load import RecordStream
from pytest_spider.demo.lab import DOMAIN, Campaign, run_campaigns
from pytest_spider.lab import Lab, hostile

#: Needs a path lab (root, network namespaces, nginx, nftables): deselect with -m 'not lab'.
pytestmark = pytest.mark.lab

TIMEOUT = 1.0
#: What a connection may take beyond its timeout.
GRACE = 1.0
#: What a run may take beyond its connections' bounds: starting Python, loading, collecting.
RUN_OVERHEAD = 20.0
RUNS = [
    ("h2", "http"),
    ("h2", "https"),
    ("tfo", None),
    ("tls", None),
    ("h3", None),
    ("ecn", "echo"),
    ("ecn", "dns"),
    ("dnsresolv", None),
]


def connections(experiment: str) -> int:
    """How many connections the installed experiment makes per target."""
    spider = entry_points(group="pytest_spider.experiments")[experiment].load()
    return len(spider.connections)


def seconds(stamp: str) -> float:
    """A PATHspider UTC time stamp as seconds since the epoch."""
    moment = datetime.datetime.fromisoformat(stamp).replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def campaign(lab: Lab, experiment: str, connect: str | None) -> Campaign:
    """Every hostile server over IPv4 and IPv6; dnsresolv asks a name of the silent one."""
    name = experiment + (f"-{connect}" if connect else "")
    if experiment == "dnsresolv":
        server = f"{lab.addresses('alive', 1)[0]}:{hostile.PORTS['silent']}"
        names = [{"domain": DOMAIN, "hostile": "silent"}]
        return Campaign(name, experiment, names, TIMEOUT, options=[f"--spider-dns-server={server}"])
    targets: list[dict[str, Any]] = [
        {"dip": address, "dp": port, "domain": DOMAIN, "hostile": behaviour}
        for behaviour, port in hostile.PORTS.items()
        for family in (4, 6)
        for address in lab.addresses("alive", 1, family)
    ]
    return Campaign(name, experiment, targets, TIMEOUT, connect)


def overlong(record: dict[str, Any]) -> list[str]:
    """The connections of ``record`` that took longer than the timeout allows."""
    return [
        f"{record['hostile']} {record.get('dip')} {flow['conn']}: {took:.2f} s "
        f"({flow.get('error')})"
        for flow in record["flow_results"]
        if (took := seconds(flow["spdr_stop"]) - seconds(flow["spdr_start"])) > TIMEOUT + GRACE
    ]


@pytest.mark.parametrize(
    ("experiment", "connect"), RUNS, ids=[e + (f"-{c}" if c else "") for e, c in RUNS]
)
def test_hostile_servers_cannot_stretch_a_measurement(
    spider_lab: Lab, tmp_path: Path, experiment: str, connect: str | None
) -> None:
    hostile_run = campaign(spider_lab, experiment, connect)
    bound = connections(experiment) * (TIMEOUT + GRACE)
    started = time.monotonic()
    [(_, run)] = run_campaigns(spider_lab, [hostile_run], tmp_path)
    took = time.monotonic() - started
    ended = f"pytest exited {run.returncode}:\n{run.stdout[-3000:]}{run.stderr[-2000:]}"
    assert run.returncode in (0, 1), ended
    assert took < bound + RUN_OVERHEAD, ended

    stream = RecordStream([hostile_run.output_path(tmp_path)])
    records = list(stream)
    [meta] = stream.campaigns
    outcomes = meta["counts"]["outcomes"][experiment]
    assert sum(outcomes.values()) == len(hostile_run.targets), outcomes
    assert "error" not in outcomes, [r["reason"] for r in records if r["outcome"] == "error"]
    assert [line for record in records for line in overlong(record)] == []
    # One record per target: dnsresolv keeps the record of a name that gave no address.
    assert len(records) == len(hostile_run.targets)
