"""The embedded demo's local servers: one per outcome the h2 experiment can report."""

from pytest_spider.demo.servers import DEMO_DOMAIN, DemoServers, Endpoint, write_target_list

__all__ = ["DEMO_DOMAIN", "DemoServers", "Endpoint", "write_target_list"]
