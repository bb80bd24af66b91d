"""--spider-resume after a real run is killed with SIGKILL: every target exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.plugin.conftest import read_output, scripted_targets, write_targets

TARGETS = 40


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_a_killed_campaign_resumes_with_every_target_once(
    scripted: pytest.Pytester, workers: list[str]
) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets(*["sleep,ok"] * TARGETS))
    out = scripted.path / "out.ndjson"
    argv = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--spider-targets={targets}",
        f"--spider-output={out}", "--spider-concurrency=2", "--spider-lookahead=2",
        "experiments/", *workers,
    ]  # fmt: skip
    run = subprocess.Popen(
        argv, cwd=scripted.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while _lines(out) < 8 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    before = _lines(out)
    assert 8 <= before < TARGETS
    # Whatever the kill left, a torn line is possible: make sure there is one.
    with out.open("a") as stream:
        stream.write('{"dip": "198.18.0.99", "conditions": ["h2.conn')

    resumed = scripted.runpytest_subprocess(*argv[5:], "--spider-resume")
    # (xdist's controller does not count what its workers deselect.)
    resumed.assert_outcomes(passed=TARGETS - before, deselected=0 if workers else before)
    lines = out.read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # no torn line left
    records, metadata = read_output(out)
    assert sorted(r["dip"] for r in records) == sorted(
        t["dip"] for t in scripted_targets(*["sleep,ok"] * TARGETS)
    )
    assert metadata[-1]["resumed_past"] == before


def test_resume_needs_an_output_file(scripted: pytest.Pytester) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets("ok,ok"))
    result = scripted.runpytest(f"--spider-targets={targets}", "--spider-resume", "experiments/")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_large_list_runs_in_batches_into_one_output(scripted: pytest.Pytester) -> None:
    """The documented way for 10^6 targets: memory bounded by the batch, one merged file."""
    everything = scripted_targets(*["ok,ok"] * 30)
    out = scripted.path / "campaign.ndjson"
    for number, start in enumerate(range(0, 30, 10)):
        batch = write_targets(
            scripted.path / f"batch-{number}.ndjson", everything[start : start + 10]
        )
        result = scripted.runpytest(
            f"--spider-targets={batch}", f"--spider-output={out}", "--spider-resume",
            "experiments/",
        )  # fmt: skip
        result.assert_outcomes(passed=10)
    records, metadata = read_output(out)
    assert [r["dip"] for r in records] == [t["dip"] for t in everything]
    assert len(metadata) == 3


def test_ctrl_c_stops_measuring_and_keeps_what_finished(scripted: pytest.Pytester) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets(*["sleep,ok"] * 200))
    out = scripted.path / "out.ndjson"
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--spider-targets={targets}",
         f"--spider-output={out}", "--spider-concurrency=4", "experiments/"],
        cwd=scripted.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while _lines(out) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=15) == pytest.ExitCode.INTERRUPTED
    records, metadata = read_output(out)
    assert 4 <= len(records) < 200
    assert len(metadata) == 1  # the campaign still describes itself
