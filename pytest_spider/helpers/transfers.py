"""Every curl transfer of a process, driven by one thread through libcurl's multi interface.

``connect_http`` keeps PATHspider's blocking signature, and each target's connections run
back to back in a sequence thread of the engine. Until now each of those threads ran its own
``curl.perform()``: hundreds of threads doing socket work, each taking the GIL back for every
header line curl hands over. Here one driver thread runs them all with ``socket_action``,
waiting on every transfer's sockets at once (epoll); a sequence thread hands its prepared
handle over and sleeps until the transfer is done.

libcurl opens a transfer's socket in the driver thread, and a socket belongs to the network
namespace of the thread that opens it. So there is one driver per namespace, started by a
thread in that namespace (a thread starts in its creator's namespace): a transfer asked for
from inside a lab namespace (``Lab.inside``) leaves from there, never from the host's. A
driver with nothing to do for a while ends, so that it keeps no namespace alive.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from collections import deque
from typing import Any, Final

import pycurl

#: libcurl's socket-function actions, as epoll events.
_EVENTS: Final = {
    pycurl.POLL_IN: select.EPOLLIN,
    pycurl.POLL_OUT: select.EPOLLOUT,
    pycurl.POLL_INOUT: select.EPOLLIN | select.EPOLLOUT,
}
#: What epoll reports, as libcurl's socket_action bits (errors and hang-ups count as both:
#: libcurl finds out what happened when it reads or writes).
_IN: Final = select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP
_OUT: Final = select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP
#: Seconds a driver with no transfer waits for one before it ends.
IDLE: Final = 2.0


class TransferError(Exception):
    """What ``curl.perform()`` would have raised: libcurl's code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


class _Transfer:
    __slots__ = ("curl", "done", "error")

    def __init__(self, curl: pycurl.Curl) -> None:
        self.curl = curl
        self.done = threading.Event()
        self.error: TransferError | None = None


class Driver:
    """The one thread that drives the transfers of one network namespace (started by the
    first transfer, ended after :data:`IDLE` seconds without one)."""

    def __init__(self) -> None:
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self._epoll = select.epoll()
        #: The sockets libcurl asked to watch (fd -> epoll events).
        self._watched: dict[int, int] = {}
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_fd = self._wake_read.fileno()
        self._epoll.register(self._wake_fd, select.EPOLLIN)
        self._incoming: deque[_Transfer] = deque()
        self._running: dict[pycurl.Curl, _Transfer] = {}
        #: When libcurl wants ``socket_action(SOCKET_TIMEOUT)`` (monotonic); None: no timer.
        self._deadline: float | None = None
        #: When the driver last took a transfer.
        self._active = time.monotonic()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: The driver ended (idle): transfers go to a new one.
        self.ended = False

    def submit(self, transfer: _Transfer) -> bool:
        """Hand ``transfer`` to this driver (its thread starts in the calling thread's
        namespace); False if the driver has ended."""
        with self._lock:
            if self.ended:
                return False
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._drive, name="spider-transfers", daemon=True
                )
                self._thread.start()
            self._incoming.append(transfer)
        self._wake_write.send(b"\0")
        return True

    # -- the driver thread -----------------------------------------------------------------

    def _drive(self) -> None:
        while not self._idle_end():
            try:
                self._step()
            except Exception as exc:  # never leave a sequence waiting for ever
                self._fail_all(TransferError(pycurl.E_FAILED_INIT, f"transfer driver: {exc!r}"))
        self._multi.close()
        self._epoll.close()
        self._wake_read.close()
        self._wake_write.close()

    def _idle_end(self) -> bool:
        """End the driver if nothing came for :data:`IDLE` seconds and nothing is running."""
        if self._running or self._incoming or time.monotonic() - self._active < IDLE:
            return False
        with self._lock:
            if self._incoming:
                return False
            self.ended = True
            return True

    def _step(self) -> None:
        multi = self._multi
        deadline = self._deadline
        wait = IDLE if deadline is None else max(0.0, deadline - time.monotonic())
        for fd, mask in self._epoll.poll(wait):
            if fd == self._wake_fd:
                self._take_incoming()
                continue
            action = (pycurl.CSELECT_IN if mask & _IN else 0) | (
                pycurl.CSELECT_OUT if mask & _OUT else 0
            )
            multi.socket_action(fd, action)
        if self._deadline is not None and self._deadline <= time.monotonic():
            self._deadline = None
            multi.socket_action(pycurl.SOCKET_TIMEOUT, 0)
        self._finish()

    def _fail_all(self, error: TransferError) -> None:
        for curl, transfer in list(self._running.items()):
            with contextlib.suppress(pycurl.error):
                self._multi.remove_handle(curl)
            transfer.error = error
            transfer.done.set()
        self._running.clear()

    def _take_incoming(self) -> None:
        try:
            while self._wake_read.recv(4096):
                pass
        except BlockingIOError:
            pass
        self._active = time.monotonic()
        while self._incoming:
            transfer = self._incoming.popleft()
            self._running[transfer.curl] = transfer
            self._multi.add_handle(transfer.curl)
        # Adding handles sets a timer of 0: libcurl starts them from socket_action.
        self._multi.socket_action(pycurl.SOCKET_TIMEOUT, 0)

    def _finish(self) -> None:
        while True:
            queued, succeeded, failed = self._multi.info_read()
            for curl in succeeded:
                self._done(curl, None)
            for curl, code, message in failed:
                self._done(curl, TransferError(code, message))
            if not queued:
                return

    def _done(self, curl: pycurl.Curl, error: TransferError | None) -> None:
        self._multi.remove_handle(curl)
        transfer = self._running.pop(curl)
        transfer.error = error
        transfer.done.set()

    def _on_socket(self, what: int, fd: int, multi: Any, data: Any) -> None:
        watched = self._watched
        if what == pycurl.POLL_REMOVE:
            if watched.pop(fd, None) is not None:
                with contextlib.suppress(OSError):  # closed already: epoll forgot it
                    self._epoll.unregister(fd)
            return
        events = _EVENTS[what]
        if fd in watched:
            if watched[fd] != events:
                self._epoll.modify(fd, events)
        else:
            self._epoll.register(fd, events)
        watched[fd] = events

    def _on_timer(self, milliseconds: int) -> None:
        self._deadline = None if milliseconds < 0 else time.monotonic() + milliseconds / 1000


def _namespace() -> int:
    """The network namespace of the calling thread (its inode)."""
    return os.stat("/proc/thread-self/ns/net").st_ino


class Drivers:
    """One :class:`Driver` per network namespace, made on demand."""

    def __init__(self) -> None:
        self._drivers: dict[int, Driver] = {}
        self._lock = threading.Lock()

    def perform(self, curl: pycurl.Curl) -> None:
        """Run ``curl``'s transfer to its end, as ``curl.perform()`` does (raises
        :class:`TransferError` where that raises ``pycurl.error``), from the calling
        thread's network namespace."""
        transfer = _Transfer(curl)
        namespace = _namespace()
        while True:
            with self._lock:
                driver = self._drivers.get(namespace)
                if driver is None or driver.ended:
                    driver = self._drivers[namespace] = Driver()
            if driver.submit(transfer):
                break
        transfer.done.wait()
        if transfer.error is not None:
            raise transfer.error


#: The process's drivers.
DRIVER: Final = Drivers()
