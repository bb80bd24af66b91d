"""Hooks that pytest-spider calls and other plugins implement.

Registered with ``pluginmanager.add_hookspecs`` from the plugin's ``pytest_addhooks``. Like
pytest-xdist's ``newhooks.py``, every hook here is documented with when and where it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_spider.record import Record


@pytest.hookspec()
def pytest_spider_record(record: Record, config: pytest.Config) -> Any:
    """Called once for every record (one per target x experiment), as its item finishes.

    Runs in the process that writes output: the only process without pytest-xdist, the
    controller with it, never on a worker. ``record`` is the PATHspider-compatible dict that
    ``--spider-output`` writes, as its line reads (JSON values, number keys as text; treat
    it as read-only). Return values are ignored; use it to stream records to a database, a
    message bus or a live dashboard.
    """
