"""The embedded demo: a real measurement on this machine, no Internet, no set-up.

Starts the demo servers on 127.0.0.1 (and ::1 where there is IPv6 loopback), then runs the
built-in h2 experiment against them through pytest, once over TLS and once in cleartext,
each with its own ndjson output and pytest's usual report and spider summary. With ``--lab``,
every built-in experiment runs through the path lab instead (:mod:`pytest_spider.demo.lab`).
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_spider.demo.servers import DemoServers, Endpoint, ipv6_loopback, write_target_list

#: Which servers each h2 mode measures; refuse and silent show offline in both.
MODES = {
    "https": ("h2_tls", "h1_tls", "h2_broken_tls", "h1_broken_tls", "refuse", "silent"),
    "http": ("h2c", "h1", "h2_broken", "h1_broken", "refuse", "silent"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo: 0 when every measurement ran, whatever paths it found broken.

    Some demo paths are broken on purpose, so pytest's "tests failed" (1) is the expected
    result; any other pytest exit code (usage error, internal error, ...) is passed on.
    """
    parser = argparse.ArgumentParser(prog="python -m pytest_spider demo", description=__doc__)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("spider-demo"),
        help="folder for target lists and ndjson records (default spider-demo)",
    )
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per connection")
    parser.add_argument(
        "--lab",
        action="store_true",
        help="measure every experiment through the path lab (needs root, nftables, nginx)",
    )
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)
    if args.lab:
        from pytest_spider.demo.lab import run_lab_demo

        return _demo_code(run_lab_demo(args.out, args.timeout, args.pytest_args))
    args.out.mkdir(parents=True, exist_ok=True)
    hosts = ["127.0.0.1", *(["::1"] if ipv6_loopback() else [])]
    worst = 0
    with contextlib.ExitStack() as stack:
        servers = []
        for i, host in enumerate(hosts):
            workdir = args.out / f"servers-{i}"
            workdir.mkdir(exist_ok=True)
            servers.append(stack.enter_context(DemoServers(host, tmpdir=workdir)))
        for mode, names in MODES.items():
            endpoints: list[Endpoint] = [d.endpoints[n] for d in servers for n in names]
            targets = write_target_list(endpoints, args.out / f"targets-{mode}.ndjson")
            output = args.out / f"h2-{mode}.ndjson"
            print(f"\n### h2 over {mode}: {len(endpoints)} local servers -> {output}\n", flush=True)
            run = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    f"--spider-targets={targets}",
                    f"--spider-output={output}",
                    "--spider-experiment=h2",
                    f"--spider-connect={mode}",
                    f"--spider-timeout={args.timeout}",
                    "-p",
                    "no:cacheprovider",
                    "--rootdir",
                    str(args.out),
                    "-rfEs",
                    *args.pytest_args,
                ],
                check=False,
            )
            worst = max(worst, run.returncode)
            missing = len(endpoints) - _records_in(output)
            if missing:
                # pytest's 1 also means "it could not start"; only a full output says it ran.
                print(f"demo: {missing} of {len(endpoints)} targets have no record in {output}")
                worst = max(worst, pytest.ExitCode.INTERNAL_ERROR)
    print(f"\nrecords: {args.out}/h2-https.ndjson, {args.out}/h2-http.ndjson")
    return _demo_code(worst)


def _records_in(output: Path) -> int:
    """Records in an output file (the campaign's metadata left out)."""
    if not output.exists():
        return 0
    with output.open(encoding="utf-8") as lines:
        return sum(1 for line in lines if line.strip() and not line.startswith('{"spider_'))


def _demo_code(pytest_code: int) -> int:
    return 0 if pytest_code == pytest.ExitCode.TESTS_FAILED else pytest_code
