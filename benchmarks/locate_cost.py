"""What --spider-locate costs per target: a chain lab, the same campaign with and without it.

A lab with three routers (the path profile at router 2) and two blocks: ``clean`` and
``dscp_drop`` (marked packets dropped at router 2). N targets in each (IPv4 and IPv6 alike),
measured with the dscp experiment over http from the lab's client namespace, once without and
once with ``--spider-locate``; then the same with routers that send no time-exceeded
(``--silent``). Printed: wall seconds and CPU seconds (user + sys of the pytest process tree)
of each run, and per located target the probes sent and the seconds spent locating (from the
records), with what each located.

    python benchmarks/locate_cost.py --targets 20 --timeout 1 [--silent]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pytest_spider.demo.lab import DOMAIN, Campaign, run_campaigns
from pytest_spider.lab import Lab, lab_available

BLOCKS = {"clean": "clean", "dscp_drop": "dscp_drop"}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(lab: Lab, campaign: Campaign, folder: Path) -> tuple[float, float, list[dict[str, Any]]]:
    cpu, wall = _children_cpu(), time.monotonic()
    [(_, run)] = list(run_campaigns(lab, [campaign], folder, ["-q", "-p", "no:cacheprovider"]))
    wall, cpu = time.monotonic() - wall, _children_cpu() - cpu
    if run.returncode not in (0, 1):
        raise RuntimeError(f"pytest exited {run.returncode}:\n{run.stdout}{run.stderr}")
    records = [json.loads(line) for line in campaign.output_path(folder).read_text().splitlines()]
    return wall, cpu, records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=20, help="targets per block and family")
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--silent", action="store_true", help="routers send no time-exceeded")
    args = parser.parse_args()
    reason = lab_available()
    if reason is not None:
        print(f"no lab: {reason}", file=sys.stderr)
        return 1
    silent = (1, 2, 3) if args.silent else ()
    lab = Lab(BLOCKS, servers=("nginx",), v4_prefix=24, chain=3, silent_hops=silent)
    with lab, tempfile.TemporaryDirectory() as tmp:
        targets = [
            {"dip": dip, "dp": 80, "domain": DOMAIN, "block": block}
            for block in BLOCKS
            for family in (4, 6)
            for dip in lab.addresses(block, args.targets, family)
        ]
        print(
            f"{len(targets)} targets ({args.targets} per block and family, half failing), "
            f"3 routers{' (silent)' if silent else ''}, timeout {args.timeout:g} s"
        )
        for located in (False, True):
            name = "locate" if located else "plain"
            options = ["--spider-locate"] if located else []
            campaign = Campaign(name, "dscp", targets, args.timeout, "http", options)
            wall, cpu, records = _run(lab, campaign, Path(tmp))
            print(f"{name:>6}: wall {wall:.2f} s, CPU {cpu:.2f} s")
            found = [r["locate"] for r in records if "locate" in r]
            if not found:
                continue
            sent = [f["sent"] for f in found]
            seconds = [f["seconds"] for f in found]
            hops = Counter(str(f["hop"]) for f in found)
            print(
                f"        {len(found)} targets located (hop: count {dict(hops)}); per target: "
                f"probes mean {statistics.mean(sent):.1f} max {max(sent)}, "
                f"seconds mean {statistics.mean(seconds):.2f} max {max(seconds):.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
