"""The hub: sequences of cooperative experiments as greenlets, their HTTP transfers driven
together through libcurl's multi interface, in the thread that runs pytest's items.

A thread per sequence in flight is what a blocking ``conn_`` API costs: hundreds of threads
hand the GIL to each other at every libcurl callback (each header line is one), and that
hand-over, not the connections, was most of a campaign's CPU. An experiment whose ``conn_``
functions wait only in pytest-spider's HTTP helpers (:func:`~pytest_spider.connect_http`,
:func:`~pytest_spider.connect_https`) says so with ``cooperative = True``; its sequences then
run here instead, each as a greenlet. A helper called from such a greenlet hands its transfer
to the hub's ``CurlMulti`` and switches back to the hub, which waits on every socket at once
(epoll through :mod:`selectors`, so no ``FD_SETSIZE`` limit) and switches into each greenlet
again when its transfer ends.

The hub has no thread of its own. A thread of its own fought the item thread for the GIL at
every callback, and with both busy (``-n 2`` on two cores) a round through a few hundred
ready sockets took half a second: transfers timed out in the hub, not on the path. So the
thread that runs the items also runs the hub, a round at a time (:meth:`Hub.pump`): between
two items, and while it waits for a result. The engine calls it; nothing else does.

The item thread can still be away for a while (a slow hook of another plugin, a terminal that
does not read, xdist waiting for its controller), and a transfer whose time ran out meanwhile
says nothing about its path: the hub notes each round that came that late
(:meth:`Hub.stalled_since`), and the HTTP helpers make such a transfer again, once.

Ctrl-C stops the run wherever it lands: Python delivers it to the item thread, which may be
inside a greenlet just then, where the sequence would take it for a ``conn_`` function's own
exception. While the hub exists, an interrupt that lands in a greenlet is held, and handed to the
SIGINT handler that was there before (Python's raises KeyboardInterrupt) in the hub's own loop
as soon as the greenlet hands back.

Anything else that blocks, in a cooperative experiment, would hold up every transfer in
flight: experiments that make other connections (sockets, DNS, locating a break) keep their
threads.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import greenlet
import pycurl

S = TypeVar("S")

#: A round that comes this long after the last one ended, or that itself takes this long,
#: has left every transfer in flight unattended for as long.
STALL = 0.25
#: Seconds of work a round may reach and still start new slots. The work of a round grows
#: with the transfers in flight; past what the process serves in good time (two busy workers
#: on two cores, thousands of slots) rounds outlast ``STALL``, and every timeout in flight then
#: counts as the hub's own and is made again. So a round starts slots only until it has
#: worked this long (moving transfers on, resuming sequences, starting slots): where the
#: transfers keep it busy, it starts none, and what is in flight settles where rounds take
#: about this long; where they do not (dead targets waiting out their timeouts, a fast
#: machine), a refill of thousands starts at once. The next round pays for the new slots'
#: connects, and starts fewer.
ROUND_BUDGET = 0.05

_local = threading.local()


def current() -> Hub[Any] | None:
    """The hub whose greenlet calls this (None in any other thread, or outside its
    greenlets): where an HTTP helper hands its transfer."""
    hub: Hub[Any] | None = getattr(_local, "hub", None)
    if hub is None or greenlet.getcurrent() is hub.loop_greenlet:
        return None
    return hub


class Hub(Generic[S]):
    """Slots run as greenlets, their transfers in one multi handle, a round per :meth:`pump`.

    Made in, and pumped only by, the thread that runs the items (its *owner*). ``run(slot)``
    runs a slot, inside a greenlet of its own; at most ``limit`` run at once.
    ``start_at()`` names (and takes) the earliest time the next slot may start (the rate
    limit). Slots may be submitted from any thread.
    """

    def __init__(
        self,
        limit: int,
        run: Callable[[S], object],
        start_at: Callable[[], float],
    ) -> None:
        self.limit = limit
        self._run = run
        self._start_at = start_at
        self._owner = threading.get_ident()
        self._inbox: list[S] = []
        self._inbox_lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self._timer: float | None = None
        #: Greenlets waiting for a transfer, by curl handle.
        self._waiting: dict[pycurl.Curl, greenlet.greenlet] = {}
        #: Slots admitted and waiting for the time the rate gives them: (time, order, slot).
        self._due: list[tuple[float, int, S]] = []
        self._order = itertools.count()
        #: Slots admitted and not ended (running or due).
        self.live = 0
        self.loop_greenlet = greenlet.getcurrent()
        #: When the last round ended, and when the last one ended that came (or took) too long.
        self._last_round = time.monotonic()
        self._stalled_at = float("-inf")
        #: A Ctrl-C that landed in a greenlet, to hand on in the loop.
        self._interrupted = False
        self._sigint: Any = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is not None and previous != signal.SIG_IGN:
                self._sigint = signal.signal(signal.SIGINT, self._on_interrupt)
        _local.hub = self

    def submit(self, slot: S) -> None:
        """Run ``slot`` as soon as fewer than ``limit`` run (from any thread)."""
        with self._inbox_lock:
            self._inbox.append(slot)
        if threading.get_ident() != self._owner:
            self.wake()

    def wake(self) -> None:
        """End the owner's wait in :meth:`pump` (something it waits for came, elsewhere)."""
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    # -- from a greenlet of this hub -------------------------------------------------------

    def perform(self, curl: pycurl.Curl) -> tuple[int, str] | None:
        """Run ``curl``'s transfer among the others: None, or libcurl's error code and message.
        Only from one of this hub's greenlets, which waits here while the hub runs the rest."""
        self._multi.add_handle(curl)
        self._waiting[curl] = greenlet.getcurrent()
        try:
            result: tuple[int, str] | None = self.loop_greenlet.switch()
        except BaseException:  # unwound by close(): the transfer goes with it
            if self._waiting.pop(curl, None) is not None:
                self._multi.remove_handle(curl)
            raise
        return result

    def stalled_since(self, moment: float) -> bool:
        """Transfers in flight were left unattended for more than ``STALL`` s after
        ``moment`` (a :func:`time.monotonic` time)."""
        return self._stalled_at > moment

    # -- from the owner --------------------------------------------------------------------

    def pump(self, wait: float = 0.0) -> None:
        """One round: wait up to ``wait`` s for a socket, a timer or a submission, then move
        on every transfer that can move, resume the greenlets whose transfer ended, and start
        what may start."""
        now = time.monotonic()
        if now - self._last_round > STALL:  # before the timeouts it caused are seen
            self._stalled_at = now
        events = self._selector.select(self._wait_time(wait))
        began = time.monotonic()
        for key, mask in events:
            if key.fileobj is self._wake_r:
                with contextlib.suppress(BlockingIOError):
                    self._wake_r.recv(4096)
                continue
            action = (pycurl.CSELECT_IN if mask & selectors.EVENT_READ else 0) | (
                pycurl.CSELECT_OUT if mask & selectors.EVENT_WRITE else 0
            )
            self._multi.socket_action(key.fd, action)
        if self._timer is not None and self._timer <= time.monotonic():
            self._timer = None
            self._multi.socket_action(pycurl.SOCKET_TIMEOUT, 0)
        self._resume_finished()
        self._admit(began)
        self._start_due()
        if self._interrupted:
            self._interrupted = False
            self._interrupt()
        self._last_round = ended = time.monotonic()
        if ended - began > STALL:
            self._stalled_at = ended

    def close(self) -> None:
        """Unwind every greenlet still waiting for a transfer, and let go of the sockets."""
        for waiter in list(self._waiting.values()):
            with contextlib.suppress(greenlet.GreenletExit):
                waiter.throw(greenlet.GreenletExit)
        self._multi.close()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        if self._sigint is not None:
            signal.signal(signal.SIGINT, self._sigint)
        _local.hub = None

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        if greenlet.getcurrent() is not self.loop_greenlet:
            self._interrupted = True
            return
        self._interrupt(frame)

    def _interrupt(self, frame: Any = None) -> None:
        """Do what Ctrl-C did before the hub came: the handler then (Python's raises
        KeyboardInterrupt; another may tidy up first), or the default action."""
        previous = self._sigint
        if callable(previous):
            previous(signal.SIGINT, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.raise_signal(signal.SIGINT)

    def _wait_time(self, wait: float) -> float:
        if wait <= 0 or (self._inbox and self.live < self.limit):
            return 0.0
        for deadline in (self._timer, self._due[0][0] if self._due else None):
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
        return max(wait, 0.0)

    def _admit(self, began: float) -> None:
        """Start slots while there is room, until the round (which ``began`` then) has
        worked ``ROUND_BUDGET`` s."""
        if not self._inbox or self.live >= self.limit:
            return
        with self._inbox_lock:
            room = self._inbox[: self.limit - self.live]
        now = time.monotonic()
        until = began + ROUND_BUDGET
        taken = 0
        try:
            for slot in room:
                if time.monotonic() >= until and (taken or self.live):  # the rest waits
                    return
                taken += 1
                self.live += 1
                at = self._start_at()
                if at > now:
                    heapq.heappush(self._due, (at, next(self._order), slot))
                else:
                    self._start(slot)
        finally:  # only the owner takes from the inbox; others append behind
            with self._inbox_lock:
                del self._inbox[:taken]

    def _start_due(self) -> None:
        now = time.monotonic()
        while self._due and self._due[0][0] <= now:
            self._start(heapq.heappop(self._due)[2])

    def _start(self, slot: S) -> None:
        greenlet.greenlet(self._run_one).switch(slot)

    def _run_one(self, slot: S) -> None:
        try:
            self._run(slot)
        finally:
            self.live -= 1

    def _resume_finished(self) -> None:
        while True:
            queued, done, failed = self._multi.info_read()
            ended: list[tuple[pycurl.Curl, tuple[int, str] | None]] = [(c, None) for c in done]
            ended += [(c, (int(code), str(message))) for c, code, message in failed]
            for curl, result in ended:
                self._multi.remove_handle(curl)
                waiter = self._waiting.pop(curl, None)
                if waiter is not None:
                    waiter.switch(result)
            if not queued:
                return

    def _on_socket(self, what: int, fd: int, multi: Any, data: Any) -> None:
        events = (selectors.EVENT_READ if what & pycurl.POLL_IN else 0) | (
            selectors.EVENT_WRITE if what & pycurl.POLL_OUT else 0
        )
        if what == pycurl.POLL_REMOVE or not events:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(fd)
            return
        try:
            self._selector.modify(fd, events)
        except KeyError:
            self._selector.register(fd, events)

    def _on_timer(self, milliseconds: int) -> None:
        self._timer = None if milliseconds < 0 else time.monotonic() + milliseconds / 1000
