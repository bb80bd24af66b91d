"""The lab tests use the ``spider_lab`` fixture (one lab per session, per xdist worker)."""

from pytest_spider.lab.fixtures import spider_lab

__all__ = ["spider_lab"]
