"""End to end: a real campaign in the namespace lab, its HTML report, looked at in Chromium."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_spider.lab import Lab, lab_available
from tests.campaign.test_browser import ARTIFACTS, CHROMIUM, chromium, console_messages

pytestmark = [
    pytest.mark.lab,
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: chromium)"),
    pytest.mark.skipif(lab_available() is not None, reason=f"no lab here: {lab_available()}"),
]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab({"alive": "clean", "dead": "blackhole", "refused": "reject"}) as running:
        yield running


def test_report_of_a_real_lab_campaign(lab: Lab, tmp_path: Path) -> None:
    targets = tmp_path / "targets.ndjson"
    with targets.open("w") as out:
        for block, v4, v6 in (("alive", 8, 4), ("dead", 2, 1), ("refused", 2, 1)):
            addrs = lab.addresses(block, v4, 4) + lab.addresses(block, v6, 6)
            for i, addr in enumerate(addrs):
                info = {"ASN": 64500 + i % 3, "CountryCode": ("CH", "DE-BY", "US-VA")[i % 3]}
                out.write(json.dumps({"dip": addr, "dp": 443, "domain": "lab.test", "info": info}))
                out.write("\n")
    records, html = tmp_path / "out.ndjson", tmp_path / "report.html"
    run = lab.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         f"--spider-targets={targets}", "--spider-experiment=h2", "--spider-connect=https",
         "--spider-timeout=1", f"--spider-output={records}", f"--spider-report={html}"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    conditions = [
        json.loads(line)["conditions"]
        for line in records.read_text().splitlines()
        if "spider_campaign" not in line
    ]
    assert conditions.count(["h2.connectivity.works", "h2.upgrade.success"]) == 12
    assert conditions.count(["h2.connectivity.offline"]) == 6

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "lab-report.png"
    seen = chromium(
        tmp_path / "profile", f"--screenshot={shot}", "--window-size=1400,2200", html.as_uri()
    )
    assert seen.returncode == 0 and shot.stat().st_size > 10_000, seen.stderr[-2000:]
    dom = chromium(tmp_path / "profile", "--dump-dom", html.as_uri())
    assert console_messages(dom.stderr) == []
    assert dom.stdout.count("<svg") >= 3
    assert "h2.upgrade.success" in dom.stdout and "64500" in dom.stdout
