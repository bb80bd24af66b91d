"""The experiment API: PATHspider's DesynchronizedSpider model, without its threads and queues.

An experiment is a class with ``conn_*`` methods ``(self, job, config)``, a ``connections`` list
naming them in order, and ``combine_flows(self, flows)`` turning the results into conditions.
A PATHspider plugin written that way ports by changing its imports only, so the names, the
``CONN_*`` values and ``self.args`` / ``self.source`` match PATHspider's.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

#: The connection succeeded.
CONN_OK = 0
#: The connection failed (refused, reset, TLS or protocol error ...).
CONN_FAILED = 1
#: The connection timed out.
CONN_TIMEOUT = 2
#: The connection was not attempted.
CONN_SKIPPED = 3
#: The whole job is to be dropped (e.g. a name that did not resolve): no record is kept.
CONN_DISCARD = 4

#: What a ``conn_*`` function receives and returns: PATHspider's plain dicts.
Job = dict[str, Any]
FlowResult = dict[str, Any]
ConnFunction = Callable[[Any, Job, int], FlowResult]


class Spider:
    """Base of every experiment.

    ``args`` is an :class:`argparse.Namespace` with at least ``timeout`` (seconds) and
    ``connect`` (the connection mode); ``source`` is ``(ipv4, ipv6)`` to bind to, or
    ``(None, None)`` for the system's choice.
    """

    #: Condition prefix and the experiment's name on the command line.
    name: ClassVar[str] = "spider"
    #: One line for help texts and reports.
    description: ClassVar[str] = ""
    #: The ``conn_*`` functions, in the order they run for each target.
    connections: ClassVar[Sequence[ConnFunction]] = ()
    #: Connection modes this experiment supports; the first is the default.
    connect_supported: ClassVar[Sequence[str]] = ()
    #: False for experiments whose targets are names (dnsresolv): no address needed.
    needs_address: ClassVar[bool] = True

    def __init__(
        self,
        args: argparse.Namespace | None = None,
        source: tuple[str | None, str | None] = (None, None),
    ) -> None:
        self.args = args if args is not None else argparse.Namespace(timeout=5, connect=None)
        self.source = source

    def combine_flows(self, flows: list[FlowResult]) -> list[str]:
        """Turn the results of ``connections`` (in order) into condition strings."""
        raise NotImplementedError(f"{type(self).__name__} must define combine_flows()")

    def combine_connectivity(
        self, baseline: bool, experimental: bool | None = None, prefix: str | None = None
    ) -> str:
        """``<prefix>.connectivity.works|broken|transient|offline`` from two outcomes.

        With one flow only (``experimental`` is None) the answer is ``online|offline``.
        """
        prefix = self.name if prefix is None else prefix
        if experimental is None:
            state = "online" if baseline else "offline"
        elif baseline:
            state = "works" if experimental else "broken"
        else:
            state = "transient" if experimental else "offline"
        return f"{prefix}.connectivity.{state}"

    @classmethod
    def connection_names(cls) -> list[str]:
        """The ``connections`` as fixture names, in order."""
        return [conn.__name__ for conn in cls.connections]


class DesynchronizedSpider(Spider):
    """A spider whose connections change behaviour per connection, with no global state.

    Every target's connections run back to back in ``connections`` order; different
    targets run concurrently in the measurement engine.
    """


class PluggableSpider:
    """Marker mixin kept for PATHspider compatibility: a spider that can be loaded by name.

    In pytest-spider every experiment class found in an experiment module or in the
    ``pytest_spider.experiments`` entry-point group is loadable; nothing else is needed.
    """


def is_experiment(obj: object) -> bool:
    """True for a concrete experiment class (a Spider subclass with connections)."""
    return (
        isinstance(obj, type)
        and issubclass(obj, Spider)
        and obj not in (Spider, DesynchronizedSpider)
        and bool(obj.connections)
    )


def experiment_args(
    experiment: type[Spider], timeout: float, connect: str | None, extra: Mapping[str, Any]
) -> argparse.Namespace:
    """Build ``self.args`` for one experiment, as PATHspider's argparse would."""
    if connect is None and experiment.connect_supported:
        connect = experiment.connect_supported[0]
    return argparse.Namespace(timeout=timeout, connect=connect, **extra)
