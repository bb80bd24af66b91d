"""MSS: what Maximum Segment Size option does the SYN-ACK carry, against the one we sent?

One connection per target (PATHspider's mss is a single-connection experiment): ``http``
(default, as PATHspider), ``https`` or ``tcp`` (the handshake only). A packet observer on the
connection's own 5-tuple reads the MSS option of the SYN as it left and of the SYN-ACK as it
arrived (``CAP_NET_RAW``). The kernel's view cannot stand in: ``TCP_INFO``'s ``tcpi_advmss``
and ``tcpi_snd_mss`` and ``TCP_MAXSEG`` are the segment sizes in use, less the TCP options of
the connection, and a SYN-ACK without the option reads as one announcing 536; they stay in the
flow (``tcpi_advmss``, ``tcpi_snd_mss``, ``tcp_maxseg``), and without the observer only
connectivity is reported. A router clamping the MSS (``tcp option maxseg size set``) shows as a
smaller remote value than a path without it.

Conditions:

- ``mss.connectivity.online|offline``: the handshake completed (did not).
- ``mss.option.local.value:N``: our SYN carried MSS ``N``.
- ``mss.option.remote.value:N``: the SYN-ACK arrived with MSS ``N``.
- ``mss.option.received.deflated|unchanged|inflated``: that is below, equal to, above ours.
- ``mss.option.received.absent``: the SYN-ACK arrived without an MSS option.
- ``pathspider.not_observed``: a TCP connection was made without the packet observer (no
  ``CAP_NET_RAW``), as PATHspider says when its observer missed a flow; what only the observer
  can tell is then left out.
"""

from pytest_spider import CONN_OK, DesynchronizedSpider, PluggableSpider
from pytest_spider.helpers.observed import connect_observed, not_observed


class MSS(DesynchronizedSpider, PluggableSpider):
    name = "mss"
    description = "the MSS option of the SYN-ACK against the SYN's"
    connect_supported = ["http", "https", "tcp"]

    def conn_mss(self, job, config):
        mode = self.args.connect
        if mode not in self.connect_supported:
            raise RuntimeError(f"unknown connection mode {mode!r}")
        return connect_observed(self.source, job, self.args.timeout, mode)

    connections = [conn_mss]

    def combine_flows(self, flows):
        flow = flows[0]
        observed = bool(flow.get("observed"))
        connected = flow["tcp_connected"] if observed else flow["spdr_state"] == CONN_OK
        conditions = [self.combine_connectivity(connected), *not_observed(flows)]
        if not (observed and connected) or flow.get("mss_value_fwd") is None:
            return conditions
        local, remote = flow["mss_value_fwd"], flow.get("mss_value_rev")
        conditions.append(f"mss.option.local.value:{local}")
        if remote is None:
            conditions.append("mss.option.received.absent")
            return conditions
        conditions.append(f"mss.option.remote.value:{remote}")
        if remote < local:
            conditions.append("mss.option.received.deflated")
        elif remote == local:
            conditions.append("mss.option.received.unchanged")
        else:
            conditions.append("mss.option.received.inflated")
        return conditions
