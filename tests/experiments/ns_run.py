"""Run one experiment against one lab server, both in the current network namespace; print JSON.

The tests start this with ``ip netns exec`` so that the server, the client and the sysctls and
nftables rules they meet all belong to a namespace the test made, never to the host.

    ns_run.py tfo:TFO 198.18.0.1 2.0 tfo --tfo        (experiment as module:Class[:connect])
"""

from __future__ import annotations

import importlib
import json
import sys
import time

from pytest_spider.lab.servers import running
from pytest_spider.spider import experiment_args


def main(experiment: str, host: str, timeout: str, server: str, *server_args: str) -> None:
    module, name, *connect = experiment.split(":")
    cls = getattr(importlib.import_module(f"pytest_spider.experiments.{module}"), name)
    with running(server, ["--host", host, *server_args]) as facts:
        args = experiment_args(cls, float(timeout), connect[0] if connect else None, {})
        exp = cls(args, (None, None))
        job = {"dip": host, "dp": facts["port"]}
        start = time.monotonic()
        flows = [conn(exp, dict(job), i) for i, conn in enumerate(cls.connections)]
        elapsed = time.monotonic() - start
    print(json.dumps({"flows": flows, "conditions": exp.combine_flows(flows), "elapsed": elapsed}))


if __name__ == "__main__":
    main(*sys.argv[1:])
