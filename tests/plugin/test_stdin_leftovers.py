"""Targets read from stdin reach xdist workers without a copy on disk that a kill could leave."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: An experiment whose sequences say they started (a file each) and then hang; it contacts
#: nothing.
WAITING = """
import pathlib
import time
from pytest_spider import CONN_OK, DesynchronizedSpider, PluggableSpider


class Waiting(DesynchronizedSpider, PluggableSpider):
    name = "waiting"

    def conn_wait(self, job, config):
        pathlib.Path(job["started"], job["dip"]).touch()
        time.sleep(30)
        return {"spdr_state": CONN_OK, "sp": 0}

    connections = [conn_wait]

    def combine_flows(self, flows):
        return []
"""

#: How long the run may take to have its workers measuring.
STARTUP = 60.0


def test_a_killed_xdist_run_leaves_no_copy_of_stdin(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.mkdir("experiments")
    (pytester.path / "experiments" / "waiting.py").write_text(WAITING)
    private_tmp, started = tmp_path / "tmp", tmp_path / "started"
    private_tmp.mkdir()
    started.mkdir()
    targets = [{"dip": f"198.18.0.{i}", "dp": 80, "started": str(started)} for i in range(1, 5)]
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--spider-targets=-", "-n", "2", "-p", "no:cacheprovider",
         "-p", "no:randomly", "experiments/"],
        cwd=pytester.path, env={**os.environ, "TMPDIR": str(private_tmp)},
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    assert process.stdin is not None
    try:
        process.stdin.write("".join(json.dumps(t) + "\n" for t in targets).encode())
        process.stdin.close()
        deadline = time.monotonic() + STARTUP
        # Both workers read their share of stdin and are measuring it.
        while len(list(started.iterdir())) < 2 and time.monotonic() < deadline:
            assert process.poll() is None, f"pytest exited {process.returncode}"
            time.sleep(0.05)
        assert len(list(started.iterdir())) >= 2, "the workers did not start measuring"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    assert process.returncode == -signal.SIGKILL
    assert sorted(p.name for p in private_tmp.iterdir() if p.name.startswith("spider-stdin")) == []
