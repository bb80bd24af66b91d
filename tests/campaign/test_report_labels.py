"""Labels in a report are plain text: ``$...$`` from records is not matplotlib math text."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib", reason="the report extra (matplotlib) is not installed")

#: Math text that matplotlib's parser rejects (an unknown command): it crashed the report.
BAD = r"$\bad$"


def record(index: int, vantage: str, experiment: str, conditions: list[str]) -> dict[str, Any]:
    start = f"2024-01-01 00:00:{index:02d}.000000"
    stop = f"2024-01-01 00:00:{index:02d}.0{index % 9 + 1}0000"
    return {
        "dip": f"198.18.3.{index}",
        "dp": 443,
        "info": {"ASN": 64500 + index % 2, "CountryCode": BAD if index % 2 else "CH"},
        "conditions": conditions,
        "flow_results": [
            {
                "config": config,
                "conn": f"conn_{config}",
                "spdr_state": 0,
                "spdr_start": start,
                "spdr_stop": stop,
            }
            for config in (0, 1)
        ],
        "experiment": experiment,
        "outcome": "passed",
        "reason": None,
        "vantage": vantage,
    }


def test_math_text_in_every_label_is_shown_as_written(tmp_path: Path) -> None:
    experiment = f"h2{BAD}"
    records = [
        record(i, vantage, experiment, [f"{experiment}.connectivity.works", f"{BAD}.{BAD}"])
        for i, vantage in enumerate([BAD, "local", BAD, f"v{BAD}x", "local", "$"], 1)
    ]
    records.append(record(7, "local", "h2", ["h2.connectivity.works", f"h2.upgrade.{BAD}"]))
    campaign = tmp_path / "out.ndjson"
    campaign.write_text("".join(json.dumps(r) + "\n" for r in records))
    page = tmp_path / "report.html"
    run = subprocess.run(
        [sys.executable, "-m", "pytest_spider", "report", str(campaign), "--html", str(page)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ParseFatalException" not in run.stderr
    text = page.read_text()
    # The labels reach the page as text (in the charts' SVG text and in the tables).
    assert text.count(html.escape(BAD, quote=False)) > 5
    assert html.escape(f"v{BAD}x", quote=False) in text
