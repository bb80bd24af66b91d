"""Campaign benchmark: pytest-spider against a namespace lab, printing figures, asserting none.

A lab with an ``alive`` block (nginx answers on every address) and a ``dead`` block
(blackholed: packets silently dropped, so each dead target costs its full timeouts) is
started; N distinct targets, a share of them dead, are measured with the h2 experiment from
the lab's client namespace. Printed: wall seconds, targets/s, CPU ms per target (user + sys
of the whole process tree), peak RSS (largest process, and the sampled sum over the tree).
pytest loads only pytest-spider and pytest-xdist, not whatever other pytest plugins this
machine has installed (here hypothesis' and pytest-benchmark's cost 0.13 s of start-up per
process); ``--all-plugins`` loads them too.

    python benchmarks/campaign.py --targets 2000 --dead 0.1 --timeout 2 --peer
    python benchmarks/campaign.py --targets 2000 --dead 0 -n 2 --peer --repeat 3
    python benchmarks/campaign.py --targets 2000 --dead 0 -n 2 --one-process-too --repeat 3
    python benchmarks/campaign.py --targets 2000 --dead 0 --trials 3 --trial-gap 0.5

``--trials N`` measures every target N times (``--spider-trials``): the figures then show the
connections made (N per target and experiment connection) and the CPU per connection, so the
cost of trials reads against a run of one trial: N times the connections, one pytest item
per target all the same.

``--peer`` runs PATHspider 2.0.1 (Debian's package, offline through ``shared/peer/``) on the
same targets in the same lab right after each pytest-spider run, and prints the ratios: the
figures that mean something across machines.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import json
import os
import random
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest_spider
from pytest_spider.lab import Lab, lab_available
from pytest_spider.options import DEFAULT_CONCURRENCY

#: The PATHspider 2.0.1 wrapper the workplace provides, and the interpreter it needs.
PEER = Path(__file__).resolve().parents[2] / "shared" / "peer" / "pathspider_peer.py"
PEER_PYTHON = "/usr/bin/python3"


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


@dataclasses.dataclass
class Figures:
    """What one campaign run cost, as measured from outside its process tree."""

    name: str
    records: int
    wall: float
    cpu: float
    peak_tree_kib: int
    exit: int
    tail: list[str]
    #: The campaign's own duration (pytest-spider's metadata: start-up left out), if known.
    campaign: float | None = None
    #: Connections the records say were made (every trial's), if counted.
    connections: int | None = None
    #: From the first connection's start to the last one's end, if the records say.
    measuring: float | None = None

    def lines(self, targets: int) -> list[str]:
        out = [
            f"--- {self.name}",
            f"records written     {self.records}",
            f"wall                {self.wall:.2f} s",
            f"targets/s           {targets / self.wall:.0f}",
        ]
        if self.connections:
            out.append(
                f"connections         {self.connections} ({self.connections / targets:.2f} per "
                f"target), CPU per connection {self.cpu * 1000 / self.connections:.2f} ms"
            )
        if self.campaign:
            out.append(
                f"campaign            {self.campaign:.2f} s, {targets / self.campaign:.0f} "
                "targets/s (its metadata: start-up left out)"
            )
        if self.measuring is not None:
            out.append(
                f"measuring           {self.measuring:.2f} s, first connection's start to last "
                "one's end (the rest: start-up, collection, items reported after)"
            )
        out += [
            f"CPU per target      {self.cpu * 1000 / targets:.2f} ms (user+sys, process tree)",
            f"peak RSS, tree sum  {self.peak_tree_kib / 1024:.0f} MiB (sampled every 50 ms)",
        ]
        return out


def _campaign_duration(output: Path) -> float | None:
    """pytest-spider's campaign duration, from its metadata file beside the output."""
    meta = Path(f"{output}.meta.json")
    if not meta.exists():
        return None
    sessions = json.loads(meta.read_text())["sessions"]
    duration = sessions[-1].get("duration") if sessions else None
    return float(duration) if duration is not None else None


def _record_count(output: Path) -> int:
    if not output.exists():
        return 0
    with output.open() as lines:
        return sum(1 for line in lines if line.strip() and not line.startswith('{"spider_'))


def _connections(output: Path) -> tuple[int, float | None]:
    """Connections the records hold (each trial's flows, or the record's own), and the span
    from the first one's start to the last one's end (None without timed flows)."""
    if not output.exists():
        return 0, None
    count = 0
    first, last = "~", ""
    with output.open() as lines:
        for line in lines:
            if not line.strip() or line.startswith('{"spider_'):
                continue
            record = json.loads(line)
            trials = record.get("trials") or [record]
            flows = [flow for trial in trials for flow in trial.get("flow_results") or ()]
            count += len(flows)
            # PATHspider's time text sorts as the time it names.
            first = min([first, *(str(f["spdr_start"]) for f in flows if "spdr_start" in f)])
            last = max([last, *(str(f["spdr_stop"]) for f in flows if "spdr_stop" in f)])
    if not last or first == "~":
        return count, None
    return count, (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()


def _measure(
    lab: Lab, name: str, argv: list[str], env: dict[str, str], cwd: str, limit: float
) -> tuple[int, float, float, int, list[str]]:
    """Run ``argv`` in the lab's client namespace: exit code, wall s, CPU s of the tree (user
    + sys), sampled peak RSS of the tree (KiB), and the tail of its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = lab.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd, env=env)
    peak_tree = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not stop.wait(0.05):
            peak_tree = max(peak_tree, _tree_rss_kib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate(timeout=limit)
    wall = time.monotonic() - start
    stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tail = out.decode(errors="replace").strip().splitlines()[-12:]
    return proc.returncode, wall, cpu, peak_tree, tail


def _spider(
    lab: Lab, args: argparse.Namespace, targets: Path, tmp: str, run: int, workers: int
) -> Figures:
    output = Path(tmp) / f"spider-{run}-{workers}.ndjson"
    argv = [
        *shlex.split(args.wrap),
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
        *([f"--spider-trials={args.trials}"] if args.trials != 1 else []),
        *([f"--spider-trial-gap={args.trial_gap}"] if args.trial_gap is not None else []),
        "--rootdir",
        tmp,
        *(["-n", str(workers)] if workers else []),
        *(["--co"] if args.collect_only else []),
        *args.pytest_args,
    ]
    env = dict(os.environ)
    if not args.all_plugins:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    code, wall, cpu, peak, tail = _measure(lab, "spider", argv, env, tmp, args.limit)
    mode = "collection only (--co)" if args.collect_only else "full run"
    trials = f"{args.trials} trials, " if args.trials > 1 else ""
    name = (
        f"pytest-spider, {mode}, {trials}concurrency {args.concurrency}, "
        f"{'-n ' + str(workers) if workers else 'one process'}, "
        f"{'all installed pytest plugins' if args.all_plugins else 'plugins: spider, xdist'}"
    )
    return Figures(
        name,
        _record_count(output),
        wall,
        cpu,
        peak,
        code,
        tail,
        _campaign_duration(output),
        *_connections(output),
    )


def _peer(lab: Lab, args: argparse.Namespace, targets: Path, tmp: str, run: int) -> Figures:
    """PATHspider 2.0.1 (Debian's, offline through shared/peer/) on the same targets."""
    output = Path(tmp) / f"pathspider-{run}.ndjson"
    argv = [
        PEER_PYTHON,
        str(PEER),
        "measure",
        "-i",
        "eth0",
        "-w",
        str(args.peer_workers),
        "--input",
        str(targets),
        "--output",
        str(output),
        "h2",
        "--connect",
        "http",
        "--timeout",
        f"{args.timeout:g}",
    ]
    code, wall, cpu, peak, tail = _measure(lab, "peer", argv, dict(os.environ), tmp, args.limit)
    name = f"PATHspider 2.0.1, {args.peer_workers} workers"
    return Figures(name, _record_count(output), wall, cpu, peak, code, tail)


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "n/a"


def _compile_bytecode() -> str:
    """Compile pytest-spider's modules as installing a wheel does, and say so.

    An editable install under ``PYTHONDONTWRITEBYTECODE=1`` (set on these machines) never
    writes bytecode, so every process would compile the package's source anew: about 0.1 s
    of start-up per process that an installed pytest-spider does not pay, nor does
    PATHspider (Debian compiles its bytecode at install).
    """
    folders = [
        Path(pytest_spider.__file__).parent,
        Path(__file__).resolve().parents[1] / "experiments",
    ]
    done = all(compileall.compile_dir(folder, quiet=1) for folder in folders if folder.is_dir())
    shown = ", ".join(str(folder) for folder in folders)
    return f"bytecode compiled ahead, as installing does: {shown}" + ("" if done else " (failed)")


def run(args: argparse.Namespace) -> None:
    reason = lab_available()
    if reason is not None:
        sys.exit(f"no lab here: {reason}")
    if args.peer and not PEER.exists():
        sys.exit(f"--peer: {PEER} is missing (shared/ sits beside a checkout)")
    with (
        Lab({"alive": "clean", "dead": "blackhole"}, v4_prefix=20) as lab,
        tempfile.TemporaryDirectory(prefix="spider-bench-") as tmp,
    ):
        targets = Path(tmp) / "targets.ndjson"
        dead = _write_targets(lab, targets, args.targets, args.dead, args.seed, args.family)
        print(
            f"=== {args.targets} IPv{args.family} targets, {dead} dead (blackholed), h2 over "
            f"http, timeout {args.timeout:g} s, {args.trials} trial(s) per target, "
            f"{args.repeat} run(s) each"
        )
        print(_compile_bytecode())
        failed = False
        for number in range(args.repeat):
            ours = _spider(lab, args, targets, tmp, number, args.n)
            print("\n".join(ours.tail))
            print("\n".join(ours.lines(args.targets)))
            failed |= ours.exit not in (0, 1)
            if args.one_process_too and args.n:
                alone = _spider(lab, args, targets, tmp, number, 0)
                print("\n".join(alone.lines(args.targets)))
                failed |= alone.exit not in (0, 1)
                print(
                    f"--- ratio -n {args.n} / one process (run {number + 1}): "
                    f"wall {_ratio(ours.wall, alone.wall)}, "
                    f"CPU per target {_ratio(ours.cpu, alone.cpu)}"
                )
            if not args.peer:
                continue
            theirs = _peer(lab, args, targets, tmp, number)
            print("\n".join(theirs.lines(args.targets)))
            failed |= theirs.exit != 0
            print(
                f"--- ratio pytest-spider / PATHspider (run {number + 1}): "
                f"wall {_ratio(ours.wall, theirs.wall)}, "
                f"CPU per target {_ratio(ours.cpu, theirs.cpu)}, "
                f"peak RSS {_ratio(ours.peak_tree_kib, theirs.peak_tree_kib)}"
            )
        if failed:
            sys.exit("a campaign did not end normally")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=2000, help="distinct targets")
    parser.add_argument("--dead", type=float, default=0.1, help="share of blackholed targets")
    parser.add_argument("--timeout", type=float, default=2.0, help="--spider-timeout")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"--spider-concurrency (its default: {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--trials", type=int, default=1, help="--spider-trials: measurements per target"
    )
    parser.add_argument(
        "--trial-gap",
        type=float,
        default=None,
        help="--spider-trial-gap (default: pytest-spider's, one timeout)",
    )
    parser.add_argument("-n", type=int, default=0, help="pytest-xdist workers (0: none)")
    parser.add_argument(
        "--one-process-too",
        action="store_true",
        help="with -n, also run the campaign in one process right after, and print the ratio",
    )
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
    parser.add_argument(
        "--peer",
        action="store_true",
        help="also run PATHspider 2.0.1 on the same targets and print the ratios "
        "(apt-get install pathspider python3-pycurl; runs shared/peer/pathspider_peer.py)",
    )
    parser.add_argument(
        "--peer-workers", type=int, default=100, help="PATHspider's -w (default 100)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (alternating)")
    parser.add_argument(
        "--wrap",
        default="",
        metavar="COMMAND",
        help="run pytest-spider under this command, e.g. a profiler: "
        "--wrap 'py-spy record -f raw -o profile.txt --'",
    )
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
