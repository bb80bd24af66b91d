"""Which local address a connection left from: every flow result's ``sip``, as in PATHspider.

PATHspider fills ``sip`` from the source address it was told to use; here each helper reads
the address its socket was actually bound to (``getsockname()``, libcurl's ``LOCAL_IP``), so a
record says where its packets came from even where the system picked the address.
"""

from __future__ import annotations

import socket

#: What ``getsockname()`` says of a socket that has no address yet.
_UNBOUND = frozenset({"0.0.0.0", "::"})


def bound_address(sock: socket.socket) -> str | None:
    """The local address ``sock`` is bound to, or None if it has none (yet, or any more)."""
    try:
        address = sock.getsockname()[0]
    except OSError:
        return None
    return None if not isinstance(address, str) or address in _UNBOUND else address
