"""Connect helpers, one module per protocol; each connects to the address it is given."""

from pytest_spider.helpers.dns import connect_dns
from pytest_spider.helpers.dscp import connect_udp_marked
from pytest_spider.helpers.http import connect_http, connect_https
from pytest_spider.helpers.observed import connect_observed
from pytest_spider.helpers.tcp import connect_tcp
from pytest_spider.helpers.tfo import connect_tfo
from pytest_spider.helpers.udp import connect_udp

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
