"""pytest-spider: A/B measurement of Internet path transparency as a pytest plugin.

What an experiment imports; PATHspider plugins port by changing their imports to these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_spider import helpers
from pytest_spider.spider import (
    CONN_DISCARD,
    CONN_FAILED,
    CONN_OK,
    CONN_SKIPPED,
    CONN_TIMEOUT,
    DesynchronizedSpider,
    PluggableSpider,
    Spider,
)

if TYPE_CHECKING:
    from pytest_spider.helpers import (
        connect_dns,
        connect_http,
        connect_https,
        connect_observed,
        connect_tcp,
        connect_tfo,
        connect_udp,
        connect_udp_marked,
    )

__version__ = "0.1.0"

__all__ = [
    "CONN_DISCARD",
    "CONN_FAILED",
    "CONN_OK",
    "CONN_SKIPPED",
    "CONN_TIMEOUT",
    "DesynchronizedSpider",
    "PluggableSpider",
    "Spider",
    "__version__",
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
    """The connect helpers, each loaded when first named (see :mod:`pytest_spider.helpers`)."""
    if name in helpers.__all__:
        return getattr(helpers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
