"""The lab's address plan: which prefixes a lab owns and which address sits where.

All IPv4 comes from 198.18.0.0/15 and all IPv6 from 2001:db8::/32, so nothing the lab does can
reach a real network. A lab's id fixes its links (those of its extra vantage namespaces and of a
chain's routers too) and its IPv6 /48; its IPv4 server blocks are allocated first-fit (see
:mod:`pytest_spider.lab.registry`) so their size can vary.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Network
from typing import Final

V4_SPACE: Final = IPv4Network("198.18.0.0/15")
V6_SPACE: Final = IPv6Network("2001:db8::/32")
#: Point-to-point links of every lab: lab ``id`` owns the /29 at ``8 * id``.
V4_LINKS: Final = IPv4Network("198.18.0.0/24")
#: How many labs may exist side by side.
MAX_LABS: Final = V4_LINKS.num_addresses // 8
#: Links of extra vantage namespaces to the router: lab ``id`` owns ``MAX_VANTAGES`` /30s here.
V4_VANTAGE_LINKS: Final = IPv4Network("198.18.4.0/22")
MAX_VANTAGES: Final = V4_VANTAGE_LINKS.num_addresses // MAX_LABS // 4
#: Links between the routers of a chain lab (``Lab(chain=N)``): lab ``id`` owns
#: ``MAX_CHAIN - 1`` /30s here, one between each router and the next.
V4_CHAIN_LINKS: Final = IPv4Network("198.18.8.0/22")
MAX_CHAIN: Final = V4_CHAIN_LINKS.num_addresses // MAX_LABS // 4 + 1
#: Third group of a lab's IPv6 links; blocks take groups 1, 2, ...
_V6_LINK_GROUP: Final = 0xFF00
#: Offset of the chain links among the IPv6 link groups (the vantage links take 2 to 9).
_V6_CHAIN_LINKS: Final = 0x10


def allocate_v4(prefix: int, count: int, taken: Iterable[IPv4Network]) -> list[IPv4Network]:
    """``count`` free IPv4 networks of length ``prefix``, first fit, avoiding ``taken``."""
    busy = [V4_LINKS, V4_VANTAGE_LINKS, V4_CHAIN_LINKS, *taken]
    found: list[IPv4Network] = []
    for net in V4_SPACE.subnets(new_prefix=prefix):
        if len(found) == count:
            break
        if not any(net.overlaps(other) for other in busy):
            found.append(net)
            busy.append(net)
    if len(found) < count:
        raise RuntimeError(
            f"no room for {count} IPv4 /{prefix} block(s) in {V4_SPACE}: stop other labs "
            "or ask for a longer v4_prefix"
        )
    return found


@dataclasses.dataclass(frozen=True)
class Link:
    """One point-to-point link: the address on each end and the prefix length."""

    near: str
    far: str
    prefix: int

    @property
    def version(self) -> int:
        """4 or 6."""
        return 6 if ":" in self.near else 4


@dataclasses.dataclass(frozen=True)
class Plan:
    """Addresses of one lab: its links (per family) and its server blocks."""

    lab_id: int
    v4_blocks: tuple[IPv4Network, ...]
    ipv6: bool

    @property
    def v6_lab(self) -> IPv6Network:
        """The lab's own IPv6 /48."""
        base = int(V6_SPACE.network_address) + (self.lab_id << 80)
        return IPv6Network((base, 48))

    def _v6_group(self, group: int) -> IPv6Network:
        return IPv6Network((int(self.v6_lab.network_address) + (group << 64), 64))

    def v6_block(self, index: int) -> IPv6Network | None:
        """IPv6 /64 of the ``index``-th server block (None without IPv6)."""
        return self._v6_group(index + 1) if self.ipv6 else None

    def _v4_link(self, which: int) -> Link:
        base = int(V4_LINKS.network_address) + 8 * self.lab_id + 4 * which
        return _v4_p2p(base)

    def _v6_link(self, which: int) -> Link:
        net = self._v6_group(_V6_LINK_GROUP + which)
        return Link(str(net.network_address + 1), str(net.network_address + 2), 64)

    def links(self, which: int) -> list[Link]:
        """Link ``0`` (client to router) or ``1`` (router to server), v4 then v6."""
        return [self._v4_link(which)] + ([self._v6_link(which)] if self.ipv6 else [])

    def vantage_links(self, index: int) -> list[Link]:
        """Link of the ``index``-th extra vantage to the router (vantage end near), v4 then v6."""
        if not 0 <= index < MAX_VANTAGES:
            raise ValueError(f"a lab has at most {MAX_VANTAGES} extra vantages")
        slot = MAX_VANTAGES * self.lab_id + index
        v4 = _v4_p2p(int(V4_VANTAGE_LINKS.network_address) + 4 * slot)
        return [v4] + ([self._v6_link(2 + index)] if self.ipv6 else [])

    def chain_links(self, index: int) -> list[Link]:
        """Link between router ``index + 1`` and router ``index + 2`` of a chain (the nearer
        router to the client at the near end), v4 then v6."""
        if not 0 <= index < MAX_CHAIN - 1:
            raise ValueError(f"a chain has at most {MAX_CHAIN} routers")
        slot = (MAX_CHAIN - 1) * self.lab_id + index
        v4 = _v4_p2p(int(V4_CHAIN_LINKS.network_address) + 4 * slot)
        return [v4] + ([self._v6_link(_V6_CHAIN_LINKS + index)] if self.ipv6 else [])


def _v4_p2p(base: int) -> Link:
    """The point-to-point link of the /30 starting at address ``base``."""
    return Link(str(IPv4Address(base + 1)), str(IPv4Address(base + 2)), 30)


def hosts(net: IPv4Network | IPv6Network, count: int) -> list[str]:
    """The first ``count`` addresses of ``net``, leaving out its first and last address."""
    usable = net.num_addresses - 2
    if count > usable:
        raise ValueError(f"{net} has {usable} usable addresses, {count} asked for")
    first = net.network_address + 1
    return [str(first + i) for i in range(count)]
