"""TCP Fast Open: does a path that carries TCP also carry a SYN with a cookie and data?

Three connections, each an HTTP/1.1 request for ``/`` (port 80 by default): a plain TCP
connection (A), then a Fast Open connection that asks for a cookie, then a Fast Open connection
that sends the request in the SYN with the cookie it got (B). The kernel reports what happened
(``TCP_INFO``), no packet capture needed. Where the client kernel has Fast Open off
(``net.ipv4.tcp_fastopen`` without bit 1) the Fast Open connections are skipped with that
reason: the experiment never changes a sysctl.

Conditions:

- ``tfo.connectivity.works|broken|transient|offline``: the plain connection (A) against the
  data-in-SYN one (B), as for every experiment.
- ``tfo.connectivity.online|offline``: Fast Open was skipped; only A counts.
- ``tfo.cookie.received``: the third SYN carried a cookie, so the server gave one.
- ``tfo.cookie.not_received``: the third connection worked but had no cookie to send (the
  server gave none, or the path dropped the request or the answer).
- ``tfo.syndata.acked``: the server acknowledged the data in the SYN.
- ``tfo.syndata.not_acked``: it answered the SYN but not its data (sent again after it).
- ``tfo.syndata.failed``: the SYN with data got no answer (lost, or dropped on the path); the
  connection may still have worked with a SYN sent again without data.
"""

from pytest_spider import CONN_OK, CONN_SKIPPED, DesynchronizedSpider, PluggableSpider
from pytest_spider.helpers.errors import skipped
from pytest_spider.helpers.tfo import client_disabled, connect_tfo, http_request


class TFO(DesynchronizedSpider, PluggableSpider):
    name = "tfo"
    description = "TCP Fast Open (cookie, then data in the SYN) against plain TCP"
    connect_supported = ["http"]
    locate_with = "tfo"

    def _connect(self, job, fastopen):
        if self.args.connect != "http":
            raise RuntimeError(f"unknown connection mode {self.args.connect!r}")
        if fastopen and (reason := client_disabled()):
            return skipped(reason)
        request = http_request(job)
        return connect_tfo(self.source, job, self.args.timeout, fastopen, request)

    def conn_no_tfo(self, job, config):
        return self._connect(job, fastopen=False)

    def conn_tfo_cookie(self, job, config):
        return self._connect(job, fastopen=True)

    def conn_tfo_data(self, job, config):
        return self._connect(job, fastopen=True)

    connections = [conn_no_tfo, conn_tfo_cookie, conn_tfo_data]

    def combine_flows(self, flows):
        baseline_ok = flows[0]["spdr_state"] == CONN_OK
        tfo = flows[2]
        if tfo["spdr_state"] == CONN_SKIPPED:
            return [self.combine_connectivity(baseline_ok)]
        tfo_ok = tfo["spdr_state"] == CONN_OK
        conditions = [self.combine_connectivity(baseline_ok, tfo_ok)]
        syn_bytes = tfo.get("tfo_syn_bytes")
        if syn_bytes == 0 and tfo_ok:
            conditions.append("tfo.cookie.not_received")
        elif syn_bytes:
            conditions.append("tfo.cookie.received")
            if tfo.get("tfo_syn_data_acked"):
                conditions.append("tfo.syndata.acked")
            elif tfo.get("tfo_client_fail") == "data_not_acked":
                conditions.append("tfo.syndata.not_acked")
            else:
                conditions.append("tfo.syndata.failed")
        return conditions
