"""TLS: does a path that carries TLS 1.2 also carry TLS 1.3, and a ClientHello offering HTTP/2?

Three HTTPS connections (port 443 by default), each fetching ``/`` over HTTP/1.1 unless ALPN
settles otherwise:

1. ``conn_tls12`` (A): TLS 1.2 only, no ALPN: the most conservative ClientHello.
2. ``conn_tls13`` (B): TLS 1.3 only, no ALPN.
3. ``conn_alpn_h2``: TLS 1.2 only, ALPN offering ``h2`` and ``http/1.1``: A plus ALPN.

Conditions, named ``tls.<what>[.<which>].<verdict>``:

- ``tls.connectivity.works|broken|transient|offline``: A against B (TLS 1.3).
- ``tls.version.tls12.supported|unsupported``, ``tls.version.tls13.supported|unsupported``: the
  server completed that version's handshake, or refused it with a TLS error. A connection
  that timed out or was reset says nothing about the server and gives no version condition.
- ``tls.alpn.connectivity.works|broken|transient|offline``: A against the ALPN connection.
- ``tls.alpn.h2.negotiated|not_negotiated``: the ALPN connection got a response spoken in
  HTTP/2 (the server chose ``h2``) or in HTTP/1.1.
"""

import pycurl

from pytest_spider import CONN_OK, DesynchronizedSpider, PluggableSpider, connect_https

TLS12 = pycurl.SSLVERSION_TLSv1_2 | pycurl.SSLVERSION_MAX_TLSv1_2
TLS13 = pycurl.SSLVERSION_TLSv1_3 | pycurl.SSLVERSION_MAX_TLSv1_3
VERSIONS = {"tls12": 0, "tls13": 1}


class TLS(DesynchronizedSpider, PluggableSpider):
    name = "tls"
    description = "TLS 1.3 and ALPN h2 against TLS 1.2 without ALPN"
    connect_supported = ["https"]
    cooperative = True

    def _connect(self, job, version, alpn):
        if self.args.connect != "https":
            raise RuntimeError(f"unknown connection mode {self.args.connect!r}")
        http = pycurl.CURL_HTTP_VERSION_2TLS if alpn else pycurl.CURL_HTTP_VERSION_1_1
        curlopts = {
            pycurl.SSLVERSION: version,
            pycurl.SSL_ENABLE_ALPN: int(alpn),
            pycurl.HTTP_VERSION: http,
        }
        infos = {pycurl.INFO_HTTP_VERSION}
        return connect_https(self.source, job, self.args.timeout, curlopts, infos)

    def conn_tls12(self, job, config):
        return self._connect(job, TLS12, alpn=False)

    def conn_tls13(self, job, config):
        return self._connect(job, TLS13, alpn=False)

    def conn_alpn_h2(self, job, config):
        return self._connect(job, TLS12, alpn=True)

    connections = [conn_tls12, conn_tls13, conn_alpn_h2]

    def combine_flows(self, flows):
        ok = [flow["spdr_state"] == CONN_OK for flow in flows]
        conditions = [self.combine_connectivity(ok[0], ok[1])]
        for version, index in VERSIONS.items():
            if ok[index]:
                conditions.append(f"tls.version.{version}.supported")
            elif flows[index]["error_class"] == "tls":
                conditions.append(f"tls.version.{version}.unsupported")
        conditions.append(self.combine_connectivity(ok[0], ok[2], prefix="tls.alpn"))
        if ok[2]:
            version = flows[2]["http_info"][pycurl.INFO_HTTP_VERSION]
            spoke_h2 = version == pycurl.CURL_HTTP_VERSION_2_0
            conditions.append(f"tls.alpn.h2.{'negotiated' if spoke_h2 else 'not_negotiated'}")
        return conditions
