"""How fast target lists load and how much memory the targets take.

Writes a synthetic list of lab addresses (198.18.0.0/15, nothing is contacted) to a temporary
file, loads it with :func:`pytest_spider.targets.load_targets` and prints lines/s and peak RSS.

    python benchmarks/targets_load.py --lines 1000000 --format plain
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections.abc import Callable

from pytest_spider.targets import load_targets


def _address(index: int) -> str:
    return f"198.{18 + (index >> 16) % 2}.{(index >> 8) & 0xFF}.{index & 0xFF}"


_LINES: dict[str, Callable[[int], str]] = {
    "plain": lambda i: f"{_address(i)}:{443 + (i >> 17)}",
    "csv-dip": lambda i: f"{_address(i)},{443 + (i >> 17)},site{i}.example,{i}",
    "ndjson": lambda i: json.dumps(
        {"dip": _address(i), "dp": 443 + (i >> 17), "domain": f"site{i}.example", "rank": i}
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--format", choices=sorted(_LINES), default="plain")
    args = parser.parse_args()
    line = _LINES[args.format]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as stream:
        stream.writelines(f"{line(i)}\n" for i in range(args.lines))
        stream.flush()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        loaded = load_targets([stream.name])
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"format {args.format}: {args.lines} lines, {len(loaded.targets)} targets")
    print(f"{seconds:.2f} s, {args.lines / seconds:,.0f} lines/s")
    print(f"peak RSS {peak / 1024:.0f} MiB ({(peak - rss_before) / 1024:.0f} MiB while loading)")


if __name__ == "__main__":
    main()
