"""pytest-spider: A/B measurement of Internet path transparency as a pytest plugin.

What an experiment imports; PATHspider plugins port by changing their imports to these.
"""

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
