"""Connect helpers, one module per protocol; each connects to the address it is given."""

from pytest_spider.helpers.http import connect_http, connect_https
from pytest_spider.helpers.tcp import connect_tcp

__all__ = ["connect_http", "connect_https", "connect_tcp"]
