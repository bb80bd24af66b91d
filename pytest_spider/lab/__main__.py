"""Command line: ``python -m pytest_spider.lab up`` to look around in a lab by hand,
``python -m pytest_spider.lab cleanup`` to remove what crashed labs left behind.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from pytest_spider.lab import registry
from pytest_spider.lab.lab import DEFAULT_BLOCKS, Lab, lab_available
from pytest_spider.lab.profiles import PROFILES


def _describe(lab: Lab) -> str:
    """What a person needs to use the lab: where things are and a command to try."""
    lines = [
        f"pytest-spider lab {lab.lab_id} is up; Ctrl-C tears it down.",
        f"namespaces: client {lab.client_ns}, router {lab.router_ns}, server {lab.server_ns}",
        *(
            f"router {hop} of {lab.chain}: namespace {lab.hop_ns(hop)}, answers from "
            + ", ".join(lab.hop_address(hop, f) for f in (4, 6) if lab.client_source[f == 6])
            + (" (path profiles)" if hop == lab.profile_hop else "")
            + (" (sends no time-exceeded)" if hop in lab.silent_hops else "")
            for hop in range(1, lab.chain + 1)
            if lab.chain > 1
        ),
        "client addresses: " + ", ".join(a for a in lab.client_source if a),
        "blocks (name, path profile, networks):",
    ]
    for block, profile in lab.profiles.items():
        nets = "  ".join(str(n) for n in lab.networks(block) if n is not None)
        lines.append(f"  {block:<14} {profile:<14} {nets}")
    for vantage, profile in lab.vantages.items():
        addresses = ", ".join(a for a in lab.vantage_source(vantage) if a)
        ns = lab.vantage_ns(vantage)
        lines.append(f"vantage {vantage} ({profile}): namespace {ns}, addresses {addresses}")
        lines.append(f"  --tx '{lab.tx_spec(vantage)}'")
    lines.append("ports: " + ", ".join(f"{name} {port}" for name, port in lab.ports.items()))
    lines.append(f"CA certificate: {lab.ca_pem} (servers are lab.test and *.lab.test)")
    first = next(iter(lab.profiles))
    target = lab.addresses(first, 1)[0]
    lines.append(
        f"try: ip netns exec {lab.client_ns} curl --cacert {lab.ca_pem}"
        f" --resolve www.lab.test:443:{target} https://www.lab.test/"
    )
    return "\n".join(lines)


def _named_profile(text: str) -> tuple[str, str]:
    name, sep, profile = text.partition("=")
    if not sep or profile not in PROFILES:
        raise argparse.ArgumentTypeError(f"want NAME=PROFILE with PROFILE in {list(PROFILES)}")
    return name, profile


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``up`` or ``cleanup`` command; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m pytest_spider.lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a lab, print its facts, wait for Ctrl-C")
    up.add_argument(
        "--block",
        type=_named_profile,
        action="append",
        metavar="NAME=PROFILE",
        help="a server block and its path profile (repeatable; default alive=clean dead=blackhole)",
    )
    up.add_argument(
        "--vantage",
        type=_named_profile,
        action="append",
        metavar="NAME=PROFILE",
        help="an extra client namespace and its path profile (repeatable; default none)",
    )
    up.add_argument("--no-ipv6", action="store_true", help="IPv4 only")
    up.add_argument(
        "--chain", type=int, default=1, metavar="N", help="N routers in a row (default 1)"
    )
    up.add_argument(
        "--silent-hop",
        type=int,
        action="append",
        metavar="H",
        help="router H of the chain sends no ICMP time-exceeded (repeatable)",
    )
    commands.add_parser("cleanup", help="remove the namespaces and files of crashed labs")
    args = parser.parse_args(argv)

    if args.command == "cleanup":
        removed = registry.reap()
        print("removed: " + (", ".join(removed) if removed else "nothing"))
        return 0
    reason = lab_available()
    if reason is not None:
        print(f"no lab here: {reason}", file=sys.stderr)
        return 1
    blocks = dict(args.block) if args.block else DEFAULT_BLOCKS
    vantages = dict(args.vantage or ())
    lab = Lab(
        blocks,
        ipv6=not args.no_ipv6,
        servers=("nginx", "hostile"),
        vantages=vantages,
        chain=args.chain,
        silent_hops=args.silent_hop or (),
    )
    with lab:
        print(_describe(lab), flush=True)
        try:
            while True:
                signal.pause()
        except KeyboardInterrupt:
            print("tearing the lab down", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
