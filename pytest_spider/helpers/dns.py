"""DNS for experiments: PATHspider's ``connect_dns`` and address lookups at one named server.

Names are only ever resolved by the server a measurement names (``--spider-dns-server``),
never by the system resolver, so a lab campaign sends nothing outside the lab. The lab DNS
server (``pytest_spider.lab.servers.dns``) reports the TOS byte / traffic class a query
arrived with in EDNS option :data:`TOS_OPTION`, which :func:`connect_dns` records.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from typing import Any, Final

import dns.edns
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from pytest_spider.helpers import errors
from pytest_spider.helpers.udp import connect_udp
from pytest_spider.spider import FlowResult, Job

#: EDNS option code (local/experimental range, RFC 6891) carrying the TOS byte a server saw.
TOS_OPTION: Final = 65001

#: Address record types asked for, and the address family each holds.
ADDRESS_TYPES: Final = (dns.rdatatype.A, dns.rdatatype.AAAA)


def parse_server(text: str, default_port: int = 53) -> tuple[str, int]:
    """``ADDR``, ``ADDR:PORT``, ``V6`` or ``[V6]:PORT`` as (address, port); names are refused."""
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = int(rest.removeprefix(":"))
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"DNS server {text!r} is not an IP address (names are not resolved)"
        ) from None
    if not 0 < port < 65536:
        raise ValueError(f"DNS server {text!r}: port must be 1-65535")
    return str(address), port


def server_tos(response: dns.message.Message) -> int | None:
    """The TOS byte the server reported seeing in :data:`TOS_OPTION`, if it did."""
    for option in response.options:
        if option.otype == TOS_OPTION and isinstance(option, dns.edns.GenericOption):
            data: bytes = option.data
            return data[0] if len(data) == 1 else None
    return None


def connect_dns(
    source: tuple[str | None, str | None] | None,
    job: Job,
    conn_timeout: float,
    sockopts: Iterable[tuple[Any, ...]] | None = None,
) -> FlowResult:
    """Ask ``job['dip']:job['dp']`` (default port 53) over UDP for the A record of the domain.

    Succeeds on any well-formed answer to the query (whatever its rcode); the root name is
    asked when the job has no domain.
    """
    job.setdefault("dp", 53)
    query = dns.message.make_query(job.get("domain") or ".", dns.rdatatype.A, use_edns=0)

    def parse(reply: bytes) -> dict[str, Any]:
        try:
            response = dns.message.from_wire(reply)
        except dns.exception.DNSException as exc:
            raise ValueError(f"not a DNS message: {exc}") from exc
        if not query.is_response(response):
            raise ValueError("not an answer to the query sent")
        fields: dict[str, Any] = {"dns_rcode": dns.rcode.to_text(response.rcode())}
        tos = server_tos(response)
        if tos is not None:
            fields["server_tos"] = tos
        return fields

    return connect_udp(source, job, conn_timeout, query.to_wire(), sockopts, parse)


def resolve_addresses(
    source: tuple[str | None, str | None] | None,
    server: tuple[str, int],
    name: str,
    conn_timeout: float,
) -> FlowResult:
    """Ask ``server`` for the A and AAAA records of ``name``, both within ``conn_timeout``.

    UDP first, TCP when the answer is truncated. Succeeds when the server answered both
    questions, whatever the rcodes: ``dns_addresses`` holds the addresses found (possibly none),
    ``dns_rcodes`` the rcode per record type.
    """
    # Imported here: dnspython's query module loads its QUIC and asyncio support, a tenth
    # of a second at every pytest start that only DNS lookups need to pay.
    import dns.query

    host, port = server
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bind = None if source is None else source[1 if family == socket.AF_INET6 else 0]
    deadline = time.monotonic() + conn_timeout
    addresses: list[str] = []
    rcodes: dict[str, str] = {}
    sp = 0
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            if bind:
                sock.bind((bind, 0))
            sock.connect((host, port))  # so that an ICMP unreachable reads as a refusal
            sp = sock.getsockname()[1]
            sock.setblocking(False)
            for rdtype in ADDRESS_TYPES:
                query = dns.message.make_query(name, rdtype)
                try:
                    response = dns.query.udp(
                        query, host, _left(deadline), port, raise_on_truncation=True, sock=sock
                    )
                except dns.message.Truncated:
                    response = dns.query.tcp(query, host, _left(deadline), port, source=bind)
                rcodes[dns.rdatatype.to_text(rdtype)] = dns.rcode.to_text(response.rcode())
                for rrset in response.answer:
                    if rrset.rdtype == rdtype:
                        addresses.extend(str(rdata) for rdata in rrset)
        except dns.exception.Timeout:
            return errors.failure(errors.TIMEOUT, "DNS server did not answer in time", sp=sp)
        except OSError as exc:
            return errors.failure(errors.classify_oserror(exc), str(exc) or "timed out", sp=sp)
        except dns.exception.DNSException as exc:
            return errors.failure(errors.OTHER, f"bad DNS answer: {exc}", sp=sp)
    return errors.success(sp=sp, dns_addresses=list(dict.fromkeys(addresses)), dns_rcodes=rcodes)


def _left(deadline: float) -> float:
    """Seconds until ``deadline``; a lapsed deadline times out at once."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise dns.exception.Timeout
    return left
