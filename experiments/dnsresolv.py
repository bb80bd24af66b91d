"""DNS resolution: turn a list of names into a list of addresses for the next campaign.

Input targets are names (e.g. ``rank,domain`` CSV). Each name's A and AAAA records are asked
of the server given with ``--spider-dns-server=ADDR[:PORT]`` (UDP, TCP when truncated), never
of the system resolver: there is no default, running without one is an error.

As in PATHspider, the name's own record is always dropped (``CONN_DISCARD``): every address
found becomes a record of its own, a copy of the input job with ``dip`` set, handed to the
engine through ``self.outqueue``, so the output file is a valid target list (ndjson in, ndjson
out). Names that do not resolve, or jobs without a domain, leave nothing behind. PATHspider
names no conditions for dnsresolv; each address record here carries one saying where it came
from:

- ``dnsresolv.resolved.a``: the address is from the name's A records.
- ``dnsresolv.resolved.aaaa``: the address is from the name's AAAA records.
"""

from pytest_spider import CONN_DISCARD, CONN_OK, DesynchronizedSpider, PluggableSpider
from pytest_spider.helpers.dns import parse_server, resolve_addresses


class DNSResolv(DesynchronizedSpider, PluggableSpider):
    name = "dnsresolv"
    description = "Resolve names (A and AAAA) at a given DNS server into address targets"
    needs_address = False

    def _server(self):
        server = getattr(self.args, "dns_server", None)
        if not server:
            raise RuntimeError(
                "dnsresolv needs --spider-dns-server=ADDR[:PORT]: names are never resolved "
                "through the system resolver"
            )
        return parse_server(server)

    def resolv_host(self, job, config):
        if not job.get("domain"):
            return {"spdr_state": CONN_DISCARD, "sp": 0, "error_class": None, "error": "no domain"}
        result = resolve_addresses(self.source, self._server(), job["domain"], self.args.timeout)
        if result["spdr_state"] == CONN_OK:
            for address in result["dns_addresses"]:
                family = "aaaa" if ":" in address else "a"
                self._emit(dict(job, dip=address, conditions=[f"dnsresolv.resolved.{family}"]))
        return dict(result, spdr_state=CONN_DISCARD)

    def _emit(self, record):
        outqueue = getattr(self, "outqueue", None)
        if outqueue is None:
            raise RuntimeError("dnsresolv hands its records to self.outqueue: the engine sets it")
        outqueue.put(record)

    connections = [resolv_host]
