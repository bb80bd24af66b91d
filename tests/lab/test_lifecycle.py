"""A lab comes up, coexists with others and always goes away without a trace."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_spider import CONN_OK
from pytest_spider.lab import Lab, lab_available, netns, registry
from tests.lab import probes

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(lab_available() is not None, reason=str(lab_available())),
]


def root_state() -> dict[str, str]:
    """What the root namespace has: no lab may add links, addresses, routes or nft tables."""
    commands = {
        "links": ["ip", "-br", "link"],
        "addresses": ["ip", "-br", "address"],
        "routes": ["ip", "route", "show", "table", "all"],
        "routes6": ["ip", "-6", "route", "show", "table", "all"],
        "nft": ["nft", "list", "tables"],
    }
    return {
        key: subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        for key, argv in commands.items()
    }


def netns_inode(name: str) -> int:
    return os.stat(f"/run/netns/{name}").st_ino


def pids_in(inodes: set[int]) -> set[int]:
    """Processes whose network namespace is one of ``inodes``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                link = os.readlink(entry / "ns" / "net")
            except OSError:
                continue
            if int(link.removeprefix("net:[").rstrip("]")) in inodes:
                found.add(int(entry.name))
    return found


class Footprint:
    """Everything one running lab owns, to check afterwards that all of it is gone.

    Other labs may come up meanwhile and reuse the id, so identity is by namespace inode,
    process start time and work directory, not by name.
    """

    def __init__(self, lab_id: int, workdir: Path | None = None) -> None:
        self.names = registry.namespaces(lab_id)
        assert {registry.namespace(lab_id, role) for role in registry.ROLES} <= set(self.names)
        self.inodes = {netns_inode(name) for name in self.names}
        self.pids = {pid: netns.process_start(pid) for pid in pids_in(self.inodes)}
        self.entry = registry.REGISTRY_DIR / "labs" / f"{lab_id}.json"
        self.workdir = workdir or Path(json.loads(self.entry.read_text())["workdir"])
        assert self.entry.exists() and self.workdir.is_dir()

    def assert_gone(self) -> None:
        still = {netns_inode(n) for n in self.names if Path("/run/netns", n).exists()}
        assert not still & self.inodes
        assert not [pid for pid, start in self.pids.items() if netns.process_start(pid) == start]
        assert not self.workdir.exists()
        if self.entry.exists():  # a new lab with the same id
            assert json.loads(self.entry.read_text())["workdir"] != str(self.workdir)


def test_removing_a_namespace_returns_once_its_processes_have_ended() -> None:
    """SIGKILL takes effect when a process next runs; removal waits for that, so nothing of
    the namespace runs on once it is said gone."""
    with Lab(servers=(), vantages={"east": "clean"}) as lab:
        ns = lab.vantage_ns("east")
        sleepers = [subprocess.Popen(netns.exec_argv(ns, ["sleep", "60"])) for _ in range(20)]
        deadline = time.monotonic() + 5  # until they have entered the namespace
        while len(netns.pids(ns)) < len(sleepers) and time.monotonic() < deadline:
            time.sleep(0.01)
        started = {pid: netns.process_start(pid) for pid in netns.pids(ns)}
        assert len(started) == len(sleepers)
        netns.remove(ns)
        assert [pid for pid, start in started.items() if netns.process_start(pid) == start] == []
        assert all(sleeper.wait(5) == -signal.SIGKILL for sleeper in sleepers)


def test_lab_leaves_nothing_behind() -> None:
    before = root_state()
    with Lab(servers=("nginx", "hostile"), vantages={"east": "clean"}) as lab:
        sleepers = [lab.spawn_in("router", ["sleep", "60"]), lab.popen(["sleep", "60"])]
        # Started by someone else, as the xdist workers in a vantage are: the lab ends it too.
        stranger = subprocess.Popen(netns.exec_argv(lab.vantage_ns("east"), ["sleep", "60"]))
        footprint = Footprint(lab.lab_id, lab.workdir)
        deadline = time.monotonic() + 5  # until the children have entered their namespaces
        while len(footprint.pids) < 7 and time.monotonic() < deadline:
            footprint = Footprint(lab.lab_id, lab.workdir)
        assert len(footprint.pids) >= 7  # nginx master + 2 workers, hostile, 3 sleepers
        assert len(footprint.names) == 4
        assert root_state() == before
    footprint.assert_gone()
    assert all(proc.returncode is not None for proc in sleepers)
    assert stranger.wait(5) == -signal.SIGKILL
    assert root_state() == before


def test_lab_goes_away_after_an_exception_inside_with() -> None:
    before = root_state()
    with pytest.raises(RuntimeError, match="boom"), Lab(servers=("hostile",)) as lab:
        footprint = Footprint(lab.lab_id, lab.workdir)
        raise RuntimeError("boom")
    footprint.assert_gone()
    assert root_state() == before
    lab.stop()  # a second stop is harmless


def test_two_labs_side_by_side() -> None:
    with Lab() as one, Lab() as two:
        assert one.lab_id != two.lab_id
        assert {one.client_ns, one.server_ns}.isdisjoint({two.client_ns, two.server_ns})
        nets = [n for lab in (one, two) for block in lab.profiles for n in lab.networks(block)]
        assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :] if a and b)
        for lab, other in ((one, two), (two, one)):
            own, foreign = lab.addresses("alive", 1)[0], other.addresses("alive", 1)[0]
            fetch = [sys.executable, "-c", FETCH]
            ok = lab.run([*fetch, own], capture_output=True, text=True, check=True)
            assert json.loads(ok.stdout)["http_response_code"] == 200
            unreachable = lab.run([*fetch, foreign], capture_output=True, text=True, check=True)
            assert json.loads(unreachable.stdout)["spdr_state"] != 0


def test_ipv4_only_lab() -> None:
    with Lab(ipv6=False) as lab:
        assert lab.client_source[1] is None and lab.networks("alive")[1] is None
        with pytest.raises(ValueError, match="no IPv6"):
            lab.addresses("alive", 1, 6)
        assert probes.http(lab, lab.addresses("alive", 1)[0], 80)["spdr_state"] == CONN_OK


#: Run by ``lab.run``: fetch http://ADDRESS/ with the project's helper, print the result.
FETCH = """
import json, sys
from pytest_spider import connect_http
print(json.dumps(connect_http(None, {"dip": sys.argv[1], "dp": 80}, 1.0)))
"""


def test_run_and_popen_act_in_the_client_namespace(spider_lab: Lab) -> None:
    shown = spider_lab.run(["ip", "-br", "address"], capture_output=True, text=True, check=True)
    assert all(addr in shown.stdout for addr in spider_lab.client_source if addr)
    proc = spider_lab.popen(["ip", "route"], stdout=subprocess.PIPE, text=True)
    assert "default via" in proc.communicate(timeout=5)[0]


def start_up_command() -> tuple[subprocess.Popen[bytes], int]:
    """``python -m pytest_spider.lab up`` (with a vantage) in a child; return it and its
    lab's id once up."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_spider.lab", "up", "--vantage", "east=blackhole"],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    out = b""
    deadline = time.monotonic() + 15
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while not out.endswith(b"/\n") and (left := deadline - time.monotonic()) > 0:
            if selector.select(left):
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
    assert b"\ntry: " in out, out  # the description's last line
    assert b"\nvantage east (blackhole): " in out, out
    return proc, int(out.split()[2])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_up_command_tears_down_on_signal(signum: int) -> None:
    proc, lab_id = start_up_command()
    footprint = Footprint(lab_id)
    proc.send_signal(signum)
    proc.communicate(timeout=10)
    footprint.assert_gone()


def test_cleanup_command_removes_a_crashed_lab() -> None:
    proc, lab_id = start_up_command()
    footprint = Footprint(lab_id)
    proc.kill()
    proc.communicate(timeout=10)
    cleanup = subprocess.run(
        [sys.executable, "-m", "pytest_spider.lab", "cleanup"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    # Any lab starting meanwhile (another xdist worker) reaps it too, so either did the work.
    assert cleanup.stdout.startswith("removed: ")
    footprint.assert_gone()
