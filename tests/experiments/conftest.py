"""Fixtures for the experiment tests: run an experiment's flows, silent peers, a private netns.

Every server runs on loopback or inside a network namespace a test creates and deletes itself;
nothing here resolves a name or touches the host's sysctls or firewall.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_spider.lab.lab import Lab, lab_available
from pytest_spider.spider import Spider, experiment_args

HOSTS = ["127.0.0.1", "::1"]
NS_RUN = Path(__file__).with_name("ns_run.py")
#: Addresses the namespace's loopback gets (test hosts: 198.18.0.0/15, 2001:db8::/32).
NS_HOSTS = ["198.18.0.1", "2001:db8::1"]
_ns_numbers = itertools.count()
#: Path profiles of the lab (``pytest_spider.lab.profiles``) the lab tests measure through.
LAB_PROFILES = ["clean", "blackhole", "tfo_syn_drop", "udp_drop", "ecn_strip", "ecn_drop"]


class Measurement:
    """What one target's run of an experiment gave."""

    def __init__(self, flows: list[dict[str, Any]], conditions: list[str], elapsed: float):
        self.flows, self.conditions, self.elapsed = flows, conditions, elapsed


def run_experiment(
    experiment: type[Spider],
    job: dict[str, Any],
    timeout: float = 2.0,
    connect: str | None = None,
    **extra: Any,
) -> Measurement:
    """Run the experiment's connections for ``job`` in order, then ``combine_flows``."""
    exp = experiment(experiment_args(experiment, timeout, connect, extra), (None, None))
    start = time.monotonic()
    flows = [conn(exp, dict(job), i) for i, conn in enumerate(experiment.connections)]
    elapsed = time.monotonic() - start
    return Measurement(flows, exp.combine_flows(flows), elapsed)


@pytest.fixture
def measure() -> Any:
    """:func:`run_experiment`, for tests."""
    return run_experiment


@pytest.fixture(params=HOSTS, ids=["v4", "v6"])
def host(request: pytest.FixtureRequest) -> str:
    """A loopback address of each family."""
    return str(request.param)


@pytest.fixture(params=NS_HOSTS, ids=["v4", "v6"])
def ns_host(request: pytest.FixtureRequest) -> str:
    """An address of each family on the test namespace's loopback."""
    return str(request.param)


@pytest.fixture
def silent_port(host: str) -> Iterator[int]:
    """A port on ``host`` where TCP connects (the kernel's backlog) and UDP is read by nobody."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with (
        socket.socket(family, socket.SOCK_STREAM) as tcp,
        socket.socket(family, socket.SOCK_DGRAM) as udp,
    ):
        tcp.bind((host, 0))
        tcp.listen(16)
        udp.bind((host, tcp.getsockname()[1]))
        yield tcp.getsockname()[1]


@pytest.fixture
def closed_port(host: str) -> int:
    """A port on ``host`` that nothing listens on (TCP refuses, UDP gets port unreachable)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as udp:
        udp.bind((host, 0))
        port: int = udp.getsockname()[1]
    return port


class Netns:
    """A network namespace of the test's own: loopback up with :data:`NS_HOSTS` on it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *argv: str, stdin: str | None = None) -> str:
        """Run a command inside the namespace; its stdout."""
        done = subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv)} in {self.name}: {done.stderr.strip()}")
        return done.stdout

    def nft(self, rules: str) -> None:
        """Load an nftables ruleset into the namespace."""
        if not shutil.which("nft"):
            pytest.skip("nftables (nft) is not installed")
        self.run("nft", "-f", "-", stdin=rules)

    def measure(
        self, experiment: str, host: str, server: list[str], timeout: float = 2.0
    ) -> dict[str, Any]:
        """Run ``experiment`` (``module:Class``) against ``server`` (name and args), both inside."""
        argv = [sys.executable, str(NS_RUN), experiment, host, str(timeout), *server]
        result: dict[str, Any] = json.loads(self.run(*argv))
        return result


def _netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "iproute2 (ip) is not installed"
    return None


@pytest.fixture
def netns() -> Iterator[Netns]:
    """A fresh namespace per test (so no Fast Open cookie or rule leaks between tests)."""
    if reason := _netns_unavailable():
        pytest.skip(reason)
    name = f"spx{os.getpid()}-{next(_ns_numbers)}"
    added = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if added.returncode:
        pytest.skip(f"cannot create a network namespace: {added.stderr.strip()}")
    try:
        ns = Netns(name)
        ns.run("ip", "link", "set", "lo", "up")
        ns.run("ip", "addr", "add", f"{NS_HOSTS[0]}/32", "dev", "lo")
        ns.run("ip", "addr", "add", f"{NS_HOSTS[1]}/128", "dev", "lo", "nodad")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """A path lab with no servers of its own: the tests start the protocol servers inside."""
    if reason := lab_available():
        pytest.skip(f"path lab unavailable: {reason}")
    blocks = {name: name for name in LAB_PROFILES}
    with Lab(blocks, servers=(), v4_prefix=24) as running_lab:
        yield running_lab
