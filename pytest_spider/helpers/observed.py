"""One TCP connection set up per socket and watched: the helper of the ecn, dscp and mss
experiments over TCP.

:func:`connect_observed` connects in one of PATHspider's modes (``tcp``: the handshake only;
``http`` / ``https``: a request for ``/`` through the project's curl helpers), with socket
options of its own (``SO_MARK`` to ask for ECN, ``IP_TOS`` / ``IPV6_TCLASS`` for a DSCP), and
returns the usual flow result plus what the kernel says of the connection (``TCP_INFO``,
:mod:`pytest_spider.helpers.tcpinfo`) and, where a packet socket can be had, what a
:class:`~pytest_spider.helpers.observe.Capture` of its own 5-tuple saw (PATHspider's observer
fields, :func:`pytest_spider.helpers.observe.flow_fields`).

The socket is made and bound here (also under curl, through ``OPENSOCKETFUNCTION``), so its
5-tuple is known before the SYN leaves and the capture misses nothing; it is held until the
transfer is over, so ``TCP_INFO`` is read from the connection itself.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any, Final

import pycurl

from pytest_spider.helpers import errors
from pytest_spider.helpers.http import connect_http, connect_https
from pytest_spider.helpers.observe import Capture, flow_fields, observer_unavailable
from pytest_spider.helpers.tcpinfo import flow_fields as kernel_fields
from pytest_spider.spider import FlowResult, Job

#: PATHspider's condition for a sequence with a connection its observer did not watch.
NOT_OBSERVED: Final = "pathspider.not_observed"

#: Connection modes and their default ports.
MODES: Final = {"tcp": 80, "http": 80, "https": 443}
SockOpt = tuple[int, int, int]


class _Connection:
    """The socket of one connection and its observer, made before connecting."""

    def __init__(
        self,
        family: int,
        remote: tuple[str, int],
        bind: str | None,
        sockopts: Iterable[SockOpt],
        observe: bool,
    ) -> None:
        self.observer_error: str | None = None
        self.capture: Capture | None = None
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        remote = (str(ipaddress.ip_address(remote[0])), remote[1])  # as packets spell it
        try:
            for level, option, value in sockopts:
                self.sock.setsockopt(level, option, value)
            self.sock.bind((bind or _source_for(family, remote[0]), 0))
            local = self.sock.getsockname()
            if observe:
                self.observer_error = observer_unavailable()
                if self.observer_error is None:
                    try:
                        self.capture = Capture((local[0], local[1]), remote)
                    except OSError as exc:
                        self.observer_error = f"packet observer failed: {exc}"
        except BaseException:
            self.sock.close()
            raise

    def fields(self) -> dict[str, Any]:
        """The kernel's fields and the observer's (or why there are none)."""
        fields = kernel_fields(self.sock)
        if self.capture is not None:
            fields.update(flow_fields(self.capture.packets()))
        else:
            fields["observed"] = False
            if self.observer_error:
                fields["observer_error"] = self.observer_error
        return fields

    def close(self) -> None:
        if self.capture is not None:
            self.capture.close()
        self.sock.close()


def _source_for(family: int, dip: str) -> str:
    """The source address the kernel would pick towards ``dip``: a UDP socket connected
    there sends nothing, yet holds the route's choice. The wildcard if there is no route."""
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((dip, 9))
        except OSError:
            return "::" if family == socket.AF_INET6 else "0.0.0.0"
        return str(probe.getsockname()[0])


def connect_observed(
    source: tuple[str | None, str | None] | None,
    job: Job,
    conn_timeout: float,
    mode: str,
    sockopts: Iterable[SockOpt] = (),
    observe: bool = True,
) -> FlowResult:
    """Connect to ``job['dip']:job['dp']`` in ``mode`` (``tcp``, ``http`` or ``https``; the
    port defaults to 80 or 443) with ``sockopts`` set on the socket first.

    The result carries the mode's fields (``http_*`` for HTTP), the kernel's (``tcpi_*``,
    ``tcp_maxseg``, ``tcp_ecn_kernel``) and, with ``observe``, ``observed`` and the
    observer's (or ``observer_error`` saying why there is no observer).
    """
    if mode not in MODES:
        raise ValueError(f"unknown connection mode {mode!r}; known: {', '.join(MODES)}")
    job.setdefault("dp", MODES[mode])
    dip, dp = str(job["dip"]), int(job["dp"])
    family = socket.AF_INET6 if ":" in dip else socket.AF_INET
    bind = None if source is None else source[1 if family == socket.AF_INET6 else 0]
    options = list(sockopts)
    if mode == "tcp":
        return _tcp(family, (dip, dp), bind, options, observe, conn_timeout)
    held: list[_Connection] = []
    failure: list[str] = []

    def open_socket(purpose: int, address: tuple[Any, ...]) -> socket.socket | None:
        # curl dups the descriptor it gets: the connection lives on in ``held`` after curl
        # closes its copy, so TCP_INFO can still be read.
        try:
            conn = _Connection(address[0], (dip, dp), bind, options, observe)
        except OSError as exc:
            failure.append(f"cannot set up the socket: {exc}")
            return None
        held.append(conn)
        return conn.sock

    curlopts = {pycurl.OPENSOCKETFUNCTION: open_socket}
    connect = connect_https if mode == "https" else connect_http
    result = connect(None, job, conn_timeout, curlopts)
    try:
        if held:
            result.update(held[-1].fields())
        elif failure:
            result.update(errors.failure(errors.OTHER, failure[0], sp=0))
    finally:
        for conn in held:
            conn.close()
    return result


def _tcp(
    family: int,
    remote: tuple[str, int],
    bind: str | None,
    sockopts: list[SockOpt],
    observe: bool,
    conn_timeout: float,
) -> FlowResult:
    """PATHspider's ``tcp`` mode: the handshake, then close (``sip``: the source address)."""
    try:
        conn = _Connection(family, remote, bind, sockopts, observe)
    except OSError as exc:
        return errors.failure(errors.OTHER, f"cannot set up the socket: {exc}")
    try:
        sip, sp = conn.sock.getsockname()[:2]
        conn.sock.settimeout(conn_timeout)
        try:
            conn.sock.connect(remote)
        except OSError as exc:
            fields = conn.fields()
            message = str(exc) or "timed out"
            return errors.failure(errors.classify_oserror(exc), message, sp=sp, sip=sip, **fields)
        fields = conn.fields()
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
        return errors.success(sp=sp, sip=sip, **fields)
    finally:
        conn.close()


def not_observed(flows: Iterable[FlowResult]) -> list[str]:
    """``[NOT_OBSERVED]`` when a connection of ``flows`` was made without the observer (no
    packet socket here), as PATHspider's ecn, dscp and mss say; else nothing."""
    return [NOT_OBSERVED] if any(flow.get("observed") is False for flow in flows) else []
