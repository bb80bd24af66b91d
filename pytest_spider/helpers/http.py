"""HTTP(S) connections through libcurl, PATHspider's ``connect_http`` / ``connect_https``.

The target's address is always the one connected to, whatever the URL names: every transfer
carries ``CURLOPT_CONNECT_TO`` ``::DIP:DP`` (any host, any port goes to the dip and dp), which
no ``curlopts`` can override, so no resolver is ever asked and no other address contacted.
The domain is only the URL's host, hence the Host header and the TLS SNI, and only when it is
a name (:func:`~pytest_spider.targets.is_name`): a domain that is a number (``3323068738``,
``0x7f000002``, ``198.18.1.66``) would be read as an address, so the dip stands in for it.
``connect_https`` really speaks TLS (PATHspider 2.0.1 built an ``http://`` URL there).
Results carry ``sip``, the local address curl connected from (``CURLINFO_LOCAL_IP``). A
transfer that timed out after its whole response had arrived succeeded (``late: true``): the
path carried it, and the time was lost in an overloaded client. A transfer on the hub that
timed out while the hub had left it unattended is made again, once (``retried: true``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from io import BytesIO
from typing import Any

import pycurl

from pytest_spider import hub
from pytest_spider.helpers import errors, settings
from pytest_spider.spider import FlowResult, Job
from pytest_spider.targets import is_name

#: Returned by the write callback to make curl stop once enough body is kept.
_STOP_TRANSFER = 0


def connect_http(
    source: tuple[str | None, str | None] | None,
    job: Job,
    conn_timeout: float,
    curlopts: Mapping[int, Any] | None = None,
    curlinfos: Iterable[int] | None = None,
) -> FlowResult:
    """Fetch ``/`` from ``job['dip']:job['dp']`` (default port 80) over plain HTTP."""
    job.setdefault("dp", 80)
    return _fetch("http", source, job, conn_timeout, curlopts, curlinfos)


def connect_https(
    source: tuple[str | None, str | None] | None,
    job: Job,
    conn_timeout: float,
    curlopts: Mapping[int, Any] | None = None,
    curlinfos: Iterable[int] | None = None,
) -> FlowResult:
    """Fetch ``/`` from ``job['dip']:job['dp']`` (default port 443) over TLS."""
    job.setdefault("dp", 443)
    return _fetch("https", source, job, conn_timeout, curlopts, curlinfos)


def _url_host(dip: str) -> str:
    return f"[{dip}]" if ":" in dip else dip


def host_label(job: Job) -> str:
    """What names the target in a URL, Host header and SNI: the job's domain if it is a name
    (:func:`~pytest_spider.targets.is_name`), else its address (IPv6 in brackets)."""
    domain = job.get("domain")
    return domain if domain and is_name(domain) else _url_host(str(job["dip"]))


def _fetch(
    scheme: str,
    source: tuple[str | None, str | None] | None,
    job: Job,
    conn_timeout: float,
    curlopts: Mapping[int, Any] | None,
    curlinfos: Iterable[int] | None,
    again: bool = True,
) -> FlowResult:
    dip, dp = str(job["dip"]), int(job["dp"])
    host = host_label(job)
    cfg = settings.current
    header, body = BytesIO(), BytesIO()
    truncated = False

    def keep_body(chunk: bytes) -> int | None:
        nonlocal truncated
        room = cfg.max_body - body.tell()
        body.write(chunk[: max(room, 0)])
        if len(chunk) > room:
            truncated = True
            return _STOP_TRANSFER
        return None

    timeout_ms = max(1, int(conn_timeout * 1000))
    opts: dict[int, Any] = {
        pycurl.URL: f"{scheme}://{host}:{dp}/",
        pycurl.HTTP_VERSION: pycurl.CURL_HTTP_VERSION_1_1,
        pycurl.USERAGENT: cfg.user_agent,
        pycurl.SSL_VERIFYPEER: int(cfg.tls_verify),
        pycurl.SSL_VERIFYHOST: 2 if cfg.tls_verify else 0,
    }
    if cfg.ca_file:
        opts[pycurl.CAINFO] = cfg.ca_file
    opts.update(curlopts or {})
    # Not overridable: these keep every packet on the target's own address and bound in time.
    opts.update(
        {
            pycurl.CONNECT_TO: [f"::{_url_host(dip)}:{dp}"],
            pycurl.PROXY: "",
            pycurl.NOPROXY: "*",
            pycurl.NOSIGNAL: 1,
            pycurl.TIMEOUT_MS: timeout_ms,
            pycurl.CONNECTTIMEOUT_MS: timeout_ms,
            pycurl.FRESH_CONNECT: 1,
            pycurl.FORBID_REUSE: 1,
            # Nothing carried from one transfer to the next, though the hub's share one multi
            # handle: no cached address (the cache would grow with every target measured,
            # and libcurl walks all of it at each transfer) and no resumed TLS session.
            pycurl.DNS_CACHE_TIMEOUT: 0,
            pycurl.SSL_SESSIONID_CACHE: 0,
            pycurl.FOLLOWLOCATION: 0,
            pycurl.HEADERFUNCTION: header.write,
            pycurl.WRITEFUNCTION: keep_body,
        }
    )
    if source is not None:
        bind = source[1] if ":" in dip else source[0]
        if bind:
            opts[pycurl.INTERFACE] = bind

    curl = pycurl.Curl()
    try:
        for option, value in opts.items():
            curl.setopt(option, value)
        late = False
        started = time.monotonic()
        failed = _perform(curl)
        if failed is not None:
            code, message = failed
            late = code == pycurl.E_OPERATION_TIMEDOUT and _arrived_whole(curl)
            if again and code == pycurl.E_OPERATION_TIMEDOUT and not late and _unattended(started):
                result = _fetch(scheme, source, job, conn_timeout, curlopts, curlinfos, False)
                result["retried"] = True
                return result
            if not (code == pycurl.E_WRITE_ERROR and truncated) and not late:
                return errors.failure(
                    errors.classify_curl(code, message, curl.getinfo(pycurl.OS_ERRNO)),
                    message,
                    sp=curl.getinfo(pycurl.LOCAL_PORT),
                    sip=curl.getinfo(pycurl.LOCAL_IP) or None,
                    curl_code=code,
                )
        info = {ci: curl.getinfo(ci) for ci in (curlinfos or ())}
        return errors.success(
            sp=curl.getinfo(pycurl.LOCAL_PORT),
            sip=curl.getinfo(pycurl.LOCAL_IP) or None,
            http_response_code=curl.getinfo(pycurl.RESPONSE_CODE),
            http_response_header=header.getvalue().decode("utf-8", "backslashreplace"),
            http_response_body=body.getvalue().decode("utf-8", "backslashreplace"),
            http_body_truncated=truncated,
            http_info=info,
            **({"late": True} if late else {}),
        )
    finally:
        curl.close()


def _perform(curl: pycurl.Curl) -> tuple[int, str] | None:
    """Run ``curl``'s transfer: None, or libcurl's error code and message.

    From a greenlet of the :mod:`~pytest_spider.hub` (a cooperative experiment's sequence),
    the hub runs it among every other transfer in flight. Anywhere else it runs in the calling
    thread: libcurl lets go of the GIL while it waits, and opens the socket in this thread,
    hence in this thread's network namespace.
    """
    on_hub = hub.current()
    if on_hub is not None:
        return on_hub.perform(curl)
    try:
        curl.perform()
    except pycurl.error as exc:
        code, message = exc.args
        return int(code), str(message)
    return None


def _unattended(started: float) -> bool:
    """The transfer ran on the hub, and the hub left it unattended a while since ``started``
    (:meth:`~pytest_spider.hub.Hub.stalled_since`): its timeout may be the hub's own."""
    on_hub = hub.current()
    return on_hub is not None and on_hub.stalled_since(started)


def _arrived_whole(curl: pycurl.Curl) -> bool:
    """The whole response is in, though the transfer timed out: the status line came and
    every byte the response announced (Content-Length) arrived. The path carried it; what
    was late was this process, overloaded, in noticing the end ("with 3 out of 3 bytes
    received"), which is no timeout of the path."""
    expected = float(curl.getinfo(pycurl.CONTENT_LENGTH_DOWNLOAD_T))
    status = int(curl.getinfo(pycurl.RESPONSE_CODE))
    return status > 0 and expected >= 0 and float(curl.getinfo(pycurl.SIZE_DOWNLOAD_T)) >= expected
