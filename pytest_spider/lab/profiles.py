"""Path profiles: what the lab's router does to the packets of a server block or of a vantage,
as nftables rules.

Each block and each extra vantage has its own chain in table ``inet spider_lab`` of the router
namespace, jumped to for packets to and from the block (by address) or the vantage (by its link
to the router), so a profile acts on both directions of a flow and changing one is a single
atomic ``nft`` transaction that flushes and refills that chain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Network, IPv6Network
from typing import Final

TABLE: Final = "spider_lab"
#: Table of a chain router that sends no ICMP time-exceeded (``Lab(silent_hops=...)``), as a
#: router that filters them, or rate-limits them to nothing, does.
QUIET_TABLE: Final = "spider_quiet"

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
    # TCP ECN (experiment ecn with --spider-connect=http|https|tcp), DSCP and MSS:
    "ecn_syn_drop": ("tcp flags & (syn | ack | ecn | cwr) == syn | ecn | cwr drop",),
    "ecn_syn_clear": ("tcp flags & (syn | ack | ecn | cwr) == syn | ecn | cwr tcp flags set syn",),
    "ecn_bleach": ("{ip} ecn set not-ect",),
    "ecn_reflect": ("tcp flags & (syn | ack) == syn | ack tcp flags set syn | ack | ecn | cwr",),
    "ecn_ce": ("{ip} ecn != not-ect {ip} ecn set ce",),
    "dscp_drop": ("{ip} dscp != cs0 drop",),
    "mss_clamp": (
        "tcp flags & syn == syn tcp option maxseg size > 1200 tcp option maxseg size set 1200",
    ),
    "mss_inflate": ("tcp flags & (syn | ack) == syn | ack @th,160,16 0x0204 @th,176,16 set 9000",),
    "mss_strip": ("tcp flags & (syn | ack) == syn | ack reset tcp option maxseg",),
    # Random loss, each packet on its own, either way: a third of them (repeated trials of a
    # target through it disagree; see tests/lab/truth_table.toml).
    "lossy": ("numgen random mod 100 < 33 drop",),
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


_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")


def check_name(kind: str, name: str, longest: int) -> None:
    """Block and vantage names become chain names (and a vantage's, an interface name), so
    they must be lower-case identifiers of at most ``longest`` characters."""
    if not (_NAME.fullmatch(name) and len(name) <= longest):
        raise ValueError(
            f"{kind} name {name!r} is not a lower-case identifier of {longest} characters at most"
        )


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


def _block_chain(block: str) -> str:
    return f"blk_{block}"


def _vantage_chain(vantage: str) -> str:
    return f"vtg_{vantage}"


def _fill(chain: str, profile: str) -> str:
    """nft script replacing the rules of ``chain`` with those of ``profile``."""
    full = f"inet {TABLE} {chain}"
    return "\n".join([f"flush chain {full}", *(f"add rule {full} {r}" for r in rules(profile))])


def set_profile(block: str, profile: str) -> str:
    """nft script replacing the rules of ``block``'s chain with those of ``profile``."""
    return _fill(_block_chain(block), profile)


def ruleset(
    blocks: Mapping[str, tuple[str, Iterable[IPv4Network | IPv6Network]]],
    vantages: Mapping[str, tuple[str, str]],
) -> str:
    """nft script creating the lab table for ``blocks`` (name -> (profile, networks)) and
    ``vantages`` (name -> (profile, the router's interface to it))."""
    lines = [
        f"table inet {TABLE} {{",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
    ]
    for vantage, (_, iface) in vantages.items():
        chain = _vantage_chain(vantage)
        lines += [f'    {d} "{iface}" jump {chain}' for d in ("iifname", "oifname")]
    for block, (_, nets) in blocks.items():
        for net in nets:
            ip = "ip" if net.version == 4 else "ip6"
            lines += [f"    {ip} {d} {net} jump {_block_chain(block)}" for d in ("daddr", "saddr")]
    chains = [_vantage_chain(v) for v in vantages] + [_block_chain(b) for b in blocks]
    lines.append("  }")
    lines += [f"  chain {chain} {{ }}" for chain in chains]
    lines.append("}")
    fills = [_fill(_vantage_chain(v), profile) for v, (profile, _) in vantages.items()]
    fills += [set_profile(b, profile) for b, (profile, _) in blocks.items()]
    return "\n".join(lines + fills)


def quiet_ruleset() -> str:
    """nft script making a router drop the ICMP time-exceeded messages it sends itself."""
    return "\n".join(
        [
            f"table inet {QUIET_TABLE} {{",
            "  chain output {",
            "    type filter hook output priority filter; policy accept;",
            "    icmp type time-exceeded drop",
            "    icmpv6 type time-exceeded drop",
            "  }",
            "}",
        ]
    )
