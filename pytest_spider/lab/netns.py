"""Network namespace primitives: make, enter, run in and remove the lab's namespaces.

Everything goes through iproute2 except entering a namespace, which is a ``setns(2)`` on the
calling thread only: a socket keeps the namespace it was made in, so a test can open sockets
on either end of the lab without a subprocess.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

#: Where ``ip netns add`` binds named namespaces.
NETNS_DIR: Final = Path("/run/netns")
_CLONE_NEWNET: Final = 0x40000000
#: Seconds any single iproute2/nft command may take.
COMMAND_TIMEOUT: Final = 10.0

_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(RuntimeError):
    """A namespace command failed; the message carries its stderr."""


def exec_argv(ns: str, argv: Sequence[str]) -> list[str]:
    """``argv`` prefixed so that it runs inside namespace ``ns``."""
    return ["ip", "netns", "exec", ns, *argv]


def run(argv: Sequence[str], stdin: str | None = None) -> str:
    """Run a short admin command, returning stdout; raise :class:`NetnsError` on failure."""
    proc = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    if proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def ip_batch(lines: Iterable[str], ns: str | None = None) -> None:
    """Run iproute2 commands in one process (in namespace ``ns`` when given)."""
    prefix = ["ip"] if ns is None else ["ip", "-n", ns]
    run([*prefix, "-batch", "-"], stdin="\n".join(lines) + "\n")


def existing() -> list[str]:
    """Names of all named network namespaces."""
    return sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def inside(ns: str) -> Iterator[None]:
    """Run the block with the calling thread in namespace ``ns``; other threads stay put."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(NETNS_DIR / ns, os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


def write_sysctls(ns: str, values: Mapping[str, str]) -> None:
    """Set ``net.*`` sysctls of namespace ``ns`` (``/proc/sys/net`` follows the thread's netns)."""
    with inside(ns):
        for key, value in values.items():
            Path("/proc/sys", *key.split(".")).write_text(value)


def pids(ns: str) -> list[int]:
    """Processes living in namespace ``ns``."""
    try:
        out = run(["ip", "netns", "pids", ns])
    except NetnsError:
        return []
    return [int(pid) for pid in out.split()]


#: How long :func:`remove` waits for the processes it killed to end.
EXIT_WAIT: Final = 5.0


def process_start(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot; None if it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def remove(ns: str) -> None:
    """Kill every process in ``ns``, wait until they have ended, and delete it; its veths
    and nft tables go with it.

    SIGKILL is acted on when the process next runs, which on a busy machine can come after
    ``kill`` returns: without the wait, a lab said closed while its servers still ran.
    """
    if not (NETNS_DIR / ns).exists():
        return
    killed = {pid: process_start(pid) for pid in pids(ns)}
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + EXIT_WAIT
    running = [pid for pid, start in killed.items() if start is not None]
    while running and time.monotonic() < deadline:
        running = [pid for pid in running if process_start(pid) == killed[pid]]
        if running:
            time.sleep(0.005)
    run(["ip", "netns", "delete", ns])
