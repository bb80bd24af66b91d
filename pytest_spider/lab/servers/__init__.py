"""Protocol servers for the lab and the tests: DNS, TCP Fast Open, HTTPS + HTTP/3, UDP echo.

Each is a module run as ``python -m pytest_spider.lab.servers.<name> --host H --port P ...``
that prints one ``READY {json}`` line. :func:`running` starts one as a child process (or inside
a lab namespace, given the lab's spawn function), waits for that line and always stops it.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pytest_spider.lab.servers.common import READY

#: Starts a server process: ``subprocess.Popen`` or e.g. ``functools.partial(lab.spawn_in,
#: "server")``; called with the argv and ``stdout=PIPE, text=True``.
Spawn = Callable[..., "subprocess.Popen[str]"]

#: Seconds a server gets to print its READY line, and to exit once asked to.
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 5.0


@contextlib.contextmanager
def running(
    name: str, args: Sequence[str] = (), spawn: Spawn = subprocess.Popen
) -> Iterator[dict[str, Any]]:
    """Run server ``name`` with ``args``; yield the facts from its READY line (``port`` ...)."""
    argv = [sys.executable, "-m", f"pytest_spider.lab.servers.{name}", *args]
    proc = spawn(argv, stdout=subprocess.PIPE, text=True)
    try:
        yield _await_ready(proc, argv)
    finally:
        proc.terminate()
        try:
            proc.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _await_ready(proc: subprocess.Popen[str], argv: Sequence[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    deadline = time.monotonic() + _START_TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            line = proc.stdout.readline()
            if not line:  # the server closed its stdout: it is exiting
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(_STOP_TIMEOUT)
                break
            word, _, facts = line.partition(" ")
            if word == READY:
                parsed: dict[str, Any] = json.loads(facts)
                return parsed
    code = proc.poll()
    state = "did not get ready in time" if code is None else f"exited with {code}"
    raise RuntimeError(f"server {' '.join(argv[2:])} {state}")
