"""The experiment API: PATHspider's DesynchronizedSpider model, without its threads and queues.

An experiment is a class with ``conn_*`` methods ``(self, job, config)``, a ``connections`` list
naming them in order, and ``combine_flows(self, flows)`` turning the results into conditions.
A PATHspider plugin written that way ports by changing its imports only, so the names, the
``CONN_*`` values and ``self.args`` / ``self.source`` match PATHspider's.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Final, TypeGuard

from pytest_spider.schema import ConnState

# Plain ints, as in PATHspider (they travel between xdist processes as builtins).
#: The connection succeeded.
CONN_OK: Final = ConnState.OK.value
#: The connection failed (refused, reset, TLS or protocol error ...).
CONN_FAILED: Final = ConnState.FAILED.value
#: The connection timed out.
CONN_TIMEOUT: Final = ConnState.TIMEOUT.value
#: The connection was not attempted.
CONN_SKIPPED: Final = ConnState.SKIPPED.value
#: The whole job is to be dropped (e.g. a name that did not resolve): no record is kept.
CONN_DISCARD: Final = ConnState.DISCARD.value

#: What a ``conn_*`` function receives and returns: PATHspider's plain dicts.
Job = dict[str, Any]
FlowResult = dict[str, Any]
#: PATHspider's ``--connect`` default.
DEFAULT_CONNECT: Final = "http"
ConnFunction = Callable[[Any, Job, int], FlowResult]


class Spider:
    """Base of every experiment.

    ``args`` is an :class:`argparse.Namespace` with at least ``timeout`` (seconds) and
    ``connect`` (the connection mode); ``source`` is ``(ipv4, ipv6)`` to bind to, or
    ``(None, None)`` for the system's choice.
    """

    #: Condition prefix and the experiment's name in records; a class that sets none (as the
    #: seed text of PATHspider's H2 plugin) is named after itself, lower-cased.
    name: ClassVar[str] = "spider"
    #: One line for help texts and reports.
    description: ClassVar[str] = ""
    #: The ``conn_*`` functions, in the order they run for each target.
    connections: ClassVar[Sequence[ConnFunction]] = ()
    #: Connection modes this experiment supports; the first is the default. An experiment
    #: that declares none gets ``--spider-connect`` as given (default ``http``, as PATHspider).
    connect_supported: ClassVar[Sequence[str]] = ()
    #: False for experiments whose targets are names (dnsresolv): no address needed.
    needs_address: ClassVar[bool] = True
    #: The probe pair ``--spider-locate`` finds the hop that breaks a failing target with: a
    #: name in ``pytest_spider.locate.scan.PAIRS`` (``ecn``, ``dscp``, ``tfo``, ``quic``); None
    #: (the default): this experiment's failures are not located.
    locate_with: ClassVar[str | None] = None
    #: True for an experiment whose ``conn_*`` functions wait on nothing but pytest-spider's
    #: HTTP helpers (``connect_http``, ``connect_https``): its sequences may then run as
    #: greenlets on one thread, their transfers driven together (:mod:`pytest_spider.hub`),
    #: which costs a fraction of a thread each. Anything else that blocks (a socket, a DNS
    #: query, a sleep) would hold up every other transfer: leave it False (the default).
    cooperative: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Spider and DesynchronizedSpider (this module's) name no experiment.
        own = [b for b in cls.__mro__ if b.__module__ not in (__name__, "builtins")]
        if own and not any("name" in vars(base) for base in own):
            cls.name = cls.__name__.lower()

    def __init__(
        self,
        args: argparse.Namespace | None = None,
        source: tuple[str | None, str | None] = (None, None),
    ) -> None:
        self.args = (
            args if args is not None else argparse.Namespace(timeout=5, connect=DEFAULT_CONNECT)
        )
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


def is_experiment(obj: object) -> TypeGuard[type[Spider]]:
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
    """Build ``self.args`` for one experiment, as PATHspider's argparse would: ``connect`` is
    the mode given, else the experiment's first, else PATHspider's default ``http``."""
    if connect is None:
        modes = experiment.connect_supported
        connect = modes[0] if modes else DEFAULT_CONNECT
    return argparse.Namespace(timeout=timeout, connect=connect, **extra)
