"""The embedded demo command end to end: real local servers, both h2 modes, records on disk."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path


def test_demo_measures_every_outcome_in_both_modes(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_spider",
            "demo",
            "--out",
            str(tmp_path / "demo"),
            "--timeout",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # A broken path is among the servers (pytest said 1); the demo itself succeeded.
    assert run.returncode == 0, run.stdout + run.stderr
    assert "FAILED" in run.stdout
    assert "spider summary" in run.stdout
    for mode in ("https", "http"):
        output = tmp_path / "demo" / f"h2-{mode}.ndjson"
        records = [json.loads(line) for line in output.read_text().splitlines()]
        # Records only; the campaign's metadata is in a file of its own beside them.
        assert all("spider_campaign" not in record for record in records)
        assert json.loads(Path(f"{output}.meta.json").read_text())["sessions"]
        counts = collections.Counter(c for record in records for c in record["conditions"])
        hosts = len({record["dip"] for record in records})
        assert counts == {
            "h2.connectivity.works": 2 * hosts,
            "h2.connectivity.broken": hosts,
            "h2.connectivity.transient": hosts,
            "h2.connectivity.offline": 2 * hosts,
            "h2.upgrade.success": 2 * hosts,
            "h2.upgrade.failed": hosts,
        }, mode


def test_unknown_command_prints_usage() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest_spider", "fly"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 2
    assert "commands:" in run.stderr


def test_the_demo_fails_when_not_every_measurement_ran(tmp_path: Path) -> None:
    """pytest's exit code 1 means failed tests, but also a run that stopped early: only an
    output with every target's record is a demo that ran."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest_spider", "demo", "--out", str(tmp_path / "demo"),
         "--timeout", "1", "--", "-x"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode != 0, run.stdout + run.stderr
    assert "targets have no record in" in run.stdout
