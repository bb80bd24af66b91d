"""The path lab: a client, a router and a server namespace, joined by veth links, with path
profiles on the router and real servers behind it; optionally extra vantage (client) namespaces,
each with a path profile of its own, or a chain of routers in place of the one router, some of
them silent (no ICMP time-exceeded).

A test, the demo or a benchmark measures from the client namespace (or from the vantages, one
pytest-xdist worker in each) and knows, for every server block and vantage, what the path does
to its packets: the lab is the ground truth for experiments.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from types import FrameType, MappingProxyType, TracebackType
from typing import Any, Final

from pytest_spider.lab import addressing, certs, hostile, netns, nginx, profiles, registry

DEFAULT_BLOCKS: Final[Mapping[str, str]] = MappingProxyType({"alive": "clean", "dead": "blackhole"})
_NO_VANTAGES: Final[Mapping[str, str]] = MappingProxyType({})
#: Servers the lab can start itself, with their ports.
SERVER_PORTS: Final[Mapping[str, Mapping[str, int]]] = {
    "nginx": nginx.PORTS,
    "hostile": hostile.PORTS,
}
#: Seconds a server may take to come up, and tracked processes to go down after SIGTERM.
STARTUP_TIMEOUT: Final = 10.0
STOP_GRACE: Final = 2.0
#: Default time limit of :meth:`Lab.run`.
RUN_TIMEOUT: Final = 60.0
#: Interface names inside the namespaces (each namespace has its own, so they never clash).
#: A chain router's interface to router N is ``to-hopN``.
_CLIENT_IF: Final = "eth0"
_ROUTER_CLIENT_IF: Final = "to-client"
_ROUTER_SERVER_IF: Final = "to-server"
_SERVER_IF: Final = "eth0"
#: The router's interface to an extra vantage is this plus its name (15 characters at most).
_ROUTER_VANTAGE_IF: Final = "vt-"
_LONGEST_VANTAGE_NAME: Final = 15 - len(_ROUTER_VANTAGE_IF)
#: The default route's destination per IP version.
_ANY: Final = {4: "0.0.0.0/0", 6: "::/0"}
#: Routing table and rule priority of the server namespace's ECN-off blocks.
_ECN_OFF_TABLE: Final = 100
_NO_DAD: Final = {"net.ipv6.conf.all.accept_dad": "0", "net.ipv6.conf.default.accept_dad": "0"}
_SYSCTLS: Final[Mapping[str, Mapping[str, str]]] = {
    "client": _NO_DAD,
    # Routers send every ICMP error they owe: no ICMP type is rate-limited (Linux limits errors
    # to one a second per destination after a burst of six, and to 1000 a second in all), so
    # what a path of the lab answers does not depend on what else crosses it. (An empty IPv6
    # mask is written as a bare newline.)
    "router": {
        **_NO_DAD,
        "net.ipv4.ip_forward": "1",
        "net.ipv6.conf.all.forwarding": "1",
        "net.ipv4.icmp_ratemask": "0",
        "net.ipv6.icmp.ratemask": "\n",
    },
    # Server side of TCP Fast Open on (client side is on by default).
    "server": {**_NO_DAD, "net.ipv4.tcp_fastopen": "3"},
}


class Lab:
    """A running path lab; use as a context manager or call :meth:`start` and :meth:`stop`.

    ``blocks`` maps block names to path profiles (see ``profiles.PROFILES``); each block gets
    an IPv4 network of length ``v4_prefix`` and an IPv6 /64, routed to the server namespace
    where every address of them is local. ``servers`` are among ``SERVER_PORTS``.

    ``vantages`` maps the names of extra client namespaces to the path profile applied to all
    they send and receive through the router (on top of the blocks' profiles); each has its own
    link and addresses, and :meth:`tx_spec` starts a pytest-xdist worker in it.

    ``ecn_off_blocks`` (among ``blocks``) are answered by a server that does not negotiate
    ECN, as one whose ``net.ipv4.tcp_ecn`` is 0: the server namespace then has
    ``tcp_ecn`` 0, and its routes back carry ``features ecn`` (so every other block still
    negotiates, as with the default ``tcp_ecn`` 2) except for answers from those blocks, which
    a policy rule sends through a table without it.

    ``chain`` routers in a row take the one router's place (client, router 1, ..., router
    ``chain``, server): router ``profile_hop`` (the middle one by default) applies the path
    profiles and is the ``router`` namespace, the others forward untouched. A probe with TTL
    ``h`` dies at router ``h``, which answers from :meth:`hop_address`; ``silent_hops`` send
    no ICMP time-exceeded (an nftables rule drops them on their way out). A chain lab has no
    extra vantages.
    """

    def __init__(
        self,
        blocks: Mapping[str, str] = DEFAULT_BLOCKS,
        *,
        ipv6: bool = True,
        servers: Iterable[str] = ("nginx",),
        v4_prefix: int = 20,
        vantages: Mapping[str, str] = _NO_VANTAGES,
        ecn_off_blocks: Iterable[str] = (),
        chain: int = 1,
        profile_hop: int | None = None,
        silent_hops: Iterable[int] = (),
    ) -> None:
        for block, profile in blocks.items():
            profiles.check_name("block", block, 32)
            profiles.rules(profile)
        for vantage, profile in vantages.items():
            profiles.check_name("vantage", vantage, _LONGEST_VANTAGE_NAME)
            profiles.rules(profile)
        if len(vantages) > addressing.MAX_VANTAGES:
            raise ValueError(f"a lab has at most {addressing.MAX_VANTAGES} extra vantages")
        self._servers = tuple(servers)
        unknown = set(self._servers) - set(SERVER_PORTS)
        if unknown:
            raise ValueError(f"unknown lab servers {sorted(unknown)}; known: {list(SERVER_PORTS)}")
        if not 16 <= v4_prefix <= 30:
            raise ValueError("v4_prefix must be between 16 and 30")
        self._ecn_off = tuple(ecn_off_blocks)
        unknown_blocks = set(self._ecn_off) - set(blocks)
        if unknown_blocks:
            raise ValueError(f"ecn_off_blocks {sorted(unknown_blocks)} are not among the blocks")
        if not 1 <= chain <= addressing.MAX_CHAIN:
            raise ValueError(f"chain must be between 1 and {addressing.MAX_CHAIN} routers")
        if chain > 1 and vantages:
            raise ValueError("a chain lab has no extra vantages")
        self._chain = chain
        self._profile_hop = (chain + 1) // 2 if profile_hop is None else profile_hop
        self._silent = tuple(sorted(set(silent_hops)))
        if not all(1 <= hop <= chain for hop in (self._profile_hop, *self._silent)):
            raise ValueError(f"profile_hop and silent_hops must be routers 1 to {chain}")
        self._profiles = dict(blocks)
        self._vantages = dict(vantages)
        self._ipv6 = ipv6
        self._v4_prefix = v4_prefix
        self._entry: registry.Entry | None = None
        self._plan: addressing.Plan | None = None
        self._procs: list[subprocess.Popen[Any]] = []
        self._certs: certs.Certs | None = None
        #: Port of each service the lab's own servers offer.
        self.ports: Mapping[str, int] = MappingProxyType(
            {name: port for s in self._servers for name, port in SERVER_PORTS[s].items()}
        )

    # -- facts ---------------------------------------------------------------------------

    @property
    def _running(self) -> tuple[registry.Entry, addressing.Plan]:
        if self._entry is None or self._plan is None:
            raise RuntimeError("the lab is not running")
        return self._entry, self._plan

    @property
    def lab_id(self) -> int:
        """This lab's number among the labs on the machine."""
        return self._running[0].lab_id

    def namespace(self, role: str) -> str:
        """Name of the ``client``, ``router`` or ``server`` namespace, or of router ``hopN``
        of the chain (``hop1`` is the ``router`` of a lab without a chain)."""
        if role.startswith("hop") and role[3:].isdigit():
            return self.hop_ns(int(role[3:]))
        if role not in registry.ROLES:
            raise ValueError(f"role must be one of {registry.ROLES} or hopN, not {role!r}")
        return registry.namespace(self.lab_id, role)

    @property
    def chain(self) -> int:
        """How many routers lie between the client and the server."""
        return self._chain

    @property
    def profile_hop(self) -> int:
        """The router (counted from the client) that applies the path profiles."""
        return self._profile_hop

    @property
    def silent_hops(self) -> tuple[int, ...]:
        """The routers that send no ICMP time-exceeded."""
        return self._silent

    def hop_ns(self, hop: int) -> str:
        """Namespace of router ``hop`` (1 is next to the client)."""
        if not 1 <= hop <= self._chain:
            raise ValueError(f"no router {hop}: the chain has routers 1 to {self._chain}")
        if hop == self._profile_hop:
            return registry.namespace(self.lab_id, "router")
        return registry.hop_namespace(self.lab_id, hop)

    def hop_address(self, hop: int, family: int = 4) -> str:
        """The address router ``hop`` answers from when a probe's TTL runs out there: its end
        of the link towards the client."""
        self.hop_ns(hop)
        plan = self._running[1]
        links = plan.links(0) if hop == 1 else plan.chain_links(hop - 2)
        for link in links:
            if link.version == family:
                return link.far
        raise ValueError(f"no IPv{family} addresses in this lab")

    @property
    def client_ns(self) -> str:
        """The main vantage point's namespace."""
        return self.namespace("client")

    def vantage_ns(self, name: str) -> str:
        """Namespace of the extra vantage ``name``."""
        self._vantage_index(name)
        return registry.vantage_namespace(self.lab_id, name)

    def tx_spec(self, name: str) -> str:
        """pytest-xdist ``--tx`` spec of a worker with id ``name`` in that vantage's namespace.

        execnet splits the ``python=`` value on spaces, so the interpreter path must have none.
        """
        python = " ".join(netns.exec_argv(self.vantage_ns(name), [sys.executable]))
        return f"popen//id={name}//python={python}"

    @property
    def router_ns(self) -> str:
        """Where the path profiles act."""
        return self.namespace("router")

    @property
    def server_ns(self) -> str:
        """Where the servers run."""
        return self.namespace("server")

    @property
    def workdir(self) -> Path:
        """The lab's files: certificates, server configurations and logs."""
        return Path(self._running[0].workdir)

    @property
    def ca_pem(self) -> Path:
        """CA certificate (PEM) that the lab's TLS servers chain to."""
        return self._tls.ca

    @property
    def tls_cert(self) -> Path:
        """Server certificate chain (PEM) for ``lab.test`` and ``*.lab.test``."""
        return self._tls.cert

    @property
    def tls_key(self) -> Path:
        """Private key (PEM) of :attr:`tls_cert`."""
        return self._tls.key

    @property
    def _tls(self) -> certs.Certs:
        if self._certs is None:
            raise RuntimeError("the lab is not running")
        return self._certs

    @property
    def client_source(self) -> tuple[str, str | None]:
        """The client's own (IPv4, IPv6) addresses, as a spider's ``source``."""
        return _source(self._running[1].links(0))

    def vantage_source(self, name: str) -> tuple[str, str | None]:
        """The (IPv4, IPv6) addresses of the extra vantage ``name``."""
        return _source(self._running[1].vantage_links(self._vantage_index(name)))

    @property
    def profiles(self) -> Mapping[str, str]:
        """The path profile in force for each block."""
        return MappingProxyType(self._profiles)

    @property
    def ecn_off_blocks(self) -> tuple[str, ...]:
        """The blocks whose server does not negotiate ECN."""
        return self._ecn_off

    @property
    def vantages(self) -> Mapping[str, str]:
        """The path profile of each extra vantage."""
        return MappingProxyType(self._vantages)

    def networks(self, block: str) -> tuple[IPv4Network, IPv6Network | None]:
        """The IPv4 and IPv6 (None without IPv6) networks of ``block``."""
        index = self._block_index(block)
        plan = self._running[1]
        return plan.v4_blocks[index], plan.v6_block(index)

    def addresses(self, block: str, count: int, family: int = 4) -> list[str]:
        """``count`` distinct addresses of ``block`` in address ``family`` (4 or 6)."""
        v4, v6 = self.networks(block)
        net = v4 if family == 4 else v6 if family == 6 else None
        if net is None:
            raise ValueError(f"no IPv{family} addresses in this lab")
        return addressing.hosts(net, count)

    def _block_index(self, block: str) -> int:
        if block not in self._profiles:
            raise KeyError(f"no block {block!r}; blocks: {', '.join(self._profiles)}")
        return list(self._profiles).index(block)

    def _vantage_index(self, name: str) -> int:
        if name not in self._vantages:
            raise KeyError(f"no vantage {name!r}; vantages: {', '.join(self._vantages)}")
        return list(self._vantages).index(name)

    # -- acting in the lab -----------------------------------------------------------------

    def run(self, argv: Sequence[str], **popen_kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """Run ``argv`` to completion in the client namespace (``subprocess.run`` arguments)."""
        popen_kwargs.setdefault("timeout", RUN_TIMEOUT)
        return subprocess.run(netns.exec_argv(self.client_ns, argv), **popen_kwargs)

    def popen(self, argv: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` in the client namespace; the lab ends it at the latest on stop."""
        return self.spawn_in("client", argv, **popen_kwargs)

    def spawn_in(
        self, role: str, argv: Sequence[str], **popen_kwargs: Any
    ) -> subprocess.Popen[Any]:
        """Start ``argv`` in the ``role`` namespace; the lab ends it at the latest on stop."""
        popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(netns.exec_argv(self.namespace(role), argv), **popen_kwargs)
        self._procs = [p for p in self._procs if p.poll() is None] + [proc]
        return proc

    def inside(self, role: str) -> contextlib.AbstractContextManager[None]:
        """Put the calling thread into the ``role`` namespace for a ``with`` block.

        Sockets made there stay in that namespace after the block ends.
        """
        return netns.inside(self.namespace(role))

    def set_profile(self, block: str, profile: str) -> None:
        """Change what the path does to ``block``, live (one atomic nft transaction)."""
        self._block_index(block)
        script = profiles.set_profile(block, profile)
        netns.run(netns.exec_argv(self.router_ns, ["nft", "-f", "-"]), stdin=script)
        self._profiles[block] = profile

    # -- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Lab:
        """Build the namespaces, links, routes and profiles, then start the servers."""
        if self._entry is not None:
            raise RuntimeError("the lab is running already")
        work = tempfile.mkdtemp(prefix=registry.WORKDIR_PREFIX)
        try:
            self._entry = registry.claim(os.getpid(), self._v4_prefix, len(self._profiles), work)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        self._plan = addressing.Plan(
            self._entry.lab_id, tuple(IPv4Network(n) for n in self._entry.v4_blocks), self._ipv6
        )
        _track(self)
        try:
            self._build()
            self._certs = certs.issue(self.workdir)
            for server in self._servers:
                self._start_server(server)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """End every process the lab started and remove all it made. Safe to call twice."""
        entry, self._entry = self._entry, None
        if entry is None:
            return
        try:
            _end(self._procs)
        finally:
            self._procs.clear()
            self._certs = self._plan = None
            registry.release(entry)
            _LIVE.discard(self)

    def _build(self) -> None:
        """Namespaces, veth links, addresses, routes, AnyIP blocks and the nft tables."""
        plan = self._running[1]
        ns = {role: self.namespace(role) for role in registry.ROLES}
        routers = [self.hop_ns(hop) for hop in range(1, self._chain + 1)]
        # Each client-like namespace (the client, every extra vantage): its links to the first
        # router and that router's interface to it.
        edges = {ns["client"]: (plan.links(0), _ROUTER_CLIENT_IF)} | {
            self.vantage_ns(v): (plan.vantage_links(i), _vantage_if(v))
            for i, v in enumerate(self._vantages)
        }
        netns.ip_batch(
            f"netns add {name}" for name in dict.fromkeys([*ns.values(), *routers, *edges])
        )
        for name in edges:
            netns.write_sysctls(name, _SYSCTLS["client"])
        for name in routers:
            netns.write_sysctls(name, _SYSCTLS["router"])
        netns.write_sysctls(ns["server"], _SYSCTLS["server"])
        if self._ecn_off:
            netns.write_sysctls(ns["server"], {"net.ipv4.tcp_ecn": "0"})
        # (namespace, its interface, the peer's interface, the peer's namespace)
        veths = [(name, _CLIENT_IF, iface, routers[0]) for name, (_, iface) in edges.items()]
        veths.append((ns["server"], _SERVER_IF, _ROUTER_SERVER_IF, routers[-1]))
        chain_links = [plan.chain_links(i) for i in range(self._chain - 1)]
        veths += [
            (routers[i], _hop_if(i + 2), _hop_if(i + 1), routers[i + 1])
            for i in range(self._chain - 1)
        ]
        netns.ip_batch(
            f"link add {inner} netns {name} type veth peer name {outer} netns {peer}"
            for name, inner, outer, peer in veths
        )
        nets = {b: [n for n in self.networks(b) if n is not None] for b in self._profiles}
        to_server = plan.links(1)
        server_side = {link.version: link.far for link in to_server}
        lines: dict[str, list[str]] = {name: [] for name in routers}
        lines[routers[0]] += _up(*(iface for _, iface in edges.values()))
        for links, iface in edges.values():
            lines[routers[0]] += _addresses(iface, [(k.far, k.prefix) for k in links])
        lines[routers[-1]] += _up(_ROUTER_SERVER_IF)
        lines[routers[-1]] += _addresses(_ROUTER_SERVER_IF, [(k.near, k.prefix) for k in to_server])
        client_nets = [ip_network(f"{k.near}/{k.prefix}", strict=False) for k in plan.links(0)]
        for i, links in enumerate(chain_links):
            near, far = routers[i], routers[i + 1]
            lines[near] += _up(_hop_if(i + 2)) + _addresses(
                _hop_if(i + 2), [(k.near, k.prefix) for k in links]
            )
            lines[far] += _up(_hop_if(i + 1)) + _addresses(
                _hop_if(i + 1), [(k.far, k.prefix) for k in links]
            )
            # Towards the server through the next router, back to the client through this one.
            nexthop = {k.version: k.far for k in links}
            lines[near] += [
                f"route add {net} via {nexthop[net.version]}" for bn in nets.values() for net in bn
            ]
            back = {k.version: k.near for k in links}
            lines[far] += [f"route add {net} via {back[net.version]}" for net in client_nets]
        lines[routers[-1]] += [
            f"route add {net} via {server_side[net.version]}"
            for block_nets in nets.values()
            for net in block_nets
        ]
        server = _up(_SERVER_IF) + _addresses(_SERVER_IF, [(k.far, k.prefix) for k in to_server])
        features = " features ecn" if self._ecn_off else ""
        server += [f"route add {_ANY[k.version]} via {k.near}{features}" for k in to_server]
        if self._ecn_off:
            table = _ECN_OFF_TABLE
            server += [f"route add {_ANY[k.version]} via {k.near} table {table}" for k in to_server]
            rules = {4: "", 6: ""}
            for net in (net for block in self._ecn_off for net in nets[block]):
                rules[net.version] += f"rule add from {net} lookup {table} pref {table}\n"
        # AnyIP: every address of a block is local, so wildcard-bound servers answer on all.
        server += [f"route add local {net} dev lo" for bn in nets.values() for net in bn]
        batches = {name: _edge(links) for name, (links, _) in edges.items()}
        for name, batch in (batches | lines | {ns["server"]: server}).items():
            netns.ip_batch(batch, name)
        if self._ecn_off:
            # ip -batch takes no family per line, and a rule's family is not read off its address
            for version, script in rules.items():
                if script:
                    argv = ["ip", "-n", ns["server"], f"-{version}", "-batch", "-"]
                    netns.run(argv, stdin=script)
        ruleset = profiles.ruleset(
            {b: (p, nets[b]) for b, p in self._profiles.items()},
            {v: (p, _vantage_if(v)) for v, p in self._vantages.items()},
        )
        netns.run(netns.exec_argv(ns["router"], ["nft", "-f", "-"]), stdin=ruleset)
        for hop in self._silent:
            quiet = profiles.quiet_ruleset()
            netns.run(netns.exec_argv(self.hop_ns(hop), ["nft", "-f", "-"]), stdin=quiet)

    def _start_server(self, server: str) -> None:
        """Start one of the lab's own servers in the server namespace and wait until it listens."""
        log_path = self.workdir / f"{server}.log"
        if server == "nginx":
            argv = nginx.configure(self.workdir, self._tls)
        else:
            argv = [sys.executable, hostile.__file__, "--parent", str(os.getpid())]
        with open(log_path, "wb") as log:
            proc = self.spawn_in("server", argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._server_ready(server, log_path):
            if proc.poll() is not None or time.monotonic() > deadline:
                state = "exited" if proc.returncode is not None else "was not ready in time"
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"lab server {server} {state}: {tail}")
            time.sleep(0.01)

    def _server_ready(self, server: str, log: Path) -> bool:
        if server == "nginx":
            return nginx.ready(self.workdir)
        return hostile.READY in log.read_text(errors="replace")


def _hop_if(hop: int) -> str:
    """A chain router's interface to router ``hop``."""
    return f"to-hop{hop}"


def _vantage_if(name: str) -> str:
    """The router's interface to the extra vantage ``name``."""
    return _ROUTER_VANTAGE_IF + name


def _source(links: Sequence[addressing.Link]) -> tuple[str, str | None]:
    """A client-like namespace's (IPv4, IPv6) addresses: the near ends of its links."""
    return links[0].near, links[1].near if len(links) > 1 else None


def _edge(links: Sequence[addressing.Link]) -> list[str]:
    """A client-like namespace: its end of ``links`` up and addressed, default routes across."""
    lines = _up(_CLIENT_IF) + _addresses(_CLIENT_IF, [(k.near, k.prefix) for k in links])
    return lines + [f"route add {_ANY[k.version]} via {k.far}" for k in links]


def _up(*ifaces: str) -> list[str]:
    return [f"link set {name} up" for name in ("lo", *ifaces)]


def _addresses(iface: str, addrs: Iterable[tuple[str, int]]) -> list[str]:
    """``ip address`` lines; IPv6 ones skip duplicate address detection (usable at once)."""
    return [
        f"address add {addr}/{prefix} dev {iface}" + (" nodad" if ":" in addr else "")
        for addr, prefix in addrs
    ]


def _end(procs: Sequence[subprocess.Popen[Any]]) -> None:
    """SIGTERM every process, SIGKILL those still alive after the grace period; reap all."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + STOP_GRACE
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- tear-down on exit and on signals ------------------------------------------------------

_LIVE: set[Lab] = set()
_PREVIOUS_HANDLERS: dict[int, Any] = {}


def _stop_all() -> None:
    for lab in list(_LIVE):
        lab.stop()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Tear the labs down, then let the signal do what it did before the lab came."""
    _stop_all()
    previous = _PREVIOUS_HANDLERS.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


@functools.cache
def _stop_all_at_exit() -> None:
    atexit.register(_stop_all)


def _track(lab: Lab) -> None:
    """Remember ``lab`` for tear-down at exit, on SIGTERM and on SIGINT."""
    _stop_all_at_exit()
    _LIVE.add(lab)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            if signum not in _PREVIOUS_HANDLERS:
                _PREVIOUS_HANDLERS[signum] = signal.signal(signum, _on_signal)


@functools.cache
def lab_available() -> str | None:
    """None when a lab can be built here, else why not (for a skip message)."""
    if os.geteuid() != 0:
        return "the path lab needs root (network namespaces, nftables)"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("nginx", "nginx-light")):
        if shutil.which(tool) is None:
            return f"{tool} not found (Debian package {package})"
    probe = f"spl-probe-{os.getpid()}"
    try:
        netns.ip_batch([f"netns add {probe}"])
        netns.run(netns.exec_argv(probe, ["nft", "-f", "-"]), stdin="table inet probe { }")
    except (netns.NetnsError, OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot build a network namespace with nftables: {exc}"
    finally:
        with contextlib.suppress(netns.NetnsError):
            netns.remove(probe)
    return None
