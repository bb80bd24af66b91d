"""Campaign benchmark: pytest-spider against a namespace lab, printing figures, asserting none.

A lab with an ``alive`` block (nginx answers on every address) and a ``dead`` block
(blackholed: packets silently dropped, so each dead target costs its full timeouts) is
started; N distinct targets, a share of them dead, are measured with the h2 experiment from
the lab's client namespace. Printed: wall seconds, targets/s, CPU ms per target (user + sys
of the whole process tree), peak RSS (largest process, and the sampled sum over the tree).
pytest loads only pytest-spider and pytest-xdist, not whatever other pytest plugins this
machine has installed (here hypothesis' and pytest-benchmark's cost 0.13 s of start-up per
process); ``--all-plugins`` loads them too.

    python benchmarks/campaign.py --targets 2000 --dead 0.1 --timeout 2
    python benchmarks/campaign.py --targets 2000 --dead 0 -n 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pytest_spider.lab import Lab, lab_available


def _tree_rss_kib(root: int) -> int:
    """Sum of VmRSS over ``root`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, ppid = int(entry), int(fields.get("PPid", "0").strip())
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total


def _write_targets(
    lab: Lab, path: Path, count: int, dead_share: float, seed: int, family: int
) -> int:
    dead = round(count * dead_share)
    addrs = [(a, "alive") for a in lab.addresses("alive", count - dead, family)]
    addrs += [(a, "dead") for a in lab.addresses("dead", dead, family)]
    random.Random(seed).shuffle(addrs)
    with path.open("w") as out:
        for addr, block in addrs:
            out.write(json.dumps({"dip": addr, "dp": 80, "domain": "lab.test", "block": block}))
            out.write("\n")
    return dead


def _records(output: Path) -> tuple[int, float | None]:
    """Records in the output (the campaign metadata line left out), and the campaign's
    duration from that line: configure to end, without the interpreter's start-up."""
    if not output.exists():
        return 0, None
    count, duration = 0, None
    with output.open() as lines:
        for line in lines:
            if line.startswith('{"spider_campaign"'):
                duration = float(json.loads(line)["spider_campaign"]["duration"])
            else:
                count += 1
    return count, duration


def run(args: argparse.Namespace) -> None:
    reason = lab_available()
    if reason is not None:
        sys.exit(f"no lab here: {reason}")
    with (
        Lab({"alive": "clean", "dead": "blackhole"}, v4_prefix=20) as lab,
        tempfile.TemporaryDirectory(prefix="spider-bench-") as tmp,
    ):
        targets, output = Path(tmp) / "targets.ndjson", Path(tmp) / "out.ndjson"
        dead = _write_targets(lab, targets, args.targets, args.dead, args.seed, args.family)
        argv = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *([] if args.all_plugins else ["-p", "spider", "-p", "xdist"]),
            f"--spider-targets={targets}",
            f"--spider-output={output}",
            "--spider-experiment=h2",
            "--spider-connect=http",
            f"--spider-timeout={args.timeout}",
            f"--spider-concurrency={args.concurrency}",
            "--rootdir",
            tmp,
            *(["-n", str(args.n)] if args.n else []),
            *(["--co"] if args.collect_only else []),
            *args.pytest_args,
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        env = dict(os.environ)
        if not args.all_plugins:
            env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        proc = lab.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp, env=env)
        peak_tree = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak_tree
            while not stop.wait(0.05):
                peak_tree = max(peak_tree, _tree_rss_kib(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, _ = proc.communicate(timeout=args.limit)
        wall = time.monotonic() - start
        stop.set()
        sampler.join()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        records, campaign = _records(output)
        tail = out.decode(errors="replace").strip().splitlines()[-12:]
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print("\n".join(tail))
        mode = "collection only (--co)" if args.collect_only else "full run"
        print(
            f"--- {mode}: {args.targets} IPv{args.family} targets, {dead} dead (blackholed), "
            f"timeout {args.timeout:g} s, concurrency {args.concurrency}, "
            f"{'-n ' + str(args.n) if args.n else 'one process'}, "
            f"{'all installed pytest plugins' if args.all_plugins else 'plugins: spider, xdist'}"
        )
        print(f"records written     {records}")
        print(f"wall                {wall:.2f} s")
        print(f"targets/s           {args.targets / wall:.0f}")
        if campaign:
            print(
                f"campaign            {campaign:.2f} s, {args.targets / campaign:.0f} targets/s "
                "(its metadata line: pytest's start-up left out)"
            )
        print(f"CPU per target      {cpu * 1000 / args.targets:.2f} ms (user+sys, process tree)")
        print(f"peak RSS, largest   {after.ru_maxrss / 1024:.0f} MiB (one process)")
        print(f"peak RSS, tree sum  {peak_tree / 1024:.0f} MiB (sampled every 50 ms)")
        if proc.returncode not in (0, 1):
            sys.exit(f"pytest exited {proc.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=2000, help="distinct targets")
    parser.add_argument("--dead", type=float, default=0.1, help="share of blackholed targets")
    parser.add_argument("--timeout", type=float, default=2.0, help="--spider-timeout")
    parser.add_argument(
        "--concurrency", type=int, default=500, help="--spider-concurrency (its default: 500)"
    )
    parser.add_argument("-n", type=int, default=0, help="pytest-xdist workers (0: none)")
    parser.add_argument("--seed", type=int, default=1, help="shuffle seed")
    parser.add_argument(
        "--family",
        type=int,
        choices=(4, 6),
        default=4,
        help="address family of the targets (6 for more than ~4,000)",
    )
    parser.add_argument("--collect-only", action="store_true", help="only collect (--co)")
    parser.add_argument(
        "--all-plugins",
        action="store_true",
        help="let pytest load every installed plugin, not only pytest-spider and pytest-xdist",
    )
    parser.add_argument("--limit", type=float, default=900, help="give up after this many s")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
