"""What pytest-xdist itself costs on this machine: the floor under a campaign's ``-n`` ratio.

A campaign item is small: about a millisecond of one process's CPU per target, half of it
pytest's own work. This runs plain parametrized tests of that size (each item does a fixed
amount of arithmetic, calibrated here to ``--work`` ms), with pytest and pytest-xdist only and
no network, in one process and with ``-n``, alternating, and prints wall, CPU of the process
tree and the ratio. A campaign's ``-n 2`` / one-process ratio (``campaign.py -n 2
--one-process-too``) reads against it: what is left above this floor is pytest-spider's.

    python benchmarks/xdist_floor.py --items 2000 --work 0.5 -n 2 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEST_FILE = """\
import pytest

@pytest.mark.parametrize("k", range({items}))
def test_item(k):
    total = 0
    for i in range({loops}):
        total += i
"""


def calibrate(milliseconds: float) -> int:
    """Loop turns that take ``milliseconds`` of CPU in this interpreter (best of five)."""
    turns = 100_000
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        total = 0
        for i in range(turns):
            total += i
        best = min(best, time.process_time() - start)
    return max(1, round(turns * milliseconds / 1000 / best))


def run_once(folder: Path, workers: int) -> tuple[float, float, int]:
    """Wall s, CPU s (user + sys of the tree) and exit code of one pytest run."""
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "xdist"]
    argv += ["-n", str(workers)] if workers else []
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, timeout=600)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000, help="parametrized items")
    parser.add_argument("--work", type=float, default=0.5, help="CPU ms of each item's body")
    parser.add_argument("-n", type=int, default=2, help="pytest-xdist workers")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (alternating)")
    args = parser.parse_args()
    if args.items < 1 or args.n < 1 or args.repeat < 1 or args.work < 0:
        parser.error("--items, -n and --repeat must be at least 1, --work not negative")
    loops = calibrate(args.work) if args.work else 0
    print(
        f"=== {args.items} plain items, {args.work:g} ms of CPU each ({loops} loop turns), "
        f"pytest and pytest-xdist only, {args.repeat} run(s) each"
    )
    with tempfile.TemporaryDirectory(prefix="xdist-floor-") as tmp:
        folder = Path(tmp)
        (folder / "test_floor.py").write_text(TEST_FILE.format(items=args.items, loops=loops))
        (folder / "pytest.ini").write_text("[pytest]\n")
        for number in range(args.repeat):
            figures = {}
            for workers in (0, args.n):
                wall, cpu, code = run_once(folder, workers)
                if code != 0:
                    sys.exit(f"pytest exited {code} (-n {workers})")
                figures[workers] = wall, cpu
                name = f"-n {workers}" if workers else "one process"
                print(
                    f"{name:<12} wall {wall:.2f} s, CPU per item "
                    f"{cpu * 1000 / args.items:.2f} ms (user+sys, process tree)"
                )
            (wall_n, cpu_n), (wall_1, cpu_1) = figures[args.n], figures[0]
            print(
                f"--- ratio -n {args.n} / one process (run {number + 1}): "
                f"wall {wall_n / wall_1:.2f}x, CPU {cpu_n / cpu_1:.2f}x"
            )


if __name__ == "__main__":
    main()
