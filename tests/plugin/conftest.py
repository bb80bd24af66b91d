"""Fixtures for driving pytest-spider end to end with pytester.

``scripted`` writes an experiment whose connections do what each target's ``script`` field
says (ok, fail, timeout, raise, exit, interrupt, hang, discard, sleep, crash_once: the
process dies the first time, as marked by the file the target's ``marker`` field names; steps
joined by ``|`` are taken in turn, one per call, so repeated trials can differ; under
``--dist each``, a ``script_<vantage>`` field says it for that vantage): the plugin's
machinery (items, engine, verdicts, records, xdist) is tested without depending on the
network.
Outcomes against real servers are tested in test_h2_outcomes.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

SCRIPTED = """
import os
import threading
import time
from pytest_spider import (CONN_DISCARD, CONN_FAILED, CONN_OK, CONN_TIMEOUT,
                           DesynchronizedSpider, PluggableSpider)

STATES = {"ok": CONN_OK, "fail": CONN_FAILED, "timeout": CONN_TIMEOUT, "discard": CONN_DISCARD}


RUNNING = [0]
CALLS = {}
LOCK = threading.Lock()


def _play(job, config):
    with LOCK:
        RUNNING[0] += 1
        concurrent = RUNNING[0]
        CALLS[job["dip"], config] = calls = CALLS.get((job["dip"], config), 0) + 1
    try:
        return _step(job, config, concurrent, calls)
    finally:
        with LOCK:
            RUNNING[0] -= 1


def _step(job, config, concurrent, calls):
    # Under --dist each, a target's "script_<worker id>" (the vantage) wins over its "script".
    vantage_script = job.get("script_" + os.environ.get("PYTEST_XDIST_WORKER", ""))
    step = (vantage_script or job.get("script", "ok,ok")).split(",")[config]
    if "|" in step:  # one step per call, in turn: trials of a target differ
        steps = step.split("|")
        step = steps[(calls - 1) % len(steps)]
    if step == "sleep":
        time.sleep(0.3)
        step = "ok"
    if step == "crash_once":
        if not os.path.exists(job["marker"]):
            open(job["marker"], "w").close()
            os._exit(3)
        step = "ok"
    if step == "raise":
        raise ValueError("scripted failure in conn %d" % config)
    if step == "exit":
        raise SystemExit("scripted exit in conn %d" % config)
    if step == "interrupt":
        raise KeyboardInterrupt("scripted interrupt in conn %d" % config)
    if step == "hang":
        time.sleep(60)
    if step == "notadict":
        return "oops"
    error = None if step == "ok" else "timeout" if step == "timeout" else "refused"
    return {"spdr_state": STATES[step], "sp": 1000 + config, "error_class": error,
            "error": None if error is None else "scripted " + step, "blob": b"\\xffbytes",
            "concurrent": concurrent, "calls": calls}


class Scripted(DesynchronizedSpider, PluggableSpider):
    name = "scripted"

    def conn_base(self, job, config):
        return _play(job, config)

    def conn_exp(self, job, config):
        return _play(job, config)

    connections = [conn_base, conn_exp]

    def combine_flows(self, flows):
        return [self.combine_connectivity(flows[0]["spdr_state"] == CONN_OK,
                                          flows[1]["spdr_state"] == CONN_OK)]
"""


def write_targets(path: Path, targets: Iterable[dict[str, Any]]) -> Path:
    """Write PATHspider ndjson."""
    path.write_text("".join(json.dumps(t) + "\n" for t in targets))
    return path


def read_output(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """An ndjson output's records and its campaign's sessions (from the metadata file beside
    it, ``<output>.meta.json``; older outputs held them as a last line)."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    records = [line for line in lines if "spider_campaign" not in line]
    sessions = [line["spider_campaign"] for line in lines if "spider_campaign" in line]
    metadata = Path(f"{path}.meta.json")
    if metadata.exists():
        sessions += json.loads(metadata.read_text())["sessions"]
    return records, sessions


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record line of an ndjson output (a legacy campaign metadata line left out)."""
    return read_output(path)[0]


def scripted_targets(*scripts: str) -> list[dict[str, Any]]:
    """One target per script on 198.18.0.x (never contacted: the experiment is scripted)."""
    return [
        {"dip": f"198.18.0.{i + 1}", "dp": 80, "domain": f"t{i}.example", "script": script}
        for i, script in enumerate(scripts)
    ]


@pytest.fixture
def scripted(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester dir holding experiments/scripted.py."""
    pytester.mkdir("experiments")
    (pytester.path / "experiments" / "scripted.py").write_text(SCRIPTED)
    return pytester
