"""ECN over UDP: does a path that carries a datagram also carry it marked ECN-capable?

Baseline (A): a datagram sent not-ECT. Experiment (B): the same datagram marked ECT(0), set
per socket with IP_TOS / IPV6_TCLASS. The datagram is a DNS query for the job's domain
(``--spider-connect=dns``, port 53 by default) or a probe for the lab's UDP echo server
(``--spider-connect=echo``, port 7). The lab's DNS and echo servers report the TOS byte they
received; other servers only answer, and then no ``ecn.mark`` condition is given.

Conditions:

- ``ecn.connectivity.works``: both datagrams were answered.
- ``ecn.connectivity.broken``: the not-ECT one was, the ECT(0) one was not.
- ``ecn.connectivity.transient``: only the ECT(0) one was.
- ``ecn.connectivity.offline``: neither was.
- ``ecn.mark.preserved``: the server saw ECT(0) on the ECT(0) datagram.
- ``ecn.mark.stripped``: it saw not-ECT: the path cleared the mark.
- ``ecn.mark.ce``: it saw CE: a router on the path signalled congestion (ECN at work).
- ``ecn.mark.changed``: it saw ECT(1): the path rewrote the mark.
"""

from pytest_spider import CONN_OK, DesynchronizedSpider, PluggableSpider
from pytest_spider.helpers.dns import connect_dns
from pytest_spider.helpers.udp import connect_udp, parse_echo, tos_sockopt

NOT_ECT, ECT_1, ECT_0, CE = 0, 1, 2, 3
ECN_MASK = 0x03
MARK_CONDITIONS = {
    ECT_0: "ecn.mark.preserved",
    NOT_ECT: "ecn.mark.stripped",
    CE: "ecn.mark.ce",
    ECT_1: "ecn.mark.changed",
}
ECHO_PROBE = b"pytest-spider ecn probe"


class ECN(DesynchronizedSpider, PluggableSpider):
    name = "ecn"
    description = "ECN-capable (ECT(0)) UDP datagrams against not-ECT ones"
    connect_supported = ["dns", "echo"]

    def _send(self, job, ecn):
        sockopts = [tos_sockopt(str(job["dip"]), ecn)]
        if self.args.connect == "dns":
            return connect_dns(self.source, job, self.args.timeout, sockopts)
        if self.args.connect == "echo":
            job.setdefault("dp", 7)
            parse = parse_echo(ECHO_PROBE)
            return connect_udp(self.source, job, self.args.timeout, ECHO_PROBE, sockopts, parse)
        raise RuntimeError(f"unknown connection mode {self.args.connect!r}")

    def conn_not_ect(self, job, config):
        return self._send(job, NOT_ECT)

    def conn_ect0(self, job, config):
        return self._send(job, ECT_0)

    connections = [conn_not_ect, conn_ect0]

    def combine_flows(self, flows):
        baseline_ok = flows[0]["spdr_state"] == CONN_OK
        ect_ok = flows[1]["spdr_state"] == CONN_OK
        conditions = [self.combine_connectivity(baseline_ok, ect_ok)]
        if ect_ok and "server_tos" in flows[1]:
            conditions.append(MARK_CONDITIONS[flows[1]["server_tos"] & ECN_MASK])
        return conditions
