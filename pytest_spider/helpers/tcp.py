"""Plain TCP connections, PATHspider's ``connect_tcp``: a handshake and nothing more.

The connection goes to ``job['dip']``; the domain plays no part. Results carry ``sip``, the
local address the socket was bound to (None if it never got one).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

from pytest_spider.helpers import errors
from pytest_spider.helpers.source import bound_address
from pytest_spider.spider import FlowResult, Job


def connect_tcp(
    source: tuple[str | None, str | None] | None,
    job: Job,
    conn_timeout: float,
    sockopts: Iterable[tuple[Any, ...]] | None = None,
) -> FlowResult:
    """Connect to ``job['dip']:job['dp']`` (default port 80), then close.

    ``sockopts`` are ``setsockopt`` argument tuples applied before connecting.
    """
    job.setdefault("dp", 80)
    dip, dp = str(job["dip"]), int(job["dp"])
    family = socket.AF_INET6 if ":" in dip else socket.AF_INET
    bind = None if source is None else source[1 if family == socket.AF_INET6 else 0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            for opt in sockopts or ():
                sock.setsockopt(*opt)
            if bind:
                sock.bind((bind, 0))
            sock.settimeout(conn_timeout)
            sock.connect((dip, dp))
            sp = sock.getsockname()[1]
            sip = bound_address(sock)
            sock.shutdown(socket.SHUT_RDWR)
        except OSError as exc:
            return errors.failure(
                errors.classify_oserror(exc), str(exc) or "timed out", sip=bound_address(sock)
            )
    return errors.success(sp=sp, sip=sip)
