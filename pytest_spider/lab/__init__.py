"""The path lab: network namespaces with known path behaviour, for tests, demos and benchmarks.

``Lab`` builds a client, a router and a server namespace (and extra vantage namespaces, or a
chain of routers, on request); ``profiles.PROFILES`` lists what the router can do to the packets
of a server block or a vantage; ``lab_available()`` says whether this machine can.
"""

from pytest_spider.lab.lab import Lab, lab_available
from pytest_spider.lab.profiles import PROFILES

__all__ = ["PROFILES", "Lab", "lab_available"]
