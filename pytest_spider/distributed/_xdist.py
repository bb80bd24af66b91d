"""The private pytest-xdist interfaces pytest-spider relies on, and nothing else.

- On the controller, ``DSession.shouldstop``: setting it makes xdist stop the run (as a
  worker's ``-x`` does), which is how the writing process stops a campaign whose output
  cannot take more records.
- A worker's ``WorkerInteractor`` (``xdist.remote``) and its ``torun`` queue of item
  indices, from which xdist's worker loop takes each next item: wrapping it is how a worker
  runs its share finished-first. It is found by what it has (the queue, and the channel
  events it sends), not by its class: on a worker ``xdist.remote`` runs as execnet's
  ``__channelexec__`` code, so the class is not importable from there.

``tests/test_private_interfaces.py`` pins both by behaviour, on every supported xdist.
"""

from __future__ import annotations

from typing import Any

import pytest


def worker_queue_owner(config: pytest.Config) -> Any | None:
    """On a worker: xdist's plugin whose ``torun`` queue feeds the worker loop, or None."""
    for plugin in config.pluginmanager.get_plugins():
        queue = getattr(plugin, "torun", None)
        if callable(getattr(plugin, "sendevent", None)) and hasattr(queue, "get"):
            return plugin
    return None


def stop_distributing(config: pytest.Config, reason: str) -> None:
    """On the controller: make xdist stop the run, giving ``reason``."""
    dsession = config.pluginmanager.getplugin("dsession")
    if dsession is not None:
        dsession.shouldstop = reason
