"""HTTP/2: does a path that carries HTTP/1.1 also carry HTTP/2?

Baseline (A): HTTP/1.1. Experiment (B): HTTP/2, negotiated by ALPN over TLS
(``--spider-connect=https``) or by an ``Upgrade: h2c`` request over plain HTTP
(``--spider-connect=http``, PATHspider's default).

Conditions:

- ``h2.connectivity.works``: both connections got an HTTP response.
- ``h2.connectivity.broken``: HTTP/1.1 did, the HTTP/2 attempt did not.
- ``h2.connectivity.transient``: only the HTTP/2 attempt did.
- ``h2.connectivity.offline``: neither did.
- ``h2.upgrade.success`` / ``h2.upgrade.failed``: the HTTP/2 attempt got a response and it
  was (was not) spoken in HTTP/2.
"""

import pycurl

from pytest_spider import (
    CONN_OK,
    DesynchronizedSpider,
    PluggableSpider,
    connect_http,
    connect_https,
)


class H2(DesynchronizedSpider, PluggableSpider):
    name = "h2"
    description = "HTTP/2 over TLS (ALPN) or cleartext (h2c upgrade) against HTTP/1.1"
    connect_supported = ["http", "https"]
    cooperative = True

    def _connect(self, job, curlopts=None, curlinfos=None):
        if self.args.connect == "http":
            return connect_http(self.source, job, self.args.timeout, curlopts, curlinfos)
        if self.args.connect == "https":
            return connect_https(self.source, job, self.args.timeout, curlopts, curlinfos)
        raise RuntimeError(f"unknown connection mode {self.args.connect!r}")

    def conn_no_h2(self, job, config):
        return self._connect(job, {pycurl.HTTP_VERSION: pycurl.CURL_HTTP_VERSION_1_1})

    def conn_h2(self, job, config):
        return self._connect(
            job,
            {pycurl.HTTP_VERSION: pycurl.CURL_HTTP_VERSION_2_0},
            {pycurl.INFO_HTTP_VERSION},
        )

    connections = [conn_no_h2, conn_h2]

    def combine_flows(self, flows):
        baseline_ok = flows[0]["spdr_state"] == CONN_OK
        h2_ok = flows[1]["spdr_state"] == CONN_OK
        conditions = [self.combine_connectivity(baseline_ok, h2_ok)]
        if h2_ok:
            version = flows[1]["http_info"][pycurl.INFO_HTTP_VERSION]
            spoke_h2 = version == pycurl.CURL_HTTP_VERSION_2_0
            conditions.append("h2.upgrade.success" if spoke_h2 else "h2.upgrade.failed")
        return conditions
