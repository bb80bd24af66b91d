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
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

from pytest_spider.helpers import errors
from pytest_spider.helpers.source import bound_address
from pytest_spider.helpers.udp import connect_udp
from pytest_spider.spider import FlowResult, Job
from pytest_spider.targets import canonical_ip, port_reading, quoted

if TYPE_CHECKING:
    import dns.message

# dnspython is imported where a DNS message is made or read: a campaign that measures no
# DNS (most) does not pay for loading it (a tenth of a second at every pytest start).

#: EDNS option code (local/experimental range, RFC 6891) carrying the TOS byte a server saw.
TOS_OPTION: Final = 65001

#: Address record types asked for (A, AAAA: RFC 1035, RFC 3596).
ADDRESS_TYPES: Final = (1, 28)


def preload() -> None:
    """Import the dnspython modules these helpers use, now, in the calling thread.

    An experiment that will measure DNS calls it when it is made (before any sequence runs):
    a first import of ``dns.query`` also loads dnspython's optional backends (aioquic, httpx
    where installed), 0.27 s on an idle machine here and much more on a loaded one, while
    every sequence that starts meanwhile waits on the import lock. That time must not be spent
    inside sequences whose time is bounded by their timeouts.
    """
    import dns.edns
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype  # noqa: F401


def parse_server(text: str, default_port: int = 53) -> tuple[str, int]:
    """``ADDR``, ``ADDR:PORT``, ``V6`` or ``[V6]:PORT`` as (address, port); ValueError for a
    name (never resolved), a bad port, and a bracketless IPv6 address whose last group could
    be a port (``2001:db8::1:53``: :func:`~pytest_spider.targets.port_reading`). The address
    comes back canonical, an IPv4-mapped one as IPv4."""
    shown = quoted(text)
    host, port_text = text, None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"DNS server {shown} is not ADDR, ADDR:PORT or [V6]:PORT")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    elif (reading := port_reading(text)) is not None:
        head, last = reading
        raise ValueError(
            f"DNS server {shown} is ambiguous: write [{head}]:{last} for port {last}, "
            f"[{text}] for the address"
        )
    if not host:
        raise ValueError(f"DNS server {shown} has no address")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"DNS server {shown} is not an IP address (names are not resolved)"
        ) from None
    port = default_port
    if port_text is not None:
        if not (port_text.isascii() and port_text.isdigit()):
            raise ValueError(f"DNS server {shown}: port {quoted(port_text)} is not a number")
        port = int(port_text) if len(port_text) <= 5 else 0
        if not 0 < port < 65536:
            raise ValueError(f"DNS server {shown}: port must be 1-65535")
    return canonical_ip(address), port


#: The path lab's ranges (``pytest_spider.lab``): special-purpose (benchmarking, documentation)
#: but what the lab's names resolve to, so :func:`special_address` lets them through.
LAB_NETWORKS: Final = (
    ipaddress.ip_network("198.18.0.0/15"),
    ipaddress.ip_network("2001:db8::/32"),
)
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
#: IANA special-purpose blocks that are not globally reachable, listed here as well as asked
#: of :mod:`ipaddress`, whose tables differ between Python releases.
_SPECIAL_NETWORKS: Final = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "3fff::/20",
        "5f00::/16",
    )
)
_PRIVATE_NETWORKS: Final = tuple(
    ipaddress.ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


def special_address(text: str) -> str | None:
    """Why an address is no measurement target, or None if it may be one.

    ``unspecified``, ``loopback``, ``broadcast``, ``link-local``, ``multicast``, ``site-local``,
    ``reserved``, ``private`` (RFC 1918, shared 100.64.0.0/10, unique local fc00::/7) or
    ``special-purpose`` (any other address that is not global: IANA's special-purpose
    registries, e.g. 192.0.0.0/24, 2001::/23). An IPv4-mapped IPv6 address, and one of
    NAT64's well-known prefix 64:ff9b::/96, is judged as the IPv4 address it holds. The lab's
    :data:`LAB_NETWORKS` pass.
    """
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if any(address in network for network in LAB_NETWORKS):
        return None
    if address.is_reserved:
        return "reserved"
    if any(address in network for network in _PRIVATE_NETWORKS):
        return "private"
    special = any(address in network for network in _SPECIAL_NETWORKS)
    if special or address.is_private or not address.is_global:
        return "special-purpose"
    return None


def server_tos(response: dns.message.Message) -> int | None:
    """The TOS byte the server reported seeing in :data:`TOS_OPTION`, if it did."""
    import dns.edns

    for option in response.options:
        if option.otype == TOS_OPTION and isinstance(option, dns.edns.GenericOption):
            data: bytes = option.data
            return data[0] if len(data) == 1 else None
    return None


def dns_probe(job: Job) -> tuple[bytes, Callable[[bytes], dict[str, Any]]]:
    """A DNS query for the job's domain (the root name without one), and the parser of its
    answer: it yields ``dns_rcode`` and, from the lab DNS server, ``server_tos``; anything
    that is not an answer to this query is a ValueError."""
    import dns.exception
    import dns.message
    import dns.rcode
    import dns.rdatatype

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

    return query.to_wire(), parse


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
    payload, parse = dns_probe(job)
    return connect_udp(source, job, conn_timeout, payload, sockopts, parse)


def resolve_addresses(
    source: tuple[str | None, str | None] | None,
    server: tuple[str, int],
    name: str,
    conn_timeout: float,
) -> FlowResult:
    """Ask ``server`` for the A and AAAA records of ``name``, both within ``conn_timeout``.

    UDP first, TCP when the answer is truncated. Succeeds when the server answered both
    questions, whatever the rcodes: ``dns_addresses`` holds the addresses found (possibly none),
    ``dns_rcodes`` the rcode per record type. ``sip`` is the local address the queries left from.
    """
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    host, port = server
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bind = None if source is None else source[1 if family == socket.AF_INET6 else 0]
    deadline = time.monotonic() + conn_timeout
    addresses: list[str] = []
    rcodes: dict[str, str] = {}
    sp = 0
    sip = None
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            if bind:
                sock.bind((bind, 0))
            sock.connect((host, port))  # so that an ICMP unreachable reads as a refusal
            sp = sock.getsockname()[1]
            sip = bound_address(sock)
            sock.setblocking(False)
            for rdtype in map(dns.rdatatype.RdataType, ADDRESS_TYPES):
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
            message = "DNS server did not answer in time"
            return errors.failure(errors.TIMEOUT, message, sp=sp, sip=sip, dns_rcodes=rcodes)
        except OSError as exc:
            message = str(exc) or "timed out"
            return errors.failure(
                errors.classify_oserror(exc), message, sp=sp, sip=sip, dns_rcodes=rcodes
            )
        except dns.exception.DNSException as exc:
            message = f"bad DNS answer: {exc}"
            return errors.failure(errors.OTHER, message, sp=sp, sip=sip, dns_rcodes=rcodes)
    found = list(dict.fromkeys(addresses))
    return errors.success(sp=sp, sip=sip, dns_addresses=found, dns_rcodes=rcodes)


def _left(deadline: float) -> float:
    """Seconds until ``deadline``; a lapsed deadline times out at once."""
    import dns.exception

    left = deadline - time.monotonic()
    if left <= 0:
        raise dns.exception.Timeout
    return left
