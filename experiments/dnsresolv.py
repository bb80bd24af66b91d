"""DNS resolution: turn a list of names into a list of addresses for the next campaign.

Input targets are names (e.g. ``rank,domain`` CSV). Each name's A and AAAA records are asked
of the server given with ``--spider-dns-server=ADDR[:PORT]`` (UDP, TCP when truncated), never
of the system resolver: there is no default, running without one is an error, and so is a
server inside an ``--spider-exclude`` network (no query is sent there).

As in PATHspider, every address found becomes a record of its own, a copy of the input job
with ``dip`` set, handed to the engine through ``self.outqueue``, so the output file is a
valid target list (ndjson in, ndjson out); the name's own record is then dropped
(``CONN_DISCARD``). PATHspider 2.0.1's dnsresolv adds nothing else to the copy: no ``dp``
(each experiment of the next campaign then connects to its protocol's port), and neither does
this one; an input job's own fields, ``dp`` included, are copied. A job without a domain is
dropped unasked. A name that gives no address keeps its own record, which says why, so that
``--spider-fail-on`` / ``--spider-skip-on`` can gate on it: by default a server that does not
answer skips (``*.connectivity.offline``), and ``--spider-fail-on='dnsresolv.resolved.*'``
fails every name that gave no address.

An answer that no campaign may contact (special-purpose or excluded, below) is emitted all the
same, so the output says what the name resolves to, but the address is in
``dnsresolv_address`` and never in ``dip``: read as the next campaign's target list, the
record is a name without an address, which address experiments skip unmeasured.

Conditions of an emitted record (one per address):

- ``dnsresolv.resolved.a``: the address is from the name's A records.
- ``dnsresolv.resolved.aaaa``: the address is from the name's AAAA records.
- ``dnsresolv.address.special``: besides one of those, the address is loopback, unspecified,
  broadcast, link-local, multicast, private, reserved or otherwise not global
  (``pytest_spider.helpers.dns.special_address``); ``dnsresolv_special`` says which. The lab's
  ranges (198.18.0.0/15, 2001:db8::/32) are the exception: the lab's names resolve there.
- ``dnsresolv.address.excluded``: besides one of those, the address is in an
  ``--spider-exclude`` network; ``dnsresolv_special`` names the entry.

Conditions of a name's own record (kept only when it gave no address):

- ``dnsresolv.connectivity.online``: the server answered both questions.
- ``dnsresolv.connectivity.offline``: it did not (timeout, refusal, a broken answer).
- ``dnsresolv.resolved.none``: the answers (NOERROR or NXDOMAIN) hold no address.
- ``dnsresolv.resolved.error``: an answer was an error (SERVFAIL, REFUSED ...), none had an
  address; ``dns_rcodes`` in the flow result has the rcodes.
- ``dnsresolv.resolved.timeout``: the server did not answer within ``--spider-timeout``.
- ``dnsresolv.resolved.failed``: the query failed otherwise (port unreachable, not DNS).
"""

import ipaddress

from pytest_spider import CONN_DISCARD, CONN_OK, CONN_TIMEOUT, DesynchronizedSpider, PluggableSpider
from pytest_spider.helpers.dns import parse_server, preload, resolve_addresses, special_address
from pytest_spider.targets import canonical_ip

#: rcodes that answer the question: the name has no such record (or does not exist).
NO_ADDRESS_RCODES = {"NOERROR", "NXDOMAIN"}


class DNSResolv(DesynchronizedSpider, PluggableSpider):
    name = "dnsresolv"
    description = "Resolve names (A and AAAA) at a given DNS server into address targets"
    needs_address = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        preload()  # not inside the first, timed, sequence

    def _exclusions(self):
        return getattr(self.args, "exclusions", None) or ()

    def _excluded(self, address):
        for exclusion in self._exclusions():
            entry = exclusion.match(address)
            if entry is not None:
                return entry
        return None

    def _server(self):
        server = getattr(self.args, "dns_server", None)
        if not server:
            raise RuntimeError(
                "dnsresolv needs --spider-dns-server=ADDR[:PORT]: names are never resolved "
                "through the system resolver"
            )
        address, port = parse_server(server)
        entry = self._excluded(address)
        if entry is not None:
            raise RuntimeError(
                f"--spider-dns-server={server} is excluded by {entry}: no query is sent there"
            )
        return address, port

    def resolv_host(self, job, config):
        if not job.get("domain"):
            return {"spdr_state": CONN_DISCARD, "sp": 0, "error_class": None, "error": "no domain"}
        result = resolve_addresses(self.source, self._server(), job["domain"], self.args.timeout)
        if result["spdr_state"] != CONN_OK or not result["dns_addresses"]:
            return result  # the name's own record says why there is no address
        for address in result["dns_addresses"]:
            self._emit(self._address_record(job, address))
        return dict(result, spdr_state=CONN_DISCARD)

    def _address_record(self, job, answer):
        address = canonical_ip(ipaddress.ip_address(answer))
        family = "aaaa" if ":" in answer else "a"
        conditions = [f"dnsresolv.resolved.{family}"]
        entry = self._excluded(address)
        why = None if entry is not None else special_address(address)
        if entry is None and why is None:
            return dict(job, dip=address, conditions=conditions)
        record = {name: value for name, value in job.items() if name not in ("dip", "dp")}
        if entry is not None:
            conditions.append("dnsresolv.address.excluded")
            why = f"excluded by {entry}"
        else:
            conditions.append("dnsresolv.address.special")
        return dict(record, dnsresolv_address=address, dnsresolv_special=why, conditions=conditions)

    def _emit(self, record):
        outqueue = getattr(self, "outqueue", None)
        if outqueue is None:
            raise RuntimeError("dnsresolv hands its records to self.outqueue: the engine sets it")
        outqueue.put(record)

    connections = [resolv_host]

    def combine_flows(self, flows):
        flow = flows[0]
        if flow["spdr_state"] != CONN_OK:
            why = "timeout" if flow["spdr_state"] == CONN_TIMEOUT else "failed"
            return [self.combine_connectivity(False), f"dnsresolv.resolved.{why}"]
        answered = set(flow.get("dns_rcodes", {}).values())
        why = "none" if answered <= NO_ADDRESS_RCODES else "error"
        return [self.combine_connectivity(True), f"dnsresolv.resolved.{why}"]
