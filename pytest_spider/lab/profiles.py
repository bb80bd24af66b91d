"""Path profiles: what the lab's router does to the packets of a server block, as nftables rules.

Each block has its own chain in table ``inet spider_lab`` of the router namespace, jumped to for
packets to and from the block, so a profile acts on both directions of a flow and changing one
is a single atomic ``nft`` transaction that flushes and refills that chain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Network, IPv6Network
from typing import Final

TABLE: Final = "spider_lab"

#: Profile name -> nft rules. ``{ip}`` stands for ``ip``/``ip6`` and ``{syn_data}`` for "the
#: TCP segment carries payload"; a rule with a placeholder is written once per family, one
#: without serves both. Adding a profile is adding a line.
PROFILES: Final[Mapping[str, tuple[str, ...]]] = {
    "clean": (),
    "blackhole": ("drop",),
    "reject": ("meta l4proto tcp reject with tcp reset", "reject"),
    "tfo_syn_drop": (
        "tcp flags & (syn | ack) == syn tcp option fastopen exists drop",
        "tcp flags & (syn | ack) == syn {syn_data} drop",
    ),
    "udp_drop": ("meta l4proto udp drop",),
    "ecn_strip": ("meta l4proto udp {ip} ecn set not-ect",),
    "ecn_drop": ("meta l4proto udp {ip} ecn != not-ect drop",),
    "dscp_rewrite": ("{ip} dscp set cs1",),
    "slow": ("limit rate over 100 kbytes/second drop",),
}


def _syn_data(ip: str) -> str:
    """Match TCP payload: IP length above IP + TCP header, for each TCP data offset 5..15."""
    # The byte at TCP offset 12 holds the data offset (in 32-bit words) in its high nibble.
    v4 = ip == "ip"
    fixed = 20 if v4 else 0  # IPv4 length counts its own header, IPv6 payload length does not
    elements = ", ".join(
        f"{fixed + 4 * doff + 1}-65535 . {doff << 4:#x}-{doff << 4 | 0xF:#x}"
        for doff in range(5, 16)
    )
    guard = "ip hdrlength 5 " if v4 else ""
    return f"{guard}{ip} length . @th,96,8 {{ {elements} }}"


_BLOCK_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")


def check_block_name(block: str) -> None:
    """Block names become chain names: lower-case identifiers, 32 characters at most."""
    if not _BLOCK_NAME.fullmatch(block):
        raise ValueError(f"block name {block!r} is not a short lower-case identifier")


def rules(profile: str) -> list[str]:
    """The nft rules of ``profile``, each placeholder rule rendered for IPv4 and IPv6."""
    if profile not in PROFILES:
        raise ValueError(f"unknown path profile {profile!r}; known: {', '.join(PROFILES)}")
    out: list[str] = []
    for rule in PROFILES[profile]:
        if "{" not in rule:
            out.append(rule)
            continue
        out += [rule.format(ip=ip, syn_data=_syn_data(ip)) for ip in ("ip", "ip6")]
    return out


def _chain(block: str) -> str:
    return f"blk_{block}"


def set_profile(block: str, profile: str) -> str:
    """nft script replacing the rules of ``block``'s chain with those of ``profile``."""
    chain = f"inet {TABLE} {_chain(block)}"
    return "\n".join([f"flush chain {chain}", *(f"add rule {chain} {r}" for r in rules(profile))])


def ruleset(blocks: Mapping[str, tuple[str, Iterable[IPv4Network | IPv6Network]]]) -> str:
    """nft script creating the lab table for ``blocks`` (name -> (profile, networks))."""
    lines = [
        f"table inet {TABLE} {{",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
    ]
    for block, (_, nets) in blocks.items():
        for net in nets:
            ip = "ip" if net.version == 4 else "ip6"
            lines += [f"    {ip} {d} {net} jump {_chain(block)}" for d in ("daddr", "saddr")]
    lines.append("  }")
    lines += [f"  chain {_chain(block)} {{ }}" for block in blocks]
    lines.append("}")
    return "\n".join(lines + [set_profile(b, profile) for b, (profile, _) in blocks.items()])
