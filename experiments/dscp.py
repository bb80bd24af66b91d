"""DSCP: does a path that carries a connection also carry it with a DiffServ codepoint set?

Baseline (A): DSCP 0. Experiment (B): the target's own ``codepoint`` field (0-63) where its
input line has one, else ``--spider-codepoint`` (``self.args.codepoint``, as PATHspider's
``--codepoint``), else the class attribute ``codepoint``: 48, PATHspider's default (a subclass
may carry another).
Each is set on its own socket (``IP_TOS`` / ``IPV6_TCLASS``): nothing global changes, no
privilege is needed to send.

Modes: ``http`` (default, as PATHspider) and ``tcp`` (the handshake only), ``dns`` (a query
over UDP, port 53 by default) and ``echo`` (the lab's UDP echo server, port 7). The mark the
answer came back with is read per socket over UDP (``IP_RECVTOS`` / ``IPV6_RECVTCLASS``, no
privilege); over TCP the kernel does not hand it to the client, so a packet observer on the
connection's own 5-tuple reads the SYN-ACK's (``CAP_NET_RAW``; without it the ``replymark``
conditions are left out). The lab's DNS and echo servers also say which mark they received.

Conditions (``X`` is the codepoint B sent):

- ``dscp.X.connectivity.works|broken|transient|offline``: A against B, as for every experiment.
- ``dscp.0.replymark:N``, ``dscp.X.replymark:N``: the answer to A (to B) came back with DSCP
  ``N`` (the SYN-ACK's over TCP, the answer datagram's over UDP).
- ``dscp.0.servermark:N``, ``dscp.X.servermark:N``: the lab server received A (B) with DSCP
  ``N`` (a path that rewrites marks shows here).
- ``pathspider.not_observed``: a TCP connection was made without the packet observer (no
  ``CAP_NET_RAW``), as PATHspider says when its observer missed a flow; what only the observer
  can tell is then left out.
"""

from pytest_spider import CONN_OK, DesynchronizedSpider, PluggableSpider
from pytest_spider.helpers.dns import dns_probe, preload
from pytest_spider.helpers.dscp import connect_udp_marked, dscp_sockopt, echo_probe
from pytest_spider.helpers.observed import connect_observed, not_observed


class DSCP(DesynchronizedSpider, PluggableSpider):
    name = "dscp"
    description = "a DSCP codepoint (48 unless told otherwise) against DSCP 0"
    connect_supported = ["http", "tcp", "dns", "echo"]
    locate_with = "dscp"
    codepoint = 48

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.args.connect == "dns":
            preload()  # dnspython, not inside the first, timed, sequence

    def _connect(self, job, codepoint):
        mode = self.args.connect
        if mode in ("dns", "echo"):
            job.setdefault("dp", 53 if mode == "dns" else 7)
            payload, parse = dns_probe(job) if mode == "dns" else echo_probe()
            flow = connect_udp_marked(
                self.source, job, self.args.timeout, payload, codepoint, parse
            )
        elif mode in ("http", "tcp"):
            sockopts = [dscp_sockopt(str(job["dip"]), codepoint)]
            flow = connect_observed(self.source, job, self.args.timeout, mode, sockopts)
        else:
            raise RuntimeError(f"unknown connection mode {mode!r}")
        flow["dscp"] = codepoint
        return flow

    def conn_no_dscp(self, job, config):
        return self._connect(job, 0)

    def conn_dscp(self, job, config):
        given = getattr(self.args, "codepoint", None)
        default = self.codepoint if given is None else given
        return self._connect(job, int(job.get("codepoint", default)))

    connections = [conn_no_dscp, conn_dscp]

    def combine_flows(self, flows):
        prefix = f"dscp.{flows[1]['dscp']}"
        ok = [flow["spdr_state"] == CONN_OK for flow in flows]
        conditions = [self.combine_connectivity(ok[0], ok[1], prefix=prefix)]
        for flow in flows:
            mark = reply_mark(flow)
            if mark is not None:
                conditions.append(f"dscp.{flow['dscp']}.replymark:{mark}")
            if flow["spdr_state"] == CONN_OK and flow.get("server_tos") is not None:
                conditions.append(f"dscp.{flow['dscp']}.servermark:{flow['server_tos'] >> 2}")
        return conditions + not_observed(flows)


def reply_mark(flow):
    """The DSCP the answer came back with, where it was seen."""
    if flow.get("reply_tos") is not None:
        return flow["reply_tos"] >> 2
    if flow.get("observed"):
        return flow.get("tcp_synack_dscp")
    return None
