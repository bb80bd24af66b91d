"""Asking for ECN on one TCP connection, without touching any sysctl.

Linux decides per connection whether its SYN asks for ECN (ECE and CWR set): it does when the
network namespace's ``net.ipv4.tcp_ecn`` says so for every connection (1, or AccECN's 3 and
4), when the congestion control requires ECN (DCTCP, or a BPF one; this kernel offers reno, bbr
and cubic only), when a BPF ``sock_ops`` program asks, or when the route the socket uses
carries ``features ecn``. The sysctl is global state; a congestion control or ``sock_ops``
that asks for ECN also marks every packet ECT(0), the SYN included, and a Linux server ignores
ECN setup on a SYN that is not not-ECT, so neither measures what PATHspider's sysctl switch
did. A route's ``features ecn`` gives exactly an RFC 3168 ECN-setup SYN (not-ECT, ECE+CWR) and
nothing else changes.

So the experimental socket carries a firewall mark (``SO_MARK``) that one policy-routing rule
sends to a routing table of this process's own, which holds, per target address, a copy of the
route an unmarked socket to that address gets (same gateway, interface and source address),
plus ``features ecn``. Unmarked sockets never meet the rule, nor the table; no sysctl changes.
The rule and the table are made in each network namespace the process measures from, on first
use, and removed when the process exits (an ``atexit`` hook); those of a process that died
without removing them are removed by the next one that sets up. All through rtnetlink, so no
program is run per target.

Requirements: ``CAP_NET_ADMIN`` in the namespace (rules, routes and ``SO_MARK``). A target
that is one of the host's own addresses cannot be asked (the kernel's ``local`` table comes
before every rule). :func:`request_ecn` says why not in those cases; it changes nothing for
such a target.

Cost, measured in the lab on this 2-core machine: 500 targets through ``ecn`` over ``http``
(two watched connections and one route each) took 4.5 s of CPU in all, pytest's start
included, against 2.8 s for ``h2``; the route is one rtnetlink round trip per new address.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import dataclasses
import errno
import ipaddress
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import Final

#: Marks and routing tables of pytest-spider: ``MARK_BASE | pid``; the table has the same number.
MARK_BASE: Final = 0x5E000000
MARK_MASK: Final = 0xFF000000
#: Priority of the rule: right after the ``local`` table's rule (priority 0).
RULE_PRIORITY: Final = 1
SYSCTL_ECN: Final = "/proc/sys/net/ipv4/tcp_ecn"
SYSCTL_FALLBACK: Final = "/proc/sys/net/ipv4/tcp_ecn_fallback"
#: ``net.ipv4.tcp_ecn`` values with which every outgoing connection asks for ECN (1: RFC 3168;
#: 3: AccECN; 4: RFC 3168 out, AccECN in), so no connection without ECN can be made.
ASKS_ALWAYS: Final = frozenset({1, 3, 4})

# rtnetlink (linux/netlink.h, linux/rtnetlink.h, linux/fib_rules.h).
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_F_REQUEST, _F_ACK, _F_DUMP, _F_REPLACE, _F_EXCL, _F_CREATE = 1, 4, 0x300, 0x100, 0x200, 0x400
_RTM_NEWROUTE, _RTM_DELROUTE, _RTM_GETROUTE = 24, 25, 26
_RTM_NEWRULE, _RTM_DELRULE, _RTM_GETRULE = 32, 33, 34
_RTA_DST, _RTA_OIF, _RTA_GATEWAY, _RTA_PREFSRC, _RTA_METRICS = 1, 4, 5, 7, 8
_RTA_TABLE, _RTA_VIA = 15, 18
_RTAX_FEATURES, _RTAX_FEATURE_ECN = 12, 1
_RTN_UNICAST, _RTN_LOCAL = 1, 2
_RT_SCOPE_UNIVERSE, _RT_SCOPE_LINK, _RT_SCOPE_NOWHERE = 0, 253, 255
_RTPROT_STATIC = 4
_RTM_F_LOOKUP_TABLE = 0x1000
_FRA_PRIORITY, _FRA_FWMARK, _FRA_TABLE, _FRA_FWMASK = 6, 10, 15, 16
_FR_ACT_TO_TBL = 1
_HEADER: Final = struct.Struct("=IHHII")
#: ``struct rtmsg`` and ``struct fib_rule_hdr`` share this layout.
_RTMSG: Final = struct.Struct("=BBBBBBBBI")
_CLONE_NEWNET: Final = 0x40000000


def _sysctl(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def tcp_ecn() -> int | None:
    """``net.ipv4.tcp_ecn`` of the calling thread's network namespace (read, never written)."""
    return _sysctl(SYSCTL_ECN)


def tcp_ecn_fallback() -> int | None:
    """``net.ipv4.tcp_ecn_fallback``: 1 when Linux sends a lost ECN-setup SYN again without
    ECE and CWR (read, never written)."""
    return _sysctl(SYSCTL_FALLBACK)


def asks_always() -> str | None:
    """Why every connection from this namespace asks for ECN (so no baseline without it can
    be made), or None."""
    value = tcp_ecn()
    if value in ASKS_ALWAYS:
        return f"net.ipv4.tcp_ecn={value}: every connection here asks for ECN"
    return None


class NetlinkError(OSError):
    """The kernel refused an rtnetlink request."""


class _Netlink:
    """One rtnetlink socket (in the calling thread's network namespace)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE
        self._sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        """Send one message; the answers (type, payload) up to the ACK or the dump's end."""
        self._seq += 1
        seq = self._seq
        self._sock.send(
            _HEADER.pack(_HEADER.size + len(body), kind, flags | _F_REQUEST, seq, 0) + body
        )
        answers: list[tuple[int, bytes]] = []
        while True:
            data = self._sock.recv(1 << 16)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, mtype, _, mseq, _ = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    raise NetlinkError(errno.EPROTO, "bad netlink message")
                payload = data[offset + _HEADER.size : offset + length]
                offset += (length + 3) & ~3
                if mseq != seq:
                    continue
                if mtype == _NLMSG_DONE:
                    return answers
                if mtype == _NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise NetlinkError(code, os.strerror(code))
                    return answers
                answers.append((mtype, payload))
                if not flags & _F_DUMP and not flags & _F_ACK:
                    return answers


def _attr(kind: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return struct.pack("=HH", length, kind) + value + b"\0" * ((-length) % 4)


def _attrs(data: bytes) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    offset = 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        found[kind & 0x3FFF] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return found


def _u32(value: int) -> bytes:
    return struct.pack("=I", value)


@dataclasses.dataclass
class _Namespace:
    """The rule and table of this process in one network namespace."""

    #: An open handle on the namespace, to clean up from any thread.
    handle: int
    mark: int
    routes: set[tuple[int, bytes]] = dataclasses.field(default_factory=set)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


_LOCK: Final = threading.Lock()
_NAMESPACES: dict[int, _Namespace] = {}


def _netns_id() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def _mark() -> int:
    return MARK_BASE | (os.getpid() & ~MARK_MASK)


def _rule(nl: _Netlink, kind: int, family: int, mark: int, flags: int) -> None:
    body = _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, _FR_ACT_TO_TBL, 0)
    body += _attr(_FRA_PRIORITY, _u32(RULE_PRIORITY)) + _attr(_FRA_FWMARK, _u32(mark))
    body += _attr(_FRA_FWMASK, _u32(0xFFFFFFFF)) + _attr(_FRA_TABLE, _u32(mark))
    nl.request(kind, flags, body)


def _reap_stale(nl: _Netlink) -> None:
    """Remove the rules and tables of pytest-spider processes that are gone."""
    for family in (socket.AF_INET, socket.AF_INET6):
        rules = nl.request(_RTM_GETRULE, _F_DUMP, _RTMSG.pack(family, *([0] * 8)))
        for _, payload in rules:
            attrs = _attrs(payload[_RTMSG.size :])
            mark = struct.unpack("=I", attrs.get(_FRA_FWMARK, b"\0\0\0\0"))[0]
            table = struct.unpack("=I", attrs.get(_FRA_TABLE, b"\0\0\0\0"))[0]
            if mark & MARK_MASK != MARK_BASE or table != mark:
                continue
            if os.path.exists(f"/proc/{mark & ~MARK_MASK}") or mark == _mark():
                continue
            with contextlib.suppress(NetlinkError):
                _rule(nl, _RTM_DELRULE, family, mark, _F_ACK)
            _flush_table(nl, family, mark)


def _flush_table(nl: _Netlink, family: int, table: int) -> None:
    routes = nl.request(_RTM_GETROUTE, _F_DUMP, _RTMSG.pack(family, *([0] * 8)))
    for _, payload in routes:
        attrs = _attrs(payload[_RTMSG.size :])
        if struct.unpack("=I", attrs.get(_RTA_TABLE, b"\0\0\0\0"))[0] != table:
            continue
        body = payload[: _RTMSG.size]
        body += _attr(_RTA_TABLE, _u32(table)) + _attr(_RTA_DST, attrs.get(_RTA_DST, b""))
        with contextlib.suppress(NetlinkError):
            nl.request(_RTM_DELROUTE, _F_ACK, body)


def _setup() -> _Namespace:
    """This process's rule in the calling thread's namespace (made on first use)."""
    key = _netns_id()
    with _LOCK:
        found = _NAMESPACES.get(key)
        if found is not None:
            return found
        nl = _Netlink()
        try:
            _reap_stale(nl)
            mark = _mark()
            for family in (socket.AF_INET, socket.AF_INET6):
                try:
                    _rule(nl, _RTM_NEWRULE, family, mark, _F_ACK | _F_CREATE | _F_EXCL)
                except NetlinkError as exc:
                    if exc.errno != errno.EEXIST:
                        raise
        finally:
            nl.close()
        space = _Namespace(os.open("/proc/thread-self/ns/net", os.O_RDONLY), mark)
        if not _NAMESPACES:
            atexit.register(cleanup)
        _NAMESPACES[key] = space
        return space


@dataclasses.dataclass(frozen=True)
class EcnRequest:
    """How to make a socket to one address ask for ECN: set this ``SO_MARK``."""

    mark: int

    def sockopt(self) -> tuple[int, int, int]:
        """The ``setsockopt`` arguments."""
        return (socket.SOL_SOCKET, socket.SO_MARK, self.mark)


def request_ecn(dip: str) -> EcnRequest | str:
    """Make sockets with the returned mark ask for ECN towards ``dip``, or say why that cannot
    be done from here (no ``CAP_NET_ADMIN``, a local address, no route). Nothing is set up
    for an address that cannot be asked."""
    address = ipaddress.ip_address(dip)
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    key = (family, address.packed)
    try:
        space = _NAMESPACES.get(_netns_id())
        if space is not None and key in space.routes:
            return EcnRequest(space.mark)
        nl = _Netlink()
        try:
            route = _lookup(nl, family, address.packed)
            if isinstance(route, str):
                return route
            space = _setup()
            with space.lock:
                if key not in space.routes:
                    _copy_route(nl, route, space.mark)
                    space.routes.add(key)
        finally:
            nl.close()
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            return "asking for ECN per connection needs CAP_NET_ADMIN (policy routing, SO_MARK)"
        if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return f"no route to {dip}"
        raise
    return EcnRequest(space.mark)


def _lookup(nl: _Netlink, family: int, dst: bytes) -> bytes | str:
    """The route an unmarked socket to ``dst`` gets (an ``RTM_NEWROUTE`` payload), or why it
    cannot be copied."""
    bits = len(dst) * 8
    query = _RTMSG.pack(family, bits, 0, 0, 0, 0, 0, 0, _RTM_F_LOOKUP_TABLE)
    answers = nl.request(_RTM_GETROUTE, 0, query + _attr(_RTA_DST, dst))
    if not answers:
        return f"no route to {ipaddress.ip_address(dst)}"
    payload = answers[0][1]
    rtm_type = payload[7]
    if rtm_type == _RTN_LOCAL:
        return (
            "ECN cannot be asked for per socket towards a local address "
            "(the local routing table comes before every policy rule)"
        )
    if rtm_type != _RTN_UNICAST:
        return f"the route to {ipaddress.ip_address(dst)} is not unicast (type {rtm_type})"
    return payload


def _copy_route(nl: _Netlink, route: bytes, table: int) -> None:
    """Put ``route`` (looked up for one address) into ``table``, with ``features ecn``."""
    family, bits = route[0], route[1]
    attrs = _attrs(route[_RTMSG.size :])
    gateway = _RTA_GATEWAY in attrs or _RTA_VIA in attrs
    scope = _RT_SCOPE_UNIVERSE if gateway or family == socket.AF_INET6 else _RT_SCOPE_LINK
    body = _RTMSG.pack(family, bits, 0, 0, 0, _RTPROT_STATIC, scope, _RTN_UNICAST, 0)
    body += _attr(_RTA_TABLE, _u32(table)) + _attr(_RTA_DST, attrs[_RTA_DST])
    for kind in (_RTA_OIF, _RTA_GATEWAY, _RTA_VIA, _RTA_PREFSRC):
        if kind in attrs:
            body += _attr(kind, attrs[kind])
    body += _attr(_RTA_METRICS, _attr(_RTAX_FEATURES, _u32(_RTAX_FEATURE_ECN)))
    nl.request(_RTM_NEWROUTE, _F_ACK | _F_CREATE | _F_REPLACE, body)


def _in_namespace(handle: int, work: Callable[[], None]) -> None:
    """Run ``work`` with the calling thread moved into the namespace ``handle`` refers to."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.setns(handle, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        try:
            work()
        finally:
            libc.setns(home, _CLONE_NEWNET)
    finally:
        os.close(home)


def cleanup() -> None:
    """Remove this process's rules and routes from every namespace it set up (at exit)."""
    with _LOCK:
        spaces = list(_NAMESPACES.values())
        _NAMESPACES.clear()
    for space in spaces:

        def remove(space: _Namespace = space) -> None:
            nl = _Netlink()
            try:
                for family in (socket.AF_INET, socket.AF_INET6):
                    with contextlib.suppress(NetlinkError):
                        _rule(nl, _RTM_DELRULE, family, space.mark, _F_ACK)
                for route_family, dst in space.routes:
                    # Scope "nowhere" in a deletion matches a route of any scope.
                    body = _RTMSG.pack(
                        route_family, len(dst) * 8, 0, 0, 0, 0, _RT_SCOPE_NOWHERE, 0, 0
                    )
                    body += _attr(_RTA_TABLE, _u32(space.mark)) + _attr(_RTA_DST, dst)
                    with contextlib.suppress(NetlinkError):
                        nl.request(_RTM_DELROUTE, _F_ACK, body)
            finally:
                nl.close()

        with contextlib.suppress(OSError):
            _in_namespace(space.handle, remove)
        os.close(space.handle)
