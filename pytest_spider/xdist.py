"""Everything that depends on pytest-xdist, in one place.

Uses only xdist's documented surface: ``config.workerinput`` on workers, the ``dsession``
plugin on the controller, and the ``pytest_configure_node`` hook. ``tests/test_xdist.py``
pins these.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

#: workerinput key carrying the controller's copy of a target list read from stdin.
STDIN_KEY = "spider_stdin_copy"


def is_worker(config: pytest.Config) -> bool:
    """This process is an xdist worker (it runs items; the controller reports them)."""
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """This process distributes items to xdist workers and runs none itself."""
    return config.pluginmanager.getplugin("dsession") is not None


def worker_stdin_copy(config: pytest.Config) -> str | None:
    """On a worker: the file holding what the controller read from stdin, if anything."""
    value = getattr(config, "workerinput", {}).get(STDIN_KEY)
    return str(value) if value else None


class StdinForwarder:
    """Controller side: stdin can be read once, so workers get a file copy of it."""

    def __init__(self, text: str) -> None:
        with tempfile.NamedTemporaryFile(
            "w", prefix="spider-stdin-", suffix=".txt", delete=False, encoding="utf-8"
        ) as spool:
            spool.write(text)
        self.path = spool.name

    def pytest_configure_node(self, node: Any) -> None:
        """xdist hook: hand the copy's path to each worker as it starts."""
        node.workerinput[STDIN_KEY] = self.path

    def pytest_unconfigure(self) -> None:
        """The workers are gone by now; so goes the copy."""
        Path(self.path).unlink(missing_ok=True)
