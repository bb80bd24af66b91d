"""Connect helpers, one module per protocol; each connects to the address it is given.

Each helper's module loads when the helper is first named (``from pytest_spider.helpers
import connect_tcp``, or through ``pytest_spider``), so that a campaign loads only those its
experiments use: the packet-capture and raw-socket ones bring ctypes and more.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pytest_spider.helpers.dns import connect_dns
    from pytest_spider.helpers.dscp import connect_udp_marked
    from pytest_spider.helpers.http import connect_http, connect_https
    from pytest_spider.helpers.observed import connect_observed
    from pytest_spider.helpers.tcp import connect_tcp
    from pytest_spider.helpers.tfo import connect_tfo
    from pytest_spider.helpers.udp import connect_udp

#: Each helper's module in this package.
_HOMES: Final = {
    "connect_dns": "dns",
    "connect_http": "http",
    "connect_https": "http",
    "connect_observed": "observed",
    "connect_tcp": "tcp",
    "connect_tfo": "tfo",
    "connect_udp": "udp",
    "connect_udp_marked": "dscp",
}

__all__ = [
    "connect_dns",
    "connect_http",
    "connect_https",
    "connect_observed",
    "connect_tcp",
    "connect_tfo",
    "connect_udp",
    "connect_udp_marked",
]


def __getattr__(name: str) -> Any:
    """A helper, its module loaded on first use (module ``__getattr__``, PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    helper = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = helper
    return helper
