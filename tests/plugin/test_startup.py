"""A campaign imports only what it uses: no plotting stack, no report, no DNS library, no lab
or demo servers, no raw-socket probing or packet capture (ctypes), unless the run needs them."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import scripted_targets, write_targets

#: Writes the modules loaded by the end of the run, one per line.
MODULES = """
import sys

def pytest_unconfigure(config):
    with open("modules.txt", "w") as out:
        out.write("\\n".join(sorted(sys.modules)))
"""

NOT_FOR_A_PLAIN_CAMPAIGN = (
    "matplotlib",
    "dns",
    "pytest_spider.campaign.report",
    "pytest_spider.campaign.html",
    "pytest_spider.campaign.charts",
    "pytest_spider.campaign.aggregate",
    "pytest_spider.lab",
    "pytest_spider.demo",
    "h2",
    "h11",
    "trustme",
    "aioquic",
    "ctypes",
    "pytest_spider.locate.scan",
    "pytest_spider.helpers.hops",
    "pytest_spider.helpers.ecn",
    "pytest_spider.helpers.observe",
    "pytest_spider.helpers.observed",
    "pytest_spider.helpers.tcpinfo",
)


def test_a_campaign_without_report_or_dns_loads_neither(scripted: pytest.Pytester) -> None:
    scripted.makeconftest(MODULES)
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets("ok,ok", "ok,fail"))
    out = scripted.path / "out.ndjson"
    scripted.runpytest_subprocess(
        f"--spider-targets={targets}", f"--spider-output={out}", "experiments/"
    ).assert_outcomes(passed=1, failed=1)
    loaded = set((scripted.path / "modules.txt").read_text().split())
    assert "pytest_spider.plugin" in loaded
    unwanted = sorted(
        name
        for name in loaded
        if any(name == top or name.startswith(top + ".") for top in NOT_FOR_A_PLAIN_CAMPAIGN)
    )
    assert unwanted == []


PROBE = """
import argparse, sys
from pytest_spider.experiments.{module} import {cls}
assert "dns.query" not in sys.modules
{cls}(args=argparse.Namespace(timeout=1, connect={mode!r}))
print("dns.query" in sys.modules)
"""


@pytest.mark.parametrize(
    ("module", "cls", "mode", "loaded"),
    [
        ("dnsresolv", "DNSResolv", "http", "True"),
        ("ecn", "ECN", "dns", "True"),
        ("dscp", "DSCP", "dns", "True"),
        ("ecn", "ECN", "http", "False"),
        ("dscp", "DSCP", "tcp", "False"),
    ],
)
def test_an_experiment_that_measures_dns_loads_dnspython_when_it_is_made(
    pytester: pytest.Pytester, module: str, cls: str, mode: str, loaded: str
) -> None:
    """Before any timed sequence: on a loaded CI run, a truth-table dnsresolv sequence with a
    1 s timeout was still running after 3 s while dnspython was first imported inside it."""
    probe = pytester.makepyfile(probe=PROBE.format(module=module, cls=cls, mode=mode))
    result = pytester.runpython(probe)
    assert result.ret == 0, result.stderr.str()
    assert result.stdout.lines[-1] == loaded
