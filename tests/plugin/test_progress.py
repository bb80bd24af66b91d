"""The live progress line: shown on a terminal at default verbosity, never elsewhere."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import types
from pathlib import Path

import pytest

from pytest_spider.reporting.progress import ProgressLine
from tests.plugin.conftest import scripted_targets, write_targets


def _run_on_a_terminal(cwd: Path, *args: str) -> str:
    """pytest with a pseudo-terminal as its stdout: what a person at a terminal sees."""
    leader, follower = pty.openpty()
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd, stdout=follower, stderr=follower, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    run.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_a_terminal_sees_the_live_line_instead_of_dots(
    scripted: pytest.Pytester, workers: list[str]
) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets(*["sleep,ok"] * 12))
    seen = _run_on_a_terminal(scripted.path, f"--spider-targets={targets}", "experiments/",
                              "--spider-concurrency=4", *workers)  # fmt: skip
    assert "\rspider: 12/12 items" in seen
    assert "/s" in seen and "12 passed" in seen
    assert "............" not in seen
    quiet = _run_on_a_terminal(scripted.path, f"--spider-targets={targets}", "experiments/", "-q")
    assert "spider: " not in quiet and "............" in quiet


def test_no_progress_line_without_a_terminal(scripted: pytest.Pytester) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets("ok,ok", "ok,ok"))
    result = scripted.runpytest_subprocess(f"--spider-targets={targets}", "experiments/")
    assert "spider: 2/2" not in result.stdout.str()
    result.stdout.fnmatch_lines(["experiments/scripted.py ..*"])


def test_the_line_reads_done_total_rate_in_flight_and_eta() -> None:
    now = [100.0]

    drawn: list[str] = []
    terminal = types.SimpleNamespace(rewrite=lambda line: drawn.append(line.rstrip()))
    progress = ProgressLine(terminal, clock=lambda: now[0])
    progress.total = 1000
    progress.item_done("gw0", 40)
    for _ in range(249):
        now[0] += 0.01
        progress.item_done("gw1", 60)
    # 250 done in 2.49 s: 100/s, 750 to go: 7.5 s; redrawn every 0.2 s, not per item.
    assert progress.text(now[0]) == "spider: 250/1,000 items  100/s  100 in flight  ETA 0:07"
    assert 10 <= len(drawn) <= 14
