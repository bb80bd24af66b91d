"""HTTP/3: does a path that carries HTTPS over TCP also carry HTTP/3 over QUIC (UDP)?

Baseline (A): HTTPS over TCP, HTTP/2 or HTTP/1.1 as ALPN settles. Experiment (B): HTTP/3 only
(libcurl's ``CURL_HTTP_VERSION_3ONLY``) to the same port over UDP, no fallback to TCP. Where
libcurl was built without HTTP/3, B is skipped with that reason.

Conditions:

- ``h3.connectivity.works|broken|transient|offline``: A against B, as for every experiment.
- ``h3.connectivity.online|offline``: HTTP/3 was skipped; only A counts.
- ``h3.altsvc.advertised|not_advertised``: A's response did (did not) name HTTP/3 in Alt-Svc.
- ``h3.upgrade.success``: B got a response, spoken in HTTP/3.
- ``h3.upgrade.failed``: the server advertised HTTP/3 but B got no HTTP/3 response: the
  upgrade a browser would try does not work on this path (or at this server).
"""

import re

import pycurl

from pytest_spider import (
    CONN_OK,
    CONN_SKIPPED,
    DesynchronizedSpider,
    PluggableSpider,
    connect_https,
)
from pytest_spider.helpers.errors import skipped

ALT_SVC_H3 = re.compile(r"^alt-svc:.*\bh3(-\d+)?=", re.IGNORECASE | re.MULTILINE)


def http3_unavailable():
    """Why this libcurl cannot speak HTTP/3, or None if it can."""
    if not hasattr(pycurl, "CURL_HTTP_VERSION_3ONLY"):
        return f"pycurl {pycurl.version} has no CURL_HTTP_VERSION_3ONLY"
    if not pycurl.version_info()[4] & pycurl.VERSION_HTTP3:
        return f"libcurl was built without HTTP/3 ({pycurl.version})"
    return None


class H3(DesynchronizedSpider, PluggableSpider):
    name = "h3"
    description = "HTTP/3 over QUIC against HTTPS over TCP"
    connect_supported = ["https"]
    cooperative = True
    locate_with = "quic"
    h3_unavailable = http3_unavailable()

    def _connect(self, job, curlopts, curlinfos=()):
        if self.args.connect != "https":
            raise RuntimeError(f"unknown connection mode {self.args.connect!r}")
        return connect_https(self.source, job, self.args.timeout, curlopts, curlinfos)

    def conn_tcp(self, job, config):
        return self._connect(job, {pycurl.HTTP_VERSION: pycurl.CURL_HTTP_VERSION_2TLS})

    def conn_h3(self, job, config):
        if self.h3_unavailable:
            return skipped(self.h3_unavailable)
        return self._connect(
            job,
            {pycurl.HTTP_VERSION: pycurl.CURL_HTTP_VERSION_3ONLY},
            {pycurl.INFO_HTTP_VERSION},
        )

    connections = [conn_tcp, conn_h3]

    def combine_flows(self, flows):
        tcp_ok = flows[0]["spdr_state"] == CONN_OK
        h3 = flows[1]
        if h3["spdr_state"] == CONN_SKIPPED:
            return [self.combine_connectivity(tcp_ok)]
        h3_ok = h3["spdr_state"] == CONN_OK
        conditions = [self.combine_connectivity(tcp_ok, h3_ok)]
        advertised = tcp_ok and bool(ALT_SVC_H3.search(flows[0]["http_response_header"]))
        if tcp_ok:
            conditions.append(f"h3.altsvc.{'advertised' if advertised else 'not_advertised'}")
        if h3_ok and h3["http_info"][pycurl.INFO_HTTP_VERSION] == pycurl.CURL_HTTP_VERSION_3:
            conditions.append("h3.upgrade.success")
        elif advertised:
            conditions.append("h3.upgrade.failed")
        return conditions
