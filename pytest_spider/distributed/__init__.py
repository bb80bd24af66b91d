"""pytest-spider under pytest-xdist: which role this process plays, and what it was told.

Like pytest-xdist itself, one module per role: :mod:`.controller` (the controller's plugin:
numbering shares, handing on stdin, choosing the scheduler), :mod:`.scheduling` (share
scheduling), :mod:`.worker` (a worker's share and the order it runs it in). This module reads
the documented surface every role needs: ``config.workerinput`` on a worker, the ``dsession``
plugin on the controller. The few private xdist interfaces used are in :mod:`._xdist`, pinned
by ``tests/test_private_interfaces.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

#: workerinput keys: what the controller read from stdin (the bytes themselves, which execnet
#: carries: no copy in a file that a killed run could leave behind); the worker's share
#: number and count under share scheduling; its vantage name under ``--dist each``.
STDIN_KEY = "spider_stdin"
SHARE_KEY = "spider_share"
VANTAGE_KEY = "spider_vantage"
#: workerinput key: the controller reads reports sent as one JSON text (:mod:`.wire`); a
#: worker sends them so only when told, so a controller of an older pytest-spider (a --tx
#: host's differs) still reads what it is sent.
WIRE_KEY = "spider_wire"
#: workeroutput key: the usage error that stopped a worker (the controller reports it).
USAGE_ERROR_KEY = "spider_usage_error"
#: workerinput key: this worker replaces a crashed one, so it runs only the part of its share
#: left unfinished, which it learns item by item.
REPLACES_KEY = "spider_replaces"


def _workerinput(config: pytest.Config) -> dict[str, Any]:
    value: dict[str, Any] = getattr(config, "workerinput", {})
    return value


def is_worker(config: pytest.Config) -> bool:
    """This process is an xdist worker (it runs items; the controller reports them)."""
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """This process distributes items to xdist workers and runs none itself."""
    return config.pluginmanager.getplugin("dsession") is not None


def will_distribute(config: pytest.Config) -> bool:
    """Known at configure time: this process is (or is about to be) an xdist controller."""
    return (
        not is_worker(config)
        and config.getoption("dist", "no") != "no"
        and not config.getoption("collectonly", False)
    )


def stdin_bytes(text: str) -> bytes:
    """What the controller read from stdin, as workerinput carries it (:func:`worker_stdin`):
    bytes, since a byte that was not UTF-8 is kept in the text as a lone surrogate."""
    return text.encode("utf-8", "surrogateescape")


def worker_stdin(config: pytest.Config) -> str | None:
    """On a worker: what the controller read from stdin, or None if it read nothing."""
    value = _workerinput(config).get(STDIN_KEY)
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else None


def worker_vantage(config: pytest.Config) -> str | None:
    """On a worker under ``--dist each``: its gateway id (``gw0``, or a ``--tx`` spec's id=)."""
    value = _workerinput(config).get(VANTAGE_KEY)
    return str(value) if value else None


def tx_count(config: pytest.Config) -> int:
    """On the controller: how many workers the run starts. ``-n N`` becomes N ``--tx`` specs
    before any worker starts; ``--tx 3*popen`` counts three."""
    count = 0
    for spec in config.getoption("tx", None) or ():
        number, star, _ = str(spec).partition("*")
        count += int(number) if star and number.isdigit() else 1
    return count


def worker_count(config: pytest.Config) -> int:
    """How many workers share the run (1 without xdist)."""
    return int(_workerinput(config).get("workercount", 1))


def worker_share(config: pytest.Config) -> tuple[int, int] | None:
    """On a worker under share scheduling: its share's number and the number of shares.

    Targets are dealt round-robin: the worker with share ``i`` of ``n`` measures the targets
    at positions ``i, i + n, i + 2n ...`` of the target list, with every experiment, and no
    item for any other target is ever built there. A number past the last share (a
    replacement no crashed share was left for) has nothing to do.
    """
    share = _workerinput(config).get(SHARE_KEY)
    return None if share is None else (int(share[0]), int(share[1]))


def controller_reads_json(config: pytest.Config) -> bool:
    """On a worker: the controller said it reads reports sent as JSON text."""
    return bool(_workerinput(config).get(WIRE_KEY))


def replaces_a_crashed_worker(config: pytest.Config) -> bool:
    """On a worker: it took over a crashed worker's share, and runs what was left of it."""
    return bool(_workerinput(config).get(REPLACES_KEY))


def plans_everything(config: pytest.Config) -> bool:
    """On a worker: it will run all it collected, so its engine can plan all of it (its
    share, or everything under ``--dist each``); xdist's own scheduling says nothing ahead,
    nor does a crashed worker's replacement (what is left of the share is not known yet)."""
    workerinput = _workerinput(config)
    if workerinput.get(REPLACES_KEY):
        return False
    return VANTAGE_KEY in workerinput or SHARE_KEY in workerinput


def tell_controller_usage_error(config: pytest.Config, message: str) -> None:
    """On a worker: hand a usage error to the controller, which alone is heard."""
    workeroutput = getattr(config, "workeroutput", None)
    if isinstance(workeroutput, dict):
        workeroutput[USAGE_ERROR_KEY] = message


def report_worker(report: pytest.TestReport) -> str:
    """On the controller: the id of the worker a report came from ("" if none)."""
    gateway = getattr(getattr(report, "node", None), "gateway", None)
    return str(getattr(gateway, "id", ""))
