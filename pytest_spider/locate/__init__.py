"""Locating the break: the hop after which the experimental packet is lost, altered or refused
while the baseline packet still passes (``--spider-locate``).

For a target whose conditions match a fail glob, right after its measurement and in the same
engine task (so in the same worker thread and network namespace, and never holding up other
targets), TTL-limited copies of the experiment's two packets go to the target's own address
and port, TTL 1, 2, 3, ...: at each TTL one baseline and one experimental probe, side by side,
and each router on the way answers ICMP time-exceeded, read from the probe socket's own error
queue (:mod:`pytest_spider.helpers.hops`). An experiment says which pair of packets it locates
with in its class attribute ``locate_with`` (a name in ``scan.PAIRS``):

- ``ecn``: a TCP SYN without and with ECE+CWR (the ECN-setup SYN made per socket by
  :mod:`pytest_spider.helpers.ecn`, ``CAP_NET_ADMIN``); in the UDP modes (``dns``, ``echo``)
  the experiment's datagram not-ECT and ECT(0). A router's quote of the SYN shows whether it
  still had ECE and CWR: a SYN that arrives without them was altered on the way.
- ``dscp``: the same SYN (UDP modes: datagram) with DSCP 0 and with the codepoint.
- ``tfo``: a plain SYN and a SYN carrying the experiment's request as data
  (``TCP_FASTOPEN_NO_COOKIE``: no cookie is needed for a first packet).
- ``quic``: a TCP SYN and a UDP datagram to the same port, the datagram a QUIC Initial of a
  reserved version (a QUIC server answers it with Version Negotiation): QUIC against TCP as
  a path sees them, UDP against TCP, without a QUIC handshake.

The finding (the record's ``locate``): hop ``k`` is the farthest hop that answered the
experimental probe while the baseline probe still got an answer from hop ``k + 1``: the
experimental packet is lost at hop ``k`` or on its way out (``effect`` ``lost``); or hop ``k``
is the last whose quote shows the packet intact, the later ones show it altered
(``altered``); or the router that refused it with ICMP unreachable (``refused``). Hop 0 is the
vantage itself (the packet died before the first router's TTL check). Anything that does not
prove one hop gives ``hop`` null and the ``reason``: routers that send no time-exceeded (ICMP
filtered), a silent hop right after the last answer, a target that ignores the experimental
packet on the last link, different paths, the budget spent. It never guesses. Routers
rate-limit their ICMP errors (Linux: one a second per destination after a burst of six), and
a missing answer to the experimental probe alone would look like a loss: so at each TTL the
experimental probe is sent first, and a router out of tokens silences the baseline probe
after it, which makes the hop unknown rather than wrong. Tokens shared with other targets
can still come back between the two sends, so the TTL that decides (the first past the
experimental probe's last answer to answer only the baseline probe) is asked again a second
later, and names the hop only if the re-check sees the same (tests/lab/test_chain.py locates
30 targets at once through routers limited to 20 errors a second: hop 2 or unknown, never
other).

Bounds (``--spider-locate-*``, all per target): TTLs 1 to ``max_ttl``; each probe sent at
most ``probes`` times at a TTL (again only while it has no answer); ``wait`` seconds for each
answer (below 1 s: a TCP probe is exactly one SYN, the kernel's first retransmission would
come at 1 s); ``budget`` seconds in all; the scan ends at the target's answer to the baseline
probe, after ``scan.GAP_LIMIT`` TTLs in a row that answer neither probe, or once
``scan.CONFIRM`` TTLs in a row past the experimental probe's last answer answered the baseline
one only. Each round (the pair at one TTL) takes a turn under ``--spider-rate``, shared with
the campaign's sequences.

The probing itself (:mod:`pytest_spider.locate.scan`) loads only in a campaign that locates,
as it brings the raw-socket helpers; this module holds what the options and the records need.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from pytest_spider import schema


@dataclasses.dataclass(frozen=True)
class Bounds:
    """What locating one target may cost (see the module docstring)."""

    max_ttl: int = 30
    probes: int = 2
    wait: float = 0.5
    budget: float = 20.0


def describe(locate: Mapping[str, Any]) -> str:
    """One line for a failing item's message."""
    hop = locate.get(schema.LOCATE_HOP)
    if hop is None:
        return f"break not located: {locate.get(schema.LOCATE_REASON)}"
    effect = _EFFECTS.get(str(locate.get(schema.LOCATE_EFFECT)), "")
    return f"break located at hop {hop} ({locate.get(schema.LOCATE_ADDRESS)}): {effect}"


_EFFECTS: Final = {
    "lost": "the experimental packet is lost there or on its way out",
    "altered": "the experimental packet leaves it altered",
    "refused": "it refuses the experimental packet",
}
