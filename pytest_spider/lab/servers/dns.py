"""Lab DNS server: authoritative for one zone, over UDP and TCP, telling the ECN mark it saw.

Names of the zone get their records (NOERROR with an empty answer when the asked type is
absent), other names under the zone's origin get NXDOMAIN, names outside it REFUSED. Over UDP,
a query with EDNS gets back the TOS byte / traffic class it arrived with in EDNS option
``TOS_OPTION`` (``pytest_spider.helpers.dns``), so the ecn experiment can tell whether the path
kept its mark. A UDP answer too big for the client is truncated (TC) to make it retry over TCP.

    python -m pytest_spider.lab.servers.dns --port 0 --origin lab.test. \\
        --record www=198.18.0.5 --record www=2001:db8::5 [--zone FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import pathlib
import socket
import struct

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset
import dns.zone

from pytest_spider.helpers.dns import TOS_OPTION
from pytest_spider.lab.servers import common

#: Bounds on one TCP client: queries per connection and seconds of silence.
_TCP_QUERIES = 100
_TCP_IDLE = 10.0
#: UDP answer size for clients without EDNS (RFC 1035).
_CLASSIC_UDP_SIZE = 512


def build_zone(origin: str, records: list[str], zone_file: str | None) -> dns.zone.Zone:
    """The zone from a master file and/or ``NAME=ADDRESS`` records (A or AAAA by address)."""
    lines = [pathlib.Path(zone_file).read_text(encoding="utf-8")] if zone_file else []
    for record in records:
        name, _, address = record.partition("=")
        rdtype = "AAAA" if ipaddress.ip_address(address).version == 6 else "A"
        lines.append(f"{name} 300 IN {rdtype} {address}")
    return dns.zone.from_text("\n".join(lines), origin=origin, check_origin=False)


def answer(zone: dns.zone.Zone, wire: bytes, tos: int | None, udp: bool) -> bytes | None:
    """The answer to one query message, or None for something that is not a query."""
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    if query.flags & dns.flags.QR or len(query.question) != 1:
        return None
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    question = query.question[0]
    assert isinstance(zone.origin, dns.name.Name)
    if not question.name.is_subdomain(zone.origin):
        response.set_rcode(dns.rcode.REFUSED)
    else:
        node = zone.get_node(question.name)
        rdataset = None if node is None else node.get_rdataset(question.rdclass, question.rdtype)
        if node is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif rdataset is not None:
            response.answer.append(
                dns.rrset.from_rdata_list(question.name, rdataset.ttl, list(rdataset))
            )
    if udp and tos is not None and query.edns >= 0:
        response.use_edns(
            0,
            payload=query.payload,
            options=[dns.edns.GenericOption(dns.edns.OptionType(TOS_OPTION), bytes([tos]))],
        )
    if not udp:
        return response.to_wire()
    limit = max(query.payload, _CLASSIC_UDP_SIZE) if query.edns >= 0 else _CLASSIC_UDP_SIZE
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        response.answer.clear()
        response.flags |= dns.flags.TC
        return response.to_wire()


async def serve(args: argparse.Namespace) -> None:
    """Answer over UDP and TCP on every host until stopped."""
    zone = build_zone(args.origin, args.record or [], args.zone)
    hosts = common.hosts(args)
    sockets = common.bind(hosts, args.port, [socket.SOCK_DGRAM, socket.SOCK_STREAM])

    async def serve_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(_TCP_QUERIES):
                head = await asyncio.wait_for(reader.readexactly(2), _TCP_IDLE)
                (length,) = struct.unpack("!H", head)
                wire = await asyncio.wait_for(reader.readexactly(length), _TCP_IDLE)
                reply = answer(zone, wire, None, udp=False)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    servers = []
    try:
        for sock in sockets:
            if sock.type == socket.SOCK_DGRAM:
                common.serve_datagrams(sock, lambda wire, tos: answer(zone, wire, tos, udp=True))
            else:
                servers.append(await asyncio.start_server(serve_stream, sock=sock))
        common.ready(
            server="dns", hosts=hosts, port=sockets[0].getsockname()[1], origin=args.origin
        )
        await common.stopped()
    finally:
        for server in servers:
            server.close()
        common.close(sockets)


def main() -> None:
    """Command-line entry point."""
    parser = common.parser(__doc__ or "")
    parser.add_argument("--origin", default="lab.test.", help="the zone's name (default lab.test.)")
    parser.add_argument("--zone", help="master file with the zone's records")
    parser.add_argument(
        "--record", action="append", help="NAME=ADDRESS, an A or AAAA record (repeatable)"
    )
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
