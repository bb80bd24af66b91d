"""ECN: does a path that carries a connection also carry it with Explicit Congestion Notification?

Over TCP (``--spider-connect=http``, the default as in PATHspider, ``https`` or ``tcp``: the
handshake only), PATHspider's ecn experiment: a connection that does not ask for ECN (A), then
one whose SYN asks for it with ECE and CWR (B). Over UDP (``--spider-connect=dns|echo``): the
same datagram not-ECT (A) and marked ECT(0) (B).

TCP, per connection and with no sysctl touched: B's socket carries a firewall mark that one
policy-routing rule of this process sends to a copy of the target's route with ``features ecn``
(``pytest_spider.helpers.ecn``; needs ``CAP_NET_ADMIN``). Both connections are watched by a
packet observer on their own 5-tuple (``pytest_spider.helpers.observe``; needs
``CAP_NET_RAW``), which reads the SYN-ACK's flags, the ECN codepoints that arrived and which SYN
the SYN-ACK answered (by the timestamp it echoes). Linux sends a lost ECN-setup SYN again
without ECE and CWR (``net.ipv4.tcp_ecn_fallback``, read into B's ``tcp_ecn_fallback``): a
path that drops ECN-setup SYNs then still connects, and ``ecn.fallback.connected`` says so.
Where the namespace's ``net.ipv4.tcp_ecn`` makes every connection ask for ECN (1, 3, 4), A is
skipped (no connection without ECN can be made). Without ``CAP_NET_ADMIN`` B is skipped; without
``CAP_NET_RAW`` only connectivity is reported (``TCP_INFO``'s ECN bits stay in the flow as
``tcp_ecn_kernel``: on Linux 6.18 they read a SYN-ACK with ECE and CWR as negotiated ECN, so
they decide nothing here). A target that is one of this host's own addresses cannot be asked
for ECN per socket: B is skipped.

UDP: the datagram is a DNS query for the job's domain (``dns``, port 53 by default) or a probe
for the lab's UDP echo server (``echo``, port 7), marked per socket (``IP_TOS`` /
``IPV6_TCLASS``). The lab's DNS and echo servers report the TOS byte they received; other
servers only answer, and then no ``ecn.mark`` condition is given.

Conditions:

- ``ecn.connectivity.works``: both connections (datagrams) got through.
- ``ecn.connectivity.broken``: A did, B did not.
- ``ecn.connectivity.transient``: only B did.
- ``ecn.connectivity.offline``: neither did.
- ``ecn.connectivity.online|offline``: one connection was skipped (B where ECN cannot be
  asked for from here, A where every connection asks); the other got through or not.
- ``pathspider.not_observed``: a TCP connection was made without the packet observer (no
  ``CAP_NET_RAW``), as PATHspider says when its observer missed a flow; what only the observer
  can tell is then left out.

TCP, when B's handshake completed and the observer watched it:

- ``ecn.negotiation.succeeded``: the SYN-ACK had ECE without CWR.
- ``ecn.negotiation.reflected``: it had ECE and CWR: the SYN's flags came back (a broken
  server or middlebox).
- ``ecn.negotiation.failed``: it had no ECE.
- ``ecn.fallback.connected``: the SYN-ACK answered a SYN sent again without ECE and CWR (it
  echoed that SYN's timestamp): the ECN-setup SYN got no answer, the connection came only
  after Linux fell back. Not given where the SYN-ACK echoes no timestamp.
- ``ecn.ipmark.ect0|ect1|ce.seen|not_seen``: that codepoint was (was not) on a segment that
  came back. In ``tcp`` mode only the SYN-ACK and pure ACKs come back, which are never ECT.

UDP:

- ``ecn.mark.preserved``: the server saw ECT(0) on the ECT(0) datagram.
- ``ecn.mark.stripped``: it saw not-ECT: the path cleared the mark.
- ``ecn.mark.ce``: it saw CE: a router on the path signalled congestion (ECN at work).
- ``ecn.mark.changed``: it saw ECT(1): the path rewrote the mark.
"""

from pytest_spider import CONN_OK, CONN_SKIPPED, DesynchronizedSpider, PluggableSpider
from pytest_spider.helpers import ecn as ecn_request
from pytest_spider.helpers.dns import connect_dns, preload
from pytest_spider.helpers.errors import skipped
from pytest_spider.helpers.observe import ACK, CWR, ECE, SYN
from pytest_spider.helpers.observed import connect_observed, not_observed
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
TCP_MODES = ("http", "https", "tcp")
UDP_MODES = ("dns", "echo")
SAE = SYN | ACK | ECE
SAEC = SAE | CWR


class ECN(DesynchronizedSpider, PluggableSpider):
    name = "ecn"
    description = "ECN: TCP connections asking for ECN (or ECT(0) UDP datagrams) against plain ones"
    connect_supported = ["http", "https", "tcp", "dns", "echo"]
    locate_with = "ecn"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.args.connect == "dns":
            preload()  # dnspython, not inside the first, timed, sequence

    # -- UDP: not-ECT against ECT(0) ----------------------------------------------------------

    def _send(self, job, ecn):
        sockopts = [tos_sockopt(str(job["dip"]), ecn)]
        if self.args.connect == "dns":
            return connect_dns(self.source, job, self.args.timeout, sockopts)
        job.setdefault("dp", 7)
        parse = parse_echo(ECHO_PROBE)
        return connect_udp(self.source, job, self.args.timeout, ECHO_PROBE, sockopts, parse)

    # -- TCP: no ECN against an ECN-setup SYN -------------------------------------------------

    def _tcp(self, job, ask):
        if not ask:
            if reason := ecn_request.asks_always():
                return skipped(reason + ": no connection without ECN can be made")
            return connect_observed(self.source, job, self.args.timeout, self.args.connect)
        request = ecn_request.request_ecn(str(job["dip"]))
        if isinstance(request, str):
            return skipped(request)
        flow = connect_observed(
            self.source, job, self.args.timeout, self.args.connect, [request.sockopt()]
        )
        flow["tcp_ecn_fallback"] = ecn_request.tcp_ecn_fallback()
        syn = flow.get("tcp_synflags_fwd")
        if flow.get("observed") and syn is not None and syn & (ECE | CWR) != ECE | CWR:
            # Something routed the marked socket elsewhere (a rule before ours): no ECN asked.
            not_asked = skipped("the SYN did not ask for ECN (a policy rule before ours?)")
            flow.update({k: v for k, v in not_asked.items() if k != "sp"})
        return flow

    def _connect(self, job, ask):
        mode = self.args.connect
        if mode in UDP_MODES:
            return self._send(job, ECT_0 if ask else NOT_ECT)
        if mode in TCP_MODES:
            return self._tcp(job, ask)
        raise RuntimeError(f"unknown connection mode {mode!r}")

    def conn_no_ecn(self, job, config):
        return self._connect(job, ask=False)

    def conn_ecn(self, job, config):
        return self._connect(job, ask=True)

    connections = [conn_no_ecn, conn_ecn]

    def combine_flows(self, flows):
        baseline, experimental = flows
        ecn_ok = experimental["spdr_state"] == CONN_OK
        if experimental["spdr_state"] == CONN_SKIPPED:
            return [
                self.combine_connectivity(baseline["spdr_state"] == CONN_OK),
                *not_observed(flows),
            ]
        if baseline["spdr_state"] == CONN_SKIPPED:
            conditions = [self.combine_connectivity(ecn_ok)]
        else:
            conditions = [self.combine_connectivity(baseline["spdr_state"] == CONN_OK, ecn_ok)]
        if self.args.connect in UDP_MODES:
            if ecn_ok and "server_tos" in experimental:
                conditions.append(MARK_CONDITIONS[experimental["server_tos"] & ECN_MASK])
            return conditions
        conditions += not_observed(flows)
        if experimental.get("observed") and experimental.get("tcp_connected"):
            conditions += negotiation(experimental)
        return conditions


def negotiation(flow):
    """The TCP conditions of an observed connection whose handshake completed."""
    synack = flow["tcp_synflags_rev"]
    if synack & SAEC == SAE:
        conditions = ["ecn.negotiation.succeeded"]
    elif synack & SAEC == SAEC:
        conditions = ["ecn.negotiation.reflected"]
    else:
        conditions = ["ecn.negotiation.failed"]
    if answered_fallback(flow):
        conditions.append("ecn.fallback.connected")
    for mark in ("ect0", "ect1", "ce"):
        seen = flow[f"ecn_{mark}_syn_rev"] or flow[f"ecn_{mark}_data_rev"]
        conditions.append(f"ecn.ipmark.{mark}.{'seen' if seen else 'not_seen'}")
    return conditions


def answered_fallback(flow):
    """The SYN-ACK echoed the timestamp of a SYN without ECE and CWR, sent after an
    ECN-setup SYN: the connection came only with Linux's fallback."""
    echoed = flow.get("tcp_synack_tsecr")
    syns = flow.get("tcp_syns_fwd") or []
    if echoed is None or not syns or syns[0]["flags"] & (ECE | CWR) != ECE | CWR:
        return False
    answered = [s for s in syns if s["tsval"] == echoed]
    return bool(answered) and all(s["flags"] & (ECE | CWR) == 0 for s in answered)
