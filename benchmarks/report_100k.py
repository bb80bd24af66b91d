"""Report generation time and peak memory for a campaign of 100,000 plausible records.

Usage: python benchmarks/report_100k.py [--records N] [--out DIR]

Writes a campaign and an earlier one (another seed: some targets change) as ndjson, then
times the report alone and the report with the baseline diff, each in a fresh process so
each peak RSS is that step's own.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The record generator is test support (tests/support/synth.py), not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.synth import synthetic_records, write_records

EXPERIMENTS = ("h2", "tfo")
VANTAGES = ("local", "lab-b")

_STEP = """
import resource, sys, time
from pytest_spider.campaign.report import write_report
started = time.perf_counter()
result = write_report([sys.argv[1]], sys.argv[2], baseline_paths=sys.argv[3:])
seconds = time.perf_counter() - started
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{result.summary.records} {seconds:.2f} {peak_mib:.0f}")
"""


def report_step(records: Path, html: Path, *baseline: Path) -> tuple[int, float, float]:
    """Records, seconds and peak RSS (MiB) of one report in a fresh interpreter."""
    run = subprocess.run(
        [sys.executable, "-c", _STEP, str(records), str(html), *map(str, baseline)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    count, seconds, peak = run.stdout.split()
    return int(count), float(seconds), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--out", type=Path, help="keep the files here (default: a temp dir)")
    args = parser.parse_args()
    targets = max(1, args.records // (len(EXPERIMENTS) * len(VANTAGES)))
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.out or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        for name, seed in (("old", 1), ("new", 2)):
            records = synthetic_records(
                targets, seed=seed, experiments=EXPERIMENTS, vantages=VANTAGES
            )
            write_records(folder / f"{name}.ndjson", records)
        size_mib = (folder / "new.ndjson").stat().st_size / 2**20
        per_file = targets * len(EXPERIMENTS) * len(VANTAGES)
        took = time.perf_counter() - started
        print(f"generated 2 x {per_file:,} records ({size_mib:.0f} MiB each) in {took:.1f} s")
        count, seconds, peak = report_step(folder / "new.ndjson", folder / "report.html")
        html_kib = (folder / "report.html").stat().st_size / 1024
        print(
            f"report:               {count:,} records in {seconds:.2f} s "
            f"({count / seconds:,.0f} records/s), peak RSS {peak:.0f} MiB, HTML {html_kib:.0f} KiB"
        )
        count, seconds, peak = report_step(
            folder / "new.ndjson", folder / "report-diff.html", folder / "old.ndjson"
        )
        print(
            f"report with baseline: {count:,} records in {seconds:.2f} s "
            f"(+ {count:,} baseline records), peak RSS {peak:.0f} MiB"
        )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"generator process peak RSS {own:.0f} MiB")


if __name__ == "__main__":
    main()
