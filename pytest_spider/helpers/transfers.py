"""Every curl transfer of a process, driven by one thread through libcurl's multi interface.

``connect_http`` keeps PATHspider's blocking signature, and each target's connections run
back to back in a sequence thread of the engine. Until now each of those threads ran its own
``curl.perform()``: hundreds of threads doing socket work, each taking the GIL back for every
header line curl hands over. Here one driver thread runs them all with ``socket_action``,
waiting on every transfer's sockets at once (epoll); a sequence thread hands its prepared
handle over and sleeps until the transfer is done.
"""

from __future__ import annotations

import contextlib
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
    """The one thread that drives the process's transfers (started on first use)."""

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
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def perform(self, curl: pycurl.Curl) -> None:
        """Run ``curl``'s transfer to its end, as ``curl.perform()`` does (raises
        :class:`TransferError` where that raises ``pycurl.error``)."""
        transfer = _Transfer(curl)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._drive, name="spider-transfers", daemon=True
                )
                self._thread.start()
            self._incoming.append(transfer)
        self._wake_write.send(b"\0")
        transfer.done.wait()
        if transfer.error is not None:
            raise transfer.error

    # -- the driver thread -----------------------------------------------------------------

    def _drive(self) -> None:
        while True:
            try:
                self._step()
            except Exception as exc:  # never leave a sequence waiting for ever
                self._fail_all(TransferError(pycurl.E_FAILED_INIT, f"transfer driver: {exc!r}"))

    def _step(self) -> None:
        multi = self._multi
        deadline = self._deadline
        wait = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
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


#: The process's driver.
DRIVER: Final = Driver()
