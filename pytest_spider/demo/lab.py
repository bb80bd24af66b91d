"""The demo's lab mode: every built-in experiment through the path lab, where what each path
does is known, so the conditions that come out can be read against the truth.

A lab gets one server block per path profile of :data:`BLOCKS`; nginx and the protocol servers
(:data:`SERVICES`) answer in its server namespace, each service on addresses of its own, so no
state one service leaves in the client (a Fast Open cookie is kept per address) reaches
another. Each experiment then runs through pytest in the client namespace
(:func:`run_campaigns`), with its own target list and ndjson records. The lab truth-table and
hostile-server tests use the same pieces.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from pytest_spider.lab import nginx
from pytest_spider.lab.lab import Lab, lab_available
from pytest_spider.lab.servers import running

#: Server blocks of the demo lab, named after their path profiles.
BLOCKS: Final = {
    p: p
    for p in ("clean", "blackhole", "reject", "tfo_syn_drop", "udp_drop", "ecn_strip", "ecn_drop")
}
#: Host header and TLS name of every target (the lab certificate covers ``*.lab.test``).
DOMAIN: Final = "www.lab.test"
#: The lab DNS server's records in zone ``lab.test``; every other name there is NXDOMAIN.
DNS_RECORDS: Final = ("www=198.18.0.5", "www=2001:db8::5", "v4=198.18.0.6")
#: Protocol servers (``pytest_spider.lab.servers``) by service: module and arguments.
PROTOCOL_SERVERS: Final[Mapping[str, tuple[str, tuple[str, ...]]]] = {
    "h3": ("h3", ()),
    "tls12_only": ("h3", ("--no-quic", "--tls-max=1.2")),
    "tls13_only": ("h3", ("--no-quic", "--tls-min=1.3")),
    "tfo_rotating": ("tfo", ("--tfo", "--rotate-key")),
    "tfo_off": ("tfo", ()),
    "echo": ("udp_echo", ()),
    "dns": ("dns", tuple(f"--record={r}" for r in DNS_RECORDS)),
}
#: Every service: nginx's (``http``, ``https`` with h1+h2, ``https_h1``), then the protocol
#: servers'. A service's index is its address's index in each block.
SERVICES: Final = (*nginx.PORTS, *PROTOCOL_SERVERS)
#: Child pytest runs in flight at once, and the longest one may take.
PARALLEL_RUNS: Final = 4
RUN_LIMIT: Final = 120.0


class LabServices:
    """The services of :data:`SERVICES` in a running lab (which must run nginx).

    A context manager: entering starts the protocol servers in the lab's server namespace,
    bound to their own address in every block; leaving stops them.
    """

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._ports: dict[str, int] = {name: lab.ports[name] for name in nginx.PORTS}
        self._stack = contextlib.ExitStack()

    @property
    def families(self) -> tuple[int, ...]:
        """The lab's address families."""
        return (4, 6) if self.lab.client_source[1] is not None else (4,)

    def address(self, block: str, family: int, service: str) -> str:
        """The address of ``block`` where ``service`` answers."""
        index = SERVICES.index(service)
        return self.lab.addresses(block, index + 1, family)[index]

    def port(self, service: str) -> int:
        """The port ``service`` listens on."""
        return self._ports[service]

    def target(self, block: str, family: int, service: str, **fields: Any) -> dict[str, Any]:
        """A target (ndjson fields) for ``service`` through ``block``; ``fields`` are kept."""
        return {
            "dip": self.address(block, family, service),
            "dp": self.port(service),
            "domain": DOMAIN,
            "block": block,
            "service": service,
            **fields,
        }

    def dns_server(self, block: str, family: int, service: str = "dns") -> str:
        """A DNS ``service`` through ``block``, as ``--spider-dns-server`` takes it."""
        address, port = self.address(block, family, service), self.port(service)
        return f"[{address}]:{port}" if family == 6 else f"{address}:{port}"

    def __enter__(self) -> LabServices:
        spawn = functools.partial(self.lab.spawn_in, "server")
        tls = (f"--cert={self.lab.tls_cert}", f"--key={self.lab.tls_key}")
        try:
            for service, (module, args) in PROTOCOL_SERVERS.items():
                hosts = [
                    f"--host={self.address(block, family, service)}"
                    for block in self.lab.profiles
                    for family in self.families
                ]
                extra = tls if module == "h3" else ()
                facts = self._stack.enter_context(running(module, [*hosts, *args, *extra], spawn))
                self._ports[service] = int(facts["port"])
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()


@dataclasses.dataclass(frozen=True)
class Campaign:
    """One pytest-spider run: an experiment (and mode) over a target list."""

    name: str
    experiment: str
    targets: Sequence[Mapping[str, Any]]
    timeout: float
    connect: str | None = None
    options: Sequence[str] = ()

    def targets_path(self, folder: Path) -> Path:
        """Where its target list goes."""
        return folder / f"targets-{self.name}.ndjson"

    def output_path(self, folder: Path) -> Path:
        """Where its records go."""
        return folder / f"{self.name}.ndjson"

    def argv(self, folder: Path, pytest_args: Sequence[str] = ()) -> list[str]:
        """The pytest command line, with ``folder`` as rootdir (no ini file or cache there)."""
        return [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(folder),
            f"--spider-targets={self.targets_path(folder)}",
            f"--spider-experiment={self.experiment}",
            *([f"--spider-connect={self.connect}"] if self.connect else []),
            f"--spider-timeout={self.timeout:g}",
            f"--spider-output={self.output_path(folder)}",
            *self.options,
            *pytest_args,
        ]


def _child_env() -> dict[str, str]:
    """This environment without pytest's own variables, which belong to the calling run."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}


def run_campaigns(
    lab: Lab,
    campaigns: Sequence[Campaign],
    folder: Path,
    pytest_args: Sequence[str] = (),
) -> Iterator[tuple[Campaign, subprocess.CompletedProcess[str]]]:
    """Run every campaign in the lab's client namespace, :data:`PARALLEL_RUNS` at a time.

    Yields each campaign with its finished pytest run (output captured), in the given order.
    A run over :data:`RUN_LIMIT` seconds is killed (``subprocess.TimeoutExpired``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for campaign in campaigns:
        _write_targets(campaign.targets_path(folder), campaign.targets)

    def run(campaign: Campaign) -> subprocess.CompletedProcess[str]:
        return lab.run(
            campaign.argv(folder, pytest_args),
            cwd=folder,
            env=_child_env(),
            capture_output=True,
            text=True,
            timeout=RUN_LIMIT,
            check=False,
        )

    with concurrent.futures.ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        futures = [pool.submit(run, campaign) for campaign in campaigns]
        try:
            for campaign, future in zip(campaigns, futures, strict=True):
                yield campaign, future.result()
        finally:
            for future in futures:
                future.cancel()


def _write_targets(path: Path, targets: Iterable[Mapping[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(dict(target)) + "\n" for target in targets)


#: What the demo measures: experiment, mode, then (service, blocks) pairs.
PLAN: Final[Sequence[tuple[str, str | None, Sequence[tuple[str, Sequence[str]]]]]] = (
    ("h2", "https", [("https", ("clean", "blackhole", "reject")), ("https_h1", ("clean",))]),
    ("h2", "http", [("http", ("clean", "blackhole", "reject"))]),
    (
        "tfo",
        None,
        [
            ("http", ("clean", "tfo_syn_drop", "blackhole")),
            ("tfo_rotating", ("clean",)),
            ("tfo_off", ("clean",)),
        ],
    ),
    (
        "tls",
        None,
        [
            ("h3", ("clean", "blackhole", "reject")),
            ("tls12_only", ("clean",)),
            ("tls13_only", ("clean",)),
        ],
    ),
    ("h3", None, [("h3", ("clean", "udp_drop", "blackhole"))]),
    ("ecn", "echo", [("echo", ("clean", "ecn_strip", "ecn_drop", "udp_drop"))]),
    ("ecn", "dns", [("dns", ("clean", "ecn_strip", "ecn_drop", "udp_drop"))]),
)
#: Names the demo's dnsresolv run asks the lab DNS server (through the clean block, IPv4).
DEMO_NAMES: Final = ("www.lab.test", "v4.lab.test", "missing.lab.test")


def demo_campaigns(services: LabServices, timeout: float) -> list[Campaign]:
    """:data:`PLAN` over both address families, then dnsresolv asking :data:`DEMO_NAMES`."""
    campaigns = [
        Campaign(
            name=experiment + (f"-{connect}" if connect else ""),
            experiment=experiment,
            connect=connect,
            timeout=timeout,
            targets=[
                services.target(block, family, service)
                for service, blocks in reach
                for block in blocks
                for family in services.families
            ],
        )
        for experiment, connect, reach in PLAN
    ]
    names = [{"domain": name} for name in DEMO_NAMES]
    dns_server = f"--spider-dns-server={services.dns_server('clean', 4)}"
    campaigns.append(Campaign("dnsresolv", "dnsresolv", names, timeout, options=[dns_server]))
    return campaigns


def run_lab_demo(out: Path, timeout: float, pytest_args: Sequence[str] = ()) -> int:
    """Measure every experiment through the lab; pytest's worst exit code (1: broken paths)."""
    reason = lab_available()
    if reason is not None:
        print(f"lab demo skipped: {reason}", file=sys.stderr)
        return 0
    folder = out / "lab"
    worst = 0
    with Lab(BLOCKS, servers=("nginx",), v4_prefix=24) as lab, LabServices(lab) as services:
        print(_describe(lab), flush=True)
        campaigns = demo_campaigns(services, timeout)
        for campaign, run in run_campaigns(lab, campaigns, folder, ["-rfEs", *pytest_args]):
            mode = f" ({campaign.connect})" if campaign.connect else ""
            print(f"\n### {campaign.experiment}{mode}: {len(campaign.targets)} targets", flush=True)
            print(run.stdout + run.stderr, end="", flush=True)
            worst = max(worst, run.returncode)
    print(f"\nrecords and target lists: {folder}/")
    return worst


def _describe(lab: Lab) -> str:
    """Where the demo measures, so a reader can look at the same lab by hand meanwhile."""
    blocks = ", ".join(f"{b} ({lab.networks(b)[0]})" for b in lab.profiles)
    return f"lab {lab.lab_id}: client namespace {lab.client_ns}; blocks {blocks}"
